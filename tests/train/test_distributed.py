"""Data-parallel training with CPU processes (torchrun, gloo): cut, resume under the same or another
process count, same adapter and the same tokens as an uninterrupted run."""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest
import torch
from test_trainer import CutAt, adapter, losses

from kaggle_t2sql import cli
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.train.trainer import ResumableTrainer

pytestmark = pytest.mark.slow  # end-to-end / multi-session: deselect with -m "not slow" while iterating

# max_steps 0: one pass over 18 rows. 2 processes x batch 1 x accumulation 2 = global batch 4: 5 steps, the
# last one filled from the start of the stream; 1 process: global batch 2, 9 steps. Dropout > 0, so the
# dropout masks must follow the rows from one process count to the other.
SETTINGS = ["data.stages.0.limit=18", "data.max_seq_length=2048", "training.batch_size=1",
            "training.gradient_accumulation_steps=2", "lora.dropout=0.1", "training.max_steps=0",
            "training.save_steps=1", "training.keep_checkpoints=2"]
CUT = "budget.session_minutes=0.001"  # every rank agrees to save and stop after the first step


def config(*extra):
    return build_config("tiny", set_args=[*SETTINGS, *extra])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torchrun(run_dir, *extra, nproc=2, check=True):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port",
           str(free_port()), "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--no-progress"]
    for pair in [*SETTINGS, *extra]:
        cmd += ["--set", pair]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if check:
        assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return out


def in_process(run_dir, *extra, callbacks=()):
    return ResumableTrainer(config(*extra), run_dir, progress=False, callbacks=list(callbacks)).run()


def status_json(run_dir, capsys) -> dict:
    capsys.readouterr()
    assert cli.main(["status", "--output-dir", str(run_dir), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def tokens(status: dict) -> int:
    return sum(s["tokens_seen"] for s in status["sessions"])


def assert_same_run(run_dir, reference, steps):
    a, b = adapter(run_dir, steps), adapter(reference, steps)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert losses(run_dir, steps) == losses(reference, steps)


def assert_same_run_to_rounding(run_dir, reference, steps):
    """Another process count sums the same gradients in another order: equal to float rounding. Measured here:
    adapter within 5e-7 and losses within 1e-7 (relative); with the dropout masks not following the rows,
    1.6e-2 and 4e-4."""
    a, b = adapter(run_dir, steps), adapter(reference, steps)
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=2e-5, msg=key)
    (steps_a, loss_a), (steps_b, loss_b) = zip(*losses(run_dir, steps)), zip(*losses(reference, steps))
    assert steps_a == steps_b
    torch.testing.assert_close(torch.tensor(loss_a), torch.tensor(loss_b), rtol=1e-5, atol=0)


@pytest.fixture(scope="module")
def ddp_reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("ddp-reference")
    out = torchrun(run_dir).stdout
    assert out.count("session finished (finished): steps 0 -> 5 of 5") == 1  # one process reports
    return run_dir


@pytest.fixture(scope="module")
def ddp_cut(tmp_path_factory):
    """A 2-process run paused after step 1; tests resume copies of it."""
    run_dir = tmp_path_factory.mktemp("ddp-cut")
    assert "paused (budget): steps 0 -> 1 of 5" in torchrun(run_dir, CUT).stdout
    return run_dir


@pytest.fixture(scope="module")
def single_reference(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("single-reference")
    assert (in_process(run_dir).status, KaggleCheckpointManager(run_dir).status()["max_steps"]) == ("finished", 9)
    return run_dir


def test_two_processes_write_one_checkpoint_with_per_rank_rng_and_fix_the_plan(ddp_reference):
    manager = KaggleCheckpointManager(ddp_reference)
    names = {p.name for p in manager.latest_valid().iterdir()}
    assert {"rng_state_0.pth", "rng_state_1.pth", "adapter_model.safetensors", "optimizer.pt"} <= names
    status = manager.status()
    assert len(status["sessions"]) == 1 and status["sessions"][0]["gpu"].endswith("x2 processes")
    plan = status["plan"]
    assert (plan["global_batch"], plan["max_steps"], plan["world_size"], plan["data"]["row_count"]) == (4, 5, 2, 18)


def test_cut_and_resumed_two_process_run_matches_the_uninterrupted_one(tmp_path, ddp_cut, ddp_reference):
    shutil.copytree(ddp_cut, tmp_path, dirs_exist_ok=True)
    assert "finished (finished): steps 1 -> 5 of 5" in torchrun(tmp_path).stdout
    assert_same_run(tmp_path, ddp_reference, 5)


def test_two_processes_cut_and_resumed_under_one_train_the_same_rows_and_masks(tmp_path, ddp_cut, ddp_reference, capsys):
    """Global batch 4 kept by accumulating 4 instead of 2: max_steps stays 5, and the rows, tokens and dropout
    masks of each step are those of the uninterrupted 2-process run (none skipped, none repeated)."""
    shutil.copytree(ddp_cut, tmp_path, dirs_exist_ok=True)
    result = in_process(tmp_path)
    assert (result.start_step, result.end_step, result.max_steps, result.status) == (1, 5, 5, "finished")
    assert "global batch 4 kept with 1 process(es) instead of 2: gradient accumulation 4" in capsys.readouterr().out
    resumed, reference = status_json(tmp_path, capsys), status_json(ddp_reference, capsys)
    assert resumed["max_steps"] == 5 and resumed["finished"] and len(resumed["sessions"]) == 2
    assert tokens(resumed) == tokens(reference) > 0
    assert_same_run_to_rounding(tmp_path, ddp_reference, 5)


def test_one_process_cut_and_resumed_under_two_matches_the_single_process_run(tmp_path, single_reference, capsys):
    assert in_process(tmp_path, callbacks=[CutAt([3])]).end_step == 3
    out = torchrun(tmp_path).stdout
    assert "finished (finished): steps 3 -> 9 of 9" in out and "gradient accumulation 1" in out
    assert tokens(status_json(tmp_path, capsys)) == tokens(status_json(single_reference, capsys))
    assert_same_run_to_rounding(tmp_path, single_reference, 9)


def test_a_process_count_that_cannot_keep_the_global_batch_is_refused(tmp_path):
    """Global batch 3 (1 process x accumulation 3) cannot be split over 2 processes: refused, nothing trained."""
    in_process(tmp_path, "training.gradient_accumulation_steps=3", callbacks=[CutAt([1])])
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "tb"}
    out = torchrun(tmp_path, "training.gradient_accumulation_steps=3", check=False)
    assert out.returncode != 0
    assert "global batch 3 does not split into 2 process(es) x batch 1 (the process count must divide 3)" in out.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and p.parent.name != "tb"} == before


def torchrun_cmd(run_dir, *extra, nproc=2):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(nproc), "--master_port", str(free_port()),
           "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--no-progress", "--json"]
    for pair in [*SETTINGS, *extra]:
        cmd += ["--set", pair]
    return cmd


def test_a_second_torchrun_group_is_refused_and_a_sigterm_to_the_launcher_keeps_the_ledger_true(tmp_path):
    """Two torchrun groups on one run folder, with the same settings (the second's budget of one step is outside
    the settings check: without the lock it would resume the first one's checkpoint and train): the second is
    refused on every rank, at once, with one line, and changes nothing; then the first, stopped by a SIGTERM sent
    to the launcher itself (#22), records its real end step, tokens and stop reason."""
    import signal
    import time

    import psutil

    from kaggle_t2sql.train.model import model_path

    model_path(config().model)  # built once here: two ranks building the tiny model into a fresh cache race each other
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    same = "training.max_steps=400"  # on top of SETTINGS, for both groups
    first = subprocess.Popen(torchrun_cmd(tmp_path, same), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    manager, group = KaggleCheckpointManager(tmp_path), []
    try:
        deadline = time.monotonic() + 300
        while not manager.checkpoints() and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.05)
        assert manager.checkpoints(), first.communicate()[1][-3000:] if first.poll() is not None else "no checkpoint"
        group = [first.pid, *(c.pid for c in psutil.Process(first.pid).children(recursive=True))]
        assert len(group) >= 3  # the launcher and its 2 ranks (each in a session of its own)
        for pid in group:
            os.kill(pid, signal.SIGSTOP)  # launcher and ranks stand still: the folder cannot change under us
        before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        start = time.monotonic()
        second = subprocess.run(torchrun_cmd(tmp_path, same, CUT), capture_output=True, text=True, env=env, timeout=300)
        refused_after = time.monotonic() - start
        after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
        assert after == before, (sorted(str(p) for p in set(after) | set(before) if after.get(p) != before.get(p)),
                                 second.stderr[-1500:])
    finally:
        for pid in group:
            os.kill(pid, signal.SIGCONT)
    first.send_signal(signal.SIGTERM)  # to the launcher only; torchrun passes it on to its ranks
    out, err = first.communicate(timeout=300)
    assert second.returncode != 0 and refused_after < 120
    output = second.stdout + second.stderr
    lines = [line for line in output.splitlines() if "is in use by" in line]
    assert len(lines) == 1 and lines[0].startswith(f"error: run folder {tmp_path} is in use by train (pid "), output[-3000:]
    assert "kaggle_t2sql/" not in output  # no traceback through our code on any rank (torchrun adds its own report)
    assert "{" in out, err[-3000:]  # torchrun itself exits 1 on a SIGTERM (SignalException); its ranks saved and reported
    result = json.loads(out[out.index("{"):])
    assert result["stop_reason"] == "signal" and result["end_step"] > 0 and result["tokens_seen"] > 0
    (session,) = manager.status()["sessions"]
    assert (session["stop_reason"], session["end_step"], session["tokens_seen"]) == ("signal", result["end_step"],
                                                                                   result["tokens_seen"])
    assert manager.latest_valid().name == f"checkpoint-{result['end_step']}"
