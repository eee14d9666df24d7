"""Offline installs on Kaggle: wheels for Kaggle's Python and platform, only what the image lacks."""

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

from kaggle_t2sql.kaggle.wheels import IMAGE_HAS, KAGGLE_PLATFORMS, KAGGLE_PYTHON, download_command, kaggle_requirements

REPO = Path(__file__).resolve().parents[2]


def test_every_dependency_is_in_the_image_or_in_the_offline_wheels():
    """Adding a dependency without an offline wheel would break `pip install --no-index` on Kaggle."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    offline = {Requirement(r).name.lower() for r in kaggle_requirements()}
    missing = [d for d in deps if Requirement(d).name.lower() not in offline | set(IMAGE_HAS)]
    assert missing == []
    assert not offline & {"torch", "transformers", "nvidia-cublas-cu12"}  # never what the image has (GBs)


def test_the_download_targets_kagglespython_and_platform_without_dependencies(tmp_path):
    cmd = download_command(tmp_path, kaggle_requirements())
    assert cmd[cmd.index("--python-version") + 1] == KAGGLE_PYTHON == "3.12"
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    platforms = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--platform"]
    assert platforms == list(KAGGLE_PLATFORMS) and "manylinux_2_24_x86_64" in platforms  # bitsandbytes' tag
    assert cmd[-len(kaggle_requirements()):] == kaggle_requirements()
