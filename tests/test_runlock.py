"""One run folder, one session: the lock on its own (real processes holding it, SIGKILL), the commands that
write a run folder (`sync push`, `demo`) against a held folder, then `train` and `sync pull` against a session
that really trains in it, with the first session's own settings (#26: the same command twice), so that only the
lock stands between them and the session's folder."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from test_trainer import SMALL, CutAt, small_config

from kaggle_t2sql import cli
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.kaggle.store_uri import open_store
from kaggle_t2sql.runlock import LOCK_FILE, RunFolderBusy, ensure_free, run_lock, try_acquire
from kaggle_t2sql.train.trainer import ResumableTrainer

HOLD = textwrap.dedent("""
    import sys, time
    from kaggle_t2sql.runlock import run_lock

    with run_lock(sys.argv[1], "train"):
        print("locked", flush=True)
        time.sleep(300)
""")

BUSY_LINE = re.compile(r"run folder (?P<folder>\S+) is in use by (?P<command>[\w ]+) \(pid (?P<pid>\d+) on (?P<host>\S+), "
                       r"since (?P<since>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC)\): (?P<what>.*) was refused and changed nothing\. "
                       r"Wait for that session to end .* or use another --output-dir$")


@contextmanager
def holder(run_dir):
    """Another process holding the run folder's lock until the block ends (then SIGKILLed)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def files_of(run_dir):
    return {p: p.read_bytes() for p in Path(run_dir).rglob("*") if p.is_file()}


def assert_unchanged(run_dir, before, output=""):
    """Every file of the folder as it was: on failure, which ones changed (and what the command said)."""
    after = files_of(run_dir)
    changed = sorted(str(p.relative_to(run_dir)) for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not changed, f"changed in {run_dir}: {changed}\n{output[-2000:]}"


def test_a_second_writer_is_refused_at_once_with_one_line_naming_folder_holder_and_remedy(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    with holder(tmp_path) as proc:
        before = files_of(tmp_path)
        start = time.monotonic()
        with pytest.raises(RunFolderBusy) as refused:
            with run_lock(tmp_path, "sync pull"):
                pytest.fail("entered a folder another process holds")
        assert time.monotonic() - start < 2
        assert files_of(tmp_path) == before
    message = str(refused.value)
    assert "\n" not in message
    m = BUSY_LINE.match(message)
    assert m, message
    assert (m["folder"], m["command"], int(m["pid"]), m["host"], m["what"]) == (
        str(tmp_path), "train", proc.pid, socket.gethostname(), "sync pull")
    assert abs(time.mktime(time.strptime(m["since"], "%Y-%m-%d %H:%M:%S UTC")) - time.mktime(time.gmtime())) < 60


def test_a_sigkilled_holder_never_blocks_the_next_writer(tmp_path):
    with holder(tmp_path) as proc:
        assert not try_acquire(tmp_path, "train")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with run_lock(tmp_path, "train"):  # at once: the OS dropped the dead holder's lock, the file is still there
            assert (tmp_path / LOCK_FILE).is_file()
            assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()


def test_the_lock_is_reentrant_for_its_thread_and_refuses_other_threads(tmp_path):
    seen = []
    with run_lock(tmp_path, "demo"):
        with run_lock(tmp_path, "train"):  # the demo holds it for its sessions; a session for its own pull
            thread = threading.Thread(target=lambda: seen.append(try_acquire(tmp_path, "train")))
            thread.start()
            thread.join()
        assert seen == [False]
        other = subprocess.run([sys.executable, "-c", HOLD, str(tmp_path)], capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "RunFolderBusy" in other.stderr and f"pid {os.getpid()}" in other.stderr
    ensure_free(tmp_path, "train")  # released: free again


# ---------------------------------------------------------------- the commands, against a real session

# ---------------------------------------------------------------- the commands, against a held folder

def fabricated_run(run_dir, run_name):
    """A run folder with a valid checkpoint (its files written directly: no training), ready to push."""
    from test_checkpoints import published

    manager = KaggleCheckpointManager(run_dir)
    plan = {"global_batch": 2, "max_steps": 8, "world_size": 1, "data": {"rows": "r"}, "fingerprint": "f"}
    manager.open_run({"run_name": run_name, "training": {"batch_size": 1}}, "f", plan)
    published(manager, 2, 0.5)


def cli_run(capsys, *argv) -> subprocess.CompletedProcess:
    capsys.readouterr()
    rc = cli.main(list(argv))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, rc, out.out, out.err)


def test_a_sync_push_from_a_folder_in_use_is_refused_and_changes_nothing(tmp_path, capsys):
    """`sync push` writes the run folder: it merges the store's other runs into RUN/store-carry. From a folder
    another process holds it is refused with the one line, and neither the folder nor the store changes."""
    run_dir, store = tmp_path / "run", f"local:{tmp_path / 'store'}"
    fabricated_run(run_dir, "ours")
    fabricated_run(tmp_path / "other", "other")
    assert cli_run(capsys, "sync", "push", "--output-dir", str(tmp_path / "other"), "--store", store).returncode == 0
    with holder(run_dir) as proc:
        before, store_before = files_of(run_dir), files_of(tmp_path / "store")
        push = cli_run(capsys, "sync", "push", "--output-dir", str(run_dir), "--store", store)
        assert_unchanged(run_dir, before, push.stdout)
        assert_unchanged(tmp_path / "store", store_before, push.stdout)
        assert push.stdout == ""
        assert_refused(push, run_dir, proc.pid, "sync push")
    push = cli_run(capsys, "sync", "push", "--output-dir", str(run_dir), "--store", store)  # the folder is free again
    assert push.returncode == 0 and "pushed run ours step 2" in push.stdout
    assert (run_dir / "store-carry" / "other" / "run.json").is_file()  # what the refused push would have written


def test_a_demo_on_a_folder_in_use_is_refused_before_it_prints_or_writes_anything(tmp_path, capsys):
    run_dir = tmp_path / "run"
    with holder(run_dir) as proc:
        before = files_of(run_dir)
        start = time.monotonic()
        demo = cli_run(capsys, "demo", "--output-dir", str(run_dir), "--max-sessions", "1", "--session-seconds", "5",
                       "--no-progress")
        assert_unchanged(run_dir, before, demo.stdout)
        assert demo.stdout == ""
        assert time.monotonic() - start < 10  # at once: before the base model is built or a session starts
        assert_refused(demo, run_dir, proc.pid, "demo")
    assert [p.name for p in run_dir.iterdir()] == [LOCK_FILE]  # no folder either (logs, tb/, checkpoints/)


# ---------------------------------------------------------------- the commands, against a real session

SAME = "training.max_steps=400"  # the live session's settings on top of SMALL: a second writer uses them too


def train_cmd(run_dir, *extra):
    cmd = [sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--json", "--no-progress"]
    for pair in [*SMALL, *extra]:
        cmd += ["--set", pair]
    return cmd


@contextmanager
def running_session(run_dir):
    """A `train` process that has begun its session in `run_dir` and saved a checkpoint, then stopped (SIGSTOP)
    so the folder stands still; on exit it goes on and is stopped by SIGTERM. Yields (process, result holder)."""
    proc = subprocess.Popen(train_cmd(run_dir, SAME), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    manager, result = KaggleCheckpointManager(run_dir), {}
    try:
        deadline = time.monotonic() + 180
        while not manager.checkpoints() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert manager.checkpoints(), proc.communicate()[1][-3000:] if proc.poll() is not None else "no checkpoint in 180 s"
        os.kill(proc.pid, signal.SIGSTOP)
        yield proc, result
    finally:
        os.kill(proc.pid, signal.SIGCONT)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    result.update(json.loads(out[out.index("{"):]))


def assert_refused(out, run_dir, holder_pid, command):
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode != 0
    assert len(lines) == 1, out.stderr[-3000:]
    m = BUSY_LINE.match(lines[0].removeprefix("error: "))
    assert m and (m["folder"], int(m["pid"]), m["what"]) == (str(run_dir), holder_pid, command), lines[0]


def assert_first_session_intact(run_dir, result):
    """The first session's ledger entry is its own: one session, ended by the SIGTERM, its real steps and tokens."""
    (session,) = KaggleCheckpointManager(run_dir).status()["sessions"]
    assert result["stop_reason"] == "signal" and result["tokens_seen"] > 0 and result["end_step"] > 0
    assert (session["stop_reason"], session["end_step"], session["tokens_seen"]) == ("signal", result["end_step"], result["tokens_seen"])
    assert KaggleCheckpointManager(run_dir).latest_valid().name == f"checkpoint-{result['end_step']}"


@pytest.mark.slow
def test_a_second_train_on_a_busy_folder_is_refused_and_the_first_session_keeps_its_ledger(tmp_path, capsys):
    """The same `train` twice: the second has the first one's settings (and a budget of one step, which the
    settings check ignores), so without the lock it would resume the live session's checkpoint and train."""
    run_dir = tmp_path / "run"
    with running_session(run_dir) as (first, result):
        before = files_of(run_dir)
        start = time.monotonic()
        second = subprocess.run(train_cmd(run_dir, SAME, "budget.session_minutes=0.001"), capture_output=True, text=True,
                                timeout=300)
        refused_after = time.monotonic() - start
        assert_unchanged(run_dir, before, second.stdout + second.stderr)
        assert_refused(second, run_dir, first.pid, "train")
        # readers go on while it trains: status, and export and eval of its newest checkpoint
        newest = KaggleCheckpointManager(run_dir).latest_valid()
        status = cli_run(capsys, "status", "--output-dir", str(run_dir), "--json")
        assert status.returncode == 0 and json.loads(status.stdout)["sessions"][0]["end_time"] is None
        export = cli_run(capsys, "export", "--adapter", str(newest), "--out", str(tmp_path / "merged"))
        assert export.returncode == 0 and list((tmp_path / "merged").glob("*.safetensors")), export.stderr
        evaluated = cli_run(capsys, "eval", "--adapter", str(newest), "--limit", "1", "--max-new-tokens", "8", "--out-dir",
                            str(tmp_path / "eval"), "--no-progress", "--workers", "1")
        assert evaluated.returncode == 0, evaluated.stderr
        assert json.loads((tmp_path / "eval" / "report.json").read_text())["summary"]["n"] == 1
        assert_unchanged(run_dir, before)
    assert refused_after < 60  # a Python start and imports on a busy 2-core machine: before any data or model
    assert_first_session_intact(run_dir, result)


@pytest.mark.slow
def test_sync_pull_into_a_folder_with_a_running_session_is_refused(tmp_path):
    """The store holds the same run (same settings) further on than the live session: without the lock the pull
    would install that copy in the session's folder."""
    store = tmp_path / "store"
    config = small_config(SAME, f"store.uri=local:{store}", f"store.input_root={tmp_path / 'none'}")
    ResumableTrainer(config, tmp_path / "elsewhere", progress=False, callbacks=[CutAt([6])]).run()
    stored_step = open_store(f"local:{store}").index()["runs"][config.run_name]["global_step"]
    run_dir = tmp_path / "run"
    with running_session(run_dir) as (first, result):
        assert int(KaggleCheckpointManager(run_dir).latest_valid().name.split("-")[1]) < stored_step  # a pull would install
        before = files_of(run_dir)
        pull = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "sync", "pull", "--output-dir", str(run_dir), "--store",
                               f"local:{store}", "--input-root", str(tmp_path / "none")], capture_output=True, text=True, timeout=300)
        assert_unchanged(run_dir, before, pull.stdout + pull.stderr)
        assert_refused(pull, run_dir, first.pid, "sync pull")
    assert_first_session_intact(run_dir, result)


@pytest.mark.slow
def test_after_sigkill_of_a_session_the_next_session_starts_at_once(tmp_path):
    proc = subprocess.Popen(train_cmd(tmp_path, SAME), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manager = KaggleCheckpointManager(tmp_path)
    deadline = time.monotonic() + 180
    while not manager.checkpoints() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not try_acquire(tmp_path, "train")  # it holds the folder while it trains
    proc.kill()
    proc.wait()
    start = time.monotonic()
    with run_lock(tmp_path, "train"):
        assert time.monotonic() - start < 1
    result = ResumableTrainer(small_config(SAME, "budget.session_minutes=0.001"), tmp_path, progress=False).run()
    assert result.start_step >= 2 and result.end_step == result.start_step + 1
    assert [s["stop_reason"] for s in manager.status()["sessions"]] == ["killed", "budget"]
