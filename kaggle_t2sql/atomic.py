"""Atomic writes: temp file in the same folder, fsync, rename. A crash leaves old or new, never half."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def fsync_dir(path: str | Path) -> None:
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def fsync_tree(root: str | Path) -> None:
    """fsync every file and folder under root, so a rename publishes complete contents."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)


ASIDE = ".old-"  # `.<name>.old-<pid>`: a folder moved aside while its replacement is renamed in


def publish_dir(written: str | Path, final: str | Path) -> Path:
    """fsync a fully written folder and rename it to `final`, replacing what was there.

    A replaced folder is first moved aside to `.<name>.old-<pid>`, then the new one is renamed in,
    then the old one removed. A kill between the two renames leaves `final` missing and the old
    folder aside, whole: `restore_replaced` puts it back.
    """
    written, final = Path(written), Path(final)
    fsync_tree(written)
    if final.exists():
        old = final.with_name(f".{final.name}{ASIDE}{os.getpid()}")
        os.replace(final, old)
        os.replace(written, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(written, final)
    fsync_dir(final.parent)
    return final


def restore_replaced(parent: str | Path) -> list[Path]:
    """Finish replacements a kill cut short in `parent`: a folder moved aside whose replacement never
    arrived goes back to its name; one whose replacement is in place is removed. Call it while no
    replacement is running there (e.g. at session start). Returns the folders put back."""
    restored = []
    for old in sorted(Path(parent).glob(f".*{ASIDE}*")):
        final = old.with_name(old.name[1:].rpartition(ASIDE)[0])
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(old, final)
            restored.append(final)
    if restored:
        fsync_dir(parent)
    return restored


@contextlib.contextmanager
def staged_dir(final: str | Path) -> Iterator[Path]:
    """Yield a temp folder beside `final`; on success it is fsynced and renamed to `final`.

    If `final` exists it is replaced (old one removed after the swap). On error the temp
    folder is removed and `final` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
