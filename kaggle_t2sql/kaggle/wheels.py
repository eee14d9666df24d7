"""Wheels for offline installs on Kaggle: this package, plus what Kaggle's image lacks, built for
Kaggle's Python and platform (not this machine's), and never what the image already has
(torch and its CUDA libraries alone are several GB).

`requirements.txt` lists exactly what the image lacks; each is downloaded without its
dependencies (those are in the image), as a binary wheel for KAGGLE_PYTHON on
KAGGLE_PLATFORMS.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

KAGGLE_PYTHON = "3.12"  # docker-python on Colab's 2026-05 base: Python 3.12.13, Ubuntu 22.04 (glibc 2.35)
# pip takes --platform literally (no expansion): every manylinux tag that glibc 2.35 accepts
KAGGLE_PLATFORMS = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 4, -1)), "manylinux2014_x86_64",
                    "manylinux2010_x86_64", "manylinux1_x86_64")


# What the notebook image already has (Colab backend-info freeze of 2026-05-14 + docker-python's
# kaggle_requirements.txt), with the versions seen there: our pyproject floors are all below them.
IMAGE_HAS = {
    "torch": "2.10.0", "transformers": "5.0.0", "peft": "0.19.1", "accelerate": "1.13.0", "datasets": "4.0.0",
    "tensorboard": "2.20.0", "sqlparse": "0.5.5", "jupytext": "1.19.1", "papermill": "", "ipykernel": "",
    "tqdm": "4.67.3", "psutil": "", "pyyaml": "6.0.3", "matplotlib": "3.10.0", "six": "1.17.0", "numpy": "",
}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def kaggle_requirements(path: Path | None = None) -> list[str]:
    """The requirement lines of requirements.txt (comments and blanks dropped)."""
    path = path or repo_root() / "requirements.txt"
    lines = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line]


def download_command(dest: str | Path, requirements: list[str], python: str = KAGGLE_PYTHON,
                     platforms: tuple[str, ...] = KAGGLE_PLATFORMS) -> list[str]:
    """`pip download` for Kaggle's interpreter: binary wheels only, no dependencies (the image has them)."""
    major, minor = python.split(".")[:2]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(dest),
           "--python-version", f"{major}.{minor}", "--implementation", "cp", "--abi", f"cp{major}{minor}"]
    for platform in platforms:
        cmd += ["--platform", platform]
    return cmd + list(requirements)


def build_wheels(dest: str | Path, with_deps: bool = False) -> list[str]:
    """This package's wheel (+ with_deps: the wheels of requirements.txt for Kaggle) in dest; their names."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dest),
                    str(repo_root())], check=True)  # no build isolation: builds offline with the installed setuptools
    if with_deps:
        subprocess.run(download_command(dest, kaggle_requirements()), check=True)
    return sorted(p.name for p in dest.iterdir())
