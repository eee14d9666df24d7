"""The SQL sandbox: hostile statements change nothing, runaway queries stop, pools never hang."""

import hashlib
import sqlite3
import time

import pytest

from conftest import make_db
from kaggle_t2sql.execution import ExecResult, execute_many, execute_sql, parallel_map, resolve_workers

RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT x FROM c"
RUNAWAY_AGG = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"

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


def test_parallel_equals_serial_and_a_runaway_does_not_hang_the_pool(people_db):
    queries = ["SELECT name FROM people ORDER BY id", "SELECT count(*) FROM people", "DELETE FROM people",
               "SELEC 1", RUNAWAY_AGG] + [f"SELECT {i} + age FROM people" for i in range(40)]
    pairs = [(people_db, q) for q in queries]
    start = time.perf_counter()
    parallel = execute_many(pairs, workers=2, timeout=1.0, progress=False)
    assert time.perf_counter() - start < 10
    serial = execute_many(pairs, workers=1, timeout=1.0, progress=False)

    def strip(r: ExecResult):
        return (r.rows, r.error, r.timed_out, r.columns)

    assert [strip(r) for r in parallel] == [strip(r) for r in serial]
    assert parallel[4].timed_out and parallel[0].rows == [("Ada",), ("Bob",), ("Cyd",)]


def test_parallel_map_keeps_input_order():
    assert parallel_map(abs, list(range(-50, 0)), workers=2, progress=False) == list(range(50, 0, -1))
    assert parallel_map(abs, [], workers=4, progress=False) == []


def test_resolve_workers():
    assert resolve_workers(8, 3) == 3
    assert resolve_workers(None, 10_000) >= 1
    assert resolve_workers(0, 0) == 1


def test_memory_bombs_are_errors(people_db):
    res = execute_sql(people_db, "SELECT randomblob(50000000)")
    assert not res.ok and "too big" in res.error
    many = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 60) SELECT zeroblob(9000000) FROM c"
    res = execute_sql(people_db, many)
    assert not res.ok and "result too large" in res.error
