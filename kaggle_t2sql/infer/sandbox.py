"""The one place inference runs generated SQL: the scoring sandbox (`execution.execute_sql`).

Read-only connection, allow-list authorizer, deadline and row cap; generated SQL never
runs any other way, so a stricter sandbox (e.g. a hard-killed worker) plugs in here.
"""

from __future__ import annotations

from pathlib import Path

from ..execution import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult, execute_sql


def run_sql(db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT, row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
    """Execute one generated statement read-only; errors come back in the result, never raised."""
    return execute_sql(db_path, sql, timeout=timeout, row_cap=row_cap)
