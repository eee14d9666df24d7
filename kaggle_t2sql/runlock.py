"""One run folder, one writer: an exclusive lock held for the whole life of every command that writes it.

The lock is `fcntl.flock` on `<run folder>/.t2sql-lock`. The OS releases it when its holder's
last file descriptor closes, so a session ended by SIGKILL, the OOM killer or a lost machine
never leaves a lock behind, and nobody is ever told to delete a file. The file only says who
holds the lock (pid, host, command, since when) for the refusal message; the lock itself is the
flock, never the file's presence.

Within one process the lock is re-entrant for the thread that holds it (the demo holds it for all
its sessions; a session holds it around its own pull). Under torchrun / accelerate launch, rank 0
takes it for the whole process group and tells every rank the outcome (`lock_for_group`).
`sync push` takes it too: it writes the run folder (it refreshes the carried runs in RUN/store-carry).
Readers (`status`, `eval`, `export`) never take it: every file a writer publishes is written
atomically (`atomic.py`), so a reader sees the old or the new version, never half of one.
Over NFS, flock works from Linux 2.6.12 on (as a POSIX lock on the whole file).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import T2SQLError

LOCK_FILE = ".t2sql-lock"


class RunFolderBusy(T2SQLError):
    """Another process writes this run folder; nothing was changed."""


_held: dict[str, tuple[int, int, int]] = {}  # real path -> (fd, owning thread id, depth)
_guard = threading.Lock()


def holder_of(run_dir: str | Path) -> dict | None:
    """What the lock file says about its holder (pid, host, command, since), or None when unreadable."""
    for _ in range(20):  # the holder writes it just after locking: a reader may catch it empty for a moment
        try:
            info = json.loads((Path(run_dir) / LOCK_FILE).read_text())
            if isinstance(info, dict) and "pid" in info:
                return info
        except (OSError, ValueError):
            pass
        time.sleep(0.02)
    return None


def busy_message(run_dir: str | Path, command: str) -> str:
    """One line: the folder, who holds it, and what to do."""
    info = holder_of(run_dir)
    if info:
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(info.get("since", 0))))
        who = f"{info.get('command', 'a session')} (pid {info['pid']} on {info.get('host', '?')}, since {since})"
    else:
        who = "another process"
    return (f"run folder {run_dir} is in use by {who}: {command} was refused and changed nothing. Wait for that "
            "session to end (a session that dies, even by kill -9, frees the folder by itself), stop it "
            "(SIGTERM saves and stops it), or use another --output-dir")


def try_acquire(run_dir: str | Path, command: str) -> bool:
    """Take the run folder's lock for this thread (re-entrant), or False at once when someone else holds it."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = os.path.realpath(run_dir)
    me = threading.get_ident()
    with _guard:
        if key in _held:
            fd, owner, depth = _held[key]
            if owner != me:
                return False
            _held[key] = (fd, owner, depth + 1)
            return True
        fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        info = {"pid": os.getpid(), "host": socket.gethostname(), "command": command, "since": time.time()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
        _held[key] = (fd, me, 1)
        return True


def release(run_dir: str | Path) -> None:
    key = os.path.realpath(run_dir)
    with _guard:
        fd, owner, depth = _held[key]
        if depth > 1:
            _held[key] = (fd, owner, depth - 1)
            return
        del _held[key]
        os.ftruncate(fd, 0)  # no stale holder for a reader; the empty file stays (the lock is the flock, not the file)
        os.close(fd)  # closing the last descriptor releases the flock


@contextlib.contextmanager
def run_lock(run_dir: str | Path, command: str) -> Iterator[None]:
    """Hold the run folder's lock for the block; RunFolderBusy at once when another process holds it."""
    if not try_acquire(run_dir, command):
        raise RunFolderBusy(busy_message(run_dir, command))
    try:
        yield
    finally:
        release(run_dir)


def holding_run_lock(command: str):
    """Decorator: the function (whose first argument is the run folder) runs holding that folder's lock."""

    def wrap(fn):
        @functools.wraps(fn)
        def locked(run_dir, *args, **kwargs):
            with run_lock(run_dir, command):
                return fn(run_dir, *args, **kwargs)

        return locked

    return wrap


def holds(run_dir: str | Path) -> bool:
    """Whether this process holds the run folder's lock."""
    return os.path.realpath(run_dir) in _held


def ensure_free(run_dir: str | Path, command: str) -> None:
    """RunFolderBusy when another process holds the folder now (for a caller that hands the work to a child
    process, which then takes the lock itself); a folder that does not exist yet is free."""
    if Path(run_dir).is_dir():
        with run_lock(run_dir, command):
            pass


@contextlib.contextmanager
def group_run_lock(run_dir: str | Path, command: str) -> Iterator[None]:
    """`run_lock` for a whole torchrun / accelerate launch process group: rank 0 takes the lock and every
    rank learns the outcome, so a refused group raises RunFolderBusy on every rank and none of them writes.

    Sets up the default process group when the launcher asked for one and nobody did yet (accelerate and
    the Trainer then reuse it): the lock is decided before any data is read or model loaded.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        with run_lock(run_dir, command):
            yield
        return
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        from datetime import timedelta

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=1800))  # the Trainer's ddp_timeout
    held = dist.get_rank() == 0 and try_acquire(run_dir, command)
    refusal = [None if dist.get_rank() != 0 or held else busy_message(run_dir, command)]
    dist.broadcast_object_list(refusal, src=0)
    if refusal[0] is not None:
        raise RunFolderBusy(refusal[0])
    try:
        yield
    finally:
        if held:
            release(run_dir)
