"""The REAL kaggle client (KaggleApi and the `kaggle` CLI) against tests/emulator/kaggle_emulator.py.

Each test gets its own emulator on a free port; the client reaches it through
KAGGLE_API_ENVIRONMENT=LOCALHOST + HTTP_PROXY (see the emulator docstring: KaggleApi ignores
KAGGLE_API_ENVIRONMENT=TEST). Only the bare-kagglesdk TEST-environment test needs port 7777 and
skips when it is busy.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kaggle_emulator import DATASET_STATUSES, KERNEL_STATUSES, KaggleEmulator

KAGGLE_CLI = [sys.executable, "-m", "kaggle"]
REF = "tester/ckpt-store"


@pytest.fixture
def emu(tmp_path):
    with KaggleEmulator(tmp_path / "emulator", port=0) as emulator:
        yield emulator


@pytest.fixture
def api(emu, tmp_path, monkeypatch):
    emu.install(monkeypatch, tmp_path)
    from kaggle.api.kaggle_api_extended import KaggleApi

    client = KaggleApi()
    client.authenticate()
    return client


def make_folder(path: Path, ref: str = REF, seed: int = 0, big: int = 0) -> Path:
    """A dataset folder with a sub-folder (uploaded as sub.zip with dir_mode="zip")."""
    (path / "sub" / "deep").mkdir(parents=True, exist_ok=True)
    (path / "top.txt").write_text(f"top file, version seed {seed}\n")
    (path / "sub" / "weights.bin").write_bytes(os.urandom(2048 + seed))
    (path / "sub" / "deep" / "notes.json").write_text(json.dumps({"seed": seed}))
    if big:
        (path / "big.bin").write_bytes(os.urandom(big))
    (path / "dataset-metadata.json").write_text(json.dumps(
        {"id": ref, "title": "Checkpoint store", "licenses": [{"name": "CC0-1.0"}]}))
    return path


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "dataset-metadata.json"}


def cli(emu, tmp_path, *args, check=True, auth="key"):
    proc = subprocess.run([*KAGGLE_CLI, *args], env=emu.subprocess_env(tmp_path, auth), cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    if check and proc.returncode:
        raise AssertionError(f"kaggle {' '.join(args)} -> {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


# ---------------------------------------------------------------- datasets through KaggleApi

def test_dataset_versions_round_trip(api, emu, tmp_path):
    folder = make_folder(tmp_path / "v1", seed=1)
    result = api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip")
    assert result.status == "ok" and not result.error and result.ref == REF
    assert api.dataset_status(REF) == "ready"

    snapshots = {1: tree(folder)}
    for version in (2, 3):
        folder = make_folder(tmp_path / f"v{version}", seed=version)
        result = api.dataset_create_version(str(folder), f"version {version}", quiet=True, dir_mode="zip")
        assert result.status == "ok", result.error
        snapshots[version] = tree(folder)
        deadline = time.monotonic() + 5
        while api.dataset_status(REF) != "ready":
            assert time.monotonic() < deadline
            time.sleep(0.05)

    assert json.loads(api.dataset_status(REF, format="json")) == {"status": "ready", "current_version_number": 3}
    # the sub-folder went up as sub.zip and was unpacked server side; versions are full snapshots
    assert [v["number"] for v in emu.dataset_versions(REF)] == [1, 2, 3]
    assert emu.dataset_files(REF, 3) == snapshots[3]
    assert emu.dataset_files(REF, 1) == snapshots[1]

    latest = tmp_path / "dl-latest"
    api.dataset_download_files(REF, path=str(latest), unzip=True, quiet=True)
    assert tree(latest) == snapshots[3]  # byte-identical, sub-folders included
    first = tmp_path / "dl-v1"
    api.dataset_download_files(f"{REF}/1", path=str(first), unzip=True, quiet=True)
    assert tree(first) == snapshots[1]
    api.dataset_download_file(f"{REF}/2", "sub/deep/notes.json", path=str(tmp_path / "one"), quiet=True)
    assert (tmp_path / "one" / "notes.json").read_bytes() == snapshots[2]["sub/deep/notes.json"]

    files = api.dataset_list_files(REF)
    assert sorted((f.name, f.total_bytes) for f in files.dataset_files) == sorted(
        (name, len(data)) for name, data in snapshots[3].items())
    meta = json.loads(Path(api.dataset_metadata(REF, str(tmp_path / "meta"))).read_text())
    # client quirk: it writes the whole response, {"info": {...}}, as dataset-metadata.json
    assert meta["info"]["isPrivate"] is True and meta["info"]["licenses"] == [{"name": "CC0-1.0"}]
    assert [d.ref for d in api.dataset_list(mine=True)] == [REF]
    assert api.dataset_list(search="ckpt") == []  # private: not in the public listing

    create = emu.calls("CreateDataset")[0]
    assert create["body"]["isPrivate"] is True and create["user"] == "tester" and create["auth"] == "basic"
    assert emu.calls("CreateDatasetVersion")[0]["body"]["body"]["versionNotes"] == "version 2"
    uploads = emu.calls("StartBlobUpload")
    assert {c["body"]["name"] for c in uploads} == {"top.txt", "sub.zip"}
    assert all(c["body"]["type"] == "DATASET" for c in uploads)
    assert emu.key not in json.dumps(emu.requests)


def test_processing_status_and_version_while_processing(api, emu, tmp_path):
    emu.processing_polls = 3  # the next 3 GetDatasetStatus polls report processing, the 4th "ready"
    api.dataset_create_new(str(make_folder(tmp_path / "v1", seed=1)), quiet=True, dir_mode="zip")
    # new in this client: the status is the DatabundleVersionStatus enum name, lower-cased
    assert api.dataset_status(REF) == "blobs_received"
    assert json.loads(api.dataset_status(REF, format="json")) == {"status": "blobs_decompressed",
                                                                  "current_version_number": 1}

    from requests.exceptions import HTTPError

    with pytest.raises(HTTPError) as err:
        api.dataset_create_version(str(make_folder(tmp_path / "v2", seed=2)), "too early", quiet=True,
                                   dir_mode="zip")
    assert err.value.response.status_code == 403
    assert str(err.value) == "Permission 'datasets.update' was denied"
    assert len(emu.calls("StartBlobUpload")) == 4  # the blobs were uploaded before the refusal
    assert [v["number"] for v in emu.dataset_versions(REF)] == [1]

    assert api.dataset_status(REF) == "blobs_copied_to_sds"  # third poll
    assert api.dataset_status(REF) == "ready"
    emu.processing_polls = 0
    api.dataset_create_version(str(make_folder(tmp_path / "v2", seed=2)), "now", quiet=True, dir_mode="zip")
    assert [v["number"] for v in emu.dataset_versions(REF)] == [1, 2]

    # time-based processing, and a version that fails
    emu.processing_seconds = 0.3
    api.dataset_create_version(str(make_folder(tmp_path / "v3", seed=3)), "timed", quiet=True, dir_mode="zip")
    assert api.dataset_status(REF) != "ready"
    time.sleep(0.35)
    assert api.dataset_status(REF) == "ready"
    emu.set_dataset_status(REF, "failed")
    assert api.dataset_status(REF) == "failed"
    for name in DATASET_STATUSES:  # every status the server can send survives kagglesdk's enum parsing
        emu.set_dataset_status(REF, name)
        assert api.dataset_status(REF) == name.lower()


def test_bad_credentials_are_rejected(emu, tmp_path, monkeypatch):
    from requests.exceptions import HTTPError

    emu.install(monkeypatch, tmp_path)
    monkeypatch.setenv("KAGGLE_KEY", "wrong-key")
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    api.authenticate()  # legacy keys are not checked until the first call
    with pytest.raises(HTTPError) as err:
        api.dataset_status(REF)
    assert err.value.response.status_code == 401 and str(err.value) == "Unauthenticated"
    with pytest.raises(HTTPError) as err:  # create swallows the status check, then the upload start fails
        api.dataset_create_new(str(make_folder(tmp_path / "d")), quiet=True, dir_mode="zip")
    assert err.value.response.status_code == 401
    assert emu.dataset_versions(REF) == []

    # a KAGGLE_API_TOKEN in the environment wins over KAGGLE_USERNAME/KAGGLE_KEY on the wire
    monkeypatch.setenv("KAGGLE_KEY", emu.key)
    monkeypatch.setenv("KAGGLE_API_TOKEN", "stale-token")
    api = KaggleApi()
    api.authenticate()  # introspection says inactive -> falls back to the (valid) key
    with pytest.raises(HTTPError) as err:
        api.dataset_status(REF)
    assert err.value.response.status_code == 401 and emu.requests[-1]["auth"] == "bearer"

    # only a bad token and no key: authenticate() itself gives up
    monkeypatch.delenv("KAGGLE_USERNAME")
    monkeypatch.delenv("KAGGLE_KEY")
    with pytest.raises(SystemExit):
        KaggleApi().authenticate()

    proc = cli(emu, tmp_path, "datasets", "status", REF, check=False, auth="none")
    assert proc.returncode == 1 and "Authentication required" in proc.stdout


def test_access_token_auth(emu, tmp_path, monkeypatch):
    emu.install(monkeypatch, tmp_path, auth="token")
    from kaggle.api.kaggle_api_extended import KaggleApi

    api = KaggleApi()
    api.authenticate()
    assert api.get_config_value("username") == "tester"
    api.dataset_create_new(str(make_folder(tmp_path / "d")), quiet=True, dir_mode="zip")
    assert emu.calls("IntrospectToken")[0]["body"]["token"] == "***"
    assert {c["auth"] for c in emu.calls() if c.get("kind") == "rpc"} == {"bearer"}
    assert emu.calls("CreateDataset")[0]["user"] == "tester"


def test_other_owners_datasets(emu, api, tmp_path, monkeypatch):
    from requests.exceptions import HTTPError
    from kaggle.api.kaggle_api_extended import KaggleApi

    emu.add_user("other", key="other-key")
    monkeypatch.setenv("KAGGLE_USERNAME", "other")
    monkeypatch.setenv("KAGGLE_KEY", "other-key")
    other = KaggleApi()
    other.authenticate()
    other.dataset_create_new(str(make_folder(tmp_path / "o", ref="other/secret-data")), quiet=True, dir_mode="zip")
    other.dataset_create_new(str(make_folder(tmp_path / "p", ref="other/open-data")), public=True, quiet=True)

    # `api` authenticated as tester before the environment changed
    with pytest.raises(HTTPError) as err:
        api.dataset_status("other/secret-data")
    assert err.value.response.status_code == 403
    assert api.dataset_status("other/open-data") == "ready"
    with pytest.raises(HTTPError) as err:
        api.dataset_create_version(str(make_folder(tmp_path / "x", ref="other/open-data")), "hijack", quiet=True)
    assert err.value.response.status_code == 403 and "datasets.update" in str(err.value)
    result = api.dataset_create_new(str(make_folder(tmp_path / "y", ref="other/new-data")), quiet=True)
    assert result.status == "error" and "not allowed" in result.error  # no exception: check .status
    with pytest.raises(HTTPError) as err:  # Kaggle answers 403 for a dataset that does not exist
        api.dataset_status(f"{REF}-missing")
    assert err.value.response.status_code == 403


# ---------------------------------------------------------------- uploads that go wrong

def test_dropped_connection_is_resumed_by_the_client(api, emu, tmp_path):
    api.dataset_create_new(str(make_folder(tmp_path / "v1", seed=1)), quiet=True, dir_mode="zip")
    emu.fail_next_upload = True
    folder = make_folder(tmp_path / "v2", seed=2, big=300_000)
    api.dataset_create_version(str(folder), "flaky network", quiet=True, dir_mode="zip")
    uploads = emu.calls("upload")
    assert [u["status"] for u in uploads].count("aborted") == 1
    assert emu.dataset_files(REF, 2) == tree(folder)


def test_rejected_upload_silently_drops_the_file(api, emu, tmp_path):
    """Documents a client hazard: a non-retryable upload answer makes the client create the version
    WITHOUT that file, with status "ok" and no exception."""
    api.dataset_create_new(str(make_folder(tmp_path / "v1", seed=1)), quiet=True, dir_mode="zip")
    emu.reject_next_upload = 400
    result = api.dataset_create_version(str(make_folder(tmp_path / "v2", seed=2)), "lossy", quiet=True,
                                        dir_mode="zip")
    assert result.status == "ok"
    assert len(emu.dataset_files(REF, 2)) < len(emu.dataset_files(REF, 1))


def test_killed_upload_keeps_previous_version_then_resumes(emu, tmp_path):
    v1 = make_folder(tmp_path / "v1", seed=1)
    cli(emu, tmp_path, "datasets", "create", "-p", str(v1), "-r", "zip", "-q")
    assert cli(emu, tmp_path, "datasets", "status", REF).stdout.strip() == "ready"

    # the client process dies half-way through uploading big.bin of version 2
    v2 = make_folder(tmp_path / "v2", seed=2, big=1_500_000)
    emu.hold_next_upload = "big.bin"
    proc = subprocess.Popen([*KAGGLE_CLI, "datasets", "version", "-p", str(v2), "-m", "v2", "-r", "zip", "-q"],
                            env=emu.subprocess_env(tmp_path), cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert emu.upload_held.wait(20), "the upload never started"
    finally:
        proc.kill()
        proc.wait()
    emu.release_uploads()

    assert [v["number"] for v in emu.dataset_versions(REF)] == [1]
    assert cli(emu, tmp_path, "datasets", "status", REF).stdout.strip() == "ready"
    out = tmp_path / "after-crash"
    cli(emu, tmp_path, "datasets", "download", REF, "-p", str(out), "--unzip", "-q")
    assert tree(out) == tree(v1)

    # the next run resumes big.bin from the bookkeeping the killed client left in $TMPDIR/.kaggle/uploads
    emu.clear_log()
    cli(emu, tmp_path, "datasets", "version", "-p", str(v2), "-m", "v2 again", "-r", "zip", "-q")
    big_puts = [u for u in emu.calls("upload") if u["content_range"] and u["content_range"].endswith("/1500000")]
    assert big_puts[0]["content_range"] == "bytes */1500000" and big_puts[0]["status"] == 308
    assert big_puts[1]["content_range"].startswith("bytes ") and not big_puts[1]["content_range"].startswith("bytes 0-")
    assert "big.bin" not in {c["body"]["name"] for c in emu.calls("StartBlobUpload")}
    assert emu.dataset_files(REF, 2) == tree(v2)


# ---------------------------------------------------------------- the CLI

def test_cli_dataset_flow(emu, tmp_path):
    emu.processing_polls = 2
    v1 = make_folder(tmp_path / "v1", seed=1)
    out = cli(emu, tmp_path, "datasets", "create", "-p", str(v1), "-r", "zip", "-q").stdout
    assert "Your private Dataset is being created" in out
    assert cli(emu, tmp_path, "datasets", "status", REF).stdout.strip() == "blobs_received"
    proc = cli(emu, tmp_path, "datasets", "version", "-p", str(v1), "-m", "again", "-r", "zip", "-q", check=False)
    assert proc.returncode == 1 and "Permission 'datasets.update' was denied" in proc.stderr
    assert cli(emu, tmp_path, "datasets", "status", REF).stdout.strip() == "blobs_decompressed"
    assert cli(emu, tmp_path, "datasets", "status", REF).stdout.strip() == "ready"
    v2 = make_folder(tmp_path / "v2", seed=2)
    assert "Dataset version is being created" in cli(
        emu, tmp_path, "datasets", "version", "-p", str(v2), "-m", "second", "-r", "zip", "-q").stdout
    emu.finish_processing()
    files = cli(emu, tmp_path, "datasets", "files", REF, "--format", "json").stdout
    assert {f["name"] for f in json.loads(files)} == set(tree(v2))
    cli(emu, tmp_path, "datasets", "download", REF, "-p", str(tmp_path / "dl"), "--unzip", "-q")
    assert tree(tmp_path / "dl") == tree(v2)
    quota = cli(emu, tmp_path, "quota", "--format", "json").stdout
    assert {row["resource"]: row["remaining"] for row in json.loads(quota)} == {"GPU": "30.00h", "TPU": "20.00h"}


# ---------------------------------------------------------------- kernels and quota

def test_kernels_push_status_output(api, emu, tmp_path):
    kernel = "tester/train-session"

    def fake_session(ref, version, folder):
        """Stand-in for a Kaggle session: run the pushed script with output/ as its working dir."""
        meta = json.loads((folder / "kernel-metadata.json").read_text())
        emu.set_kernel_status(ref, "running", version)
        subprocess.run([sys.executable, str(folder / meta["code_file"])], cwd=folder / "output", check=True)

    emu.on_kernel_push = fake_session
    src = tmp_path / "kernel"
    src.mkdir()
    (src / "train.py").write_text("open('result.json', 'w').write('{\"loss\": 0.5}')\n")
    (src / "kernel-metadata.json").write_text(json.dumps({
        "id": kernel, "title": "Train session", "code_file": "train.py", "language": "python",
        "kernel_type": "script", "is_private": True, "enable_gpu": True, "enable_internet": False,
        "dataset_sources": [REF], "machine_shape": "NvidiaTeslaT4"}))

    response = api.kernels_push(str(src), timeout="3600")
    assert response.version_number == 1 and not response.error
    assert response.invalid_dataset_sources == [REF]  # no such dataset in the emulator
    assert api.kernels_status(kernel).status.name == "RUNNING"
    run = emu.kernel_runs(kernel)[0]
    assert (run.status, run.settings["enableGpu"], run.settings["machineShape"], run.settings["sessionTimeoutSeconds"]) \
        == ("running", True, "NvidiaTeslaT4", 3600)

    emu.set_kernel_log(kernel, "epoch 1 done\n")
    emu.set_kernel_status(kernel, "complete")
    status = api.kernels_status(kernel)
    assert status.status.name == "COMPLETE" and not status.failure_message
    files, token = api.kernels_output(kernel, str(tmp_path / "out"), quiet=True)
    assert json.loads((tmp_path / "out" / "result.json").read_text()) == {"loss": 0.5}
    assert (tmp_path / "out" / "train-session.log").read_text() == "epoch 1 done\n" and not token

    assert api.kernels_push(str(src)).version_number == 2
    emu.set_kernel_status(kernel, "error", failure_message="CUDA out of memory")
    status = api.kernels_status(kernel)
    assert (status.status.name, status.failure_message) == ("ERROR", "CUDA out of memory")
    assert [r.version for r in emu.kernel_runs(kernel)] == [1, 2]
    printed = cli(emu, tmp_path, "kernels", "status", kernel).stdout
    assert 'has status "KernelWorkerStatus.ERROR"' in printed and "CUDA out of memory" in printed

    pulled = api.kernels_pull(kernel, str(tmp_path / "pulled"), metadata=True)
    meta = json.loads((Path(pulled) / "kernel-metadata.json").read_text())
    assert meta["id"] == kernel and meta["enable_gpu"] is True
    assert (Path(pulled) / meta["code_file"]).read_text() == (src / "train.py").read_text()

    for name in KERNEL_STATUSES:  # queued ... cancelAcknowledged all parse back to the enum
        emu.set_kernel_status(kernel, name)
        assert api.kernels_status(kernel).status.name == name
    emu.on_kernel_push = lambda *a: 1 / 0
    api.kernels_push(str(src))
    assert api.kernels_status(kernel).status.name == "ERROR" and len(emu.hook_errors) == 1


def test_quota(api, emu):
    emu.gpu_hours_remaining = 12.5
    quota = api.quota_view()
    gpu = quota.gpu_quota
    remaining = (gpu.total_time_allowed - gpu.time_used).total_seconds() / 3600
    assert remaining == pytest.approx(12.5) and gpu.total_time_allowed.total_seconds() == 30 * 3600
    assert quota.quota_refresh_time is not None


# ---------------------------------------------------------------- how the client picks its endpoint

def test_kaggle_api_ignores_test_environment(emu, tmp_path, monkeypatch):
    emu.install(monkeypatch, tmp_path)  # isolation only: importing kaggle authenticates and makes a config dir
    monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
    from kaggle.api.kaggle_api_extended import KaggleApi

    client = KaggleApi.build_kaggle_client_with_params(args=[])
    assert client.http_client()._endpoint == "https://api.kaggle.com"  # TEST is not honoured by KaggleApi
    local = KaggleApi.build_kaggle_client_with_params(args=["--local"])
    assert local.http_client()._get_request_url("s", "M") == "http://localhost/api/v1/s/M"


def test_bare_kagglesdk_test_environment_on_port_7777(tmp_path, monkeypatch):
    emulator = KaggleEmulator(tmp_path / "emulator7777", port=7777)
    try:
        emulator.start()
    except OSError as e:
        pytest.skip(f"port 7777 is busy: {e}")
    try:
        for name in [n for n in os.environ if n.startswith("KAGGLE_") or n.lower().endswith("_proxy")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "TEST")
        from kagglesdk import KaggleClient
        from kagglesdk.kernels.types.kernels_api_service import ApiGetAcceleratorQuotaStatisticsRequest

        with KaggleClient(username="tester", password=emulator.key) as client:
            assert client.http_client()._endpoint == "http://localhost:7777"
            quota = client.kernels.kernels_api_client.get_accelerator_quota_statistics(
                ApiGetAcceleratorQuotaStatisticsRequest())
        assert quota.gpu_quota.total_time_allowed.total_seconds() == 30 * 3600
        assert emulator.calls("GetAcceleratorQuotaStatistics")[0]["path"] == "/api/v1/kernels.KernelsApiService/GetAcceleratorQuotaStatistics"
    finally:
        emulator.stop()


def test_stray_prod_calls_never_leave_the_machine(api, emu, monkeypatch):
    """Without --local, KaggleApi targets https://api.kaggle.com; HTTPS_PROXY points at the emulator,
    which refuses the tunnel, so the call fails here instead of reaching Kaggle."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    from requests.exceptions import ProxyError

    monkeypatch.setattr(KaggleApi, "args", [])
    with pytest.raises(ProxyError):
        api.dataset_status(REF)
    assert emu.requests[-1]["kind"] == "connect" and "api.kaggle.com" in emu.requests[-1]["path"]
