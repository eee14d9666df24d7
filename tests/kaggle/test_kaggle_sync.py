"""The Kaggle store and session chaining, driven through the real `kaggle` client against the local
Kaggle API emulator (tests/emulator/kaggle_emulator.py): no request leaves the machine."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_trainer import SMALL, small_config

from kaggle_t2sql.kaggle.bundle import write_version
from kaggle_t2sql.kaggle.chain import run_chain
from kaggle_t2sql.kaggle.auth import CredentialsError, kaggle_api
from kaggle_t2sql.kaggle.kaggle_store import KaggleStore
from kaggle_t2sql.kaggle.sync import pull_for_session

REF = "tester/t2sql-ckpt"
KERNEL = "tester/t2sql-train"


@pytest.fixture(scope="module")
def checkpointed_run(tmp_path_factory):
    """A paused tiny run holding checkpoints 2, 4 and 6."""
    from test_sync import session

    run = tmp_path_factory.mktemp("checkpointed") / "run"
    session(small_config("training.keep_checkpoints=4"), run, cut=6)
    return run


def secrets(emu):
    return [emu.key, emu.token]


def scan_for_secrets(emu, *roots, texts=()):
    """No file under the roots and no captured text holds a credential."""
    for root in roots:
        for path in Path(root).rglob("*"):
            if path.is_file() and path.suffix not in (".sqlite",):
                data = path.read_bytes()
                for secret in secrets(emu):
                    assert secret.encode() not in data, path
    for text in texts:
        for secret in secrets(emu):
            assert secret not in text


def train_cmd(run_dir, input_root, *extra):
    args = [sys.executable, "-m", "kaggle_t2sql", "train", "--preset", "tiny", "--output-dir", str(run_dir), "--no-progress",
            "--set", f"store.uri=kaggle:{REF}", "--set", f"store.input_root={input_root}"]
    for pair in [*SMALL, *extra]:
        args += ["--set", pair]
    return args


def mount_latest(emu, input_root: Path, layout: int) -> None:
    """What Kaggle does at session start: the attached dataset's latest ready version, read-only, by slug."""
    shutil.rmtree(input_root, ignore_errors=True)
    versions = emu.dataset_versions(REF)
    if not versions:
        input_root.mkdir(parents=True)
        return
    target = input_root / ("t2sql-ckpt" if layout % 2 else "datasets/tester/t2sql-ckpt")
    shutil.copytree(emu.version_dir(REF), target)


def test_push_pull_round_trip_private_zip_and_processing(emu, tmp_path):
    from test_sync import session

    session(small_config(), tmp_path / "run", cut=2)
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    bundle = tmp_path / "bundle"
    write_version(bundle, tmp_path / "run")
    emu.processing_polls = 3  # the new version processes for a while: the next push must wait for "ready"
    assert store.put(bundle, "first", []).id == f"{REF}/1"
    assert store.put(bundle, "second", []).id == f"{REF}/2"
    creates = [c for c in emu.calls() if c.get("rpc", "").endswith(("CreateDataset", "CreateDatasetVersion"))]
    assert [c["rpc"].rsplit("/", 1)[1] for c in creates] == ["CreateDataset", "CreateDatasetVersion"]
    assert creates[0]["body"].get("isPrivate") is True
    assert store.latest("tiny-demo")["global_step"] == 2 and [v.number for v in store.versions()] == [1, 2]
    pulled = store.pull(tmp_path / "pulled", "tiny-demo")
    ckpt = "tiny-demo/checkpoint-2/adapter_model.safetensors"
    assert pulled is not None and (pulled / ckpt).read_bytes() == (bundle / ckpt).read_bytes()
    scan_for_secrets(emu, tmp_path / "run", tmp_path / "pulled", emu.root)


def test_stale_mount_is_replaced_by_the_newer_store_version(emu, tmp_path):
    from test_sync import session

    env = emu.subprocess_env(tmp_path / "client")
    run = tmp_path / "first"
    subprocess.run(train_cmd(run, tmp_path / "none", "budget.session_minutes=0.001"), env=env, check=True,
                   capture_output=True)
    mount_latest(emu, tmp_path / "input", 1)  # the mount shows step 1 ...
    subprocess.run(train_cmd(run, tmp_path / "none", "budget.session_minutes=0.001"), env=env, check=True,
                   capture_output=True)  # ... while the store moved on to step 2
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    report = pull_for_session(tmp_path / "fresh", store, tmp_path / "input", small_config().to_dict())
    assert report.global_step == 2 and "mount is stale (step 1)" in report.summary()
    del session


def test_corrupt_download_falls_back_to_the_previous_version(emu, tmp_path):
    env = emu.subprocess_env(tmp_path / "client")
    for _ in range(2):
        subprocess.run(train_cmd(tmp_path / "run", tmp_path / "none", "budget.session_minutes=0.001"), env=env,
                       check=True, capture_output=True)
    latest = emu.version_dir(REF)
    blob = next(latest.rglob("optimizer.pt"))
    blob.write_bytes(blob.read_bytes()[:50])
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    with pytest.warns(UserWarning, match=r"version tester/t2sql-ckpt/2: the copy of run tiny-demo is corrupt"):
        report = pull_for_session(tmp_path / "fresh", store, tmp_path / "none", small_config().to_dict())
    assert report.global_step == 1


def test_missing_and_rejected_credentials(emu, tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(CredentialsError, match="no Kaggle credentials found: export KAGGLE_API_TOKEN"):
        kaggle_api()
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")  # inside a Kaggle notebook: name the secret to add
    with pytest.raises(CredentialsError, match="Add-ons > Secrets: add a secret named KAGGLE_API_TOKEN"):
        kaggle_api()
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE")
    monkeypatch.setenv("KAGGLE_USERNAME", "tester")
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key-123456")
    store = KaggleStore(REF, api=kaggle_api())
    with pytest.raises(CredentialsError, match=r"rejected the credentials \(HTTP 401\)") as err:
        store.latest("tiny-demo")
    assert "wrong-key-123456" not in str(err.value)
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "sync", "status", "--output-dir", str(tmp_path),
                          "--store", f"kaggle:{REF}"], env={**emu.subprocess_env(tmp_path / "client", auth="none")},
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no Kaggle credentials found" in out.stderr


def test_chain_never_pushes_while_the_kernel_runs_and_stops_without_progress(emu, tmp_path):
    folder = tmp_path / "kernel"
    folder.mkdir()
    (folder / "n.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (folder / "kernel-metadata.json").write_text(json.dumps({"id": KERNEL, "title": "t2sql train", "code_file": "n.ipynb",
                                                             "language": "python", "kernel_type": "notebook"}))
    api = kaggle_api()
    api.kernels_push(str(folder))  # a session is already running
    emu.set_kernel_status(KERNEL, "running")
    threading.Timer(0.5, lambda: emu.set_kernel_status(KERNEL, "complete")).start()
    emu.on_kernel_push = lambda ref, version, f: emu.set_kernel_status(ref, "complete", version)  # no progress at all
    emu.clear_log()
    report = run_chain(api, KERNEL, folder, KaggleStore(REF, api=api, poll_s=0.01), "tiny-demo", max_sessions=5,
                       poll_s=0.05, start_grace_s=1.0, log=lambda *_: None)
    assert report.stop_reason == "no progress in two sessions in a row" and report.sessions == 2
    rpcs = [c.get("rpc", "") for c in emu.calls()]
    first_push = next(i for i, r in enumerate(rpcs) if r.endswith("SaveKernel"))
    statuses_before = [r for r in rpcs[:first_push] if r.endswith("GetKernelSessionStatus")]
    assert len(statuses_before) >= 2  # it polled while the kernel was running, and pushed only after


def test_upload_killed_mid_way_leaves_the_previous_version(emu, tmp_path):
    env = emu.subprocess_env(tmp_path / "client")
    run = tmp_path / "run"
    subprocess.run(train_cmd(run, tmp_path / "none", "budget.session_minutes=0.001"), env=env, check=True,
                   capture_output=True)
    subprocess.run(train_cmd(run, tmp_path / "none", "budget.session_minutes=0.001", "store.uri="), env=env, check=True,
                   capture_output=True)  # one more step, not pushed: `sync push` has something new to upload
    emu.hold_next_upload = True
    proc = subprocess.Popen([sys.executable, "-m", "kaggle_t2sql", "sync", "push", "--output-dir", str(run), "--store",
                             f"kaggle:{REF}"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while not emu.upload_held.is_set() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert emu.upload_held.is_set()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    emu.release_uploads()
    assert [v["number"] for v in emu.dataset_versions(REF)] == [1]
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    report = pull_for_session(tmp_path / "fresh", store, tmp_path / "none", small_config().to_dict())
    assert report.global_step == 1


def test_repo_kernel_metadata_is_accepted_by_kaggle_kernels_push(emu, tmp_path):
    """The repo's kernel-metadata.json + notebooks/train.ipynb, pushed with the real `kaggle kernels push`."""
    repo = Path(__file__).resolve().parents[2]
    folder = tmp_path / "kernel"
    (folder / "notebooks").mkdir(parents=True)
    meta = json.loads((repo / "kernel-metadata.json").read_text())
    meta["id"] = KERNEL  # the template names a placeholder user
    meta["dataset_sources"] = [REF]
    (folder / "kernel-metadata.json").write_text(json.dumps(meta))
    shutil.copy(repo / "notebooks" / "train.ipynb", folder / "notebooks" / "train.ipynb")
    out = subprocess.run([sys.executable, "-m", "kaggle", "kernels", "push", "-p", str(folder)],
                         env=emu.subprocess_env(tmp_path / "client"), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    (run,) = emu.kernel_runs(KERNEL)
    saved = [c for c in emu.calls() if c.get("rpc", "").endswith("SaveKernel")][-1]["body"]
    assert saved["machineShape"] == "NvidiaTeslaT4" and saved["enableGpu"] and saved["enableInternet"]
    assert saved["isPrivate"] and saved["datasetDataSources"] == [REF]
    assert json.loads(saved["text"])["cells"][1]["metadata"]["tags"] == ["parameters"]
    assert "kaggle.json" not in out.stdout + out.stderr and emu.key not in out.stdout + out.stderr
    del run


def test_publish_wheel_puts_an_installable_wheel_in_a_dataset(emu, tmp_path):
    import zipfile

    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "publish-wheel", "--dataset", "tester/t2sql-wheel"],
                         env=emu.subprocess_env(tmp_path / "client"), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    files = emu.dataset_files("tester/t2sql-wheel")
    (wheel,) = [name for name in files if name.endswith(".whl")]
    assert wheel.startswith("kaggle_t2sql-")
    (tmp_path / wheel).write_bytes(files[wheel])
    names = zipfile.ZipFile(tmp_path / wheel).namelist()
    assert "kaggle_t2sql/data/demo_data/train.jsonl" in names and "kaggle_t2sql/data/demo_data/databases/music.sql" in names
    # every module of every stage subpackage, and all of the bundled data (what a session installs offline)
    repo = Path(__file__).resolve().parents[2]
    shipped = {p.relative_to(repo).as_posix() for p in (repo / "kaggle_t2sql").rglob("*")
               if p.is_file() and (p.suffix == ".py" or "demo_data" in p.parts) and "__pycache__" not in p.parts}
    assert shipped - set(names) == set()
    assert any(n.endswith("entry_points.txt") for n in names)


def test_a_new_dataset_that_answers_403_until_visible_is_still_created(emu, tmp_path, checkpointed_run):
    """Kaggle answers 403 (not 404) for a dataset that does not exist, and for a few reads right after creating
    it; single files may come back zipped (kaggle-cli#158). The first push must still create the store."""
    emu.new_dataset_invisible_polls = 3
    emu.zip_single_file_downloads = True
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    store.check_access()  # the dataset does not exist yet: 403, which is not a credentials problem
    assert store.index() is None
    root = tmp_path / "version"
    write_version(root, checkpointed_run)
    assert store.commit(root, "first").number == 1
    assert store.latest("tiny-demo")["global_step"] == 6  # read from t2sql-store.json.zip


def test_chain_does_not_take_a_stale_status_right_after_a_push_for_the_session_end(emu, tmp_path, checkpointed_run):
    """For a few polls after a push, kernels_status may still describe the previous, finished session."""
    from kaggle_t2sql.kaggle.bundle import seal_version, stage_version

    folder = tmp_path / "kernel"
    folder.mkdir()
    (folder / "n.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (folder / "kernel-metadata.json").write_text(json.dumps({"id": KERNEL, "title": "t2sql train", "code_file": "n.ipynb",
                                                             "language": "python", "kernel_type": "notebook"}))
    def fake_session(ref, version, _folder):  # a session that takes a moment, then leaves one more version
        emu.set_kernel_status(ref, "running", version)
        time.sleep(1.0)
        root = tmp_path / f"v{version}"
        stage_version(root, checkpointed_run, checkpoint=checkpointed_run / "checkpoints" / f"checkpoint-{2 * version}")
        seal_version(root)
        KaggleStore(REF, api=kaggle_api(), poll_s=0.01).commit(root, f"session {version}")
        emu.set_kernel_status(ref, "complete", version)

    api = kaggle_api()
    api.kernels_push(str(folder))  # an earlier session, already complete
    emu.set_kernel_status(KERNEL, "complete")
    emu.on_kernel_push, emu.kernel_push_hook_async = fake_session, True
    emu.status_lag_polls = 5
    report = run_chain(api, KERNEL, folder, KaggleStore(REF, api=api, poll_s=0.01), "tiny-demo", max_sessions=2,
                       poll_s=0.05, start_grace_s=30.0, log=lambda *_: None)
    assert report.sessions == 2 and report.steps == [4, 6], report  # each session's own progress, none missed


# ---------------------------------------------------------------- losing nothing (issue 17)

@pytest.fixture(scope="module")
def second_run(tmp_path_factory):
    """A second run of the same store (run_name second-run), paused with checkpoints 2, 4 and 6."""
    from test_sync import session

    run = tmp_path_factory.mktemp("second") / "run"
    session(small_config("training.keep_checkpoints=4", "run_name=second-run"), run, cut=6)
    return run


def version_with(folder, *parts):
    """A sealed store version in `folder` holding the given (run folder, step) copies, as a session stages it."""
    from kaggle_t2sql.kaggle.bundle import seal_version, stage_version

    for run_dir, step in parts:
        stage_version(folder, run_dir, checkpoint=run_dir / "checkpoints" / f"checkpoint-{step}")
    seal_version(folder)
    return folder


def steps_in(store, tmp):
    """{run: global step} of every run's newest intact copy in the store (what a pull gets)."""
    from kaggle_t2sql.kaggle.bundle import read_manifest

    return {run: read_manifest(folder)["global_step"] for run, folder in store.collect(tmp).items()}


def all_versions(emu):
    return [(ref, v["number"], v["status"]) for ref in (REF, f"{REF}-b") for v in emu.dataset_versions(ref)]


@pytest.mark.parametrize("fault", ["refused upload", "failed version", "unfinished processing"])
def test_a_failed_partial_or_unfinished_pruning_push_leaves_every_run(emu, tmp_path, checkpointed_run, second_run,
                                                                        fault):
    """Kaggle prunes only with delete_old_versions, which deletes every older version of the dataset in the call
    that creates the new one. The pruning push must go where nothing it deletes is the newest verified copy."""
    from kaggle_t2sql.kaggle.bundle import BundleError

    a, b = checkpointed_run, second_run
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01, ready_timeout_s=2.0)
    push = lambda name, *parts: store.commit(version_with(tmp_path / name, *parts), max_versions=2)  # noqa: E731
    for i, parts in enumerate([[(a, 2)], [(a, 4)], [(a, 6)], [(a, 6), (b, 2)]]):
        push(f"p{i}", *parts)
    assert len(store.versions()) >= 2  # so the next push prunes; only the newest version holds second-run
    if fault == "refused upload":
        emu.reject_next_upload = 400  # the client leaves the refused file out of the version, silently
    elif fault == "failed version":
        emu.fail_next_versions = 1
    else:
        emu.processing_polls = 10**6  # still processing when the session is killed (here: gives up waiting)
    with pytest.raises(BundleError):
        push("p4", (a, 6), (b, 4))
    assert steps_in(store, tmp_path / "after-fault") == {"tiny-demo": 6, "second-run": 2}, all_versions(emu)
    emu.processing_polls = 0
    if fault == "unfinished processing":
        emu.set_dataset_status(REF, "failed")  # Kaggle ends it some time later
    push("p5", (a, 6), (b, 4))  # the next push lands (over a failed version too)
    assert steps_in(store, tmp_path / "recovered") == {"tiny-demo": 6, "second-run": 4}


def test_storage_stays_bounded_with_two_datasets_in_turn(emu, tmp_path, checkpointed_run, second_run):
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    pushed = {}
    for i, (run, name, step) in enumerate([(checkpointed_run, "tiny-demo", 2), (second_run, "second-run", 2),
                                           (checkpointed_run, "tiny-demo", 4), (second_run, "second-run", 4),
                                           (checkpointed_run, "tiny-demo", 6), (second_run, "second-run", 6)]):
        root = version_with(tmp_path / f"p{i}", (run, step))
        store.commit(root, run_name=name, max_versions=2)
        pushed[name] = step
        assert len(all_versions(emu)) <= 3, all_versions(emu)
        _, index = store.newest_verified()
        assert {r: m["global_step"] for r, m in index["runs"].items()} == pushed
    assert {ref for ref, _, _ in all_versions(emu)} == {REF, f"{REF}-b"}  # both datasets used in turn
    assert steps_in(store, tmp_path / "pulled") == {"tiny-demo": 6, "second-run": 6}


def test_overlapping_sessions_never_roll_a_run_back(emu, tmp_path, checkpointed_run, second_run):
    """Each session stages its pushes with the other runs as it found them at its start."""
    a, b = checkpointed_run, second_run
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    store.commit(version_with(tmp_path / "start", (a, 2), (b, 2)))
    store.commit(version_with(tmp_path / "b-session", (a, 2), (b, 6)), run_name="second-run")  # B's session
    store.commit(version_with(tmp_path / "a-session", (a, 4), (b, 2)), run_name="tiny-demo")  # A's: saw B at 2
    assert steps_in(store, tmp_path / "one") == {"tiny-demo": 4, "second-run": 6}
    with pytest.warns(UserWarning, match=r"holds run tiny-demo at step 4 .* step 2 does not replace it"):
        store.commit(version_with(tmp_path / "stale-a", (a, 2), (b, 6)), run_name="tiny-demo")  # a 2nd session of A
    assert steps_in(store, tmp_path / "two") == {"tiny-demo": 4, "second-run": 6}
    assert store.status()["runs"]["tiny-demo"]["global_step"] == 4


def test_a_damaged_copy_of_another_run_is_replaced_by_its_newest_intact_copy(emu, tmp_path, checkpointed_run,
                                                                               second_run):
    from kaggle_t2sql.kaggle.bundle import read_manifest, seal_version, stage_version, verify_bundle
    from kaggle_t2sql.kaggle.sync import carry_dir

    a, b = checkpointed_run, second_run
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    store.commit(version_with(tmp_path / "v1", (a, 2), (b, 2)))
    store.commit(version_with(tmp_path / "v2", (a, 4), (b, 6)))
    blob = emu.version_dir(REF) / "second-run" / "checkpoint-6" / "adapter_model.safetensors"
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # same size: only the sha256 tells
    blob.write_bytes(bytes(data))
    run_dir = tmp_path / "session"
    with pytest.warns(UserWarning, match=r"the copy of run second-run is corrupt"):
        report = pull_for_session(run_dir, store, tmp_path / "none", small_config("training.keep_checkpoints=4").to_dict())
    assert report.global_step == 4 and report.carried == ["second-run"]
    assert read_manifest(carry_dir(run_dir) / "second-run")["global_step"] == 2
    root = tmp_path / "next-push"
    stage_version(root, run_dir, carry_dir(run_dir))
    seal_version(root)
    before = len(store.list_versions())
    with pytest.warns(UserWarning, match=r"second-run is corrupt") as seen:
        version = store.commit(root, run_name="tiny-demo")
    fetched = store.fetch(version, tmp_path / "fetched")
    assert not verify_bundle(fetched / "second-run") and read_manifest(fetched / "second-run")["global_step"] == 2
    # one push: the corrupt step-6 copy, which nothing can carry, is not a newer copy to merge again and again
    assert len(store.list_versions()) == before + 1
    assert not [w for w in seen if "pushed while this push ran" in str(w.message)]


def test_a_version_kaggle_marks_failed_is_pushed_over_not_waited_on(emu, tmp_path, checkpointed_run):
    from kaggle_t2sql.kaggle.bundle import BundleError
    from kaggle_t2sql.kaggle.uploader import BackgroundUploader

    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    store.commit(version_with(tmp_path / "v1", (checkpointed_run, 2)))
    emu.fail_next_versions = 1
    with pytest.raises(BundleError, match=r"version 2 is 'failed' on Kaggle"):
        store.commit(version_with(tmp_path / "v2", (checkpointed_run, 4)))
    with pytest.warns(UserWarning, match=r"version tester/t2sql-ckpt/2 is failed: skipped"):
        report = pull_for_session(tmp_path / "fresh", store, tmp_path / "none",
                                  small_config("training.keep_checkpoints=4").to_dict())
    assert report.global_step == 2
    emu.fail_next_versions = 1  # a session's push fails the same way: its retry lands, the session goes on
    uploader = BackgroundUploader(store, checkpointed_run, retry_delays_s=(0.1,))
    uploader.submit(6)
    assert uploader.close(60)
    assert [s for s, _ in uploader.pushed] == [6] and "'failed'" in uploader.errors[0]
    assert store.latest("tiny-demo")["global_step"] == 6 and all_versions(emu)[-1][2] == "READY"


def test_kaggle_limits_top_level_files_and_dataset_size(emu, tmp_path, checkpointed_run):
    from kaggle_t2sql.kaggle.bundle import BundleError

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(51):
        (folder / f"f{i}.txt").write_text(str(i))
    (folder / "dataset-metadata.json").write_text(json.dumps({"id": "tester/many-files", "title": "many files",
                                                              "licenses": [{"name": "CC0-1.0"}]}))
    reply = kaggle_api().dataset_create_new(str(folder), public=False, quiet=True)
    assert "at most 50 top-level files" in reply.error and emu.dataset_versions("tester/many-files") == []
    store = KaggleStore(REF, api=kaggle_api(), poll_s=0.01)
    (folder / "dataset-metadata.json").unlink()
    emu.clear_log()
    with pytest.raises(BundleError, match="at most 50 top-level files"):
        store.put(folder, "", [])
    assert not [c for c in emu.calls() if c.get("rpc", "").endswith("StartBlobUpload")]  # refused before uploading
    emu.max_dataset_bytes = 1000
    with pytest.raises(BundleError, match="Kaggle refused the push: The dataset is too large"):
        store.commit(version_with(tmp_path / "v1", (checkpointed_run, 2)))
    assert all_versions(emu) == []


def test_a_session_pushing_while_another_push_runs_merges_it_in(emu, tmp_path, checkpointed_run, second_run):
    """Session B's push lands while session A's upload runs (A read the store before it): A's version, newer,
    holds B's old copy; A sees B's version appear and pushes once more with both runs' newest copies."""
    a, b = checkpointed_run, second_run

    class BPushesMeanwhile(KaggleStore):  # the fault: the other session's whole push happens during this put
        race = False

        def put(self, root, note, expendable):
            if self.race:
                self.race = False
                KaggleStore(REF, api=kaggle_api(), poll_s=0.01).commit(version_with(tmp_path / "b-push", (a, 2), (b, 4)),
                                                                      run_name="second-run")
            return super().put(root, note, expendable)

    store = BPushesMeanwhile(REF, api=kaggle_api(), poll_s=0.01)
    store.commit(version_with(tmp_path / "start", (a, 2), (b, 2)))
    store.race = True
    with pytest.warns(UserWarning, match="another session pushed while this push ran"):
        store.commit(version_with(tmp_path / "a-push", (a, 4), (b, 2)), run_name="tiny-demo")
    assert {r: m["global_step"] for r, m in store.index()["runs"].items()} == {"tiny-demo": 4, "second-run": 4}
