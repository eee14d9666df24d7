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


def no_credentials(monkeypatch):
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_internet_is_checked_without_credentials(emu, tmp_path, monkeypatch):
    """A notebook with no secret attached still learns whether internet is on (the check sends no credentials)."""
    no_credentials(monkeypatch)
    checks = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lambda *_: None))
    assert not checks["credentials"].ok and checks["internet"].ok and "http://localhost" in checks["internet"].detail
    asked = [c for c in emu.calls() if c.get("path") == "/"]  # the emulator answered the probe, no credentials sent
    assert [(c["method"], c["status"], c.get("user")) for c in asked] == [("GET", 404, None)]
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # internet off
    checks = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lambda *_: None))
    assert not checks["internet"].ok and checks["internet"].fatal and "Settings > Internet" in checks["internet"].fix


def test_a_spent_or_short_gpu_quota_warns_with_the_reset_time_and_does_not_stop(emu, tmp_path):
    emu.gpu_hours_remaining = 0
    lines = []
    quota = by_name(doctor("kaggle:tester/t2sql-ckpt", stop_on_failure=True, out=lines.append))["GPU quota"]
    assert not quota.ok and not quota.fatal and "spent (30.0 h of 30 h used; resets 20" in quota.detail
    assert "wait for the weekly reset (20" in quota.fix and "kaggle-t2sql chain" in quota.fix
    assert any(line.startswith("warn GPU quota: spent") and "-> fix: wait for the weekly reset" in line for line in lines)
    emu.gpu_hours_remaining = 5
    quota = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lambda *_: None))["GPU quota"]
    assert not quota.ok and not quota.fatal and "5.0 h left" in quota.detail and "less than one 12-h session" in quota.detail
    assert "time_budget_minutes" in quota.fix
    emu.gpu_hours_remaining = 13
    quota = by_name(doctor("kaggle:tester/t2sql-ckpt", out=lambda *_: None))["GPU quota"]
    assert quota.ok and "(13.0 h left)" in quota.detail


KAGGLE_TORCH_ARCHS = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"]  # as tests/test_gpu.py


def gpus(monkeypatch, name=None, capability=None, count=2):
    """torch.cuda answering as a Kaggle accelerator would (this machine has none); name=None: no GPU."""
    import torch
    from types import SimpleNamespace

    monkeypatch.setattr(torch.cuda, "is_available", lambda: name is not None)
    monkeypatch.setattr(torch.cuda, "get_arch_list", lambda: KAGGLE_TORCH_ARCHS)
    if name is not None:
        props = SimpleNamespace(name=name, major=capability[0], minor=capability[1], total_memory=16 * 2**30)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
        monkeypatch.setattr(torch.cuda, "get_device_properties", lambda i: props)
        monkeypatch.setattr(torch.cuda, "mem_get_info", lambda i=None: (14 * 2**30, 15 * 2**30))


def test_gpu_check_p100_fails_with_the_t4_fix(monkeypatch):
    from kaggle_t2sql.kaggle.doctor import check_gpu

    gpus(monkeypatch, "Tesla P100-PCIE-16GB", (6, 0), count=1)
    check = check_gpu(need_gpu=False)  # a P100 fails even for a CPU preset: torch would still try to use it
    assert not check.ok and check.fatal and "Tesla P100-PCIE-16GB (sm_60)" in check.detail
    assert "machine_shape NvidiaTeslaT4" in check.fix and check.line().startswith("FAIL gpu:")


def test_gpu_check_none_fails_only_when_a_gpu_is_needed(monkeypatch):
    from kaggle_t2sql.kaggle.doctor import check_gpu

    gpus(monkeypatch, None)
    needed, not_needed = check_gpu(need_gpu=True), check_gpu(need_gpu=False)
    assert not needed.ok and needed.fatal and "none (CPU only)" in needed.detail and "GPU T4 x2" in needed.fix
    assert not_needed.ok and not not_needed.fatal


def test_gpu_check_t4_pair_is_ok(monkeypatch):
    from kaggle_t2sql.kaggle.doctor import check_gpu

    gpus(monkeypatch, "Tesla T4", (7, 5))
    check = check_gpu(need_gpu=True)
    assert check.ok and check.detail == "Tesla T4 (sm_75), Tesla T4 (sm_75)"


def kaggle_session_root(monkeypatch, tmp_path, wheels=()):
    """An emulated Kaggle session: KAGGLE_KERNEL_RUN_TYPE set, inputs under T2SQL_KAGGLE_ROOT/input."""
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Batch")
    monkeypatch.setenv("T2SQL_KAGGLE_ROOT", str(tmp_path / "kaggle"))
    mount = tmp_path / "kaggle" / "input" / "t2sql-wheels"
    mount.mkdir(parents=True)
    for name in wheels:
        (mount / name).write_bytes(b"PK")


def test_wheel_check_in_a_session_finds_the_attached_wheels(monkeypatch, tmp_path):
    from kaggle_t2sql.kaggle.doctor import check_wheels

    kaggle_session_root(monkeypatch, tmp_path, ["kaggle_t2sql-0.1.0-py3-none-any.whl",
                                                "kaggle-2.2.4-py3-none-any.whl", "trl-0.24.0-py3-none-any.whl"])
    check = check_wheels("tester/t2sql-wheels")
    assert check.ok and "kaggle_t2sql-0.1.0-py3-none-any.whl (+2 dependency wheel(s))" in check.detail


def test_wheel_check_in_a_session_without_the_dataset_warns_with_its_fix(monkeypatch, tmp_path):
    from kaggle_t2sql.kaggle.doctor import check_wheels

    kaggle_session_root(monkeypatch, tmp_path)
    check = check_wheels("tester/t2sql-wheels")
    assert not check.ok and not check.fatal and "tester/t2sql-wheels is not mounted under" in check.detail
    assert "Add Input" in check.fix
    assert check_wheels("") is None  # none named, none attached: nothing to say


def test_doctor_folder_on_a_laptop_says_the_wheels_are_checked_in_the_session(emu, tmp_path, monkeypatch, capsys):
    """Off Kaggle nothing is mounted: `doctor --folder` says where the wheels are checked instead of warning."""
    from types import SimpleNamespace

    from kaggle_t2sql.cli_kaggle import cmd_doctor
    from kaggle_t2sql.kaggle.kernel import KernelSpec, write_kernel_folder

    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    spec = KernelSpec(user="tester", kernel_slug="t2sql-train", store_slug="t2sql-ckpt", preset="tiny",
                      run_name="tiny-demo", wheel_dataset="tester/t2sql-wheels")
    folder = write_kernel_folder(spec, tmp_path / "kernel")
    assert cmd_doctor(SimpleNamespace(folder=str(folder), store="", need_gpu=False)) == 0
    out = capsys.readouterr().out
    assert "ok   wheel dataset: tester/t2sql-wheels: checked in the session" in out and "warn wheel" not in out, out


def test_the_notebooks_preflight_stops_by_itself_on_a_session_wasting_failure(emu, tmp_path, monkeypatch, capsys):
    """preflight (the training notebook's first step) raises DoctorFailed on its own, after printing every line:
    start_session refuses missing credentials too, so the notebook e2e would pass without it."""
    from kaggle_t2sql.notebook import preflight

    no_credentials(monkeypatch)
    with pytest.raises(DoctorFailed, match="this session would be wasted: credentials: "):
        preflight("tiny", store="kaggle:tester/t2sql-ckpt")
    out = capsys.readouterr().out
    assert "FAIL credentials: none of yours found -> fix: export KAGGLE_API_TOKEN" in out
    assert "ok   internet: the Kaggle API answers" in out and "ok   gpu:" in out  # every line, before the stop
