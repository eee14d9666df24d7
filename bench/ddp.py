"""Throughput of data-parallel training: 2 processes vs 1 (target >= 1.8x on two GPUs).

On a machine with >= 2 GPUs it runs the given preset (default arctic-7b-t4 shape needs the
model; use --preset tiny for a quick look); on a CPU it runs the tiny preset with 2 gloo
processes as a smoke figure (2 cores shared by 2 processes: expect ~1x, not 2x).
Tokens per second are read from the run's trainer state.
Run: ./dev python bench/ddp.py [--preset tiny] [--steps 30]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

SETS = ["data.stages.0.limit=96", "data.max_seq_length=2048", "training.batch_size=1", "training.save_steps=100000"]


def run(work: Path, nproc: int, preset: str, steps: int) -> float:
    run_dir = work / f"p{nproc}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(port),
           "-m", "kaggle_t2sql", "train", "--preset", preset, "--output-dir", str(run_dir), "--no-progress"]
    for pair in [*SETS, f"training.max_steps={steps}"]:
        cmd += ["--set", pair]
    env = {**os.environ}
    import torch

    if not torch.cuda.is_available():
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 2) // nproc))
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    state = json.loads(next((run_dir / "checkpoints").glob("checkpoint-*/trainer_state.json")).read_text())
    last = [e for e in state["log_history"] if "train_runtime" in e][-1]
    return state["num_input_tokens_seen"] / last["train_runtime"]


def main() -> int:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    gpus = torch.cuda.device_count()
    where = f"{gpus} GPUs" if gpus >= 2 else "CPU (gloo), smoke figure"
    with tempfile.TemporaryDirectory() as tmp:
        one = run(Path(tmp), 1, args.preset, args.steps)
        two = run(Path(tmp), 2, args.preset, args.steps)
    print(f"{args.preset} on {where}: 1 process {one:,.0f} tokens/s, 2 processes {two:,.0f} tokens/s -> {two / one:.2f}x"
          + (" (target >= 1.8x)" if gpus >= 2 else " (2 cores shared by 2 processes)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
