"""Schema text (OmniSQL/Arctic `db_details`) read from a SQLite file.

One `CREATE TABLE` block per table, one column per line with its type and up to
`value_limit` distinct non-empty example values (strings cut at 40 characters),
then PRIMARY KEY and `CONSTRAINT fk_<table>_<column> FOREIGN KEY` lines. Values that
match the question (`infer.retrieval`) are listed first in their column's comment, up to
6 values in all, as OmniSQL does. The output is deterministic (tables, columns and values
in database order); what is read from the file is cached per file and value limit.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import DataError

MAX_VALUE_CHARS = 40
MAX_LISTED_VALUES = 6  # matched + sampled values per column comment (OmniSQL)

# The reserved words OmniSQL backticks (plus anything that is not [A-Za-z0-9_]).
SQL_RESERVED_WORDS = frozenset(
    """IDENTIFIED FOREIGN CONSTRAINT USER POSITION DESCRIBE CHECK RECURSIVE REAL CONTINUE GLOBAL RLIKE
    INSENSITIVE BOOLEAN CHAR ROLE CASE SCHEMA CLOB RESIGNAL ROW DEC TOP EXCEPT SENSITIVE OUT RENAME READS
    BLOB INT EXTERNAL LOCALTIMESTAMP DECLARE DO AS OVER CONDITION SELECT SAVEPOINT WITHIN ELSEIF UNLOCK
    DATABASE TRIGGER ACCESS FALSE BREAK ITERATE SMALLINT ASC YEAR DELETE ROLLBACK ON ESCAPE CREATE MONTH
    SPECIFIC SESSION SQLSTATE HOLD SET EXPLAIN RETURN ROWNUM BINARY SYSDATE SQLWARNING EXTEND CAST FOR
    TERMINATED VIEW TRAILING HOUR VARYING RESTRICT RIGHT DISTINCT JOIN UNKNOWN VALUES TABLE OR DOUBLE DROP
    COMMIT PRECISION LANGUAGE START INTERSECT IGNORE NULL CURRENT_DATE LOCK INTO NEW DESC STATIC MODIFIES
    GRANT VALUE LIMIT MODULE DATE LOCALTIME PERCENT REPEAT FULL USAGE ORDER WHEN PRIMARY BETWEEN CURSOR
    DECIMAL HAVING IF FILTER INDEX ILIKE VARCHAR EXEC USING ROWS PLACING WHILE EXECUTE EACH LEFT FLOAT
    COLLATE CURRENT_TIME OPEN RANGE CROSS FUNCTION TIME BOTH NOT CONVERT NCHAR KEY DEFAULT LIKE ANALYZE
    EXISTS IN BIT INOUT SUM NUMERIC AFTER LEAVE INSERT TO COUNT THEN BEFORE OUTER COLUMN ONLY END PROCEDURE
    OFFSET ADD INNER RELEASE FROM DAY NO CALL BY LOCAL ZONE TRUE EXIT LEADING INTEGER MERGE OLD AVG MIN SQL
    LOOP SIGNAL REFERENCES MINUTE UNIQUE GENERATED ALL MATCH CASCADE UNION COMMENT FETCH UNDO UPDATE WHERE
    ELSE PARTITION BIGINT CHARACTER CURRENT_TIMESTAMP ALTER INTERVAL REVOKE CONNECT WITH TIMESTAMP GROUP
    BEGIN CURRENT REGEXP NATURAL SOME SQLEXCEPTION MAX SUBSTRING OF AND REPLACE IS""".split()
)
_SPECIAL = re.compile(r"[^a-zA-Z0-9_]")


def quote_identifier(name: str) -> str:
    """Backtick names that are reserved words or hold other characters than [A-Za-z0-9_]."""
    return f"`{name}`" if name.upper() in SQL_RESERVED_WORDS or _SPECIAL.search(name) else name


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection: the file can never be modified or created through it."""
    path = Path(db_path)
    if not path.is_file():
        raise DataError(f"database file {path} not found: check db_root / the dataset's database folder")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _sql_literal_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _example_values(cur: sqlite3.Cursor, table: str, column: str, limit: int) -> list:
    if limit <= 0:
        return []
    t, c = _sql_literal_name(table), _sql_literal_name(column)
    rows = cur.execute(
        f"SELECT {c} FROM (SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL AND {c} != '') LIMIT {int(limit)}"
    ).fetchall()
    return [v[:MAX_VALUE_CHARS] if isinstance(v, str) else v for (v,) in rows]


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[tuple[str, str, tuple], ...]  # (column line without comment, `table.column` lower case, examples)
    keys: tuple[str, ...]  # PRIMARY KEY and CONSTRAINT lines


def _read_table(cur: sqlite3.Cursor, table: str, value_limit: int) -> _Table:
    columns = cur.execute(f"PRAGMA table_info({_sql_literal_name(table)})").fetchall()
    lines, pk = [], []
    for _cid, name, col_type, _notnull, _default, pk_pos in columns:
        values = tuple(_example_values(cur, table, name, value_limit))
        lines.append((f"    {quote_identifier(name)} {col_type or 'TEXT'},", f"{table}.{name}".lower(), values))
        if pk_pos:
            pk.append((pk_pos, name))
    keys = []
    if pk:
        keys.append("    PRIMARY KEY (" + ", ".join(quote_identifier(n) for _, n in sorted(pk)) + "),")
    fks = []
    # SQLite lists foreign keys last-declared first: reverse to declaration order.
    for row in sorted(cur.execute(f"PRAGMA foreign_key_list({_sql_literal_name(table)})").fetchall(), key=lambda r: (-r[0], r[1])):
        _id, _seq, ref_table, from_col, to_col = row[:5]
        to_col = to_col or from_col  # `REFERENCES t` without a column means t's primary key of the same name
        fks.append(
            f"    CONSTRAINT fk_{table.lower().replace(' ', '_')}_{from_col.lower().replace(' ', '_')} "
            f"FOREIGN KEY ({quote_identifier(from_col)}) REFERENCES {quote_identifier(ref_table)} "
            f"({quote_identifier(to_col)}),"
        )
    keys.extend(OrderedDict.fromkeys(fks))
    return _Table(table, tuple(lines), tuple(keys))


def _table_ddl(table: _Table, matched: dict[str, list[str]]) -> str:
    lines = []
    for line, key, examples in table.columns:
        # Matched values first, then the sampled examples, deduplicated, at most 6 (OmniSQL's obtain_db_details).
        values = list(dict.fromkeys([*matched.get(key, ()), *examples]))[:MAX_LISTED_VALUES]
        lines.append(f"{line} -- example: {values}" if values else line)
    ddl = f"CREATE TABLE {quote_identifier(table.name)} (\n" + "\n".join(lines + list(table.keys))
    return ddl.rstrip(",") + "\n);"


@lru_cache(maxsize=4096)
def _read_tables(db_path: str, _mtime_ns: int, _size: int, value_limit: int) -> tuple[_Table, ...]:
    conn = open_readonly(db_path)
    try:
        cur = conn.cursor()
        tables = [
            name
            for (name,) in cur.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid"
            )
        ]
        return tuple(_read_table(cur, t, value_limit) for t in tables)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read schema of {db_path}: {exc} (is it a SQLite file?)") from None
    finally:
        conn.close()


def schema_text(db_path: str | Path, value_limit: int = 2, matched: dict[str, list[str]] | None = None) -> str:
    """The `db_details` block for one database (read once until the file changes).

    `matched`: question-matched values per `table.column` (lower case) to list before the
    sampled examples (see `infer.retrieval`).
    """
    path = os.path.abspath(db_path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"database file {path} not found: check db_root / the dataset's database folder") from None
    tables = _read_tables(path, st.st_mtime_ns, st.st_size, value_limit)
    return "\n\n".join(_table_ddl(t, matched or {}) for t in tables)
