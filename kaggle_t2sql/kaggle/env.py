"""Where a Kaggle notebook session keeps things, and how attached inputs are found.

Every Kaggle path the package uses comes from one setting, `T2SQL_KAGGLE_ROOT` (default
`/kaggle`, Kaggle's real root): inputs under `<root>/input`, the session's writable
folder `<root>/working`. Tests and the local Kaggle emulator point it at an emulated
root; nothing else changes.

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
import time
from pathlib import Path

from ..errors import ConfigError

ROOT_ENV = "T2SQL_KAGGLE_ROOT"
SESSION_HOURS = 12  # Kaggle ends a notebook session (interactive or "Save & Run All") 12 h after it starts
DATASET_PREFIX = "kaggle:"
MODEL_PREFIX = "kaggle-model:"


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or "/kaggle")


def input_root() -> Path:
    return root() / "input"


def working_dir() -> Path:
    return root() / "working"


def on_kaggle() -> bool:
    """Inside a Kaggle notebook session (or the emulator's): Kaggle sets KAGGLE_KERNEL_RUN_TYPE."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


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


def kernel_started_at() -> float:
    """Wall-clock time (epoch seconds) at which this process started: in a notebook, the kernel.

    Kaggle's 12-hour limit counts from session start, so the time budget must too, not
    from whenever the training cell runs (after installs and imports).
    """
    try:
        import psutil

        return float(psutil.Process(os.getpid()).create_time())
    except Exception:  # noqa: BLE001 - psutil missing or /proc unreadable: this moment is the best guess
        return time.time()


def monotonic_from_epoch(epoch: float) -> float:
    """The time.monotonic() reading that corresponds to a wall-clock moment (for budget deadlines)."""
    return time.monotonic() - (time.time() - epoch)
