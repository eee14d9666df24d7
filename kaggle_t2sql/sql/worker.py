"""The worker process side of the sandbox pool (pool.py): the loop a supervised worker runs, its memory cap,
and `begin_step`, which a call running in a worker uses to restart its time limit."""

from __future__ import annotations

import os
import pickle
import signal
import time
import traceback
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import Any

HELD_ANSWER_BYTES = 1 << 20  # a worker holds answers back (one wake-up per batch) only while they stay this small
OUT_OF_MEMORY_EXIT = 75  # a worker's exit code when its answer did not fit its memory cap

_clock: Connection | None = None  # inside a worker: the pipe on which it tells its supervisor when steps start
_current: int | None = None  # inside a worker: the index of the call it is running


def begin_step(info: Any = None, limit: float | None = None) -> None:
    """A new query starts now: the supervisor restarts this call's time limit.

    `info` (picklable) is handed to `on_failure` if this step overruns, e.g. what the call
    already knows. `limit`: this step's own hard limit in seconds, when it needs longer
    than the map's (a shorter one counts as the map's: the supervisor reads step starts
    only when it wakes, at the latest at the map's limit). Outside a supervised worker it
    does nothing.
    """
    if _clock is not None:
        _clock.send(("step", _current, time.monotonic(), info, limit))


def _cap_address_space(extra_bytes: int) -> None:
    """RLIMIT_AS at the current size + `extra_bytes`: past it allocations fail (MemoryError), the machine lives."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = size + extra_bytes if hard == resource.RLIM_INFINITY else min(size + extra_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError):
        pass  # not Linux: the row-by-row result cap still holds


def worker_main(calls: Connection, clock: Connection, memory_bytes: int | None, batch: int) -> None:
    """A supervised worker: run (index, fn, item) calls until told to stop.

    When each call returns and each further step starts goes on `clock`, which the
    supervisor reads without being woken by it (a call's clock starts when it is unpickled;
    until then the supervisor allows a call sent to an idle worker `UNPICKLE_SECONDS`). Answers go back on `calls` in batches: held
    while more calls wait in the pipe (up to `batch`), so the supervisor wakes once per
    batch, not per call, and only while they stay small. Each answer is pickled before its
    call is marked returned. Answers held or being sent by a worker that dies are lost, and
    the supervisor runs those calls again (a call whose answer is lost `MAX_LOST_ANSWERS`
    times fails instead).
    """
    global _clock, _current
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the supervisor, which stops the workers
    if memory_bytes:
        _cap_address_space(memory_bytes)
    _clock = clock
    calls.send(("ready",))
    held: list[tuple[int, bytes]] = []  # (call id, pickled answer) not sent yet
    held_bytes = 0
    while True:
        try:
            call = calls.recv()  # unpickling fn may import its module: seconds, on a fresh worker
        except EOFError:
            return
        if call is None:
            return
        _current, fn, item = call
        # Its clock started when it was sent or when the call before it returned; it starts again now
        # that it is unpickled (importing fn's module can take seconds on a fresh worker, and a big
        # answer before it may have taken a while to be read).
        clock.send(("start", _current, time.monotonic()))
        try:
            # Pickled before the call is marked returned: a worker that dies doing so (MemoryError,
            # a crash) dies *in* this call, which then fails alone instead of being re-queued as
            # an answer lost between calls. Answers over HELD_ANSWER_BYTES go out at once.
            answer = pickle.dumps(fn(item), protocol=pickle.HIGHEST_PROTOCOL)
        except MemoryError:
            os._exit(OUT_OF_MEMORY_EXIT)  # this call fails (`on_failure`); the others go on in a fresh worker
        except Exception as exc:  # noqa: BLE001 - handed to the supervisor, which re-raises it
            clock.send(("returned", _current, time.monotonic()))
            calls.send_bytes(ForkingPickler.dumps(("done", held)))
            held, held_bytes = [], 0
            try:
                calls.send(("raise", _current, exc, traceback.format_exc()))
            except Exception:  # noqa: BLE001 - the exception itself does not pickle
                calls.send(("raise", _current, RuntimeError(repr(exc)), traceback.format_exc()))
            continue
        held.append((_current, answer))
        held_bytes += len(answer)
        # Marked returned once its answer exists, before it is sent: the limit covers the call and
        # pickling its answer, not waiting for the supervisor to read it.
        clock.send(("returned", _current, time.monotonic()))
        if len(held) >= batch or held_bytes > HELD_ANSWER_BYTES or not calls.poll():
            calls.send_bytes(ForkingPickler.dumps(("done", held)))
            held, held_bytes = [], 0
