"""Data-parallel training with 2 CPU processes (torchrun, gloo): cut, resume, same adapter."""

import os
import socket
import subprocess
import sys

import pytest
import torch
from test_trainer import SMALL, adapter, losses

from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.config import build_config
from kaggle_t2sql.trainer import ResumableTrainer

STEPS = 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(run_dir, *extra, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(free_port()), "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--no-progress"]
    for pair in [*SMALL, f"training.max_steps={STEPS}", *extra]:
        cmd += ["--set", pair]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out.stdout


@pytest.fixture(scope="module")
def ddp_reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp-reference")
    out = torchrun(run_dir)
    assert out.count("session finished (finished): steps 0 -> 4 of 4") == 1  # one process reports
    return run_dir


def test_two_processes_write_one_checkpoint_with_per_rank_rng(ddp_reference):
    ckpt = KaggleCheckpointManager(ddp_reference).latest_valid()
    names = {p.name for p in ckpt.iterdir()}
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors", "optimizer.pt"} <= names
    sessions = KaggleCheckpointManager(ddp_reference).status()["sessions"]
    assert len(sessions) == 1 and sessions[0]["gpu"].endswith("x2 processes")


def test_cut_and_resumed_two_process_run_matches_the_uninterrupted_one(tmp_path, ddp_reference):
    first = torchrun(tmp_path, "budget.session_minutes=0.001")  # both ranks agree to stop after step 1
    assert "paused (budget): steps 0 -> 1 of 4" in first
    second = torchrun(tmp_path)
    assert "finished (finished): steps 1 -> 4 of 4" in second
    a, b = adapter(tmp_path, STEPS), adapter(ddp_reference, STEPS)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert losses(tmp_path, STEPS) == losses(ddp_reference, STEPS)


def test_resuming_with_another_process_count_warns(tmp_path):
    torchrun(tmp_path, "budget.session_minutes=0.001")
    cfg = build_config("tiny", set_args=[*SMALL, f"training.max_steps={STEPS}"])
    with pytest.warns(UserWarning, match=r"written by 2 process\(es\), this session runs 1.*not match an uninterrupted 2-process run"):
        result = ResumableTrainer(cfg, tmp_path, progress=False).run()
    assert (result.start_step, result.end_step) == (1, STEPS)
