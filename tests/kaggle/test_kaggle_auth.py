"""Whose credentials every Kaggle call uses (issue 25 part 1, issue 17 item 5), with the real kaggle client
against the local emulator. Inside a notebook Kaggle's own token (KAGGLE_API_V1_TOKEN) wins in kagglesdk
0.1.37; the emulator refuses it everything but reads of the session's inputs (the harsher reading)."""

import json
import sys
from pathlib import Path

import pytest
from kaggle_sessions import SECRETS_STANDIN

from kaggle_t2sql.kaggle import auth
from kaggle_t2sql.kaggle.auth import CredentialsError, Forbidden, kaggle_api, redact
from kaggle_t2sql.kaggle.kaggle_store import KaggleStore

STORE = "tester/t2sql-ckpt"


def one_file(tmp_path, name="v"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    return folder


def in_notebook(monkeypatch, tmp_path, emu, inputs=(STORE,)):
    """What a Kaggle session sets (kagglesdk kaggle_env): run type, data proxy, and the token file."""
    token = emu.issue_notebook_token("tester", list(inputs))
    (tmp_path / "nb-token").write_text(token)
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("KAGGLE_DATA_PROXY_URL", f"{emu.url}/_emulator/data-proxy")
    monkeypatch.setenv("KAGGLE_API_V1_TOKEN", str(tmp_path / "nb-token"))
    monkeypatch.setattr(auth, "_remembered_notebook_token", [])
    return token


def secrets_module(monkeypatch, tmp_path, attached: dict | None):
    """docker-python's kaggle_secrets as the emulated sessions have it (tests/emulator/kaggle_sessions.py)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "kaggle_secrets.py").write_text(SECRETS_STANDIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "kaggle_secrets", raising=False)
    (tmp_path / "secrets.json").write_text(json.dumps(attached or {}))
    monkeypatch.setenv("T2SQL_EMULATED_SECRETS", str(tmp_path / "secrets.json"))
    monkeypatch.setenv("KAGGLE_USER_SECRETS_TOKEN", "emulated-user-secrets-token")
    monkeypatch.setattr(auth, "_secrets_problem", [])


def test_the_emulator_refuses_the_notebook_token_every_write(emu, tmp_path, monkeypatch):
    """The client itself (not our code) picks the notebook token over the user's key, and gets 403 on writes."""
    from kaggle.api.kaggle_api_extended import KaggleApi
    from requests import HTTPError

    KaggleStore(STORE, api=kaggle_api(), poll_s=0.01).publish(one_file(tmp_path), "made by the user")
    (tmp_path / "v" / "dataset-metadata.json").write_text(json.dumps({"id": STORE, "title": "t2sql ckpt",
                                                                       "licenses": [{"name": "CC0-1.0"}]}))
    in_notebook(monkeypatch, tmp_path, emu)
    api = KaggleApi()
    api.authenticate()  # KAGGLE_USERNAME/KAGGLE_KEY are set too: the notebook token still wins
    assert api.dataset_status(STORE) == "ready"  # reading an attached input is allowed
    with pytest.raises(HTTPError) as refused:
        api.dataset_create_version(str(tmp_path / "v"), version_notes="x", quiet=True)
    assert refused.value.response.status_code == 403
    assert {c["rpc"].split("/")[1] for c in emu.notebook_token_calls()} >= {"GetDatasetStatus", "StartBlobUpload"}
    assert len(emu.dataset_versions(STORE)) == 1


def test_with_the_users_secret_every_call_is_made_as_the_user(emu, tmp_path, monkeypatch):
    token = in_notebook(monkeypatch, tmp_path, emu)
    store = KaggleStore(STORE, api=kaggle_api(), poll_s=0.01)
    store.check_access()
    assert store.publish(one_file(tmp_path), "as the user") == 1
    assert store.publish(one_file(tmp_path, "w"), "again") == 2
    assert emu.notebook_token_calls() == []  # not one request went out under Kaggle's token
    assert redact(f"token={token}") == "token=***"  # and it is hidden from any message


def test_no_secret_attached_stops_naming_the_secret_and_where_to_attach_it(emu, tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    in_notebook(monkeypatch, tmp_path, emu)
    secrets_module(monkeypatch, tmp_path, attached={})  # the account's secret exists, but is not attached here
    with pytest.raises(CredentialsError) as err:
        kaggle_api()  # Kaggle's own token is there, and must not be taken for the user's
    text = str(err.value)
    assert "Add-ons > Secrets" in text and "KAGGLE_API_TOKEN" in text and "attach it to this notebook" in text
    assert "No user secrets exist for kernel id" in text  # what Kaggle Secrets answered, passed on
    assert emu.notebook_token_calls() == []


def test_an_attached_secret_is_used_and_never_shown(emu, tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    in_notebook(monkeypatch, tmp_path, emu)
    secrets_module(monkeypatch, tmp_path, attached={"KAGGLE_API_TOKEN": emu.token})
    api = kaggle_api()
    assert auth.account(api) == "tester" and "KAGGLE_API_V1_TOKEN" not in __import__("os").environ
    assert KaggleStore(STORE, api=api, poll_s=0.01).publish(one_file(tmp_path), "first") == 1
    assert emu.notebook_token_calls() == []


@pytest.mark.parametrize("where", ["KAGGLE_API_TOKEN file", "access_token", "kaggle.json", "oauth"])
def test_credentials_are_found_where_the_pinned_client_looks(tmp_path, monkeypatch, where):
    """kagglesdk 0.1.37 get_access_token_from_env (a token value or a file path, ~/.kaggle/access_token), kaggle
    2.2.4 legacy kaggle.json, and the OAuth credentials file of `kaggle auth login` (~/.kaggle/credentials.json)."""
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for name in [n for n in __import__("os").environ if n.startswith("KAGGLE_")]:
        monkeypatch.delenv(name)
    assert auth.credentials_source() is None
    if where == "KAGGLE_API_TOKEN file":
        (tmp_path / "tok").write_text("KGAT_x")
        monkeypatch.setenv("KAGGLE_API_TOKEN", str(tmp_path / "tok"))
    elif where == "access_token":
        (home / ".kaggle" / "access_token").write_text("KGAT_x")
    elif where == "kaggle.json":
        (home / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    else:
        (home / ".kaggle" / "credentials.json").write_text("{}")
    assert auth.credentials_source() is not None


def test_the_notebook_token_alone_is_not_taken_for_credentials(emu, tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    in_notebook(monkeypatch, tmp_path, emu)
    assert auth.notebook_token() and auth.credentials_source() is None


def test_403_on_another_accounts_dataset_is_told_apart_from_not_yet_existing(emu, tmp_path):
    api = kaggle_api()
    KaggleStore("tester/not-made-yet", api=api).check_access()  # ours, missing: the first push creates it
    with pytest.raises(Forbidden, match="belongs to the account 'someone', but the Kaggle credentials are 'tester'"):
        KaggleStore("someone/their-ckpt", api=api).check_access()


def test_a_403_while_the_first_version_processes_is_waited_out(emu, tmp_path):
    """kagglehub PR #182: a new version gets 403 while the FIRST version is still processing; not another
    account's dataset: wait for ready, then create the version."""
    import threading

    store = KaggleStore(STORE, api=kaggle_api(), poll_s=0.05)
    store.publish(one_file(tmp_path), "first")
    emu.set_dataset_status(STORE, "blobsReceived")  # still processing
    threading.Timer(0.5, lambda: emu.finish_processing(STORE)).start()
    folder = one_file(tmp_path, "w")
    (folder / "dataset-metadata.json").write_text(json.dumps({"id": STORE, "title": "t2sql ckpt",
                                                               "licenses": [{"name": "CC0-1.0"}]}))
    store._create_version(folder, "second", STORE, False)
    assert [v["number"] for v in emu.dataset_versions(STORE)] == [1, 2]
    assert [c["status"] for c in emu.calls("CreateDatasetVersion")] == [403, 200]
