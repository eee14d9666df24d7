"""Every checkpoint store, served locally, for the store tests (import the fixtures from here).

  local:      a folder
  kaggle:     the Kaggle emulator (tests/emulator/kaggle_emulator.py) with the real kaggle client
  s3://       moto's S3 server (ThreadedMotoServer, started and stopped here) with the real s3fs; IAM
              is enforced (moto's INITIAL_NO_AUTH_ACTION_COUNT=0), so a wrong key is refused as on AWS
  hf:         the Hub emulator (tests/emulator/hf_hub_emulator.py) with the real huggingface_hub client

Each backend knows how to damage a stored file in place (`corrupt`) the way its storage would be
damaged: bytes changed behind the client's back.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from kaggle_t2sql.kaggle.stores import CheckpointStore
from kaggle_t2sql.kaggle.store_uri import open_store


@dataclass
class Backend:
    name: str
    uri: str
    corrupt: Callable[[CheckpointStore, object, str], None]  # (store, version, "run/relative/path")
    server: object = None
    break_credentials: Callable | None = None  # (monkeypatch): the environment now holds a wrong key or token

    def open(self) -> CheckpointStore:
        """A fresh store object, as a new session (another machine) would make from the URI."""
        store = open_store(self.uri)
        if self.name == "kaggle":
            store.poll_s = 0.05
        return store


_moto: dict = {}  # one server per test session, whichever module's fixture starts it


@pytest.fixture(scope="session")
def moto_s3():
    """(endpoint url, access key id, secret key) of a moto S3 server whose IAM refuses unknown keys."""
    pytest.importorskip("s3fs")
    boto3 = pytest.importorskip("boto3")
    if _moto:  # pytest registers the fixture once per importing module: share the server
        yield _moto["credentials"]
        return
    import moto.settings
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    admin = dict(endpoint_url=url, region_name="us-east-1", aws_access_key_id="admin", aws_secret_access_key="admin")
    iam = boto3.client("iam", **admin)
    iam.create_user(UserName="t2sql")
    key = iam.create_access_key(UserName="t2sql")["AccessKey"]
    iam.put_user_policy(UserName="t2sql", PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    before = moto.settings.INITIAL_NO_AUTH_ACTION_COUNT
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # from now on every request is signed-checked against IAM
    _moto["credentials"] = (url, key["AccessKeyId"], key["SecretAccessKey"])
    yield _moto["credentials"]
    moto.settings.INITIAL_NO_AUTH_ACTION_COUNT = before
    server.stop()
    _moto.clear()


def s3_env(monkeypatch, moto_s3, key_id=None, secret=None) -> dict[str, str]:
    """The environment s3fs (botocore) reads: endpoint, region and keys; no profile, no instance metadata."""
    import s3fs

    url, good_id, good_secret = moto_s3
    env = {"AWS_ENDPOINT_URL": url, "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
           "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
           "AWS_ACCESS_KEY_ID": key_id or good_id, "AWS_SECRET_ACCESS_KEY": secret or good_secret}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    s3fs.S3FileSystem.clear_instance_cache()  # fsspec caches filesystems with the credentials they were made with
    return env


@pytest.fixture
def s3_uri(moto_s3, monkeypatch):
    """s3://<a new bucket>/store on the moto server, with working credentials in the environment."""
    import s3fs

    s3_env(monkeypatch, moto_s3)
    bucket = f"t2sql-{secrets.token_hex(4)}"
    s3fs.S3FileSystem().mkdir(bucket)
    yield f"s3://{bucket}/store"
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The Hub emulator, with the real huggingface_hub client of this process pointed at it."""
    pytest.importorskip("huggingface_hub")
    from hf_hub_emulator import HubEmulator

    with HubEmulator() as server:
        server.install(monkeypatch, tmp_path / "hf-home")
        yield server


def _corrupt_local(store, version, rel):
    path = Path(store.root) / version.id / rel
    path.write_bytes(b"corrupt" + path.read_bytes()[7:])


def _corrupt_s3(store, version, rel):
    path = store._path(version.id, rel)
    store.fs.pipe_file(path, b"corrupt" + store.fs.cat_file(path)[7:])  # same size: only the sha256 tells


def _corrupt_kaggle(server):
    def corrupt(store, version, rel):
        run, _, inner = rel.partition("/")
        ref = store._ref_of(version)
        folder = server.version_dir(ref, version.number)
        import io
        import zipfile

        archive = folder / f"{run}.zip"
        if archive.is_file():  # dir_mode="zip": the run folder is stored as <run>.zip
            buf = io.BytesIO()
            with zipfile.ZipFile(archive) as src, zipfile.ZipFile(buf, "w") as dst:
                for item in src.infolist():
                    data = src.read(item)
                    dst.writestr(item, b"corrupt" + data[7:] if item.filename == inner else data)
            archive.write_bytes(buf.getvalue())
        else:
            path = folder / rel
            path.write_bytes(b"corrupt" + path.read_bytes()[7:])
    return corrupt


def _corrupt_hf(server):
    def corrupt(store, version, rel):
        import io
        import zipfile

        run, _, inner = rel.partition("/")
        files = server.files(store.repo_id, version.id, store.repo_type)
        buf = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(files[f"{run}.zip"])) as src, zipfile.ZipFile(buf, "w") as dst:
            for item in src.infolist():
                data = src.read(item)
                dst.writestr(item, b"corrupt" + data[7:] if item.filename == inner else data)
        server.corrupt(store.repo_id, f"{run}.zip", version.id, store.repo_type, buf.getvalue())
    return corrupt


BACKENDS = ["local", "kaggle", "s3", "hf"]


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path) -> Backend:
    """One store of each kind, served locally; the same test runs against each."""
    name = request.param
    if name == "local":
        return Backend(name, f"local:{tmp_path / 'store'}", _corrupt_local)
    if name == "kaggle":
        emu = request.getfixturevalue("emu")
        return Backend(name, "kaggle:tester/t2sql-ckpt", _corrupt_kaggle(emu), emu,
                       lambda mp: mp.setenv("KAGGLE_KEY", "wrong-key-123456"))
    if name == "s3":
        moto = request.getfixturevalue("moto_s3")
        return Backend(name, request.getfixturevalue("s3_uri"), _corrupt_s3, moto,
                       lambda mp: s3_env(mp, moto, secret="wrong-secret"))
    server = request.getfixturevalue("hub")
    return Backend(name, f"hf:{server.user}/t2sql-ckpt", _corrupt_hf(server), server,
                   lambda mp: mp.setenv("HF_TOKEN", "hf_wrong_token"))


def copy_run(src: Path, dest: Path, run_name: str | None = None) -> Path:
    """A copy of a trained run folder, optionally renamed (run.json's run_name: the store folder it goes to)."""
    shutil.copytree(src, dest)
    if run_name:
        manifest = json.loads((dest / "run.json").read_text())
        manifest["config"]["run_name"] = run_name
        (dest / "run.json").write_text(json.dumps(manifest))
    return dest
