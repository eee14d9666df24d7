"""KaggleCheckpointManager on its own: what a broken checkpoint.json does, and a kill in the middle of
replacing a checkpoint folder."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from kaggle_t2sql.checkpoints import MARKER, KaggleCheckpointManager, sha256_file


def write_checkpoint(folder: Path, step: int, value: float) -> Path:
    """The files of a trainer checkpoint (small, but loadable where validation loads them)."""
    folder.mkdir(parents=True)
    save_file({"lora_A": torch.full((2, 2), value)}, str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text("{}")
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step, "log_history": []}))
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        (folder / name).write_bytes(os.urandom(64))
    return folder


def published(manager: KaggleCheckpointManager, step: int, value: float) -> Path:
    staging = manager.staging_dir(step)
    write_checkpoint(staging / f"checkpoint-{step}", step, value)
    path = manager.publish(staging / f"checkpoint-{step}", step)
    staging.rmdir()
    return path


@pytest.fixture
def manager(tmp_path):
    manager = KaggleCheckpointManager(tmp_path)
    published(manager, 2, 0.5)
    published(manager, 4, 1.0)
    return manager


def entry_without_bytes(files):
    name = next(iter(files))
    return {"files": {**files, name: {"sha256": files[name]["sha256"]}}}


@pytest.mark.parametrize(
    "rewrite, problem",
    [
        (lambda marker: [], "expected an object with a 'files' object"),
        (lambda marker: {**marker, "files": sorted(marker["files"])}, "expected an object with a 'files' object"),
        (lambda marker: {"step": 4}, "expected an object with a 'files' object"),
        (lambda marker: entry_without_bytes(marker["files"]), "lack.* sha256 and bytes"),
        (lambda marker: {"files": {**marker["files"], "optimizer.pt": "abc"}}, "optimizer.pt lack.* sha256 and bytes"),
        (lambda marker: {"files": {**marker["files"], "scheduler.pt": {"sha256": None, "bytes": 64}}}, "scheduler.pt lack"),
        (lambda marker: "not json at all {", "Expecting value"),
    ],
    ids=["top-level-list", "files-as-list", "no-files", "entry-without-bytes", "entry-not-an-object", "sha256-null", "not-json"],
)
def test_a_malformed_checkpoint_json_is_skipped_not_a_crash(manager, rewrite, problem):
    marker_path = manager.checkpoints_dir / "checkpoint-4" / MARKER
    marker = json.loads(marker_path.read_text())
    new = rewrite(marker)
    marker_path.write_text(new if isinstance(new, str) else json.dumps(new))
    with pytest.warns(UserWarning, match=f"skipping checkpoint .*checkpoint-4: checkpoint.json (malformed|unreadable).*{problem}"):
        assert manager.latest_valid().name == "checkpoint-2"


def test_a_trainer_state_that_is_not_an_object_is_skipped(manager):
    state = manager.checkpoints_dir / "checkpoint-4" / "trainer_state.json"
    state.write_text("[]")
    marker_path = state.parent / MARKER
    marker = json.loads(marker_path.read_text())
    marker["files"]["trainer_state.json"] = {"sha256": sha256_file(state), "bytes": state.stat().st_size}
    marker_path.write_text(json.dumps(marker))
    with pytest.warns(UserWarning, match="checkpoint-4: trainer_state.json unreadable"):
        assert manager.latest_valid().name == "checkpoint-2"


KILLED_BETWEEN_RENAMES = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path

    rename = os.replace

    def replace_then_stall(src, dst):  # stall right after the old folder was moved aside
        rename(src, dst)
        if Path(dst).name.startswith(".checkpoint-"):
            print("between the renames", flush=True)
            time.sleep(300)

    os.replace = replace_then_stall
    from kaggle_t2sql.checkpoints import KaggleCheckpointManager

    KaggleCheckpointManager(sys.argv[1]).publish(Path(sys.argv[2]), int(sys.argv[3]))
""")


def test_a_kill_between_the_renames_of_a_replacement_never_loses_the_checkpoint(manager):
    """A real process replacing checkpoint-4 is killed (-9) after moving it aside, before the new one is in."""
    old = manager.checkpoints_dir / "checkpoint-4"
    adapter_before = sha256_file(old / "adapter_model.safetensors")
    new = write_checkpoint(manager.staging_dir(4) / "checkpoint-4", 4, 9.0)
    proc = subprocess.Popen([sys.executable, "-c", KILLED_BETWEEN_RENAMES, str(manager.run_dir), str(new), "4"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "between the renames"
        assert not old.exists()  # the window: checkpoint-4 is only there under its moved-aside name
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    manager.clean_staging()  # what the next session does first
    assert manager.latest_valid() == old
    assert sha256_file(old / "adapter_model.safetensors") == adapter_before
    assert sorted(p.name for p in manager.checkpoints_dir.iterdir()) == ["checkpoint-2", "checkpoint-4"]


def test_a_kill_after_the_second_rename_keeps_the_new_checkpoint(manager):
    """Killed before the moved-aside folder was removed: the replacement is in place and the old copy goes."""
    aside = manager.checkpoints_dir / ".checkpoint-4.old-12345"
    (manager.checkpoints_dir / "checkpoint-4").rename(aside)
    write_checkpoint(manager.checkpoints_dir / ".staging-4" / "checkpoint-4", 4, 9.0)
    manager.publish(manager.checkpoints_dir / ".staging-4" / "checkpoint-4", 4)
    manager.clean_staging()
    assert sorted(p.name for p in manager.checkpoints_dir.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert manager.latest_valid().name == "checkpoint-4"


def test_a_run_json_written_before_plans_gets_this_sessions_plan_once(tmp_path):
    manager = KaggleCheckpointManager(tmp_path)
    manager.save_manifest({"run_id": "old", "config": {"training": {"batch_size": 1}}, "fingerprint": "f",
                           "max_steps": 40, "sessions": []})
    plan = {"global_batch": 8, "max_steps": 50, "world_size": 1, "data": {"rows": "r"}, "fingerprint": "f"}
    with pytest.warns(UserWarning, match="predates run plans"):
        manager.open_run({"training": {"batch_size": 1}}, "f", plan)
    assert (manager.load_manifest()["plan"], manager.load_manifest()["max_steps"]) == (plan, 50)
    later = {**plan, "max_steps": 60, "world_size": 2}  # the stored plan stays; only a change would be refused
    assert manager.open_run({"training": {"batch_size": 1}}, "f", later)["plan"] == plan


def corrupt_same_size(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:-7] + b"garbage")


def test_prune_trusts_only_the_full_sha256_check_and_never_deletes_the_only_good_checkpoint(manager):
    """checkpoint-4 corrupt with its size unchanged: a size-only check would keep it and delete checkpoint-2."""
    corrupt_same_size(manager.checkpoints_dir / "checkpoint-4" / "optimizer.pt")
    manager.prune(keep=1)
    assert (manager.checkpoints_dir / "checkpoint-2").is_dir()
    with pytest.warns(UserWarning, match="checkpoint-4: optimizer.pt does not match its sha256"):
        assert manager.status()["latest_checkpoint"] == str(manager.checkpoints_dir / "checkpoint-2")  # reported
    from kaggle_t2sql.kaggle.bundle import write_version

    with pytest.warns(UserWarning, match="checkpoint-4"):
        pushed = write_version(manager.run_dir / "push", manager.run_dir)  # what `sync push` would send
    assert {m["checkpoint"] for m in pushed["runs"].values()} == {"checkpoint-2"}


def test_checkpoint_json_names_its_run_and_a_checkpoint_of_another_run_is_refused(tmp_path):
    from kaggle_t2sql.errors import ConfigError

    plan = {"global_batch": 2, "max_steps": 8, "world_size": 1, "data": {"rows": "r"}, "fingerprint": "f"}
    ours, theirs = KaggleCheckpointManager(tmp_path / "ours"), KaggleCheckpointManager(tmp_path / "theirs")
    for m in (ours, theirs):
        m.open_run({"training": {"batch_size": 1}}, "f", plan)
        published(m, 2, 0.5)
    run = ours.load_manifest()
    marker = json.loads((ours.checkpoints_dir / "checkpoint-2" / MARKER).read_text())
    assert (marker["run_id"], marker["fingerprint"]) == (run["run_id"], run["fingerprint"]) == (run["run_id"], "f")
    (theirs.checkpoints_dir / "checkpoint-2").rename(ours.checkpoints_dir / "checkpoint-4")  # a stranger, newest
    before = {p: p.read_bytes() for p in ours.run_dir.rglob("*") if p.is_file()}
    with pytest.raises(ConfigError, match=rf"checkpoint-4 belongs to run {theirs.load_manifest()['run_id']} \(fingerprint f\), "
                                          rf"not to run {run['run_id']} .*move the stranger out"):
        ours.open_run({"training": {"batch_size": 1}}, "f", plan)
    assert {p: p.read_bytes() for p in ours.run_dir.rglob("*") if p.is_file()} == before
