"""How attached Kaggle inputs are found: `kaggle:` / `kaggle-model:` references -> mounted paths.

Every Kaggle path the package uses comes from one setting, `T2SQL_KAGGLE_ROOT` (default
`/kaggle`, Kaggle's real root): inputs under `<root>/input`. Tests and the local Kaggle
emulator point it at an emulated root; nothing else changes. Shared by every stage (a data
stage, a base model or an adapter may be an attached input); the rest of the session's
environment is kaggle/env.py.

Kaggle has mounted attached datasets in two layouts (both seen in 2026):
`/kaggle/input/<slug>` and `/kaggle/input/datasets/<owner>/<slug>`; attached models at
`/kaggle/input/<model>/<framework>/<variation>/<version>` (and, in the newer layout,
under `/kaggle/input/models/<owner>/...`). So inputs are named by their Kaggle reference
and resolved here, never by a hard-coded path:

    kaggle:owner/slug/sub/path           a file or folder inside an attached dataset
    kaggle-model:owner/model/framework/variation/version[/sub/path]   an attached model
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ConfigError

ROOT_ENV = "T2SQL_KAGGLE_ROOT"
DATASET_PREFIX = "kaggle:"
MODEL_PREFIX = "kaggle-model:"


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/kaggle")


def input_root() -> Path:
    return root() / "input"


def dataset_mounts(ref: str, base: Path | None = None) -> list[Path]:
    """Where dataset `owner/slug` may be mounted, newest layout first."""
    owner, _, slug = ref.partition("/")
    base = base or input_root()
    return [base / "datasets" / owner / slug, base / slug]


def model_mounts(handle: str, base: Path | None = None) -> list[Path]:
    """Where model instance version `owner/model/framework/variation/version` may be mounted."""
    owner, model, framework, variation, version = handle.split("/")
    base = base or input_root()
    return [base / "models" / owner / model / framework / variation / version,
            base / model / framework / variation / version]


def resolve_input(spec: str, base: Path | None = None) -> str:
    """`kaggle:owner/slug/rest` or `kaggle-model:o/m/f/v/n/rest` -> the mounted path; anything else unchanged.

    Raises ConfigError naming the reference and the fix when nothing is mounted there.
    """
    if spec.startswith(DATASET_PREFIX):
        parts = spec[len(DATASET_PREFIX):].strip("/").split("/")
        if len(parts) < 2 or not all(parts[:2]):
            raise ConfigError(f"bad input {spec!r}: write kaggle:owner/slug[/path inside the dataset]")
        ref, rest, candidates, kind = "/".join(parts[:2]), parts[2:], dataset_mounts("/".join(parts[:2]), base), "dataset"
    elif spec.startswith(MODEL_PREFIX):
        parts = spec[len(MODEL_PREFIX):].strip("/").split("/")
        if len(parts) < 5 or not all(parts[:5]):
            raise ConfigError(f"bad input {spec!r}: write kaggle-model:owner/model/framework/variation/version[/path]")
        ref, rest, candidates, kind = "/".join(parts[:5]), parts[5:], model_mounts("/".join(parts[:5]), base), "model"
    else:
        return spec
    for mount in candidates:
        if mount.exists():
            return str(mount.joinpath(*rest))
    source = "dataset_sources" if kind == "dataset" else "model_sources"
    raise ConfigError(
        f"{spec!r}: the {kind} {ref} is not mounted (looked in {', '.join(str(c) for c in candidates)}): attach it "
        f"to the notebook (Add Input, or {source} in kernel-metadata.json) and run again"
    )
