"""Checkpoint sync benchmarks on the tiny preset (CPU).

(a) bytes pushed: each push carries one checkpoint plus the ledger, plot and TensorBoard
    events; printed per push and per session against one checkpoint's size (target <= 1.05x
    per checkpoint pushed);
(b) training throughput with background pushes after every save vs no store (target >= 0.98x).
The store is `local:` by default; with --store kaggle (or --kaggle) the pushes go through the real
kaggle client to the local Kaggle API emulator of the tests; with --store s3 through s3fs to moto's
S3 server (`moto_server`, its own process), where each push also reads every file back for its sha256.
Run: ./dev python bench/sync.py [--store local|kaggle|s3]
"""

from __future__ import annotations

import argparse
import ast
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.train.trainer import ResumableTrainer

SETS = ["data.stages.0.limit=64", "data.max_seq_length=2048", "training.batch_size=1", "training.max_steps=120",
        "training.keep_checkpoints=2"]


class StepTimer(TrainerCallback):
    """Wall time from the end of the first step to the end of the last (the training loop itself)."""

    def __init__(self):
        self.first = self.last = None
        self.steps = 0

    def on_step_end(self, args, state, control, **kwargs):
        now = time.perf_counter()
        self.first = self.first or now
        self.last = now
        self.steps += 1

    def rate(self) -> float:
        return (self.steps - 1) / (self.last - self.first)


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def session(work: Path, name: str, store: str, save_steps: int) -> tuple[float, ResumableTrainer]:
    sets = SETS + [f"training.save_steps={save_steps}"]
    sets += [f"store.uri={store}", f"store.input_root={work / 'no-input'}"] if store else []
    timer = StepTimer()
    trainer = ResumableTrainer(build_config("tiny", set_args=sets), work / name, progress=False, callbacks=[timer])
    trainer.run()
    return timer.rate(), trainer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kaggle", action="store_true", help="push through the kaggle client to the local emulator")
    parser.add_argument("--store", choices=["local", "kaggle", "s3"], default="local")
    parser.add_argument("--trials", type=int, default=3, help="alternating runs per save cadence (best one kept)")
    parser.add_argument("--save-steps", default="5,40", help="save cadences to measure, e.g. 5 (the bytes need 5)")
    args = parser.parse_args()
    args.kaggle = args.kaggle or args.store == "kaggle"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        emulator = None
        if args.kaggle:  # the emulator runs in its own process, as Kaggle's servers are not on the training machine
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            script = Path(__file__).resolve().parents[1] / "tests" / "emulator" / "kaggle_emulator.py"
            emulator = subprocess.Popen(["nice", "-n", "19", sys.executable, "-u", str(script), "--root",
                                         str(work / "emulator"), "--port", str(port)], stdout=subprocess.PIPE, text=True)
            emulator.stdout.readline()
            for line in emulator.stdout:
                name, _, value = line.strip().removeprefix("export ").partition("=")
                os.environ[name] = ast.literal_eval(value)  # before `kaggle` is imported
                if name == "KAGGLE_KEY":
                    break
            store = "kaggle:tester/bench-checkpoints"
        elif args.store == "s3":  # moto's S3 server in its own process, as S3 is not on the training machine
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            log = open(work / "moto.log", "w")
            emulator = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                                         "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
            os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{port}", AWS_ACCESS_KEY_ID="bench",
                              AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
            import s3fs

            for _ in range(100):
                try:
                    s3fs.S3FileSystem().mkdir("bench")
                    break
                except Exception:  # noqa: BLE001 - the server is still starting
                    time.sleep(0.1)
            store = "s3://bench/store"
        else:
            store = f"local:{work / 'store'}"
        try:
            rates = {}
            for save_steps in [int(x) for x in args.save_steps.split(",")]:  # best of N alternating runs: CPU timings are noisy
                plain, synced = [], []
                for trial in range(args.trials):
                    plain.append(session(work, f"plain-{save_steps}-{trial}", "", save_steps)[0])
                    synced.append(session(work, f"synced-{save_steps}-{trial}", f"{store}-{save_steps}-{trial}", save_steps))
                rates[save_steps] = (max(plain), max(synced, key=lambda r: r[0]))
            if args.store == "s3":  # read the versions' sizes while the server still runs
                from kaggle_t2sql.kaggle.store_uri import open_store

                s3 = open_store(f"{store}-5-0")
                s3_pushed = [sum(s3.list_files(v).values()) for v in s3.list_versions()]
        finally:
            if emulator:
                if emulator.poll() is not None and args.store == "s3":
                    print(f"moto's server ended early ({emulator.returncode}): {(work / 'moto.log').read_text()[-2000:]}")
                emulator.terminate()
        trainer = rates[5][1][1]
        checkpoint = KaggleCheckpointManager(work / "synced-5-0").latest_valid()
        ckpt_bytes = folder_bytes(checkpoint)
        pushes = len(trainer.pushes)
        if store.startswith("local:"):
            pushed = [folder_bytes(v) for v in sorted((work / "store-5-0").iterdir())]
        elif store.startswith("s3:"):
            pushed = s3_pushed
        else:
            versions = work / "emulator" / "datasets" / "tester" / "bench-checkpoints-5-0"
            pushed = [folder_bytes(v) for v in sorted(versions.glob("v*"))]
        per_push = max(pushed) / ckpt_bytes
        extras = max(pushed) - ckpt_bytes
        arctic_ckpt = 40_370_176 * 4 * 3  # LoRA r=16 on all 7 projections x 28 layers: fp32 adapter + 2 Adam moments
        print(f"store {store.split(':')[0]}: {pushes} pushes in one session (a save every 5 steps, 120 steps)")
        print(f"(a) bytes per push {max(pushed):,} vs one checkpoint {ckpt_bytes:,} -> {per_push:.3f}x (target <= 1.05x)"
              + (f"; session total {sum(pushed):,} = {sum(pushed) / ckpt_bytes:.2f} checkpoints for {pushes} pushes"
                 if store.startswith("local:") else ""))
        print(f"    the extras (ledger, plot, TensorBoard, manifest) are {extras:,} bytes: on an Arctic-7B r=16 checkpoint"
              f" (~{arctic_ckpt / 1e6:.0f} MB) that is {(arctic_ckpt + extras) / arctic_ckpt:.4f}x")
        for save_steps, (plain, (synced, _)) in rates.items():
            print(f"(b) save + push every {save_steps} steps: training steps/s with background pushes {synced:.2f} vs "
                  f"without {plain:.2f} -> {synced / plain:.3f}x (target >= 0.98x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
