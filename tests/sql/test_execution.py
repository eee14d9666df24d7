"""The SQL sandbox: hostile statements change nothing, runaway queries stop, pools never hang."""

import hashlib
import os
import sqlite3
import time
import tracemalloc

import pytest

from conftest import make_db
from kaggle_t2sql.sql import execute
from kaggle_t2sql.errors import T2SQLError
from kaggle_t2sql.sql.execute import ExecResult, drop_empty_statements, execute_sql
from kaggle_t2sql.sql.parallel import execute_many, parallel_map, resolve_workers
from kaggle_t2sql.sql.pool import SandboxPool
from kaggle_t2sql.sql.worker import begin_step

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c"
RUNAWAY_AGG = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
# One built-in call (one VM step, so the progress handler never runs) within every SQLite
# limit: trim() compares each of 900,000 characters with up to 80,001; minutes of work.
STUCK = "SELECT length(trim(printf('%.*c', 900000, 'a'), printf('%.*c', 80000, 'b') || 'a'))"
# A 40,001-byte LIKE pattern on a 400,000-byte value: one call of about a minute without the pattern limit.
LIKE_BOMB = "SELECT printf('%.*c', 400000, 'a') LIKE '%' || printf('%.*c', 40000, 'a') || 'b'"

PEOPLE_SQL = """
CREATE TABLE people (id INTEGER PRIMARY KEY, name TEXT, age INTEGER, city TEXT);
CREATE INDEX people_city ON people (city);
CREATE VIEW adults AS SELECT name FROM people WHERE age >= 18;
INSERT INTO people VALUES (1, 'Ada', 36, 'London'), (2, 'Bob', 17, 'Paris'), (3, 'Cyd', 52, 'Paris');
"""


@pytest.fixture
def people_db(tmp_path):
    return make_db(tmp_path / "db" / "people" / "people.sqlite", PEOPLE_SQL)


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


HOSTILE = [
    "INSERT INTO people VALUES (4, 'Eve', 1, 'Oslo')",
    "REPLACE INTO people VALUES (1, 'Eve', 1, 'Oslo')",
    "UPDATE people SET age = 0",
    "DELETE FROM people",
    "WITH x AS (SELECT 1) INSERT INTO people (id) SELECT * FROM x",
    "DROP TABLE people",
    "DROP VIEW adults",
    "DROP INDEX people_city",
    "CREATE TABLE evil (a)",
    "CREATE INDEX evil ON people (age)",
    "CREATE VIEW evil AS SELECT 1",
    "CREATE TRIGGER evil AFTER INSERT ON people BEGIN SELECT 1; END",
    "CREATE TEMP TABLE evil (a)",
    "CREATE TEMP VIEW evil AS SELECT 1",
    "CREATE VIRTUAL TABLE temp.evil USING fts5(x)",
    "ALTER TABLE people ADD COLUMN evil TEXT",
    "ALTER TABLE people RENAME TO evil",
    "SELECT 1; DROP TABLE people",
    "SELECT * FROM people; DELETE FROM people",
    "ATTACH DATABASE '{tmp}/attached.sqlite' AS evil",
    "DETACH DATABASE main",
    "VACUUM",
    "VACUUM INTO '{tmp}/copy.sqlite'",
    "PRAGMA journal_mode=WAL",
    "PRAGMA journal_mode=DELETE",
    "PRAGMA user_version=7",
    "PRAGMA writable_schema=ON",
    "PRAGMA query_only=OFF",
    "PRAGMA wal_checkpoint",
    "PRAGMA optimize",
    "UPDATE sqlite_master SET sql = 'x'",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT fts3_tokenizer('simple')",
    "BEGIN IMMEDIATE",
    "BEGIN EXCLUSIVE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT evil",
    "RELEASE evil",
    "ANALYZE",
    "SELECT zeroblob(500000000)",
]


def test_select_returns_rows_columns_and_time(people_db):
    res = execute_sql(people_db, "SELECT name, age FROM people WHERE city = 'Paris' ORDER BY age")
    assert res.ok and res.error is None and not res.timed_out
    assert res.rows == [("Bob", 17), ("Cyd", 52)]
    assert res.columns == ("name", "age")
    assert 0 <= res.elapsed < 1


def test_queries_may_read_views_pragmas_json_and_recurse(people_db):
    assert execute_sql(people_db, "SELECT * FROM adults").rows == [("Ada",), ("Cyd",)]
    assert execute_sql(people_db, "PRAGMA table_info(people)").ok
    assert execute_sql(people_db, "SELECT name FROM pragma_table_info('people')").rows[0] == ("id",)
    assert execute_sql(people_db, "SELECT value FROM json_each('[1,2]')").rows == [(1,), (2,)]
    cte = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 3) SELECT x FROM c"
    assert execute_sql(people_db, cte).rows == [(1,), (2,), (3,)]
    assert execute_sql(people_db, "SELECT 1;").rows == [(1,)]  # a trailing semicolon is fine


def test_hostile_battery_leaves_database_byte_identical(people_db, tmp_path):
    before = sha256(people_db)
    folder_before = sorted(p.name for p in people_db.parent.iterdir())
    for template in HOSTILE:
        sql = template.format(tmp=tmp_path)
        res = execute_sql(people_db, sql, timeout=2)
        assert not res.ok and res.rows is None, f"{sql!r} was allowed"
        assert sha256(people_db) == before, f"{sql!r} changed the database"
    assert sorted(p.name for p in people_db.parent.iterdir()) == folder_before  # no -journal/-wal/-shm
    assert not (tmp_path / "attached.sqlite").exists() and not (tmp_path / "copy.sqlite").exists()
    conn = sqlite3.connect(people_db)  # and the data is all there
    assert conn.execute("SELECT count(*) FROM people").fetchone() == (3,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    conn.close()


@pytest.mark.parametrize("sql, expected", [
    ("DELETE FROM people", "refused by the sandbox: delete people"),
    ("CREATE TEMP TABLE evil (a)", "refused by the sandbox: schema change"),
    ("ATTACH 'x.sqlite' AS evil", "refused by the sandbox: attach x.sqlite"),
    ("PRAGMA journal_mode=WAL", "refused by the sandbox: pragma journal_mode"),
    ("SELECT load_extension('x')", "refused by the sandbox: function load_extension"),
    ("BEGIN", "refused by the sandbox: transaction BEGIN"),
    ("SELECT 1; DROP TABLE people", "more than one statement"),
    ("SELEC name FROM people", "syntax error"),
    ("SELECT nope FROM people", "no such column: nope"),
    ("", "empty SQL"),
    ("  -- just a comment", "not a query"),
])
def test_errors_say_what_went_wrong(people_db, sql, expected):
    res = execute_sql(people_db, sql)
    assert not res.ok and expected in res.error


def test_timeout_stops_a_runaway_recursive_cte(people_db):
    start = time.perf_counter()
    res = execute_sql(people_db, RUNAWAY_AGG, timeout=1.0)
    took = time.perf_counter() - start
    assert res.timed_out and not res.ok and "timed out after 1 s" in res.error
    assert 0.9 < took < 1.5
    # The same runaway returning rows: the row cap or the deadline stops it, whichever comes first.
    res = execute_sql(people_db, RUNAWAY, timeout=1.0, row_cap=10**9)
    assert res.timed_out and time.perf_counter() - start < 3.0


def test_row_cap_stops_huge_results(people_db):
    res = execute_sql(people_db, RUNAWAY, timeout=5, row_cap=5_000)
    assert not res.ok and not res.timed_out and "row cap exceeded: more than 5000 rows" in res.error
    assert res.elapsed < 1
    assert execute_sql(people_db, "SELECT * FROM people", row_cap=3).ok  # exactly at the cap is fine


def test_missing_database_is_an_error_result(tmp_path):
    res = execute_sql(tmp_path / "nope.sqlite", "SELECT 1")
    assert not res.ok and "not found" in res.error
    assert not (tmp_path / "nope.sqlite").exists()  # read-only mode never creates the file


def test_invalid_utf8_is_decoded_like_the_official_evaluator(tmp_path):
    db = make_db(tmp_path / "b.sqlite", "CREATE TABLE t (s TEXT);")
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO t VALUES (CAST(X'41FF42' AS TEXT))")
    conn.commit()
    conn.close()
    assert execute_sql(db, "SELECT s FROM t").rows == [("AB",)]


@pytest.mark.timeout(120)
def test_parallel_equals_serial_and_runaways_do_not_hang_the_pool(people_db):
    queries = ["SELECT name FROM people ORDER BY id", "SELECT count(*) FROM people", "DELETE FROM people",
               "SELEC 1", RUNAWAY_AGG, STUCK] + [f"SELECT {i} + age FROM people" for i in range(40)]
    pairs = [(people_db, q) for q in queries]
    before = sha256(people_db)
    start = time.perf_counter()
    parallel = execute_many(pairs, workers=2, timeout=0.5, progress=False)
    assert time.perf_counter() - start < 30  # STUCK alone would run for minutes
    serial = execute_many(pairs, workers=1, timeout=0.5, progress=False)

    def strip(r: ExecResult):
        return (r.rows, r.error, r.timed_out, r.columns)

    assert [strip(r) for r in parallel] == [strip(r) for r in serial]
    assert parallel[0].rows == [("Ada",), ("Bob",), ("Cyd",)]
    assert parallel[4].timed_out and "query interrupted" in parallel[4].error  # the deadline stopped it
    assert parallel[5].timed_out and "worker process was killed" in parallel[5].error  # only a kill could
    assert [r.rows for r in serial[6:]] == [[(i + 36,), (i + 17,), (i + 52,)] for i in range(40)]
    assert sha256(people_db) == before


def test_parallel_map_keeps_input_order():
    assert parallel_map(abs, list(range(-50, 0)), workers=2, progress=False) == list(range(50, 0, -1))
    assert parallel_map(abs, [], workers=4, progress=False) == []


def test_resolve_workers():
    assert resolve_workers(8, 3) == 3
    assert resolve_workers(None, 10_000) >= 1
    assert resolve_workers(0, 0) == 1


def test_memory_bombs_are_errors(people_db):
    res = execute_sql(people_db, "SELECT randomblob(50000000)")
    assert not res.ok and "too big" in res.error and "caps one value at 1,000,000 bytes" in res.error
    many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 300) SELECT zeroblob(999999) FROM c"
    res = execute_sql(people_db, many)
    assert not res.ok and "result too large" in res.error


def test_result_cap_holds_while_rows_arrive(people_db, monkeypatch):
    """The byte cap is checked per row: memory never holds a batch of rows past it."""
    monkeypatch.setattr(execute, "MAX_RESULT_BYTES", 3_000_000)
    rows = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 60) SELECT zeroblob(999999) FROM c"
    tracemalloc.start()
    try:
        res = execute_sql(people_db, rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert not res.ok and "result too large: more than 2 MiB" in res.error
    assert peak < 12_000_000  # 4 rows of 1 MB, not 60


@pytest.mark.timeout(120)
def test_a_supervised_worker_has_a_memory_cap(people_db):
    wide = "SELECT " + ", ".join(["zeroblob(999999)"] * 600)  # one 600 MB row
    with SandboxPool(memory_bytes=300 << 20) as pool:
        res = pool.execute(people_db, wide)
        assert not res.ok and "out of memory" in res.error
        assert pool.execute(people_db, "SELECT count(*) FROM people").rows == [(3,)]


@pytest.mark.parametrize("sql", ["SELECT 1; ;", "SELECT 1;;", "SELECT 1 ; -- done\n ;", "SELECT 1; /* x; */ ;"])
def test_empty_statements_after_the_query_are_dropped(people_db, sql):
    assert execute_sql(people_db, sql).rows == [(1,)]


def test_a_second_real_statement_is_still_refused(people_db):
    for sql in ["SELECT 1; SELECT 2", "SELECT 1; ; DELETE FROM people;", "SELECT 1;; SELECT 2; ;"]:
        res = execute_sql(people_db, sql)
        assert not res.ok and "more than one statement" in res.error
    assert drop_empty_statements("SELECT ';' ; ;") == ("SELECT ';' ;", 1)  # a quoted ';' is not a statement
    assert drop_empty_statements("SELECT 1;") == ("SELECT 1;", 0)
    assert execute_sql(people_db, "SELECT count(*) FROM people;;").rows == [(3,)]


@pytest.mark.timeout(120)
def test_limits_make_single_call_bombs_errors_at_once(people_db):
    with SandboxPool() as pool:  # supervised, so a missing limit shows as a kill, not a hung test
        res = pool.execute(people_db, LIKE_BOMB, timeout=1.0)
        assert not res.ok and "pattern too complex" in res.error and res.elapsed < 1.0
        res = pool.execute(people_db, "SELECT zeroblob(1000001)", timeout=1.0)
        assert not res.ok and "too big" in res.error
    assert execute_sql(people_db, "SELECT length(printf('%.*c', 999999, 'a'))").rows == [(999999,)]
    assert execute_sql(people_db, "SELECT name FROM people WHERE name LIKE '%' || 'd' || '%'").rows == [("Ada",), ("Cyd",)]


@pytest.mark.timeout(120)
def test_a_query_stuck_in_one_call_is_killed_and_its_worker_replaced(people_db):
    before = sha256(people_db)
    with SandboxPool(grace=0.5) as pool:
        assert pool.execute(people_db, "SELECT count(*) FROM people").rows == [(3,)]
        first = pool.worker_pids
        start = time.perf_counter()
        res = pool.execute(people_db, STUCK, timeout=0.5)
        took = time.perf_counter() - start
        assert res.timed_out and not res.ok and "timed out after 0.5 s" in res.error and "killed" in res.error
        assert 0.9 <= res.elapsed and took < 20  # killed at timeout + grace, not minutes later
        assert pool.execute(people_db, "SELECT name FROM people WHERE id = 2").rows == [("Bob",)]
        assert pool.worker_pids != first
    assert sha256(people_db) == before


def sleep_in_steps(seconds: tuple[float, float]) -> str:
    """Two steps of a supervised call; the second is announced with `begin_step`."""
    time.sleep(seconds[0])
    begin_step("second step")
    time.sleep(seconds[1])
    return "finished"


def exit_on_three(n: int) -> int:
    if n == 3:
        os._exit(7)  # a worker that dies by itself (as an out-of-memory kill would)
    return n * n


def fail_on_three(n: int) -> int:
    if n == 3:
        raise ValueError("three")
    return n


@pytest.mark.timeout(120)
def test_each_step_of_a_call_has_its_own_limit():
    with SandboxPool(workers=2) as pool:
        seen = []
        results = pool.map(sleep_in_steps, [(0.6, 0.6), (0.1, 30.0), (0.0, 0.0)], limit=1.0,
                           on_failure=lambda item, failure: seen.append(failure) or "killed")
    assert results == ["finished", "killed", "finished"]  # 1.2 s in all, but no step past 1.0 s
    assert seen[0].killed and seen[0].step == "second step" and 1.0 <= seen[0].seconds < 10
    with pytest.raises(T2SQLError, match="did not stop at the deadline"):
        parallel_map(sleep_in_steps, [(0.0, 30.0)], workers=1, progress=False, limit=0.5)


def long_step_then_stuck(_) -> str:
    """A gold query's step under its own longer limit, then the prediction's step under the map's."""
    begin_step("gold", limit=30.0)
    time.sleep(1.5)  # past the map's limit, within its own: the supervisor has read this step's long deadline
    begin_step("prediction")
    time.sleep(60)
    return "finished"


@pytest.mark.timeout(120)
def test_a_step_after_a_longer_one_is_held_to_its_own_limit_with_nothing_else_to_wake_the_pool():
    """One worker, one call: the second step's start must wake the supervisor, which was sleeping until the
    first step's 30-s deadline (it slept there, and a stuck prediction after a gold query ran a minute)."""
    seen, start = [], time.monotonic()
    out = parallel_map(long_step_then_stuck, [0], workers=1, progress=False, limit=1.0,
                       on_failure=lambda item, failure: seen.append(failure) or "killed")
    assert out == ["killed"] and seen[0].killed and seen[0].step == "prediction"
    assert time.monotonic() - start < 10, seen[0]


@pytest.mark.timeout(120)
def test_a_worker_that_dies_fails_only_its_item_and_errors_propagate():
    failures = []
    out = parallel_map(exit_on_three, range(8), workers=2, progress=False, limit=30,
                       on_failure=lambda item, failure: failures.append(failure) or -1)
    assert out == [0, 1, 4, -1, 16, 25, 36, 49]
    assert not failures[0].killed and failures[0].exitcode == 7 and "died" in failures[0].describe(30)
    with pytest.raises(ValueError, match="three"):
        parallel_map(fail_on_three, range(6), workers=2, progress=False, limit=30)


@pytest.mark.timeout(60)
def test_big_calls_and_big_answers_do_not_deadlock_the_pipes(people_db):
    """Calls queued ahead stay under the pipe's buffer, so the supervisor never blocks writing one
    while the worker blocks writing a big answer back."""
    pad = "-- " + "x" * 300_000 + "\n"
    pairs = [(people_db, f"{pad}SELECT {i}, zeroblob(900000)") for i in range(20)]
    results = execute_many(pairs, workers=1, timeout=10, progress=False)
    assert [r.rows[0][0] for r in results] == list(range(20))


class _ExplodesWhenPickled:
    """An answer whose pickling fails in the worker: MemoryError (as a huge result does) or a hard exit."""

    def __init__(self, how: str) -> None:
        self.how = how

    def __reduce__(self):
        if self.how == "exit":
            os._exit(9)
        raise MemoryError("answer too big to pickle")


def answer_that_kills_its_worker(item: tuple[int, str, str]):
    n, how, log = item
    with open(log, "a") as f:
        f.write(f"{n}\n")
    return _ExplodesWhenPickled(how) if n == 2 else n


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["memory", "exit"])
def test_an_answer_that_kills_its_worker_fails_once_and_is_not_rerun_forever(tmp_path, how):
    """Review defect 1: answers were marked returned before they were sent, so a worker dying while sending
    them looked like a death between calls, and its calls were re-queued again and again."""
    log = tmp_path / "runs.log"
    failures = []
    items = [(n, how, str(log)) for n in range(12)]
    out = parallel_map(answer_that_kills_its_worker, items, workers=1, progress=False, limit=30,
                       on_failure=lambda item, failure: failures.append(failure) or "failed")
    assert out == [0, 1, "failed", *range(3, 12)]
    runs = log.read_text().split()
    assert runs.count("2") == 1  # run once, then failed: not re-run
    assert len(failures) == 1 and not failures[0].killed
    if how == "memory":
        assert "out of memory" in failures[0].describe(30)


def test_the_python_floor_covers_what_the_sandbox_uses():
    """Review defect 4: the sandbox needs Connection.setlimit (Python 3.11), so pyproject may not allow 3.10."""
    import tomllib
    from pathlib import Path

    from packaging.specifiers import SpecifierSet

    spec = SpecifierSet(tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
                        ["requires-python"])
    assert "3.10.14" not in spec and "3.11.0" in spec
    assert hasattr(sqlite3.Connection, "setlimit")
