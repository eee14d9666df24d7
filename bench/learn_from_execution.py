"""Learning from execution on the demo model: sampling throughput, pass@k and mean reward of `sample`,
seconds per GRPO / DPO step, and each session's reward numbers from the ledger.

What it can show: the three paths run end to end on a CPU, resumable, with their costs. What it cannot:
an accuracy gain. The tiny demo model's greedy EX is ~0.2 on the train split, only a few % of its samples
at T=0.8 are right, and many GRPO groups carry no signal (all rewards equal), so a few steps here say
nothing about what GRPO/DPO do for Arctic-7B (docs/learning-from-execution.md gives the published gains).

Run: ./dev python bench/learn_from_execution.py [--adapter CKPT] [--questions 8] [--samples 4] [--steps 4]
(without --adapter it first trains a short demo-preset run for one).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def _demo_adapter(root: Path, steps: int) -> Path:
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.train.trainer import ResumableTrainer

    cfg = build_config("demo", set_args=[f"training.max_steps={steps}", f"training.save_steps={steps}"])
    result = ResumableTrainer(cfg, root / "demo", progress=False).run()
    return Path(result.checkpoint)


class StopAt:
    """Ends a session (with a save) at the given step, as a budget would: the next session resumes."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class _Stop(TrainerCallback):
            def on_step_end(self, args, state, control, **kwargs):
                if state.global_step == step:
                    control.should_save = control.should_training_stop = True

        return _Stop()


def _two_sessions(sets: list[str], run_dir: Path, steps: int) -> tuple[float, list[dict]]:
    """Train `steps` steps in two sessions; seconds per step (from the trainer's log) and the ledger's sessions."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.train.trainer import ResumableTrainer

    cfg = build_config("demo", set_args=[*sets, f"training.max_steps={steps}", "training.save_steps=1000"])
    ResumableTrainer(cfg, run_dir, progress=False, callbacks=[StopAt(steps // 2)]).run()
    ResumableTrainer(cfg, run_dir, progress=False).run()
    logs = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    runtime = sum(e["train_runtime"] for e in logs if "train_runtime" in e)
    sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
    return runtime / steps, sessions


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--adapter", help="a demo-preset checkpoint (default: train one for --demo-steps)")
    parser.add_argument("--demo-steps", type=int, default=60)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--steps", type=int, default=4, help="GRPO and DPO steps (two sessions each)")
    args = parser.parse_args()

    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.eval.sampling import SampleSettings, run_sample

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        adapter = Path(args.adapter) if args.adapter else _demo_adapter(root, args.demo_steps)
        t0 = time.perf_counter()
        report = run_sample(build_config("demo"), SampleSettings(
            split="train", limit=args.questions, samples=args.samples, temperature=args.temperature,
            max_new_tokens=args.max_new_tokens, gold_as_chosen=True), adapter, root / "samples", echo=lambda *a, **k: None)
        k = f"pass@{args.samples}"
        print(f"sample: {report['questions']} questions x {args.samples} at T={args.temperature}: "
              f"{report['candidates_per_second_this_session']:.2f} candidates/s, pass@1 {report['pass@1']:.3f}, "
              f"{k} {report[k]:.3f}, mean reward {report['mean_reward']:.3f}, verdicts {report['verdicts']} "
              f"({time.perf_counter() - t0:.0f} s)")
        pairs = sum(1 for _ in open(root / "samples" / "pairs.jsonl"))
        print(f"        {pairs} pairs (gold as chosen where no candidate was right), "
              f"{sum(1 for _ in open(root / 'samples' / 'rft.jsonl'))} rft rows")

        common = [f"training.init_adapter={adapter}", "training.batch_size=2", "training.gradient_accumulation_steps=2"]
        grpo = [*common, "training.method=grpo", "grpo.num_generations=4", "grpo.max_completion_length=64"]
        seconds, sessions = _two_sessions(grpo, root / "grpo", args.steps)
        print(f"grpo (G=4, 64 new tokens, 1 prompt/step): {seconds:.1f} s/step")
        for s in sessions:
            print(f"  session {s['index']}: steps {s['start_step']}->{s['end_step']}, mean reward {s.get('reward')}, "
                  f"zero-variance groups {s.get('zero_std_share')}")
        if pairs:
            dpo = [*common, "training.method=dpo", "data.stages.0.source=pairs",
                   f"data.stages.0.path={root / 'samples' / 'pairs.jsonl'}"]
            seconds, sessions = _two_sessions(dpo, root / "dpo", args.steps)
            print(f"dpo (4 pairs/step): {seconds:.1f} s/step")
            for s in sessions:
                print(f"  session {s['index']}: steps {s['start_step']}->{s['end_step']}, reward accuracy "
                      f"{s.get('reward_accuracy')}, margin {s.get('reward_margin')}")
    print("no accuracy claim: the tiny model cannot show one (see this file's docstring)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
