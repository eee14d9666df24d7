"""Many calls at once over the sandbox pool: `parallel_map` (in this process when one worker and no limit
suffice) and `execute_many` for (database, SQL) pairs."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from .execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult
from .pool import GRACE_SECONDS, ExecTask, SandboxPool, WorkerFailure, run_task, timed_out_result

T_ = TypeVar("T_")
R = TypeVar("R")


def resolve_workers(workers: int | None, n_items: int) -> int:
    """`None`/0 means one per CPU; never more workers than items."""
    if workers is None or workers <= 0:
        workers = os.cpu_count() or 1
    return max(1, min(int(workers), n_items))


def parallel_map(fn: Callable[[T_], R], items: Iterable[T_], workers: int | None = None,
                 progress: bool = True, desc: str = "executing", *, limit: float | None = None,
                 on_failure: Callable[[T_, WorkerFailure], R] | None = None) -> list[R]:
    """`[fn(x) for x in items]` on `workers` processes, in input order, with a progress bar.

    `fn` must be a module-level function (it is pickled). Items go out one at a time, so a
    slow item holds up only its worker. With `limit` each step of a call runs under that
    hard limit (see `SandboxPool.map`); without it, one worker runs in this process.
    """
    items = list(items)
    n_workers = resolve_workers(workers, len(items))
    if not items or (n_workers == 1 and limit is None):
        from tqdm.auto import tqdm

        return [fn(item) for item in tqdm(items, desc=desc, disable=not progress, unit="q", dynamic_ncols=True)]
    with SandboxPool(n_workers) as pool:
        return pool.map(fn, items, limit=limit, on_failure=on_failure, progress=progress, desc=desc)


def execute_many(pairs: Iterable[tuple[str | Path, str]], workers: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT, row_cap: int = DEFAULT_ROW_CAP,
                 progress: bool = True) -> list[ExecResult]:
    """Run many (db_path, sql) pairs in the sandbox on `workers` supervised processes; results in input order.

    A query still running `GRACE_SECONDS` past `timeout` has its worker killed and comes
    back timed out; the others are unaffected.
    """
    tasks = [ExecTask(str(db), sql, timeout, row_cap) for db, sql in pairs]
    return parallel_map(run_task, tasks, workers=workers, progress=progress, desc="executing SQL",
                        limit=timeout + GRACE_SECONDS, on_failure=timed_out_result)
