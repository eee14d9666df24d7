"""`chain` and in-notebook chaining against Kaggle's refusals (issue 25 part 2-3, issue 17 item 6), through the
real kaggle client and the local emulator: the session cap is waited out, a spent quota stops with Kaggle's text,
a refused push is never a session, a running version is never pushed over, and queue time is not session time."""

import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from kaggle_t2sql.kaggle.auth import kaggle_api
from kaggle_t2sql.kaggle.chain import VersionRunning, run_chain
from kaggle_t2sql.kaggle.kernel import KernelPushRefused, KernelSpec, push_kernel, write_kernel_folder
from kaggle_t2sql.kaggle.kaggle_store import KaggleStore

KERNEL = "tester/t2sql-train"
STORE = "tester/t2sql-ckpt"
QUOTA_TEXT = "Maximum weekly GPU quota of 30.00 hours reached."  # ARCHITECTURE "More facts", captured by a user
CAP_TEXT = "Maximum batch GPU session count of 2 reached."


def kernel_folder(tmp_path, ref=KERNEL, gpu=True, shape=None):
    folder = tmp_path / ref.replace("/", "_")
    folder.mkdir()
    (folder / "n.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    meta = {"id": ref, "title": ref.split("/")[1].replace("-", " "), "code_file": "n.ipynb", "language": "python",
            "kernel_type": "notebook", "enable_gpu": gpu, "is_private": True}
    if shape:
        meta["machine_shape"] = shape
    (folder / "kernel-metadata.json").write_text(json.dumps(meta))
    return folder


def chain(api, folder, logs, **kw):
    kw = {"max_sessions": 1, "poll_s": 0.05, "start_grace_s": 0.5, "cap_poll_s": 0.2, "log": logs.append, **kw}
    return run_chain(api, KERNEL, folder, KaggleStore(STORE, api=api, poll_s=0.01), "tiny-demo", **kw)


def test_session_cap_is_waited_out_with_the_wait_in_the_log(emu, tmp_path):
    api = kaggle_api()
    for other in ("tester/other-job-one", "tester/other-job-two"):  # two GPU sessions of the account run
        push_kernel(api, kernel_folder(tmp_path, other))
        emu.set_kernel_status(other, "running")
    threading.Timer(1.0, lambda: emu.set_kernel_status("tester/other-job-one", "complete")).start()
    emu.on_kernel_push = lambda ref, version, f: emu.set_kernel_status(ref, "complete", version)
    logs = []
    report = chain(api, kernel_folder(tmp_path), logs)
    assert report.sessions == 1 and report.stop_reason == "max sessions (1)", (report, logs)
    waits = [line for line in logs if "push refused, another GPU session of the account runs" in line]
    assert waits and CAP_TEXT in waits[0]
    ours = emu.calls("SaveKernel")[2:]  # after the two other jobs' pushes
    assert [c["response"]["error"] for c in ours[:-1]] == [CAP_TEXT] * (len(ours) - 1) and len(ours) >= 2
    assert not ours[-1]["response"].get("error")  # the retry after the other session ended
    assert [r.version for r in emu.kernel_runs(KERNEL)] == [1]  # refused pushes made no version


def test_session_cap_wait_is_bounded(emu, tmp_path):
    api = kaggle_api()
    for other in ("tester/other-job-one", "tester/other-job-two"):
        push_kernel(api, kernel_folder(tmp_path, other))
        emu.set_kernel_status(other, "running")
    logs = []
    report = chain(api, kernel_folder(tmp_path), logs, cap_wait_s=0.5)
    assert report.sessions == 0 and CAP_TEXT in report.stop_reason and "still after waiting" in report.stop_reason
    assert emu.kernel_runs(KERNEL) == []


def test_a_spent_quota_stops_the_chain_with_kaggles_text_the_hours_and_the_reset(emu, tmp_path):
    emu.gpu_hours_remaining = 0
    logs = []
    report = chain(kaggle_api(), kernel_folder(tmp_path), logs)
    assert report.sessions == 0 and report.refusals, report
    assert QUOTA_TEXT in report.stop_reason and "30.0 h of 30 h used; resets 20" in report.stop_reason
    assert emu.kernel_runs(KERNEL) == []  # not a session
    assert not any("session 1" in line and "ended" in line for line in logs)


def test_refusals_exit_0_in_the_kaggle_cli_and_chain_reads_the_reply(emu, tmp_path):
    """The CLI prints Kaggle's refusal and exits 0 (kaggle 2.2.4 kernels_push_cli): the exit status says nothing."""
    emu.gpu_hours_remaining = 0
    folder = kernel_folder(tmp_path)
    out = subprocess.run([sys.executable, "-m", "kaggle", "kernels", "push", "-p", str(folder)],
                         env=emu.subprocess_env(tmp_path / "cli"), capture_output=True, text=True)
    assert out.returncode == 0 and f"Kernel push error: {QUOTA_TEXT}" in out.stdout, out
    with pytest.raises(KernelPushRefused, match="weekly GPU quota"):
        push_kernel(kaggle_api(), folder)
    assert emu.kernel_runs(KERNEL) == []


def test_a_refused_dataset_version_exits_0_in_the_kaggle_cli_and_the_store_raises(emu, tmp_path):
    """`kaggle datasets version` prints Kaggle's refusal and exits 0 (kaggle 2.2.4 dataset_create_version_cli:
    'Dataset version creation error: ' + result.error); KaggleStore reads the reply and raises, never a new version."""
    from kaggle_t2sql.kaggle.bundle import BundleError

    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"x" * 2000)
    store = KaggleStore(STORE, api=kaggle_api(), poll_s=0.01)
    assert store.publish(folder, "first") == 1
    emu.max_dataset_bytes = 1000  # the next version is over the dataset's size limit: refused in the reply
    (folder / "dataset-metadata.json").write_text(json.dumps({"id": STORE, "title": "t2sql ckpt",
                                                              "licenses": [{"name": "CC0-1.0"}]}))
    out = subprocess.run([sys.executable, "-m", "kaggle", "datasets", "version", "-p", str(folder), "-m", "second"],
                         env=emu.subprocess_env(tmp_path / "cli"), capture_output=True, text=True)
    assert out.returncode == 0 and "Dataset version creation error: The dataset is too large" in out.stdout, out
    (folder / "dataset-metadata.json").unlink()
    with pytest.raises(BundleError, match="Kaggle refused the push: The dataset is too large"):
        store.publish(folder, "second")
    with pytest.raises(BundleError, match="Kaggle refused the push: The dataset is too large"):
        store.put(folder, "second", [])
    assert [c["response"]["status"] for c in emu.calls("CreateDatasetVersion")] == ["error"] * 3
    assert len(emu.dataset_versions(STORE)) == 1  # nothing was made, and nothing claimed it was


def test_a_running_version_is_never_pushed_over(emu, tmp_path):
    """Pushing does not stop a running version (kaggle-cli #388): chain waits, or refuses with --no-wait."""
    api = kaggle_api()
    folder = kernel_folder(tmp_path)
    push_kernel(api, folder)
    emu.set_kernel_status(KERNEL, "running")
    with pytest.raises(VersionRunning, match="second session of the run"):
        chain(api, folder, [], wait_running=False, session_timeout_s=2.0)
    assert len(emu.kernel_runs(KERNEL)) == 1
    threading.Timer(0.6, lambda: emu.set_kernel_status(KERNEL, "complete")).start()
    emu.on_kernel_push = lambda ref, version, f: emu.set_kernel_status(ref, "complete", version)
    logs = []
    chain(api, folder, logs)
    assert any("is running: waiting for it to end before pushing" in line for line in logs)
    first_push = next(i for i, c in enumerate(emu.calls()) if c.get("rpc", "").endswith("SaveKernel") and
                      c.get("response", {}).get("versionNumber") == 2)
    assert emu.kernel_runs(KERNEL)[0].status == "complete" and first_push


def test_the_session_deadline_counts_from_running_not_from_the_push(emu, tmp_path):
    """Issue 17 item 6: time in Kaggle's queue is not session time."""
    def queued_then_short(ref, version, _folder):
        emu.set_kernel_status(ref, "queued", version)
        time.sleep(1.5)
        emu.set_kernel_status(ref, "running", version)
        time.sleep(0.3)
        emu.set_kernel_status(ref, "complete", version)

    emu.on_kernel_push, emu.kernel_push_hook_async = queued_then_short, True
    report = chain(kaggle_api(), kernel_folder(tmp_path), [], session_timeout_s=1.0)
    assert report.sessions == 1 and report.statuses == ["complete"], report


def test_rate_limited_calls_are_retried_after_retry_after(emu, tmp_path):
    from kaggle_t2sql.kaggle.chain import kernel_status

    api = kaggle_api()
    push_kernel(api, kernel_folder(tmp_path))
    emu.throttle_next, emu.throttle_only, emu.retry_after_s = 2, "GetKernelSessionStatus", 1
    started = time.monotonic()
    assert kernel_status(api, KERNEL) == "queued"
    assert time.monotonic() - started >= 2.0  # waited what Retry-After asked, twice
    assert [c["status"] for c in emu.calls("GetKernelSessionStatus")] == [429, 429, 200]


def test_an_unknown_machine_shape_is_refused(emu, tmp_path):
    with pytest.raises(KernelPushRefused, match="Invalid machine shape 'NvidiaTeslaT5'"):
        push_kernel(kaggle_api(), kernel_folder(tmp_path, shape="NvidiaTeslaT5"))
    assert emu.kernel_runs(KERNEL) == []


def test_a_refused_self_chain_push_ends_with_the_checkpoint_pushed_and_says_why(emu, tmp_path):
    from kaggle_t2sql.kaggle.bundle import STORE_INDEX, SYNC_MANIFEST
    from kaggle_t2sql.notebook import Session, make_config, push_next_session

    spec = KernelSpec(user="tester", kernel_slug="t2sql-train", store_slug="t2sql-ckpt", preset="tiny",
                      run_name="tiny-demo", package_source="kaggle_t2sql", self_chain=True)
    api = kaggle_api()
    store = KaggleStore(STORE, api=api, poll_s=0.01)
    root = tmp_path / "version"
    root.mkdir()  # the store after this session's final push (its index is all push_next_session reads)
    (root / STORE_INDEX).write_text(json.dumps({"format": 2, "runs": {"tiny-demo": {"global_step": 6, "sessions": 1}}}))
    (root / "tiny-demo").mkdir()  # the run's copy, as far as verification of the version reads it
    (root / "tiny-demo" / SYNC_MANIFEST).write_text(json.dumps({"global_step": 6, "sessions": 1}))
    (tmp_path / "run").mkdir()  # this session's run folder (where next-session.json goes)
    store.publish(root, "this session's final checkpoint")
    push_kernel(api, write_kernel_folder(spec, tmp_path / "kernel"))  # the running session itself
    emu.gpu_hours_remaining = 0  # spent meanwhile
    session = Session(make_config("tiny", "tiny-demo", store=f"kaggle:{STORE}"), tmp_path / "run", time.time(), True, spec)
    result = SimpleNamespace(status="paused", stop_reason="budget", start_step=0, push_errors=[])
    assert push_next_session(session, result) is False
    said = json.loads((tmp_path / "run" / "next-session.json").read_text())
    assert not said["pushed"] and QUOTA_TEXT in said["chain_stopped"] and "kaggle-t2sql chain" in said["chain_stopped"]
    assert len(emu.kernel_runs(spec.kernel)) == 1 and store.latest("tiny-demo")["global_step"] > 0

    # ... and a later `chain` from outside carries on from there once the quota is back: it waits for the refusing
    # session to end, then pushes the next version (a session, no refusal) with the checkpoint dataset attached
    emu.set_kernel_status(spec.kernel, "running")  # the session that was refused is still finishing
    emu.gpu_hours_remaining = 30  # the weekly reset
    threading.Timer(0.5, lambda: emu.set_kernel_status(spec.kernel, "complete", 1)).start()
    emu.on_kernel_push = lambda ref, version, f: emu.set_kernel_status(ref, "complete", version)
    logs = []
    report = run_chain(api, spec.kernel, tmp_path / "kernel", store, "tiny-demo", max_sessions=1, poll_s=0.05,
                       start_grace_s=0.3, log=logs.append)
    assert report.sessions == 1 and report.refusals == [] and report.stop_reason == "max sessions (1)", (report, logs)
    assert any("is running: waiting for it to end before pushing" in line for line in logs)
    assert any("(session 1; kernel was complete; run at step 6)" in line for line in logs), logs
    runs = emu.kernel_runs(spec.kernel)
    assert [r.version for r in runs] == [1, 2] and not emu.calls("SaveKernel")[-1]["response"].get("error")
    assert runs[1].settings["datasetDataSources"] == [STORE] and runs[1].settings["enableGpu"]

