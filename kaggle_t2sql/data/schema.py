"""Schema text (`db_details`), built exactly as OmniSQL's `train_and_evaluate/process_dataset.py`
(which Arctic-Text2SQL-R1 reuses for its training and evaluation prompts).

The structure comes from a `tables.json` entry (Spider, BIRD and SynSQL-2.5M ship one): its
table order, column types, natural-language column names (shown as comments when they say
more than the name), primary and foreign keys. A database without one gets the entry derived
from its SQLite file, as OmniSQL's `data_synthesis/database_synthesis/generate_tables_json.py`
does, and then the same builder: one builder, one format.

Per column: `name type,` then `-- comment, example: [...]` where the examples are the values
retrieved for the question (`data/retrieval.py`) followed by `value_limit` sampled distinct
non-empty values (OmniSQL's `SELECT DISTINCT ... LIMIT n`, deterministic for a given file,
strings cut to 40 characters), deduplicated, at most 6. Then `PRIMARY KEY (...)` and
`CONSTRAINT fk_<table>_<column> FOREIGN KEY (...) REFERENCES t (c)` lines; names that are
reserved words or hold characters other than [A-Za-z0-9_] are backticked.

Training may ask for OmniSQL's train-mode augmentation (`augment_rng`): keep the key and
SQL-used columns, sample the unused ones, shuffle the tables and, for synthetic data, show
comments at random. It draws from the given `random.Random` in the anchor's order, so a
seeded generator gives the anchor's text for the same random state.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import DataError

MAX_VALUE_CHARS = 40
MAX_LISTED_VALUES = 6  # matched + sampled values per column comment (OmniSQL)
MAX_TRAIN_COLUMNS = 225  # train-mode augmentation keeps at most this many columns (OmniSQL)

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
# generate_tables_json.py's column pattern (`"name" TYPE /* comment */`), unquoted names allowed too.
_COMMENTED_COLUMN = re.compile(r'(?:"([^"]+)"|`([^`]+)`|\[([^\]]+)\]|(\w+))\s+(\w+)\s*/\*\s*(.*?)\s*\*/', re.DOTALL)


def quote_identifier(name: str) -> str:
    """Backtick names that are reserved words or hold other characters than [A-Za-z0-9_]."""
    return f"`{name}`" if name.upper() in SQL_RESERVED_WORDS or _SPECIAL.search(name) else name


def open_readonly(db_path: str | Path) -> sqlite3.Connection:
    """A read-only connection: the file can never be modified or created through it."""
    path = Path(db_path)
    if not path.is_file():
        raise DataError(f"database file {path} not found: check db_root / the dataset's database folder")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)


def _backticked(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _file_key(db_path: str | Path) -> tuple[str, int, int]:
    path = os.path.abspath(db_path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DataError(f"database file {path} not found: check db_root / the dataset's database folder") from None
    return path, st.st_mtime_ns, st.st_size


# ---------------------------------------------------------------- the tables.json entry


@dataclass(frozen=True)
class DatabaseInfo:
    """One tables.json entry: the fields OmniSQL's builder reads (indices refer to column_names_original)."""

    db_id: str
    table_names_original: tuple[str, ...]
    column_names_original: tuple[tuple[int, str], ...]  # (table index, name); index 0 is (-1, "*")
    column_names: tuple[tuple[int, str], ...]  # (table index, natural-language name): the comment
    column_types: tuple[str, ...]
    primary_keys: tuple  # column index, or a tuple of them for a composite key
    foreign_keys: tuple[tuple[int, int], ...]  # (source column index, target column index)

    @classmethod
    def from_json(cls, entry: dict, where: str) -> DatabaseInfo:
        try:
            info = cls(
                db_id=str(entry["db_id"]),
                table_names_original=tuple(entry["table_names_original"]),
                column_names_original=tuple((int(t), str(c)) for t, c in entry["column_names_original"]),
                column_names=tuple((int(t), str(c)) for t, c in entry["column_names"]),
                column_types=tuple(str(t) for t in entry["column_types"]),
                primary_keys=tuple(tuple(k) if isinstance(k, list) else k for k in entry.get("primary_keys", [])),
                foreign_keys=tuple((int(s), int(t)) for s, t in entry.get("foreign_keys", [])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(f"{where}: malformed tables.json entry ({exc!r}); use the dataset's own tables.json") from None
        if not len(info.column_names_original) == len(info.column_names) == len(info.column_types):
            raise DataError(f"{where}: db {info.db_id!r} has column_names_original, column_names and column_types "
                            "of different lengths; use the dataset's own tables.json")
        return info


@lru_cache(maxsize=8)
def _tables_json(path: str, _mtime_ns: int, _size: int) -> dict[str, DatabaseInfo]:
    from .readers import iter_json_array  # streamed: SynSQL-2.5M's tables.json is large

    out: dict[str, DatabaseInfo] = {}
    try:
        for i, entry in enumerate(iter_json_array(path)):
            info = DatabaseInfo.from_json(entry, f"{path} item {i}")
            out.setdefault(info.db_id, info)  # as OmniSQL's dict fill, the first entry of a db_id is kept
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 ({exc.reason}); use the dataset's own tables.json") from None
    return out


def read_tables_json(path: str | Path) -> dict[str, DatabaseInfo]:
    """db_id -> entry of a tables.json file (read once until the file changes)."""
    key = _file_key(path)
    return _tables_json(*key)


def _first_word(declared_type: str | None) -> str:
    match = re.match(r"\w+", declared_type or "")
    return match.group(0) if match else "TEXT"


@lru_cache(maxsize=4096)
def _derived_info(path: str, _mtime_ns: int, _size: int) -> DatabaseInfo:
    conn = open_readonly(path)
    try:
        tables = [(name, ddl or "") for name, ddl in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        names: list[tuple[int, str]] = [(-1, "*")]
        comments: list[tuple[int, str]] = [(-1, "*")]
        types: list[str] = ["text"]
        index: dict[tuple[str, str], int] = {}
        pk_info: list[list[str]] = []
        fk_info: list[tuple[str, str, str, str | None]] = []
        for t_idx, (table, ddl) in enumerate(tables):
            commented = {next(g for g in m.groups()[:4] if g).lower(): m.group(6)
                         for m in _COMMENTED_COLUMN.finditer(ddl)}
            columns = conn.execute(f"PRAGMA table_info({_backticked(table)})").fetchall()
            for _cid, column, declared, _notnull, _default, _pk in columns:
                index[(table.lower(), column.lower())] = len(names)
                names.append((t_idx, column))
                comments.append((t_idx, commented.get(column.lower(), "")))
                types.append(_first_word(declared))
            pk_info.append([c[1] for c in sorted((c for c in columns if c[5]), key=lambda c: c[5])])
            fk_info.extend((table, row[3], row[2], row[4]) for row in conn.execute(
                f"PRAGMA foreign_key_list({_backticked(table)})"))
        table_pk = {t.lower(): pk for (t, _), pk in zip(tables, pk_info)}
        primary_keys = []
        for (table, _), pk in zip(tables, pk_info):
            ids = [index[(table.lower(), c.lower())] for c in pk]
            if len(ids) == 1:
                primary_keys.append(ids[0])
            elif ids:
                primary_keys.append(tuple(ids))
        foreign_keys = []
        for table, from_col, ref_table, to_col in fk_info:
            if to_col is None:  # `REFERENCES t` names t's primary key
                ref_pk = table_pk.get(ref_table.lower(), [])
                to_col = ref_pk[0] if len(ref_pk) == 1 else None
            source, target = index.get((table.lower(), from_col.lower())), index.get((ref_table.lower(), (to_col or "").lower()))
            if source is not None and target is not None:
                foreign_keys.append((source, target))
        return DatabaseInfo(Path(path).stem, tuple(t for t, _ in tables), tuple(names), tuple(comments), tuple(types),
                            tuple(primary_keys), tuple(foreign_keys))
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read schema of {path}: {exc} (is it a SQLite file?)") from None
    finally:
        conn.close()


def derive_database_info(db_path: str | Path) -> DatabaseInfo:
    """The tables.json entry of a SQLite file, as OmniSQL's generate_tables_json.py derives it: tables
    in file order, declared type's first word, `/* comment */` after a column as its description,
    primary and foreign keys from SQLite's pragmas (read once until the file changes)."""
    return _derived_info(*_file_key(db_path))


def database_info(db_path: str | Path, tables_json: str | Path | None = None, db_id: str | None = None) -> DatabaseInfo:
    """The entry of `db_id` (default: the file's stem) in `tables_json`, or derived from the file when there is none."""
    if not tables_json:
        return derive_database_info(db_path)
    db_id = db_id or Path(db_path).stem
    entries = read_tables_json(tables_json)
    if db_id not in entries:
        raise DataError(f"{tables_json}: no entry for db_id {db_id!r}; use the tables.json that describes {db_path}")
    return entries[db_id]


# ---------------------------------------------------------------- sampled values


@lru_cache(maxsize=4096)
def _sampled(path: str, _mtime_ns: int, _size: int, table_names: tuple[str, ...], limit: int) -> dict[str, tuple]:
    conn = open_readonly(path)
    conn.text_factory = lambda b: b.decode("utf-8", errors="ignore")  # as OmniSQL's content index reads text
    out: dict[str, tuple] = {}
    try:
        for table in table_names:
            for row in conn.execute(f"PRAGMA table_info({_backticked(table)})").fetchall():
                c, t = _backticked(row[1]), _backticked(table)
                values = conn.execute(
                    f"SELECT {c} FROM (SELECT DISTINCT {c} FROM {t} WHERE {c} IS NOT NULL and {c} != '') "
                    f"AS unique_values LIMIT {int(limit)}").fetchall()
                values = [v[:MAX_VALUE_CHARS] if isinstance(v, str) else v for (v,) in values]
                if values:
                    out[f"{table}.{row[1]}".lower()] = tuple(values)
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read values of {path}: {exc} (is it a SQLite file?)") from None
    finally:
        conn.close()
    return out


def sample_values(db_path: str | Path, table_names: tuple[str, ...], limit: int) -> dict[str, tuple]:
    """OmniSQL's sample_table_values: the first `limit` distinct non-empty values of every column,
    keyed `table.column` in lower case (read once per file, tables and limit)."""
    if limit <= 0:
        return {}
    return _sampled(*_file_key(db_path), tuple(table_names), int(limit))


# ---------------------------------------------------------------- the text


def _key_columns(info: DatabaseInfo) -> list[int]:
    out: list[int] = []
    for pk in info.primary_keys:
        out.extend(pk if isinstance(pk, tuple) else [pk])
    for source, target in info.foreign_keys:
        out.extend([source, target])
    return out


def _train_columns(info: DatabaseInfo, output_seq: str, rng: random.Random) -> list[int]:
    """OmniSQL's train mode: key and output-used columns, plus a random share of the others."""
    used = _key_columns(info)
    used.extend(i for i, (_, name) in enumerate(info.column_names_original) if name.lower() in output_seq.lower())
    used = list(set(used))
    unused = [i for i in range(len(info.column_names_original)) if i not in used]
    if unused:
        share = rng.choice([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1])
        size = int(share * len(unused))
        if len(used) > MAX_TRAIN_COLUMNS:
            size = 0
        elif len(used) + size > MAX_TRAIN_COLUMNS:
            size = MAX_TRAIN_COLUMNS - len(used)
        used.extend(rng.sample(unused, size))
    return used


def _shows_comment(name: str, comment: str) -> bool:
    lowered = comment.lower()
    return not (name.lower() in (lowered, lowered.replace(" ", "_"), lowered.replace(" ", "")) or comment.strip() == "")


def build_db_details(
    info: DatabaseInfo,
    sampled: dict[str, tuple] | None = None,
    matched: dict[str, list[str]] | None = None,
    augment_rng: random.Random | None = None,
    output_seq: str = "",
    synthetic: bool = False,
) -> str:
    """OmniSQL's obtain_db_details. Without `augment_rng` it is dev/test mode (every table and column,
    in tables.json order); with it, train mode. `synthetic` (train mode only) shows comments at random."""
    sampled, matched = sampled or {}, matched or {}
    train = augment_rng is not None
    used = set(_train_columns(info, output_seq, augment_rng)) if train else set(range(len(info.column_names_original)))
    blocks = []
    for t_idx, table in enumerate(info.table_names_original):
        columns, pk_columns, fk_lines = [], [], []
        # train mode draws a comment share per table, synthetic data or not (the anchor's draw order)
        comment_share = augment_rng.choice([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]) if train else 0
        for c_idx, ((owner, name), (_, comment), col_type) in enumerate(
                zip(info.column_names_original, info.column_names, info.column_types)):
            if owner != t_idx or c_idx not in used:
                continue
            key = f"{table}.{name}".lower()
            values = list(dict.fromkeys([*matched.get(key, ()), *sampled.get(key, ())]))[:MAX_LISTED_VALUES]
            shown = (augment_rng.random() < comment_share) if (train and synthetic) else _shows_comment(name, comment)
            line = f"    {quote_identifier(name)} {col_type},"
            if shown:
                line += f" -- {comment}" + (f", example: {values}" if values else "")
            elif values:
                line += f" -- example: {values}"
            columns.append(line)
            for pk in info.primary_keys:
                if c_idx == pk or (isinstance(pk, tuple) and c_idx in pk):
                    pk_columns.append(name)
            for source, target in info.foreign_keys:
                if c_idx == source:
                    s_table = info.table_names_original[info.column_names_original[source][0]]
                    s_col = info.column_names_original[source][1]
                    t_table = info.table_names_original[info.column_names_original[target][0]]
                    t_col = info.column_names_original[target][1]
                    fk_lines.append(
                        f"    CONSTRAINT fk_{s_table.lower().replace(' ', '_')}_{s_col.lower().replace(' ', '_')} "
                        f"FOREIGN KEY ({quote_identifier(s_col)}) REFERENCES {quote_identifier(t_table)} "
                        f"({quote_identifier(t_col)}),")
        if not columns:
            continue
        pk_columns = list(OrderedDict.fromkeys(pk_columns))
        pk_lines = ["    PRIMARY KEY (" + ", ".join(quote_identifier(c) for c in pk_columns) + "),"] if pk_columns else []
        ddl = f"CREATE TABLE {quote_identifier(table)} (\n" + "\n".join(columns + pk_lines + list(OrderedDict.fromkeys(fk_lines)))
        if ddl.endswith(","):
            ddl = ddl[:-1]
        blocks.append(ddl + "\n);")
    if train:
        augment_rng.shuffle(blocks)
    return "\n\n".join(blocks)


def schema_text(
    db_path: str | Path,
    value_limit: int = 2,
    matched: dict[str, list[str]] | None = None,
    tables_json: str | Path | None = None,
    db_id: str | None = None,
    augment_rng: random.Random | None = None,
    output_seq: str = "",
    synthetic: bool = False,
) -> str:
    """The `db_details` block for one database: its tables.json entry (or the one derived from the
    file), `value_limit` sampled values per column, and `matched` values (question-matched, per
    `table.column` in lower case, see `data/retrieval.py`) listed first."""
    info = database_info(db_path, tables_json, db_id)
    sampled = sample_values(db_path, info.table_names_original, value_limit)
    return build_db_details(info, sampled, matched, augment_rng, output_seq, synthetic)
