"""Where a Kaggle notebook session keeps things: its writable folder, whether this is a session, when it started.

Every Kaggle path comes from one setting, `T2SQL_KAGGLE_ROOT` (default `/kaggle`, Kaggle's real
root): the session's writable folder is `<root>/working`. How attached inputs under
`<root>/input` are found (`kaggle:` references) is ../inputs.py, shared by every stage; its
names are importable from here too.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from ..inputs import DATASET_PREFIX, MODEL_PREFIX, ROOT_ENV, dataset_mounts, input_root, model_mounts, resolve_input, root

__all__ = ["DATASET_PREFIX", "MODEL_PREFIX", "ROOT_ENV", "SESSION_HOURS", "dataset_mounts", "input_root",
           "kernel_started_at", "model_mounts", "monotonic_from_epoch", "on_kaggle", "resolve_input", "root",
           "working_dir"]

SESSION_HOURS = 12  # Kaggle ends a notebook session (interactive or "Save & Run All") 12 h after it starts


def working_dir() -> Path:
    return root() / "working"


def on_kaggle() -> bool:
    """Inside a Kaggle notebook session (or the emulator's): Kaggle sets KAGGLE_KERNEL_RUN_TYPE."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


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
