"""Stores, bundles and the pull at session start, with the local store (no network)."""

import json
import shutil

import pytest
from test_trainer import MAX_STEPS, CutAt, assert_identical, reference, small_config  # noqa: F401 - fixture

from kaggle_t2sql.bundle import SYNC_MANIFEST, find_bundles, make_bundle, verify_bundle
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.stores import LocalStore, open_store
from kaggle_t2sql.sync import pull_for_session
from kaggle_t2sql.trainer import ResumableTrainer


def session(cfg, run_dir, cut=None):
    return ResumableTrainer(cfg, run_dir, progress=False, callbacks=[CutAt([cut])] if cut else []).run()


def test_sessions_on_fresh_machines_resume_from_the_store_and_end_identical(tmp_path, reference):  # noqa: F811
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'no-input'}")
    for i, cut in enumerate([3, 5, None]):
        machine = tmp_path / f"machine-{i}"  # every session starts on an empty disk, as on Kaggle
        result = session(cfg, machine, cut)
    assert result.status == "finished" and result.start_step == 5
    assert_identical(machine, reference)
    store = LocalStore(store_dir)
    assert [store.latest()["global_step"]] == [MAX_STEPS] and len(store.versions()) >= 3
    latest = store.root / f"v{store.versions()[-1]:04d}"
    names = sorted(p.name for p in latest.iterdir())
    assert names == ["checkpoint-8", "loss_curve.png", "run.json", SYNC_MANIFEST, "tb"]
    ledger = json.loads((latest / "run.json").read_text())
    assert [(s["start_step"], s["end_step"]) for s in ledger["sessions"]] == [(0, 3), (3, 5), (5, 8)]
    assert not list(latest.rglob("pytorch_model*")) and not list(latest.rglob("model*.safetensors"))  # never the base model


def test_mount_is_found_by_content_and_checked(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    for layout in ("my-ckpt", "datasets/tester/my-ckpt"):
        inputs = tmp_path / f"input-{layout.count('/')}"
        make_bundle(tmp_path / "run", inputs / layout)
        (inputs / "other-dataset").mkdir()
        assert find_bundles(inputs) == [inputs / layout]
        fresh = tmp_path / f"fresh-{layout.count('/')}"
        report = pull_for_session(fresh, None, inputs, cfg.fingerprint())
        assert report.source == f"mount:{inputs / layout}" and report.global_step == 2
        assert KaggleCheckpointManager(fresh).latest_valid().name == "checkpoint-2"


def test_corrupt_mount_falls_back_with_a_warning(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    inputs = tmp_path / "input"
    make_bundle(tmp_path / "run", inputs / "old")
    session(cfg, tmp_path / "run", cut=4)
    make_bundle(tmp_path / "run", inputs / "new")
    blob = inputs / "new" / "checkpoint-4" / "optimizer.pt"
    blob.write_bytes(blob.read_bytes()[:100])  # partial copy
    with pytest.warns(UserWarning, match="new is corrupt or partial"):
        report = pull_for_session(tmp_path / "fresh", None, inputs, cfg.fingerprint())
    assert report.global_step == 2 and report.source.endswith("old")


def test_stale_mount_loses_to_a_newer_store_version(tmp_path):
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}")
    session(small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'none'}"), tmp_path / "run", cut=2)
    inputs = tmp_path / "input"
    shutil.copytree(store_dir / "v0001", inputs / "ckpt")  # the mount shows version 1 ...
    session(small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'none'}"), tmp_path / "run", cut=5)
    report = pull_for_session(tmp_path / "fresh", open_store(cfg.store.uri), inputs, cfg.fingerprint())
    assert report.global_step == 5 and "mount is stale (step 2)" in report.summary()  # ... the store has a newer one


def test_corrupt_latest_store_version_falls_back_to_the_previous(tmp_path):
    store_dir = tmp_path / "store"
    cfg = small_config(f"store.uri=local:{store_dir}", f"store.input_root={tmp_path / 'none'}")
    session(cfg, tmp_path / "run", cut=2)
    session(cfg, tmp_path / "run", cut=4)
    store = LocalStore(store_dir)
    newest = store.root / f"v{store.versions()[-1]:04d}"
    (newest / "checkpoint-4" / "adapter_model.safetensors").write_bytes(b"broken")
    with pytest.warns(UserWarning, match="is corrupt"):
        report = pull_for_session(tmp_path / "fresh", store, tmp_path / "none", cfg.fingerprint())
    assert report.global_step == 2


def test_interrupted_local_push_leaves_the_previous_version(tmp_path):
    cfg = small_config()
    session(cfg, tmp_path / "run", cut=2)
    store = LocalStore(tmp_path / "store")
    bundle = tmp_path / "bundle"
    make_bundle(tmp_path / "run", bundle)
    assert store.push(bundle) == 1

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
            store.push(bundle)
    finally:
        shutil.copy2 = original
    assert store.versions() == [1] and not verify_bundle(store.root / "v0001")
    assert not [p for p in store.root.iterdir() if p.name.startswith(".")]


def test_sync_cli_push_pull_status(tmp_path, capsys):
    from kaggle_t2sql.cli import main

    session(small_config(), tmp_path / "run", cut=2)
    store = f"local:{tmp_path / 'store'}"
    assert main(["sync", "push", "--output-dir", str(tmp_path / "run"), "--store", store]) == 0
    assert "pushed step 2 (checkpoint-2)" in capsys.readouterr().out
    assert main(["sync", "status", "--output-dir", str(tmp_path / "run"), "--store", store]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["versions"] == 1 and status["latest"]["global_step"] == 2
    assert main(["sync", "pull", "--output-dir", str(tmp_path / "fresh"), "--store", store,
                 "--input-root", str(tmp_path / "none")]) == 0
    assert "at step 2" in capsys.readouterr().out
    assert main(["sync", "push", "--output-dir", str(tmp_path / "empty"), "--store", store]) == 2
    assert "no valid checkpoint to push yet" in capsys.readouterr().err
