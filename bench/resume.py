"""Resume benchmarks on the tiny preset (CPU).

(a) resume overhead: seconds from process start to the first optimizer step, resuming at
    step 5,000 of a 100k-example stream vs starting fresh (target <= 1.1x). The step-5,000
    checkpoint is a real step-1 checkpoint re-sealed as step 5,000, so the resume has to
    skip 5,000 batches exactly as a real one would.
(b) checkpoint bytes vs adapter bytes (what a push to Kaggle carries vs the adapter alone).
(c) steps lost on a SIGKILL at a random moment vs the save interval.
Run: ./dev python bench/resume.py
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from kaggle_t2sql.checkpoints import MARKER, KaggleCheckpointManager

EXAMPLES = 100_000
BUNDLED_TRAIN = 258
EPOCHS = -(-EXAMPLES // BUNDLED_TRAIN)
BIG = ["data.packing=false", "training.batch_size=1", "data.max_seq_length=2048",
       f"data.stages.0.epochs={EPOCHS}", "training.save_steps=100000"]

# Runs in a fresh process: one session of the tiny preset; reports time-to-first-step, then
# optionally writes the step number after every step (for the SIGKILL measure).
CHILD = textwrap.dedent("""
    import json, os, sys, time
    import psutil
    from transformers import TrainerCallback
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.train.trainer import ResumableTrainer
    run_dir, mode, sets = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    born = psutil.Process().create_time()

    class Probe(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if mode == "first-step":
                print(json.dumps({"seconds": time.time() - born, "step": state.global_step}), flush=True)
                os._exit(0)
            with open(os.path.join(run_dir, "step.txt"), "w") as f:
                f.write(str(state.global_step))
                f.flush()

    ResumableTrainer(build_config("tiny", set_args=sets), run_dir, progress=False, callbacks=[Probe()]).run()
""")


def child(run_dir: Path, mode: str, sets: list[str], **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, str(run_dir), mode, json.dumps(sets)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, **kw)


def first_step_seconds(run_dir: Path, sets: list[str]) -> tuple[float, int]:
    out, _ = child(run_dir, "first-step", sets).communicate()
    line = json.loads(out.strip().splitlines()[-1])
    return line["seconds"], line["step"]


def reseal_as(checkpoint: Path, step: int) -> None:
    """Copy a real checkpoint to checkpoint-<step> with that global_step, sealed like a real save."""
    target = checkpoint.parent / f".staging-bench-{step}"
    shutil.copytree(checkpoint, target)
    (target / MARKER).unlink()
    state = json.loads((target / "trainer_state.json").read_text())
    state["global_step"] = step
    (target / "trainer_state.json").write_text(json.dumps(state))
    KaggleCheckpointManager(checkpoint.parent.parent).publish(target, step)


def bench_resume_overhead(work: Path) -> None:
    run = work / "overhead"
    sets = BIG + ["training.max_steps=100000"]
    # one real step, saved: the seed of the step-5,000 checkpoint
    subprocess.run([sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run),
                    "--no-progress", *sum((["--set", s] for s in sets + ["budget.session_minutes=0.001"]), [])],
                   check=True, capture_output=True)
    manager = KaggleCheckpointManager(run)
    reseal_as(manager.latest_valid(), 5000)
    fresh_dir = work / "fresh"
    fresh, resumed = [], []
    for _ in range(3):
        shutil.rmtree(fresh_dir, ignore_errors=True)
        fresh.append(first_step_seconds(fresh_dir, sets)[0])
        seconds, step = first_step_seconds(run, sets)
        assert step == 5001, step
        resumed.append(seconds)
        shutil.rmtree(run / "checkpoints" / "checkpoint-5001", ignore_errors=True)
    f, r = min(fresh), min(resumed)
    print(f"(a) start -> first optimizer step, {EXAMPLES:,}-example stream ({EPOCHS} epochs of the bundled train):")
    print(f"    fresh {f:.2f} s, resumed at step 5,000 {r:.2f} s  ->  ratio {r / f:.3f}x (target <= 1.1x)")


def bench_checkpoint_bytes(work: Path) -> None:
    run = work / "bytes"
    subprocess.run([sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run),
                    "--no-progress", "--set", "training.max_steps=2", "--set", "data.stages.0.limit=8"],
                   check=True, capture_output=True)
    ckpt = KaggleCheckpointManager(run).latest_valid()
    total = sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file())
    adapter = (ckpt / "adapter_model.safetensors").stat().st_size
    print(f"(b) checkpoint {total:,} bytes vs adapter {adapter:,} bytes  ->  {total / adapter:.2f}x "
          "(adapter + 2 Adam moments + states; the base model is never in it)")


def bench_sigkill_loss(work: Path, save_steps: int = 10, trials: int = 6) -> None:
    rng = random.Random(0)
    lost = []
    for trial in range(trials):
        run = work / f"kill-{trial}"
        sets = ["data.stages.0.limit=64", "data.max_seq_length=2048", "training.batch_size=1",
                "training.max_steps=400", f"training.save_steps={save_steps}"]
        proc = child(run, "steps", sets, start_new_session=True)
        deadline = time.monotonic() + 120
        while not (run / "step.txt").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(1.0, 6.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        reached = int((run / "step.txt").read_text() or 0)
        latest = KaggleCheckpointManager(run).latest_valid(deep=False)
        saved = int(latest.name.split("-")[1]) if latest else 0
        lost.append(reached - saved)
    print(f"(c) SIGKILL at random moments, save every {save_steps} steps: steps lost {lost} "
          f"(mean {sum(lost) / len(lost):.1f}, max {max(lost)}) -> max/interval {max(lost) / save_steps:.2f} "
          "(bounded by the interval; add training.save_interval_minutes for a wall-clock bound)")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_checkpoint_bytes(work)
        bench_sigkill_loss(work)
        bench_resume_overhead(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
