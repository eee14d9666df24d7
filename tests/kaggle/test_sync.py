"""Stores, bundles and the pull at session start, with the local store (no network)."""

import hashlib
import json
import shutil

import pytest
from store_backends import moto_s3, s3_uri  # noqa: F401 - fixtures (the s3 variant of the two-runs check)
from test_trainer import MAX_STEPS, CutAt, assert_identical, reference, small_config  # noqa: F401 - fixture

from kaggle_t2sql.kaggle.bundle import (STORE_INDEX, SYNC_MANIFEST, find_bundles, install_bundle, read_manifest, verify_bundle,
                                 write_version)
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.kaggle.stores import LocalStore
from kaggle_t2sql.kaggle.store_uri import open_store
from kaggle_t2sql.kaggle.sync import pull_for_session
from kaggle_t2sql.train.trainer import ResumableTrainer


def session(cfg, run_dir, cut=None):
    return ResumableTrainer(cfg, run_dir, progress=False, callbacks=[CutAt([cut])] if cut else []).run()


def tree_digest(root):
    """sha256 of every file under root, by relative path: 'byte-identical' made checkable."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_sessions_on_fresh_machines_resume_from_the_store_and_end_identical(tmp_path, reference):  # noqa: F811
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'no-input'}")
    for i, cut in enumerate([3, 5, None]):
        machine = tmp_path / f"machine-{i}"  # every session starts on an empty disk, as on Kaggle
        result = session(cfg, machine, cut)
    assert result.status == "finished" and result.start_step == 5 and result.not_pushed == []
    assert_identical(machine, reference)
    store = LocalStore(store_dir)
    assert store.latest(cfg.run_name)["global_step"] == MAX_STEPS and len(store.versions()) >= 3
    latest = store.root / store.versions()[-1].id
    assert sorted(p.name for p in latest.iterdir()) == sorted([cfg.run_name, STORE_INDEX])
    names = sorted(p.name for p in (latest / cfg.run_name).iterdir())
    assert names == ["checkpoint-8", "loss_curve.png", "run.json", SYNC_MANIFEST, "tb"]
    ledger = json.loads((latest / cfg.run_name / "run.json").read_text())
    assert [(s["start_step"], s["end_step"]) for s in ledger["sessions"]] == [(0, 3), (3, 5), (5, 8)]
    assert not list(latest.rglob("pytorch_model*")) and not list(latest.rglob("model*.safetensors"))  # never the base model


def test_mount_is_found_by_content_and_checked(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    for layout in ("my-ckpt", "datasets/tester/my-ckpt"):
        inputs = tmp_path / f"input-{layout.count('/')}"
        write_version(inputs / layout, tmp_path / "run")
        (inputs / "other-dataset").mkdir()
        assert find_bundles(inputs) == [inputs / layout / cfg.run_name]
        fresh = tmp_path / f"fresh-{layout.count('/')}"
        report = pull_for_session(fresh, None, inputs, cfg.to_dict())
        assert report.source == f"mount:{inputs / layout / cfg.run_name}" and report.global_step == 2
        assert KaggleCheckpointManager(fresh).latest_valid().name == "checkpoint-2"


def test_corrupt_mount_falls_back_with_a_warning(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    inputs = tmp_path / "input"
    write_version(inputs / "old", tmp_path / "run")
    session(cfg, tmp_path / "run", cut=4)
    write_version(inputs / "new", tmp_path / "run")
    blob = inputs / "new" / cfg.run_name / "checkpoint-4" / "optimizer.pt"
    blob.write_bytes(blob.read_bytes()[:100])  # partial copy
    with pytest.warns(UserWarning, match="new/tiny-demo is corrupt or partial"):
        report = pull_for_session(tmp_path / "fresh", None, inputs, cfg.to_dict())
    assert report.global_step == 2 and report.source.endswith("old/tiny-demo")


def test_stale_mount_loses_to_a_newer_store_version(tmp_path):
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'none'}")
    session(cfg, tmp_path / "run", cut=2)
    inputs = tmp_path / "input"
    shutil.copytree(store_dir / "v0001", inputs / "ckpt")  # the mount shows version 1 ...
    session(cfg, tmp_path / "run", cut=5)
    report = pull_for_session(tmp_path / "fresh", open_store(cfg.store.uri), inputs, cfg.to_dict())
    assert report.global_step == 5 and "mount is stale (step 2)" in report.summary()  # ... the store has a newer one


def test_corrupt_latest_store_version_falls_back_to_the_previous(tmp_path):
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'none'}")
    session(cfg, tmp_path / "run", cut=2)
    session(cfg, tmp_path / "run", cut=4)
    store = LocalStore(store_dir)
    newest = store.root / store.versions()[-1].id
    (newest / cfg.run_name / "checkpoint-4" / "adapter_model.safetensors").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="is corrupt"):
        report = pull_for_session(tmp_path / "fresh", store, tmp_path / "none", cfg.to_dict())
    assert report.global_step == 2


def test_a_pull_keeps_the_checkpoint_exactly_as_written(tmp_path):
    """Process count and per-rank RNG files survive a push and a pull byte for byte (checkpoint.json too)."""
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    written = tmp_path / "run" / "checkpoints" / "checkpoint-2"
    marker = json.loads((written / "checkpoint.json").read_text())
    # what a 2-process session leaves: one RNG state per rank, world_size 2 in the marker
    shutil.copy(written / "rng_state.pth", written / "rng_state_1.pth")
    (written / "rng_state.pth").rename(written / "rng_state_0.pth")
    files = {n: m for n, m in marker["files"].items() if n != "rng_state.pth"}
    from kaggle_t2sql.checkpoints import file_digests
    marker.update(world_size=2, files={**files, **{n: m for n, m in file_digests(written).items() if n.startswith("rng")}})
    (written / "checkpoint.json").write_text(json.dumps(marker))
    write_version(tmp_path / "v", tmp_path / "run")
    pulled = install_bundle(tmp_path / "v" / cfg.run_name, tmp_path / "fresh")
    assert tree_digest(pulled) == tree_digest(written)
    assert json.loads((pulled / "checkpoint.json").read_text())["world_size"] == 2


def test_a_staged_version_stays_intact_while_training_appends_to_its_logs(tmp_path):
    """A version is staged at a save, sealed and uploaded while training goes on; the live TensorBoard writer
    appends to its event file in place meanwhile. What is uploaded must still match its sha256, or a session
    killed mid-run leaves only versions that fail their check."""
    from kaggle_t2sql.kaggle.bundle import seal_version, stage_version

    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    name = stage_version(tmp_path / "v", tmp_path / "run")
    (event,) = (tmp_path / "run" / "tb").rglob("events.out.tfevents.*")
    seal_version(tmp_path / "v")
    with open(event, "ab") as f:  # the writer's next records, before the upload reads the staged files
        f.write(b"more events")
    assert verify_bundle(tmp_path / "v" / name) == []


def test_runs_sit_side_by_side_and_a_changed_setting_is_refused(tmp_path):
    """Run A paused; run B (new run_name) shares the store and never overwrites A; a session of A with a changed
    learning rate is refused before training, naming it, and leaves the store byte-identical."""
    store_dir, inputs = tmp_path / "store", tmp_path / "none"
    a = small_config(f"store.uri=local:{store_dir}", f"store.input_root={inputs}")
    session(a, tmp_path / "a1", cut=2)
    b = small_config(f"store.uri=local:{store_dir}", f"store.input_root={inputs}", "run_name=second-run")
    session(b, tmp_path / "b1", cut=3)
    store = LocalStore(store_dir)
    index = store.index()
    assert sorted(index["runs"]) == ["second-run", "tiny-demo"]
    assert index["runs"]["tiny-demo"]["global_step"] == 2 and index["runs"]["second-run"]["global_step"] == 3
    newest = store.root / store.versions()[-1].id
    assert not verify_bundle(newest / "tiny-demo") and not verify_bundle(newest / "second-run")

    before = tree_digest(store_dir)
    changed = small_config(f"store.uri=local:{store_dir}", f"store.input_root={inputs}", "training.learning_rate=0.001")
    with pytest.raises(ConfigError, match=r"changed: training\.learning_rate.*new run_name"):
        session(changed, tmp_path / "a2")
    assert tree_digest(store_dir) == before and not (tmp_path / "a2" / "checkpoints").exists()
    from test_trainer import SMALL

    from kaggle_t2sql.cli import main

    args = ["train", "--preset", "tiny", "--output-dir", str(tmp_path / "a2"), "--no-progress"]
    for pair in [*SMALL, f"store.uri=local:{store_dir}", f"store.input_root={inputs}", "training.learning_rate=0.001"]:
        args += ["--set", pair]
    assert main(args) == 2 and tree_digest(store_dir) == before  # the CLI exits non-zero, the store untouched

    result = session(a, tmp_path / "a3")  # the original settings resume run A from the store
    assert result.start_step == 2 and result.status == "finished"
    index = store.index()
    assert index["runs"]["tiny-demo"]["finished"] and index["runs"]["second-run"]["global_step"] == 3
    assert read_manifest(store.root / store.versions()[-1].id / "second-run")["global_step"] == 3


def test_interrupted_local_push_leaves_the_previous_version(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    store = LocalStore(tmp_path / "store")
    root = tmp_path / "version"
    write_version(root, tmp_path / "run")
    assert store.commit(root).id == "v0001"

    class Boom(Exception):
        pass

    original = shutil.copy2
    calls = {"n": 0}

    def copy_then_die(src, dst, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise Boom("killed mid-upload")
        return original(src, dst, **kw)

    shutil.copy2 = copy_then_die
    try:
        with pytest.raises(Boom):
            store.put(root, "", [])
    finally:
        shutil.copy2 = original
    assert [v.id for v in store.versions()] == ["v0001"] and not verify_bundle(store.root / "v0001" / cfg.run_name)
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]


def test_sync_cli_push_pull_status(tmp_path, capsys):
    from kaggle_t2sql.cli import main

    session(small_config(), tmp_path / "run", cut=2)
    store = f"local:{tmp_path / 'store'}"
    assert main(["sync", "push", "--output-dir", str(tmp_path / "run"), "--store", store]) == 0
    assert "pushed run tiny-demo step 2 (checkpoint-2)" in capsys.readouterr().out
    assert main(["sync", "status", "--output-dir", str(tmp_path / "run"), "--store", store]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["versions"] == 1 and status["runs"]["tiny-demo"]["global_step"] == 2
    assert main(["sync", "pull", "--output-dir", str(tmp_path / "fresh"), "--store", store,
                 "--input-root", str(tmp_path / "none")]) == 0  # the store's only run: no --run-name needed
    assert "at step 2" in capsys.readouterr().out
    assert KaggleCheckpointManager(tmp_path / "fresh").latest_valid().name == "checkpoint-2"
    session(small_config("run_name=other-run"), tmp_path / "other", cut=2)
    assert main(["sync", "push", "--output-dir", str(tmp_path / "other"), "--store", store]) == 0
    capsys.readouterr()
    assert main(["sync", "pull", "--output-dir", str(tmp_path / "fresh2"), "--store", store,
                 "--input-root", str(tmp_path / "none")]) == 2  # two runs: which one?
    assert "holds runs other-run, tiny-demo: pass --run-name" in capsys.readouterr().err
    assert main(["sync", "pull", "--output-dir", str(tmp_path / "fresh2"), "--store", store, "--run-name", "tiny-demo",
                 "--input-root", str(tmp_path / "none")]) == 0
    assert "at step 2" in capsys.readouterr().out
    assert main(["sync", "push", "--output-dir", str(tmp_path / "empty"), "--store", store]) == 2
    assert "no valid checkpoint to push yet" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(1800)  # four training processes; minutes on a loaded machine
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_two_runs_sharing_a_store_through_the_cli(kind, tmp_path, request):
    """Run A trains, pushing every 2 steps; meanwhile run B is cut by SIGTERM and finished by a second session in
    another folder; A pushes on after that (with B as A found it at its start: absent), then is cut itself.
    The store still shows B finished at its last step, and A at its own. On a `local:` folder and on `s3://`
    (moto's S3 server, the real s3fs in every process: the environment carries the endpoint and keys)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from test_trainer import SMALL

    if kind == "s3":
        pytest.importorskip("s3fs")
        uri = request.getfixturevalue("s3_uri")
    else:
        uri = f"local:{tmp_path / 'store'}"
    store = open_store(uri)

    def train(folder, *extra):
        args = [sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(folder),
                "--no-progress"]
        for pair in [*SMALL, f"store.uri={uri}", f"store.input_root={tmp_path / 'none'}",
                     "store.push_retry_seconds=[0.5, 1, 2]", *extra]:
            args += ["--set", pair]
        log = open(tmp_path / f"{Path(folder).name}.log", "w")  # a file, not a pipe: a full pipe would stall it
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        proc.output = lambda: (proc.wait(timeout=900), log.close(), (tmp_path / f"{Path(folder).name}.log").read_text())[2]
        return proc

    def wait_for(run, step, proc):
        deadline = time.monotonic() + 900
        while (store.latest(run) or {}).get("global_step", 0) < step:
            assert time.monotonic() < deadline and proc.poll() is None, proc.output() if proc.poll() is not None else "slow"
            time.sleep(0.2)
        return store.latest(run)["global_step"]

    a = train(tmp_path / "a", "run_name=run-a", "training.max_steps=100000")
    wait_for("run-a", 2, a)  # A has started (and pushed) before B exists
    b = train(tmp_path / "b1", "run_name=run-b", "training.max_steps=12")
    b_folder, deadline = KaggleCheckpointManager(tmp_path / "b1"), time.monotonic() + 900
    # B's own folder, not the store, says when to cut: a store read under A's pushes can take longer than B's run
    while (b_folder.latest_valid() is None or int(b_folder.latest_valid().name.split("-")[1]) < 4) and b.poll() is None:
        assert time.monotonic() < deadline, "B is slow"
        time.sleep(0.05)
    b.send_signal(signal.SIGTERM)  # Kaggle's cut: B saves, pushes and stops
    out_b1 = b.output()
    assert b.returncode == 0 and "session paused (signal)" in out_b1, out_b1
    b_step = int(b_folder.latest_valid().name.split("-")[1])
    assert wait_for("run-b", b_step, a) == b_step  # its last push reaches the store's newest version (A pushing on)
    b2 = train(tmp_path / "b2", "run_name=run-b", "training.max_steps=12")  # B's next session, another folder
    out_b2 = b2.output()
    assert b2.returncode == 0 and "session finished (finished)" in out_b2 and "-> 12 of 12" in out_b2, out_b2
    wait_for("run-a", store.latest("run-a")["global_step"] + 4, a)  # A pushes on after B finished
    a.send_signal(signal.SIGTERM)
    out_a = a.output()
    assert a.returncode == 0 and "session paused (signal)" in out_a, out_a
    a_step = int(KaggleCheckpointManager(tmp_path / "a").latest_valid().name.split("-")[1])
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "sync", "status", "--output-dir", str(tmp_path / "a"),
                          "--store", uri], capture_output=True, text=True, check=True)
    runs = json.loads(out.stdout)["runs"]
    assert runs["run-b"]["finished"] and runs["run-b"]["global_step"] == 12, runs
    assert runs["run-a"]["global_step"] == a_step and not runs["run-a"]["finished"], (runs, out_a[-2000:])
