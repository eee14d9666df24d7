"""Sandboxed execution of untrusted SQL against SQLite files (on N supervised processes: pool.py).

Predictions come from a model, so they are treated as hostile. Three independent layers
keep the database file byte-identical whatever the SQL says:

1. the connection is opened read-only (`file:...?mode=ro` URI): SQLite's pager refuses
   every write to the main file, whatever got past the other layers;
2. an authorizer allows only what a query needs (SELECT, reading columns, functions,
   recursive CTEs, a few schema-introspection pragmas) and refuses the rest: INSERT,
   UPDATE, DELETE, CREATE/DROP/ALTER (temp objects too), ATTACH/DETACH (which is also
   how `VACUUM INTO 'file'` would write a new file), BEGIN/COMMIT/SAVEPOINT, ANALYZE,
   REINDEX, pragma changes, and the functions load_extension / fts3_tokenizer;
3. connection limits: no database may be attached at all, and Python's sqlite3 runs one
   statement per call (`SELECT 1; DROP TABLE x` is an error, nothing runs). Empty
   statements after the query (`SELECT 1; ;`) are dropped first, so they are no error.

Runaway queries are stopped three ways:

* a deadline checked from SQLite's progress handler (every thousand VM steps) and as
  rows arrive interrupts long scans, joins and recursive CTEs, leaving the worker alive;
* SQLite limits cap what one built-in call can cost, since one call is one VM step and
  the progress handler never sees inside it: a value is at most 1 MB (the largest in the
  Spider/BIRD fixture databases is 102 bytes) and a LIKE/GLOB pattern at most 1,000 bytes
  (their gold queries' are under 30), so `LIKE '%' || 40,000 chars` is an error at once
  and one LIKE costs at most ~1e9 character steps (a second or two);
* what no limit bounds (`instr`, `replace` and `trim` are quadratic in their arguments:
  `trim(x, y)` with 900,000 and 80,000 characters runs for minutes) is stopped by the
  supervisor: `SandboxPool` (pool.py) runs calls in worker processes and kills a worker still busy
  with a query `GRACE_SECONDS` past its timeout, replaces it, and reports that query as
  timed out; every other result stands.

A row cap and a byte cap on the result's text/blobs, both checked row by row as rows
arrive, stop results that would exhaust memory; a supervised worker also runs under an
address-space cap (`WORKER_MEMORY_BYTES`), so even one oversized row is a MemoryError
there, not a dead machine.

A WAL-mode database gets `-wal`/`-shm` side files on first read (SQLite needs them even
read-only); the database file itself is never written. Spider and BIRD files are not WAL.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlparse import lexer
from sqlparse import tokens as T

DEFAULT_TIMEOUT = 10.0
DEFAULT_ROW_CAP = 100_000
PROGRESS_STEPS = 1_000  # VM instructions between deadline checks: microseconds apart, no measurable cost
MAX_SQL_LENGTH = 1_000_000  # bytes of SQL text; a real query is a few KB
MAX_VALUE_LENGTH = 1_000_000  # bytes of one string/blob, stored or computed: bounds memory and quadratic calls
MAX_LIKE_PATTERN = 1_000  # bytes of a LIKE/GLOB pattern: a LIKE costs at most value x pattern steps
MAX_RESULT_BYTES = 256 << 20  # text/blob bytes of a whole result, counted row by row

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
    """What one statement did: rows, or an error; how long it took; whether the deadline stopped it.

    `stopped_early`: the caller's `stop_when` test ended the query before its last row (an
    early verdict; `error` says why), so there are no rows although nothing failed.
    """

    rows: list[tuple] | None
    error: str | None
    elapsed: float
    timed_out: bool = False
    columns: tuple[str, ...] = ()
    stopped_early: bool = False

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


def open_sandboxed(db_path: str | Path, strict_text: bool = False) -> tuple[sqlite3.Connection, _Authorizer]:
    """A read-only, authorizer-guarded connection (autocommit: no implicit BEGIN).

    `strict_text`: invalid UTF-8 in a text value is an error, as under Python's default
    text factory (BIRD's evaluator); otherwise its bad bytes are dropped (test-suite's).
    """
    path = Path(db_path)
    if not path.is_file():
        raise FileNotFoundError(f"database file {path} not found: check db_root / the dataset's database folder")
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    conn.text_factory = str if strict_text else _decode_text
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, MAX_SQL_LENGTH)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_LENGTH)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH, MAX_LIKE_PATTERN)
    conn.setlimit(sqlite3.SQLITE_LIMIT_WORKER_THREADS, 0)  # no sorter threads beside a query that may be killed
    auth = _Authorizer()
    conn.set_authorizer(auth)
    return conn, auth


def drop_empty_statements(sql: str) -> tuple[str, int]:
    """`sql` without the empty statements after its last one (`SELECT 1; ;` -> `SELECT 1;`), and how many.

    Python's sqlite3 refuses any text after the first statement but whitespace and
    comments, even a lone `;`. Token-based (sqlparse's lexer), so a `;` inside a string,
    quoted name or comment is left alone; a second real statement is kept, and refused.
    """
    if sql.count(";") < 2:
        return sql, 0
    tokens = list(lexer.tokenize(sql))
    start = len(tokens)  # the tail of semicolons, whitespace and comments begins here
    while start and (tokens[start - 1][1] == ";" or tokens[start - 1][0] in T.Whitespace
                     or tokens[start - 1][0] in T.Comment):
        start -= 1
    semicolons = [i for i in range(start, len(tokens)) if tokens[i][1] == ";"]
    if len(semicolons) < 2:
        return sql, 0
    return "".join(value for _, value in tokens[:semicolons[0] + 1]), len(semicolons) - 1


def _error_text(exc: BaseException, auth: _Authorizer, timed_out: bool, timeout: float) -> str:
    if timed_out:
        return f"timed out after {timeout:g} s (query interrupted)"
    if auth.refusals:
        return f"refused by the sandbox: {auth.refused} (only read-only queries may run)"
    msg = str(exc)
    if isinstance(exc, sqlite3.ProgrammingError) and "one statement" in msg:
        return "more than one statement in the SQL: only a single query may run"
    if isinstance(exc, MemoryError):
        return "out of memory: the result does not fit the sandbox worker's memory cap"
    if "too big" in msg:
        return f"{type(exc).__name__}: {msg} (the sandbox caps one value at {MAX_VALUE_LENGTH:,} bytes)"
    if "pattern too complex" in msg:
        return f"{type(exc).__name__}: {msg} (the sandbox caps LIKE/GLOB patterns at {MAX_LIKE_PATTERN:,} bytes)"
    return f"{type(exc).__name__}: {msg}"


def _text_bytes(row: tuple) -> int:
    return sum(len(v) for v in row if isinstance(v, (str, bytes)))


def execute_sql(db_path: str | Path, sql: str, timeout: float = DEFAULT_TIMEOUT, row_cap: int | None = DEFAULT_ROW_CAP,
                *, stop_when: Callable[[int, tuple], str | None] | None = None,
                strict_text: bool = False) -> ExecResult:
    """Run one untrusted statement in the sandbox. Never raises for bad SQL: the error is in the result.

    `stop_when(i, row)` sees each row as it arrives (i from 0); a reason it returns ends the
    query there (`stopped_early`): scoring uses it to stop a prediction that can no longer
    match the gold result. `row_cap=None` lifts the row and result-byte caps (a gold query,
    which the official evaluators do not cap; the worker's memory cap still holds).
    `strict_text`: see `open_sandboxed`.
    """
    start = time.perf_counter()
    if not sql or not sql.strip():
        return ExecResult(None, "empty SQL: nothing to execute", 0.0)
    try:
        conn, auth = open_sandboxed(db_path, strict_text)
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
        cur = conn.execute(drop_empty_statements(sql)[0])
        if cur.description is None:
            return ExecResult(None, "not a query: the statement returns no columns", time.perf_counter() - start)
        columns = tuple(d[0] for d in cur.description)
        rows: list[tuple] = []
        size = 0
        for row in cur:  # one row at a time, so the caps hold while rows arrive
            if row_cap is not None and len(rows) == row_cap:
                return ExecResult(None, f"row cap exceeded: more than {row_cap} rows", time.perf_counter() - start,
                                  columns=columns)
            size += _text_bytes(row)
            if size > MAX_RESULT_BYTES and row_cap is not None:
                return ExecResult(None, f"result too large: more than {MAX_RESULT_BYTES >> 20} MiB of text/blobs",
                                  time.perf_counter() - start, columns=columns)
            if over_deadline():
                raise sqlite3.OperationalError("interrupted")
            if stop_when is not None and (reason := stop_when(len(rows), row)):
                return ExecResult(None, f"stopped early: {reason}", time.perf_counter() - start, columns=columns,
                                  stopped_early=True)
            rows.append(row)
        return ExecResult(rows, None, time.perf_counter() - start, columns=columns)
    except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as exc:
        return ExecResult(None, _error_text(exc, auth, state["timed_out"], timeout), time.perf_counter() - start,
                          timed_out=state["timed_out"])
    finally:
        conn.close()
