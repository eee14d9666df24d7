"""`kaggle-t2sql doctor`: one line per check with its fix, and a stop on a session-wasting failure
(issue 25), against the local emulator with the real kaggle client."""

import subprocess
import sys

import pytest
from test_kaggle_auth import in_notebook, secrets_module

from kaggle_t2sql.kaggle.doctor import DoctorFailed, doctor


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_laptop_with_credentials_passes_and_says_what_it_found(emu, tmp_path):
    lines = []
    checks = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lines.append))
    assert checks["credentials"].ok and "KAGGLE_USERNAME/KAGGLE_KEY (account tester)" in checks["credentials"].detail
    assert checks["internet"].ok and checks["checkpoint dataset"].ok
    assert "does not exist yet" in checks["checkpoint dataset"].detail
    assert "0.0 h of 30 h used; resets" in checks["GPU quota"].detail
    assert "secret" not in checks  # not in a notebook
    assert len(lines) == len(checks) and all(line.split()[0] in ("ok", "warn", "FAIL") for line in lines)


def test_another_accounts_store_fails_with_its_fix(emu, tmp_path):
    checks = by_name(doctor("kaggle:someone/their-ckpt", out=lambda *_: None))
    store = checks["checkpoint dataset"]
    assert not store.ok and store.fatal and "belongs to the account 'someone'" in store.detail
    with pytest.raises(DoctorFailed, match="checkpoint dataset"):
        doctor("kaggle:someone/their-ckpt", stop_on_failure=True, out=lambda *_: None)


def test_in_a_notebook_without_the_secret_it_stops_and_says_where_to_attach_it(emu, tmp_path, monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    token = in_notebook(monkeypatch, tmp_path, emu)
    secrets_module(monkeypatch, tmp_path, attached={})
    lines = []
    with pytest.raises(DoctorFailed, match="Add-ons > Secrets"):
        doctor("kaggle:tester/t2sql-ckpt", stop_on_failure=True, out=lines.append)
    text = "\n".join(lines)
    assert "FAIL secret: no Kaggle credentials found" in text and "No user secrets exist for kernel id" in text
    assert "FAIL credentials: none of yours found; Kaggle's notebook token is present and NOT used" in text
    assert token not in text and emu.notebook_token_calls() == []


def test_no_internet_is_a_session_wasting_failure(emu, tmp_path, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # what an internet-off session's proxy leads to: nothing
    checks = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lambda *_: None))
    assert not checks["internet"].ok and checks["internet"].fatal and "Settings > Internet" in checks["internet"].fix


def test_the_cli_prints_one_line_per_check_and_exits_1_on_a_failure(emu, tmp_path):
    env = emu.subprocess_env(tmp_path / "client")
    bad = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "doctor", "--store", "kaggle:someone/x-ckpt"],
                         env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and "FAIL checkpoint dataset:" in bad.stdout and "-> fix:" in bad.stdout
    assert "ok   credentials: KAGGLE_USERNAME/KAGGLE_KEY (account tester)" in bad.stdout, bad
