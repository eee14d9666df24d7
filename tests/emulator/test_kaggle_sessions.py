"""Pushed notebooks really run in the emulated Kaggle (tests/emulator/kaggle_sessions.py): a user's whole path,
and the ways a first session goes wrong. The real kaggle client everywhere; nothing leaves the machine."""

import json
import os
import sys
from pathlib import Path

import pytest
from kaggle_emulator import KaggleEmulator
from kaggle_sessions import KaggleSessions

from kaggle_t2sql.kaggle.auth import kaggle_api
from kaggle_t2sql.kaggle.init import init_kernel
from kaggle_t2sql.kaggle.kernel import KernelSpec, push_kernel
from kaggle_t2sql.kaggle.prepare import publish_folder

pytestmark = pytest.mark.slow  # end-to-end / multi-session: deselect with -m "not slow" while iterating

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
KERNEL = "tester/kaggle-t2sql-train"
STORE = "tester/kaggle-t2sql-checkpoints"
WHEELS = "tester/kaggle-t2sql-wheel"


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory):
    """With the dependency wheels: the emulated image's kaggle client is Kaggle's 2.0.2, which the install upgrades."""
    from kaggle_sessions import offline_wheels

    folder = tmp_path_factory.mktemp("wheels")
    offline_wheels(folder)
    return folder


@pytest.fixture
def kaggle(tmp_path, monkeypatch, wheel_dir):
    """An emulated Kaggle whose pushed kernels run, with the package's wheel published as a dataset."""
    with KaggleEmulator(tmp_path / "kaggle-server", port=0) as emu:
        emu.install(monkeypatch, tmp_path / "client")
        emu.gpu_quota_total_hours = 1000.0
        sessions = KaggleSessions(emu, tmp_path / "sessions", time_scale=12 * 3600 / 90,
                                  cache_dir=os.environ["T2SQL_CACHE_DIR"]).attach()
        publish_folder(WHEELS, wheel_dir, api=kaggle_api())
        yield emu, sessions
        sessions.wait_idle()


def tiny_spec(**change):
    return KernelSpec(**{"user": "tester", "preset": "tiny", "wheel_dataset": WHEELS, "eval_limit": 0,
                         "overrides": {"data.stages.0.limit": 8, "training.batch_size": 1, "training.max_steps": 4,
                                       "training.save_steps": 2}, **change})


def run_once(emu, sessions, folder):
    push_kernel(kaggle_api(), folder)
    sessions.wait_idle(timeout_s=300)
    return sessions.records[-1]


def test_a_session_with_a_store_but_no_usable_credentials_stops_before_training(kaggle, tmp_path):
    emu, sessions = kaggle
    folder = tmp_path / "kernel"
    init_kernel(tiny_spec(), folder, api=kaggle_api())
    versions = len(emu.dataset_versions(STORE))

    record = run_once(emu, sessions, folder)  # no secret attached: kaggle_secrets' client raises on creation
    assert record.status == "error" and record.elapsed_s < 60, record.log[-3000:]
    assert "no Kaggle credentials found" in record.log and "add a secret named KAGGLE_API_TOKEN" in record.log
    assert "FAIL secret: no Kaggle credentials found" in record.log  # the notebook's first step: doctor (issue 25)
    assert "ok   internet: the Kaggle API answers" in record.log  # asked without credentials: still known
    from kaggle_sessions import image_pins, offline_wheel_links

    upgraded = next(offline_wheel_links().glob("kaggle-*.whl")).name.split("-")[1]  # the image has Kaggle's 2.0.2
    assert image_pins()["kaggle"] != upgraded and f"ok   kaggle client: kaggle {upgraded}" in record.log
    assert f"kaggle-{upgraded}" in record.installed() and any(d.startswith("kagglesdk-") for d in record.installed())
    assert "Kaggle's notebook token is present and NOT used" in record.log
    assert "session paused" not in record.log and "Loading weights" not in record.log  # nothing was trained

    sessions.attach_secret(KERNEL, "KAGGLE_API_TOKEN", "KGAT_revoked_0123456789")
    record = run_once(emu, sessions, folder)
    assert record.status == "error" and record.elapsed_s < 60
    assert "could not be used" in record.log and "KAGGLE_API_TOKEN" in record.log
    assert "KGAT_revoked_0123456789" not in record.log
    assert "ok   secret: attached" in record.log and "FAIL credentials:" in record.log
    assert not any(token in record.log for token in sessions.notebook_tokens)
    assert len(emu.dataset_versions(STORE)) == versions  # nothing pushed


def test_evaluate_and_prepare_data_notebooks_install_the_package_and_run(kaggle, tmp_path):
    """They had no install cell: ModuleNotFoundError on Kaggle. Each runs as pushed, installing the wheel."""
    emu, sessions = kaggle
    for name, params in (("evaluate", dict(preset="tiny", data="bundled", limit=2)),
                         ("prepare_data", dict(source="bundled", path="", per_complexity=2))):
        import nbformat
        from papermill.iorw import load_notebook_node
        from papermill.parameterize import parameterize_notebook

        nb = parameterize_notebook(load_notebook_node(str(REPO / "notebooks" / f"{name}.ipynb")), params)
        folder = tmp_path / name
        folder.mkdir()
        (folder / f"{name}.ipynb").write_text(nbformat.writes(nb))
        slug = f"t2sql-{name.replace('_', '-')}"
        (folder / "kernel-metadata.json").write_text(json.dumps({
            "id": f"tester/{slug}", "title": slug.replace("-", " "), "code_file": f"{name}.ipynb", "language": "python",
            "kernel_type": "notebook", "is_private": True, "enable_gpu": False, "dataset_sources": [WHEELS]}))
        record = run_once(emu, sessions, folder)
        assert record.status == "complete", record.log[-3000:]
        assert "ModuleNotFoundError" not in record.log
    outputs = {r.ref: sorted(p.name for p in r.output_dir.rglob("*") if p.is_file()) for r in
               [*emu.kernel_runs("tester/t2sql-evaluate"), *emu.kernel_runs("tester/t2sql-prepare-data")]}
    assert "report.json" in outputs["tester/t2sql-evaluate"] and "pairs.jsonl" in outputs["tester/t2sql-prepare-data"]


def test_a_session_cut_at_the_limit_leaves_nothing_of_it_running(tmp_path, monkeypatch):
    """The emulator's kill is Kaggle's: the whole session goes, the kernel's detached children too (jupyter
    starts the kernel in a session of its own; a training subprocess left running would keep pushing)."""
    import nbformat
    import psutil
    from kaggle_sessions import SESSION_MARKER

    folder = tmp_path / "kernel"
    folder.mkdir()
    beat = tmp_path / "heartbeat"
    child = (f"import time, pathlib\nwhile True:\n    pathlib.Path({str(beat)!r}).write_text(str(time.time()))\n"
             "    time.sleep(0.1)\n")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import subprocess, sys, time\nsubprocess.Popen([sys.executable, '-c', {child!r}], start_new_session=True)\n"
        "time.sleep(600)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (folder / "cut.ipynb").write_text(nbformat.writes(nb))
    (folder / "kernel-metadata.json").write_text(json.dumps({
        "id": "tester/cut-session", "title": "cut session", "code_file": "cut.ipynb", "language": "python", "kernel_type": "notebook",
        "is_private": True, "enable_gpu": False}))
    with KaggleEmulator(tmp_path / "kaggle-server", port=0) as emu:
        emu.install(monkeypatch, tmp_path / "client")
        sessions = KaggleSessions(emu, tmp_path / "sessions", time_scale=12 * 3600 / 8).attach()
        push_kernel(kaggle_api(), folder)
        sessions.wait_idle(timeout_s=120)
        record = sessions.records[-1]
        assert record.killed and record.status == "error" and beat.is_file(), record.log[-2000:]
        left = []
        for p in psutil.process_iter():
            try:
                if p.environ().get(SESSION_MARKER) == str(record.root):
                    left.append(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        last = beat.read_text()
        import time

        time.sleep(0.5)
        assert left == [] and beat.read_text() == last  # the detached child is gone: no more heartbeats
