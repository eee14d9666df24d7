"""Sandboxed execution of untrusted SQL against SQLite files, serially or on N processes.

Predictions come from a model, so they are treated as hostile. Three independent layers
keep the database file byte-identical whatever the SQL says:

1. the connection is opened read-only (`file:...?mode=ro` URI): SQLite's pager refuses
   every write to the main file, whatever got past the other layers;
2. an authorizer allows only what a query needs (SELECT, reading columns, functions,
   recursive CTEs, a few schema-introspection pragmas) and refuses the rest: INSERT,
   UPDATE, DELETE, CREATE/DROP/ALTER (temp objects too), ATTACH/DETACH (which is also
   how `VACUUM INTO 'file'` would write a new file), BEGIN/COMMIT/SAVEPOINT, ANALYZE,
   REINDEX, pragma changes, and the functions load_extension / fts3_tokenizer;
3. connection limits: no database may be attached at all, statements and values have a
   size cap, and Python's sqlite3 runs one statement per call (`SELECT 1; DROP TABLE x`
   is an error, nothing runs).

A deadline checked from SQLite's progress handler (every thousand VM steps) and between
fetches stops runaway queries such as an infinite recursive CTE; a row cap and a byte cap
stop result sets that would exhaust memory. Neither hangs a worker, so a pool of workers
never hangs either.

A WAL-mode database gets `-wal`/`-shm` side files on first read (SQLite needs them even
read-only); the database file itself is never written. Spider and BIRD files are not WAL.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import T2SQLError

DEFAULT_TIMEOUT = 10.0
DEFAULT_ROW_CAP = 100_000
PROGRESS_STEPS = 1_000  # VM instructions between deadline checks: microseconds apart, no measurable cost
FETCH_BATCH = 100
MAX_SQL_LENGTH = 1_000_000  # bytes of SQL text; a real query is a few KB
MAX_VALUE_LENGTH = 10_000_000  # bytes of one string/blob: stops zeroblob/randomblob/printf memory bombs
MAX_RESULT_BYTES = 256 << 20  # text/blob bytes of a whole result; with the two above, memory stays bounded

# Pragmas that only describe the schema; they have no setter form.
READ_ONLY_PRAGMAS = frozenset(
    {"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo", "foreign_key_list"}
)
# load_extension runs native code; fts3_tokenizer takes raw pointers (a known exploit path);
# the rest exist only in the sqlite3 shell but are refused in case a build registers them.
REFUSED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit", "fsdir"})
_ALWAYS_ALLOWED = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema", "sqlite_temp_schema"})
_AUTH_ACTIONS = (
    "CREATE_INDEX CREATE_TABLE CREATE_TEMP_INDEX CREATE_TEMP_TABLE CREATE_TEMP_TRIGGER CREATE_TEMP_VIEW "
    "CREATE_TRIGGER CREATE_VIEW DELETE DROP_INDEX DROP_TABLE DROP_TEMP_INDEX DROP_TEMP_TABLE DROP_TEMP_TRIGGER "
    "DROP_TEMP_VIEW DROP_TRIGGER DROP_VIEW INSERT PRAGMA READ SELECT TRANSACTION UPDATE ATTACH DETACH "
    "ALTER_TABLE REINDEX ANALYZE CREATE_VTABLE DROP_VTABLE FUNCTION SAVEPOINT RECURSIVE"
).split()
_ACTION_NAMES = {getattr(sqlite3, f"SQLITE_{n}"): n.lower() for n in _AUTH_ACTIONS if hasattr(sqlite3, f"SQLITE_{n}")}


@dataclass(frozen=True)
class ExecResult:
    """What one statement did: rows, or an error; how long it took; whether the deadline stopped it."""

    rows: list[tuple] | None
    error: str | None
    elapsed: float
    timed_out: bool = False
    columns: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


class _Authorizer:
    """Allow-list authorizer; remembers the first refusal so the error names what was refused."""

    def __init__(self) -> None:
        self.refusals: list[tuple[int, str | None]] = []

    @property
    def refused(self) -> str | None:
        """The most telling refusal: `create_temp_table z` rather than its `insert sqlite_temp_master`."""
        if not self.refusals:
            return None
        named = [r for r in self.refusals if r[1] not in _SCHEMA_TABLES] or self.refusals
        action, target = named[0]
        if target in _SCHEMA_TABLES:
            return "schema change (CREATE/DROP of a table, index, view or trigger)"
        what = _ACTION_NAMES.get(action, f"action {action}")
        return f"{what} {target}" if target else what

    def __call__(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        if action in _ALWAYS_ALLOWED:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() not in REFUSED_FUNCTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() in READ_ONLY_PRAGMAS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
            # Eponymous virtual tables (json_each, pragma_table_info) ask this while they
            # load. The schema table itself cannot be written: main is read-only and
            # writable_schema cannot be switched on (pragma changes are refused).
            return sqlite3.SQLITE_OK
        if len(self.refusals) < 8:
            self.refusals.append((action, arg2 if action == sqlite3.SQLITE_FUNCTION else arg1))
        return sqlite3.SQLITE_DENY


def _decode_text(raw: bytes) -> str:
    # Some Spider/BIRD files hold invalid UTF-8; the official test-suite evaluator drops
    # the bad bytes (errors="ignore"), so both sides of a comparison decode the same way.
    return raw.decode("utf-8", errors="ignore")


def open_sandboxed(db_path: str | Path) -> tuple[sqlite3.Connection, _Authorizer]:
    """A read-only, authorizer-guarded connection (autocommit: no implicit BEGIN)."""
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"database file {path} not found: check db_root / the dataset's database folder")
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    conn.text_factory = _decode_text
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
    auth = _Authorizer()
    conn.set_authorizer(auth)
    return conn, auth


def _error_text(exc: Exception, auth: _Authorizer, timed_out: bool, timeout: float) -> str:
    if timed_out:
        return f"timed out after {timeout:g} s (query interrupted)"
    if auth.refusals:
        return f"refused by the sandbox: {auth.refused} (only read-only queries may run)"
    msg = str(exc)
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in msg:
        return "more than one statement in the SQL: only a single query may run"
    return f"{type(exc).__name__}: {msg}"


def _text_bytes(rows: list[tuple]) -> int:
    return sum(len(v) for row in rows for v in row if isinstance(v, (str, bytes)))


def execute_sql(db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT,
                row_cap: int = DEFAULT_ROW_CAP) -> ExecResult:
    """Run one untrusted statement in the sandbox. Never raises for bad SQL: the error is in the result."""
    start = time.perf_counter()
    if not sql or not sql.strip():
        return ExecResult(None, "empty SQL: nothing to execute", 0.0)
    try:
        conn, auth = open_sandboxed(db_path)
    except (FileNotFoundError, sqlite3.Error) as exc:
        return ExecResult(None, f"cannot open database: {exc}", time.perf_counter() - start)
    deadline = start + timeout
    state = {"timed_out": False}

    def over_deadline() -> int:
        if time.perf_counter() > deadline:
            state["timed_out"] = True
            return 1  # non-zero: SQLite interrupts the statement
        return 0

    conn.set_progress_handler(over_deadline, PROGRESS_STEPS)
    try:
        cur = conn.execute(sql)
        if cur.description is None:
            return ExecResult(None, "not a query: the statement returns no columns", time.perf_counter() - start)
        columns = tuple(d[0] for d in cur.description)
        rows: list[tuple] = []
        size = 0
        while batch := cur.fetchmany(FETCH_BATCH):
            rows.extend(batch)
            if len(rows) > row_cap:
                return ExecResult(None, f"row cap exceeded: more than {row_cap} rows", time.perf_counter() - start,
                                  columns=columns)
            size += _text_bytes(batch)
            if size > MAX_RESULT_BYTES:
                return ExecResult(None, f"result too large: more than {MAX_RESULT_BYTES >> 20} MiB of text/blobs",
                                  time.perf_counter() - start, columns=columns)
            if over_deadline():
                raise sqlite3.OperationalError("interrupted")
        return ExecResult(rows, None, time.perf_counter() - start, columns=columns)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as exc:
        return ExecResult(None, _error_text(exc, auth, state["timed_out"], timeout), time.perf_counter() - start,
                          timed_out=state["timed_out"])
    finally:
        conn.close()


# ---------------------------------------------------------------- parallel map

T = TypeVar("T")
R = TypeVar("R")


def resolve_workers(workers: int | None, n_items: int) -> int:
    """`None`/0 means one per CPU; never more workers than items."""
    if workers is None or workers <= 0:
        workers = os.cpu_count() or 1
    return max(1, min(int(workers), n_items))


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver: workers fork from a small clean server, not from a parent that may hold
    # a model, CUDA state or threads (plain fork is unsafe then); spawn elsewhere.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _chunks(items: Sequence[T], size: int) -> list[tuple[int, Sequence[T]]]:
    return [(i, items[i:i + size]) for i in range(0, len(items), size)]


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None,
                 progress: bool = True, desc: str = "executing") -> list[R]:
    """`[fn(x) for x in items]` on `workers` processes, in input order, with a progress bar.

    `fn` must be a module-level function (it is pickled). Work goes out in small chunks so
    a slow item holds up only its chunk; every item's own timeout bounds the whole run.
    """
    from tqdm.auto import tqdm

    items = list(items)
    n_workers = resolve_workers(workers, len(items))
    bar = tqdm(total=len(items), desc=desc, disable=not progress, unit="q", dynamic_ncols=True)
    try:
        if n_workers == 1 or len(items) <= 1:
            out = []
            for item in items:
                out.append(fn(item))
                bar.update(1)
            return out
        size = max(1, min(16, math.ceil(len(items) / (n_workers * 8))))
        results: list[Any] = [None] * len(items)
        try:
            with ProcessPoolExecutor(max_workers=n_workers, mp_context=_pool_context()) as pool:
                pending = {pool.submit(_run_chunk, fn, chunk): start for start, chunk in _chunks(items, size)}
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        start = pending.pop(fut)
                        chunk_out = fut.result()
                        results[start:start + len(chunk_out)] = chunk_out
                        bar.update(len(chunk_out))
        except BrokenProcessPool:
            raise T2SQLError(
                f"a worker process died ({n_workers} workers, {len(items)} items): out of memory, or the main "
                "script cannot be re-imported by workers (guard it with `if __name__ == \"__main__\":`); "
                "rerun with 1 worker to see the failing item") from None
        return results
    finally:
        bar.close()


@dataclass(frozen=True)
class ExecTask:
    """One (database, SQL) pair for `execute_many`; picklable."""

    db_path: str
    sql: str
    timeout: float = DEFAULT_TIMEOUT
    row_cap: int = DEFAULT_ROW_CAP


def run_task(task: ExecTask) -> ExecResult:
    return execute_sql(task.db_path, task.sql, task.timeout, task.row_cap)


def execute_many(pairs: Iterable[tuple[str | Path, str]], workers: int | None = None,
                 timeout: float = DEFAULT_TIMEOUT, row_cap: int = DEFAULT_ROW_CAP,
                 progress: bool = True) -> list[ExecResult]:
    """Run many (db_path, sql) pairs in the sandbox on `workers` processes; results in input order."""
    tasks = [ExecTask(str(db), sql, timeout, row_cap) for db, sql in pairs]
    return parallel_map(run_task, tasks, workers=workers, progress=progress, desc="executing SQL")
