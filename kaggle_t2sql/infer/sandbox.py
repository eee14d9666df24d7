"""The one place inference runs generated SQL: the scoring sandbox, in a supervised worker.

Read-only connection, allow-list authorizer, deadline, row and byte caps (`execution.execute_sql`),
run in a `SandboxPool` worker that is killed and replaced when a query outlives its timeout
plus a short grace: a query stuck inside one SQLite call (a huge LIKE, printf) cannot hang
eval, ask or serve. One pool per process, started on first use, shared by every caller
(concurrent requests take turns), stopped at exit.
"""

from __future__ import annotations

import atexit
import threading
from pathlib import Path

from ..execution import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult, SandboxPool

_pool: SandboxPool | None = None
_lock = threading.Lock()


def sandbox_pool() -> SandboxPool:
    global _pool
    with _lock:
        if _pool is None:
            _pool = SandboxPool()
            atexit.register(_pool.close)
        return _pool


def run_sql(db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT, row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
    """Execute one generated statement read-only; errors (a timeout, a killed worker) come back in the result."""
    return sandbox_pool().execute(db_path, sql, timeout=timeout, row_cap=row_cap)
