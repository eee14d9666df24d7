"""HfStore against the Hub emulator with the real huggingface_hub client: one commit per version, tags as
the commit point, checks after the commit, concurrent commits, limits, credentials."""

import pytest
from store_backends import hub  # noqa: F401 - fixture
from test_fsspec_store import sealed

from kaggle_t2sql.kaggle import hf_store
from kaggle_t2sql.kaggle.auth import CredentialsError
from kaggle_t2sql.kaggle.bundle import STORE_INDEX, BundleError, read_index
from kaggle_t2sql.kaggle.store_uri import open_store

pytest.importorskip("huggingface_hub")


def test_a_version_is_one_commit_tagged_after_its_check(tmp_path, hub):  # noqa: F811
    store = open_store("hf:tester/ckpt")
    assert type(store).__name__ == "HfStore" and store.list_versions() == []
    store.check_access()  # creates the private repo
    assert hub.repos[("model", "tester/ckpt")]["private"]
    v = store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"w" * 1000, "tb/e": b"e"}}), "step 1", [])
    assert v.id == "t2sql-v0001" and [x.id for x in store.list_versions()] == ["t2sql-v0001"]
    assert sorted(hub.files("tester/ckpt", v.id)) == sorted([".gitattributes", STORE_INDEX, "run.zip"])  # one zip per run
    commits = [m for m, p in hub.calls if p.endswith("/commit/main")]
    assert len(commits) == 1
    assert store.read_index(v)["runs"]["run"]["files"]["w.bin"]["bytes"] == 1000
    fetched = store.fetch(v, tmp_path / "got")
    assert (fetched / "run" / "w.bin").read_bytes() == b"w" * 1000 and (fetched / "run" / "tb" / "e").read_bytes() == b"e"
    assert read_index(fetched) is not None and not (fetched / ".cache").exists() and not (fetched / "run.zip").exists()
    v2 = store.put(sealed(tmp_path, "b", {"other": {"x.bin": b"x"}}), "step 2", [])
    assert sorted(hub.files("tester/ckpt", v2.id)) == sorted([".gitattributes", STORE_INDEX, "other.zip"])  # run.zip replaced
    assert sorted(hub.files("tester/ckpt", v.id)) == sorted([".gitattributes", STORE_INDEX, "run.zip"])  # v1 as it was
    store.delete([v])
    assert [x.id for x in store.list_versions()] == ["t2sql-v0002"]
    assert "main" in hub.repos[("model", "tester/ckpt")]["branches"]  # only tags are ever deleted


def test_a_commit_missing_a_file_is_never_tagged(tmp_path, hub):  # noqa: F811
    store = open_store("hf:tester/ckpt")
    first = store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"a"}}), "", [])
    hub.drop_from_next_commit("run.zip")
    with pytest.raises(BundleError, match="run.zip"):
        store.put(sealed(tmp_path, "b", {"run": {"w.bin": b"b"}}), "", [])
    assert [v.id for v in store.list_versions()] == [first.id]  # the untagged commit on main never counts
    assert open_store("hf:tester/ckpt").index()["version"] == first.id


def test_a_push_cut_before_its_tag_leaves_the_previous_version(tmp_path, hub):  # noqa: F811
    store = open_store("hf:tester/ckpt")
    first = store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"a"}}), "", [])
    hub.fail_next("POST", "/tag/", 500)
    with pytest.raises(Exception):
        store.put(sealed(tmp_path, "b", {"run": {"w.bin": b"b"}}), "", [])
    assert [v.id for v in store.list_versions()] == [first.id]
    assert store.read_index(first)["runs"]["run"]["files"]["w.bin"]["sha256"] == read_index(tmp_path / "a")["runs"]["run"]["files"]["w.bin"]["sha256"]
    again = store.put(sealed(tmp_path, "c", {"run": {"w.bin": b"c"}}), "", [])  # the next push commits over it
    assert again.id == "t2sql-v0002"


def test_a_commit_racing_another_retries_on_the_new_head_and_takes_the_next_tag(tmp_path, hub):  # noqa: F811
    store, other = open_store("hf:tester/ckpt"), open_store("hf:tester/ckpt")
    store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"a"}}), "", [])
    head = store._head
    raced = {"done": False}

    def head_then_other_commits():  # another session commits between our read of the head and our commit
        oid = head()
        if not raced["done"]:
            raced["done"] = True
            other.put(sealed(tmp_path, "o", {"other": {"w.bin": b"o"}}), "", [])
        return oid
    store._head = head_then_other_commits
    mine = store.put(sealed(tmp_path, "b", {"run": {"w.bin": b"b"}}), "", [])
    assert [v.id for v in store.list_versions()] == ["t2sql-v0001", "t2sql-v0002", "t2sql-v0003"]
    assert mine.id == "t2sql-v0003" and sorted(store.read_index(mine)["runs"]) == ["run"]
    assert sorted(hub.files("tester/ckpt", mine.id)) == sorted([".gitattributes", STORE_INDEX, "run.zip"])  # not other.zip
    assert sorted(store.read_index(store.list_versions()[1])["runs"]) == ["other"]  # the other session's, intact
    assert any(m == "POST" and p.endswith("/commit/main") for m, p in hub.calls)


def test_hub_limits_files_per_commit_and_commits_per_hour(tmp_path, hub, monkeypatch):  # noqa: F811
    store = open_store("hf:tester/ckpt")
    many = {f"run{i:03d}": {"w.bin": b"w"} for i in range(hf_store.MAX_FILES_PER_COMMIT)}
    with pytest.raises(BundleError, match="files per commit"):
        store.put(sealed(tmp_path, "many", many), "", [])
    monkeypatch.setattr(hf_store, "MAX_COMMITS_PER_HOUR", 1)
    store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"a"}}), "", [])
    with pytest.raises(BundleError, match="128 per repo"):
        store.put(sealed(tmp_path, "b", {"run": {"w.bin": b"b"}}), "", [])


def test_wrong_or_missing_token_stops_before_training_naming_what_to_set(tmp_path, hub, monkeypatch):  # noqa: F811
    monkeypatch.setenv("HF_TOKEN", "hf_not_a_valid_token")
    with pytest.raises(CredentialsError, match="refused the token.*HF_TOKEN"):
        open_store("hf:tester/ckpt").check_access()
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(CredentialsError, match="no Hugging Face token.*HF_TOKEN"):
        open_store("hf:tester/ckpt").check_access()
    monkeypatch.setenv("HF_TOKEN", hub.token)
    with pytest.raises(CredentialsError, match="may not create or write someone/ckpt"):
        open_store("hf:someone/ckpt").check_access()


def test_dataset_repos_and_bad_uris(tmp_path, hub):  # noqa: F811
    store = open_store("hf:datasets/tester/ckpt")
    assert store.repo_type == "dataset" and store.uri == "hf:datasets/tester/ckpt"
    v = store.put(sealed(tmp_path, "a", {"run": {"w.bin": b"a"}}), "", [])
    assert ("dataset", "tester/ckpt") in hub.repos and store.fetch(v, tmp_path / "got").joinpath("run", "w.bin").read_bytes() == b"a"
    from kaggle_t2sql.errors import ConfigError

    for bad in ("hf:only-a-name", "hf:a/b/c/d", "hf:"):
        with pytest.raises(ConfigError, match="hf:owner/repo"):
            open_store(bad)


def test_on_kaggle_the_token_comes_from_a_secret_named_hf_token(tmp_path, hub, monkeypatch):  # noqa: F811
    import json

    from kaggle_sessions import SECRETS_STANDIN

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "kaggle_secrets.py").write_text(SECRETS_STANDIN)
    (tmp_path / "secrets.json").write_text(json.dumps({"HF_TOKEN": hub.token}))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("KAGGLE_USER_SECRETS_TOKEN", "jwt")
    monkeypatch.setenv("T2SQL_EMULATED_SECRETS", str(tmp_path / "secrets.json"))
    monkeypatch.delenv("HF_TOKEN")
    open_store("hf:tester/ckpt").check_access()  # no CredentialsError: the Secret reached the client
    assert ("model", "tester/ckpt") in hub.repos
