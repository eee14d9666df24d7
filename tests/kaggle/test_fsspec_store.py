"""FsspecStore on moto's S3 server with the real s3fs: layout, commit point, checks after upload, credentials."""

import pytest
from store_backends import moto_s3, s3_env, s3_uri  # noqa: F401 - fixtures

from kaggle_t2sql.kaggle.auth import CredentialsError
from kaggle_t2sql.kaggle.bundle import STORE_INDEX, BundleError, read_index, seal_version
from kaggle_t2sql.kaggle.store_uri import open_store

pytest.importorskip("s3fs")


def make_version(root, runs):
    """A small sealed store version by hand: {run: {relative path: bytes}} (no checkpoint validation here)."""
    for run, files in runs.items():
        for rel, data in files.items():
            path = root / run / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (root / run / "checkpoint-1").mkdir(exist_ok=True)
    return root


def sealed(tmp_path, name, runs):
    root = make_version(tmp_path / name, runs)
    for run in runs:  # seal_bundle wants a trainer state in the newest checkpoint
        (root / run / "checkpoint-1" / "trainer_state.json").write_text('{"global_step": 1}')
    seal_version(root)
    return root


def test_a_version_is_one_prefix_with_the_index_written_last(tmp_path, s3_uri):  # noqa: F811
    store = open_store(s3_uri)
    assert type(store).__name__ == "FsspecStore" and store.list_versions() == []
    store.check_access()
    order = []
    put_file = store.fs.put_file
    store.fs.put_file = lambda lpath, rpath, **kw: (order.append(rpath.rsplit("/", 1)[-1]), put_file(lpath, rpath, **kw))[1]
    v = store.put(sealed(tmp_path, "a", {"run": {"weights.bin": b"w" * 1000}}), "step 1", [])
    assert order[-1] == STORE_INDEX and order.count(STORE_INDEX) == 1
    (listed,) = store.list_versions()
    assert listed.id == v.id and listed.state == "ready" and v.id.startswith("v0001-")
    assert store.read_index(v)["runs"]["run"]["files"]["weights.bin"]["bytes"] == 1000
    assert store.list_files(v)["run/weights.bin"] == 1000
    fetched = store.fetch(v, tmp_path / "got")
    assert (fetched / "run" / "weights.bin").read_bytes() == b"w" * 1000 and read_index(fetched) is not None
    v2 = store.put(sealed(tmp_path, "b", {"run": {"weights.bin": b"x" * 10}}), "step 2", [])
    assert [x.id for x in store.list_versions()] == [v.id, v2.id] and v2.id.startswith("v0002-")
    store.delete([v])
    assert [x.id for x in store.list_versions()] == [v2.id]


def test_a_push_cut_midway_never_counts_and_is_pruned_later(tmp_path, s3_uri):  # noqa: F811
    store = open_store(s3_uri)
    first = store.put(sealed(tmp_path, "a", {"run": {"a.bin": b"a" * 100, "b.bin": b"b" * 100}}), "", [])
    put_file, calls = store.fs.put_file, []

    def cut(lpath, rpath, **kw):
        calls.append(rpath)
        if len(calls) == 2:
            raise ConnectionError("the machine went away mid-upload")
        return put_file(lpath, rpath, **kw)

    store.fs.put_file = cut
    with pytest.raises(ConnectionError):
        store.put(sealed(tmp_path, "b", {"run": {"a.bin": b"c" * 100, "b.bin": b"d" * 100}}), "", [])
    store.fs.put_file = put_file
    versions = open_store(s3_uri).list_versions()  # a new session's view
    assert [(v.id, v.state) for v in versions] == [(first.id, "ready"), (versions[1].id, "processing")]
    assert open_store(s3_uri).index()["version"] == first.id
    third = store.put(sealed(tmp_path, "c", {"run": {"a.bin": b"e" * 100}}), "", [])
    states = {v.id: v.state for v in store.list_versions()}
    # older than a whole version, but written to just now: it may be another session's push still uploading
    assert states[versions[1].id] == "processing" and states[third.id] == "ready"
    store.stale_s = 0.0  # once it lies untouched long enough it is a dead push, which pruning may remove
    states = {v.id: v.state for v in store.list_versions()}
    assert states[versions[1].id] == "failed" and states[third.id] == "ready"


def test_a_version_listed_mid_upload_is_read_whole_once_its_index_is_there(tmp_path, s3_uri):  # noqa: F811
    """s3fs answers `info` (which cat_file and open use) from the listing it saw: a version seen before its
    index was written must not stay index-less for this store."""
    store, other, seen = open_store(s3_uri), open_store(s3_uri), []
    put_file = other.fs.put_file

    def list_before_the_index(lpath, rpath, **kw):
        if rpath.endswith(STORE_INDEX):
            seen.extend(store.list_versions())  # this session looks while the other's push is still uploading
        return put_file(lpath, rpath, **kw)
    other.fs.put_file = list_before_the_index
    v = other.put(sealed(tmp_path, "a", {"run": {"a.bin": b"a" * 100}}), "", [])
    assert [x.state for x in seen] == ["processing"]
    index, problems = store.check(store.list_versions()[0])
    assert store.read_index(v) is not None and index is not None and problems == []


def test_a_file_that_differs_after_upload_fails_the_push_before_the_index(tmp_path, s3_uri):  # noqa: F811
    store = open_store(s3_uri)
    put_file = store.fs.put_file

    def damaged(lpath, rpath, **kw):
        put_file(lpath, rpath, **kw)
        if rpath.endswith("a.bin"):
            store.fs.pipe_file(rpath, b"z" * 100)  # same size, other bytes: only the sha256 read-back tells
    store.fs.put_file = damaged
    with pytest.raises(BundleError, match="sha256"):
        store.put(sealed(tmp_path, "a", {"run": {"a.bin": b"a" * 100}}), "", [])
    (v,) = store.list_versions()
    assert v.state == "processing" and store.read_index(v) is None


def test_wrong_or_missing_credentials_stop_before_training_naming_what_to_set(tmp_path, moto_s3, monkeypatch):  # noqa: F811
    s3_env(monkeypatch, moto_s3)
    import s3fs

    s3fs.S3FileSystem().mkdir("creds-bucket")
    s3_env(monkeypatch, moto_s3, secret="not-the-secret")
    with pytest.raises(CredentialsError, match="AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        open_store("s3://creds-bucket/store").check_access()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    s3fs.S3FileSystem.clear_instance_cache()
    with pytest.raises(CredentialsError, match="AWS_PROFILE"):
        open_store("s3://creds-bucket/store").check_access()


def test_a_missing_bucket_is_named(moto_s3, monkeypatch):  # noqa: F811
    s3_env(monkeypatch, moto_s3)
    with pytest.raises(Exception, match="does not exist|create it"):
        open_store("s3://no-such-bucket-here/store").check_access()


def test_any_installed_fsspec_protocol_is_a_store_and_a_missing_one_is_named(tmp_path):
    store = open_store("memory://t2sql-test/store")  # fsspec's own in-memory filesystem, no server
    v = store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"w"}}), "", [])
    assert [x.id for x in open_store("memory://t2sql-test/store").list_versions()] == [v.id]
    from kaggle_t2sql.errors import ConfigError

    with pytest.raises(ConfigError, match="gcsfs"):  # gcsfs is not installed here
        open_store("gs://bucket/store")
    with pytest.raises(ConfigError, match="name a bucket"):
        open_store("s3://")
