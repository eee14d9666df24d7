"""The one place inference runs generated SQL: the scoring sandbox, in supervised workers.

Read-only connection, allow-list authorizer, deadline, row and byte caps (`sql.execute.execute_sql`),
run in a `sql.pool.SandboxPool` worker that is killed and replaced when a query outlives its timeout
plus a short grace: a query stuck inside one SQLite call (a huge LIKE, printf) cannot hang
eval, ask or serve. One set of lanes per process, started on first use, shared by every
caller, stopped at exit: each lane is a one-worker pool, so as many queries as there are
lanes run side by side (`configure_lanes`; `serve` sets several, eval and ask need one).

A caller may set a deadline for the work it is doing (`request_deadline`, a context
variable: `serve` sets one per request). Waiting for a free lane, or for the model
(`serve.TakingTurns`), then gives up at that deadline with `Busy` instead of queueing
without end.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import queue
import threading
import time
from pathlib import Path

from ..errors import T2SQLError
from ..sql.execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult
from ..sql.pool import SandboxPool


class Busy(T2SQLError):
    """The request's deadline passed while it waited for the model or a sandbox lane."""


_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("t2sql_request_deadline", default=None)


@contextlib.contextmanager
def request_deadline(seconds: float | None):
    """Work inside this block waits for shared resources at most until `seconds` from now."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds until the current request's deadline (None: no deadline)."""
    deadline = _deadline.get()
    return None if deadline is None else max(0.0, deadline - time.monotonic())


class SandboxLanes:
    """`lanes` one-worker `SandboxPool`s; a query borrows a free one, so `lanes` queries run at once."""

    def __init__(self, lanes: int = 1) -> None:
        if lanes < 1:
            raise ValueError(f"sandbox lanes must be at least 1, got {lanes}")
        self.lanes = lanes
        self._free: queue.LifoQueue[SandboxPool] = queue.LifoQueue()
        self._all: list[SandboxPool] = []
        self._lock = threading.Lock()

    def _borrow(self) -> SandboxPool:
        with self._lock:
            if self._free.empty() and len(self._all) < self.lanes:
                pool = SandboxPool()
                self._all.append(pool)
                return pool
        wait = time_left()
        try:
            return self._free.get(timeout=wait) if wait is None or wait > 0 else self._free.get_nowait()
        except queue.Empty:
            raise Busy(f"every one of the {self.lanes} SQL sandbox lanes stayed busy until this request's "
                       "deadline") from None

    def execute(self, db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT,
                row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
        pool = self._borrow()
        try:
            return pool.execute(db_path, sql, timeout=timeout, row_cap=row_cap)
        finally:
            self._give_back(pool)

    def _give_back(self, pool: SandboxPool) -> None:
        with self._lock:
            if len(self._all) > self.lanes:  # fewer lanes were asked for meanwhile
                self._all.remove(pool)
                pool.close()
                return
        self._free.put(pool)

    def resize(self, lanes: int) -> None:
        if lanes < 1:
            raise ValueError(f"sandbox lanes must be at least 1, got {lanes}")
        with self._lock:
            self.lanes = lanes
            while len(self._all) > lanes and not self._free.empty():
                pool = self._free.get_nowait()
                self._all.remove(pool)
                pool.close()

    def close(self) -> None:
        with self._lock:
            for pool in self._all:
                pool.close()


_lanes: SandboxLanes | None = None
_lock = threading.Lock()


def sandbox_lanes() -> SandboxLanes:
    global _lanes
    with _lock:
        if _lanes is None:
            _lanes = SandboxLanes()
            atexit.register(lambda: _lanes and _lanes.close())
        return _lanes


def configure_lanes(lanes: int) -> SandboxLanes:
    """Run up to `lanes` generated queries at once in this process (workers start as needed)."""
    current = sandbox_lanes()
    current.resize(lanes)
    return current


def run_sql(db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT, row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
    """Execute one generated statement read-only; errors (a timeout, a killed worker) come back in the result.

    Raises `Busy` only when a request deadline is set and passes before a lane is free.
    """
    return sandbox_lanes().execute(db_path, sql, timeout=timeout, row_cap=row_cap)
