"""Execution accuracy of predicted SQL against gold SQL, the way the official evaluators judge it.

Two semantics:

* ``test-suite`` (Spider's test-suite-sql-eval, exec mode, one database per question):
  DISTINCT is removed from both queries before they run unless ``keep_distinct`` (every
  DISTINCT keyword, ``COUNT(DISTINCT x)`` included, as upstream does; ``IS [NOT] DISTINCT
  FROM`` is kept because removing it breaks the query). Rows compare as a multiset, or as
  an ordered list when the gold query's text contains 'order by' (upstream's literal
  ``'order by' in sql.lower()``: a subquery, a string or a comment counts, ``ORDER  BY``
  with two spaces does not). Columns may come in any order: the prediction is right if
  some permutation of its columns gives the gold result. Values compare with Python ``==``
  (no float tolerance, ``1 == 1.0``) after upstream's ``quick_rej``, whose per-row sort by
  ``str(value) + str(type)`` tells ``(1, 1.5)`` from ``(1.0, 1.5)``; two empty results are
  equal whatever their columns. Upstream's query touch-ups are applied too: ``> =``/``< =``/
  ``! =`` are joined and MySQL's ``YEAR(CURDATE())`` becomes 2020. Invalid UTF-8 in a text
  value loses its bad bytes (upstream's ``errors="ignore"``).
* ``bird`` (BIRD's evaluation_ex.py): ``set(pred_rows) == set(gold_rows)``; row order and
  duplicates are ignored, column order matters; the SQL runs as written. Invalid UTF-8 in
  a text value is an error (Python's default text factory), so that example is wrong. A
  prediction with no statement (empty, or only comments) runs as an empty result, as
  BIRD's ``cursor.execute("")`` does: right when the gold result is empty.

Gold queries run under the official evaluator's limits, not the prediction's: no row or
byte cap, ``GOLD_TIMEOUT`` seconds (bird 30, test-suite 60). A gold query that still fails
makes its example wrong, counted in ``gold_errors`` with the reason in ``gold_error``
(test-suite's evaluation.py would stop on an assertion; BIRD's counts it 0).

Empty statements after the prediction (``SELECT ...; ;``) run under test-suite, whose
DISTINCT removal keeps only the first statement; under bird, and test-suite with
``keep_distinct``, the official scripts hand the text to Python's sqlite3, which refuses
them, so the prediction is wrong there too. A second real statement is always refused
(upstream test-suite would run only the first).

Each example runs in a supervised worker (``execution.SandboxPool``): a query still
running ``GRACE_SECONDS`` past the timeout has its worker killed and replaced, and the
example is wrong (timed out); the rest of the run is untouched. Early verdicts: the
prediction's rows are checked as they arrive against what a match needs
(``early_mismatch``), and the first that rules a match out stops it; the verdict is the
one the full result would get.

Exact match is reported beside execution accuracy as a plain string comparison after
normalization (keyword/identifier case, whitespace, identifier quoting, comments,
trailing semicolons); it is not Spider's component-wise exact-set-match.

Inputs. GOLD: one ``SQL<TAB>db_id`` line per question (the official format). PRED: one SQL
per physical line, same order; an empty line is an empty (wrong) prediction. Nothing is
unescaped: a backslash-n in a line stays two characters, so SQL that spanned several
lines must be written with its newlines turned into spaces (``prediction_line`` does
it). A trailing ``<TAB>db_id`` equal to the gold line's db_id is tolerated and dropped.
Databases: ``DB_ROOT/<db_id>/<db_id>.sqlite``. Difficulty labels come from the dataset
JSON next to the gold file (BIRD ``difficulty``; Spider hardness computed from the
``sql`` field with the official rules), or are passed in.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlparse import lexer
from sqlparse import tokens as T

from . import atomic
from .errors import DataError
from .execution import (
    DEFAULT_ROW_CAP,
    DEFAULT_TIMEOUT,
    GRACE_SECONDS,
    ExecResult,
    WorkerFailure,
    begin_step,
    drop_empty_statements,
    execute_sql,
    parallel_map,
    resolve_workers,
)

SEMANTICS = ("test-suite", "bird")
# What the official evaluators give a gold query (no row or byte cap either): BIRD's
# evaluation_ex runs the pair under func_timeout(meta_time_out=30); test-suite's exec_eval
# waits TIMEOUT = 60 s per query. Arctic/OmniSQL's evaluate_bird gives the pair 10 s, as our
# prediction default (`DEFAULT_TIMEOUT`); a gold query is never held to less than that.
GOLD_TIMEOUT = {"bird": 30.0, "test-suite": 60.0}
DIFFICULTY_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")
PERMUTATION_BUDGET = 100_000  # search nodes when many columns hold the same values


# ---------------------------------------------------------------- SQL text


@lru_cache(maxsize=256)
def _tokens(sql: str) -> tuple[tuple[Any, str], ...]:
    # The lexer alone (no grouping) is enough to tell keywords from literals. Cached: each
    # query is needed for exact match, DISTINCT removal and the ORDER BY test.
    return tuple(lexer.tokenize(sql))


def _significant(tokens: Sequence[tuple[Any, str]]) -> list[tuple[Any, str]]:
    return [(tt, v) for tt, v in tokens if tt not in T.Whitespace and tt not in T.Comment]


def strip_distinct(sql: str) -> str:
    """Drop the DISTINCT quantifier everywhere, like test-suite-sql-eval's `remove_distinct`.

    Token-based, so a 'distinct' string literal or "distinct" quoted name survives; unlike
    upstream, `IS [NOT] DISTINCT FROM` is kept (without it the query would not parse) and
    every statement in the text is kept (upstream keeps only the first one).
    """
    out, prev = [], []  # prev: the last two significant token values, upper-cased
    for ttype, value in _tokens(sql):
        if value.lower() == "distinct" and (ttype in T.Keyword or ttype in T.Name):
            if not (prev[-1:] == ["IS"] or prev[-2:] == ["IS", "NOT"]):
                continue
        out.append(value)
        if not (ttype in T.Whitespace or ttype in T.Comment):
            prev = (prev + [value.upper()])[-2:]
    return "".join(out)


def has_order_by(sql: str) -> bool:
    """Whether row order matters: upstream's test, `'order by' in sql.lower()`, on the prepared gold query.

    Literal, as upstream: 'order by' inside a string or comment counts, `ORDER  BY` with two
    spaces or a newline does not.
    """
    return "order by" in sql.lower()


def _unquote(value: str) -> str:
    if len(value) >= 2 and (value[0], value[-1]) in {('"', '"'), ("`", "`"), ("[", "]")}:
        return value[1:-1]
    return value


def normalize_sql(sql: str) -> str:
    """Canonical text for exact match: case, whitespace, quoting, comments, trailing ';' ignored.

    String literals keep their case; names and keywords are compared lower-cased (SQLite
    names are case-insensitive), quoted names without their quotes.
    """
    toks = _significant(_tokens(sql))
    while toks and toks[-1][1] == ";":
        toks.pop()
    out = []
    for ttype, value in toks:
        if ttype in T.String.Single:
            out.append(value)
        elif ttype in T.Name or ttype in T.String.Symbol:
            out.append(_unquote(value).lower())
        else:
            out.append(" ".join(value.split()).lower())
    return " ".join(out)


def exact_match(gold_sql: str, pred_sql: str) -> bool:
    """Same normalized text; an empty prediction never matches."""
    return bool(pred_sql.strip()) and normalize_sql(gold_sql) == normalize_sql(pred_sql)


_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


def prepare_test_suite(sql: str, keep_distinct: bool = False) -> str:
    """The query test-suite-sql-eval actually runs: operator fix-ups, CURDATE year, no DISTINCT."""
    sql = sql.replace("> =", ">=").replace("< =", "<=").replace("! =", "!=")
    sql = _CUR_YEAR.sub("2020", sql)
    return sql if keep_distinct else strip_distinct(sql)


def prediction_line(sql: str) -> str:
    """One prediction as one PRED-file line: newlines, tabs and runs of spaces become one space."""
    return " ".join(sql.split())


EMPTY_PREDICTION_LINE = {"test-suite": "Error SQL", "bird": ";"}


def strip_comments_like_omnisql(sql: str) -> str:
    """OmniSQL's `format_sql` (evaluate_spider.py): drop /* */ and -- comments, newlines and tabs become spaces.

    Regex-based as theirs, so a `--` inside a string literal also starts a comment.
    """
    sql = sql.strip()
    sql = re.sub(r"/\*.*?\*/", "", sql, flags=re.DOTALL)
    sql = re.sub(r"--.*$", "", sql, flags=re.MULTILINE)
    return sql.replace("\n", " ").replace("\t", " ").strip()


def pred_file_line(sql: str, semantics: str = "test-suite") -> str:
    """A generated prediction as a PRED-file line the official scripts read back as one prediction.

    Comments are stripped and line breaks become spaces as OmniSQL does before test-suite's
    evaluation.py (which reads a blank line as the end of an interaction, so an empty
    prediction cannot be written blank). An empty one becomes OmniSQL's "Error SQL" (wrong),
    or under bird ";", which Python's sqlite3 runs as an empty result, as BIRD runs "".
    A carriage return would end the line for Python's universal newlines, so it is a space too.
    """
    line = strip_comments_like_omnisql(sql).replace("\r", " ").strip()
    return line or EMPTY_PREDICTION_LINE[semantics]


# ---------------------------------------------------------------- result comparison


def results_match_bird(gold_rows: list[tuple], pred_rows: list[tuple]) -> bool:
    """BIRD: same set of rows (order and duplicates ignored), columns in the same order."""
    return set(pred_rows) == set(gold_rows)


def _project(cols: list[tuple], idx: Sequence[int]) -> list[tuple]:
    return list(zip(*(cols[i] for i in idx)))


def find_column_permutation(gold_rows: list[tuple], pred_rows: list[tuple], order_matters: bool,
                            budget: int = PERMUTATION_BUDGET) -> tuple[int, ...] | None:
    """`perm` with `[tuple(r[p] for p in perm) for r in pred_rows]` equal to gold (as bag or list).

    Each gold column can only map to a predicted column holding the same values (same
    multiset, or same sequence when order matters), so the search is usually one
    candidate per column; ties (columns with equal values) are resolved by backtracking,
    checking the rows projected on the columns fixed so far. Gives up (None) after
    `budget` search steps, which only pathological results with many interchangeable
    columns reach.
    """
    n = len(gold_rows[0])
    if len(pred_rows[0]) != n or len(gold_rows) != len(pred_rows):
        return None
    same = (lambda a, b: a == b) if order_matters else (lambda a, b: Counter(a) == Counter(b))
    gold_cols, pred_cols = list(zip(*gold_rows)), list(zip(*pred_rows))
    sig = (lambda col: col) if order_matters else Counter
    pred_sigs = [sig(c) for c in pred_cols]
    candidates = []
    for gcol in gold_cols:
        gsig = sig(gcol)
        options = [j for j, psig in enumerate(pred_sigs) if psig == gsig]
        if not options:
            return None
        candidates.append(options)
    order = sorted(range(n), key=lambda i: len(candidates[i]))  # most constrained column first
    assigned: dict[int, int] = {}
    steps = 0

    def search(depth: int) -> bool:
        nonlocal steps
        if depth == n:
            perm = [assigned[i] for i in range(n)]
            return same(gold_rows, _project(pred_cols, perm))
        gi = order[depth]
        options = [j for j in candidates[gi] if j not in assigned.values()]
        for j in options:
            steps += 1
            if steps > budget:
                return False
            assigned[gi] = j
            if len(options) == 1 or depth == 0 or depth == n - 1 or same(
                    _project(gold_cols, list(assigned)), _project(pred_cols, list(assigned.values()))):
                if search(depth + 1):
                    return True
            del assigned[gi]
        return False

    return tuple(assigned[i] for i in range(n)) if search(0) else None


def results_match_test_suite(gold_rows: list[tuple], pred_rows: list[tuple], order_matters: bool) -> bool:
    """test-suite-sql-eval's `result_eq`: equal up to a column permutation, as bag or list."""
    if not gold_rows and not pred_rows:
        return True
    if len(gold_rows) != len(pred_rows) or len(gold_rows[0]) != len(pred_rows[0]):
        return False
    if not quick_rej(gold_rows, pred_rows, order_matters):
        return False
    if (gold_rows == pred_rows) if order_matters else (Counter(gold_rows) == Counter(pred_rows)):
        return True  # identity permutation: the common case, no search
    return find_column_permutation(gold_rows, pred_rows, order_matters) is not None


def _unorder_row(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def quick_rej(gold_rows: list[tuple], pred_rows: list[tuple], order_matters: bool) -> bool:
    """test-suite-sql-eval's `quick_rej`, verbatim: each row's values sorted by `str(value) + str(type)`.

    The sort key sees the type, so `(1, 1.5)` and `(1.0, 1.5)` sort differently ("1.5..." <
    "1<class 'int'>" but "1.0..." < "1.5...") and are told apart, while `(1,)` and `(1.0,)`
    still match; rows then compare with `==` (as a set, or as a list under ORDER BY).
    """
    s1, s2 = [_unorder_row(r) for r in gold_rows], [_unorder_row(r) for r in pred_rows]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def _value_bag(row: tuple) -> frozenset:
    """A row's values as a multiset, blind to column order (hashable; `1 == 1.0` as in the comparison)."""
    return frozenset(Counter(row).items())


def early_mismatch(semantics: str, gold_rows: list[tuple], order_matters: bool) -> Callable[[int, tuple], str | None]:
    """A test for a prediction's rows as they arrive: the reason it can no longer match the gold, or None.

    Every reason is a sufficient condition for `results_match` to say no, so stopping the
    prediction there never changes a verdict. bird: a row the gold set lacks. test-suite
    (multiset, any column order): more rows than the gold, another number of columns, or a
    row whose values (as a multiset) no gold row has; with ORDER BY, not the gold row at
    the same position.
    """
    if semantics == "bird":
        gold_set = set(gold_rows)
        return lambda _i, row: None if row in gold_set else "a row the gold result does not have"
    n, width = len(gold_rows), len(gold_rows[0]) if gold_rows else 0
    bags = [_value_bag(row) for row in gold_rows]
    bag_set = set(bags)

    def check(i: int, row: tuple) -> str | None:
        if i >= n:
            return f"more rows than the gold result ({n})"
        if len(row) != width:
            return f"{len(row)} columns, the gold result has {width}"
        bag = _value_bag(row)
        if order_matters and bag != bags[i]:
            return f"row {i + 1} differs from gold row {i + 1} in every column order (the gold has ORDER BY)"
        if not order_matters and bag not in bag_set:
            return "a row whose values no gold row has, in any column order"
        return None

    return check


# ---------------------------------------------------------------- input files


@dataclass(frozen=True)
class GoldItem:
    line: int  # 1-based line in the gold file
    sql: str
    db_id: str


def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"{what} file {path} not found: check the --{what} path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}); re-save the {what} file as UTF-8") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline ends the last line, it does not start another
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def read_gold(path: str | Path) -> list[GoldItem]:
    """`SQL<TAB>db_id` lines; blank lines at the end are ignored, anywhere else they are an error."""
    path = Path(path)
    lines = _read_lines(path, "gold")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise DataError(f"{path}: gold file is empty; expected one 'SQL<TAB>db_id' line per question")
    items = []
    for number, line in enumerate(lines, 1):
        sql, tab, db_id = line.rpartition("\t")
        if not tab or not sql.strip() or not db_id.strip() or len(db_id.split()) != 1:
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise DataError(f"{path}:{number}: expected 'SQL<TAB>db_id', got {shown!r}; "
                            "fix the line (the gold SQL and its database id, separated by one tab)")
        items.append(GoldItem(number, sql.strip(), db_id.strip()))
    return items


def read_predictions(path: str | Path, gold: Sequence[GoldItem], gold_path: str | Path = "gold") -> list[str]:
    """One prediction per line, aligned with `gold`; a trailing `<TAB>db_id` matching the gold is dropped."""
    path = Path(path)
    lines = _read_lines(path, "pred")
    if len(lines) > len(gold) and not any(line.strip() for line in lines[len(gold):]):
        lines = lines[:len(gold)]  # extra blank lines at the end only
    if len(lines) != len(gold):
        raise DataError(
            f"{path} has {len(lines)} prediction lines but {gold_path} has {len(gold)} gold lines: write exactly "
            "one line per question in gold order (an empty line for a missing prediction; newlines inside a "
            "prediction replaced by spaces, see scoring.prediction_line)")
    preds = []
    for line, item in zip(lines, gold):
        sql, tab, tail = line.rpartition("\t")
        preds.append((sql if tab and tail.strip() == item.db_id else line).strip())
    return preds


def resolve_databases(gold: Sequence[GoldItem], db_root: str | Path, gold_path: str | Path = "gold") -> dict[str, str]:
    """db_id -> SQLite path under `db_root/<db_id>/<db_id>.sqlite`; every missing one named at once."""
    root = Path(db_root)
    if not root.is_dir():
        raise DataError(f"database root {root} is not a folder: pass --db-root DIR holding DIR/<db_id>/<db_id>.sqlite")
    paths, missing = {}, {}
    for item in gold:
        if item.db_id in paths or item.db_id in missing:
            continue
        candidate = root / item.db_id / f"{item.db_id}.sqlite"
        if candidate.is_file():
            paths[item.db_id] = str(candidate.resolve())
        else:
            missing[item.db_id] = item.line
    if missing:
        listed = ", ".join(f"{db} (first used on {gold_path}:{line})" for db, line in sorted(missing.items())[:10])
        more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise DataError(f"{len(missing)} database(s) missing under {root}: {listed}{more}; "
                        f"expected {root}/<db_id>/<db_id>.sqlite")
    return paths


# ---------------------------------------------------------------- difficulty labels


def _has_agg(unit) -> bool:
    # Upstream applies this to cond units and to 'and'/'or' strings too; kept for identical labels.
    return unit[0] != 0


def _nested_sql(sql: dict) -> list[dict]:
    conds = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    nested = [v for cond in conds for v in (cond[3], cond[4]) if isinstance(v, dict)]
    return nested + [sql[k] for k in ("intersect", "except", "union") if sql[k] is not None]


def _component1(sql: dict) -> int:
    count = sum(bool(sql[k]) for k in ("where", "groupBy", "orderBy")) + (sql["limit"] is not None)
    count += max(len(sql["from"]["table_units"]) - 1, 0)
    conjunctions = sql["from"]["conds"][1::2] + sql["where"][1::2] + sql["having"][1::2]
    count += conjunctions.count("or")
    conds = sql["from"]["conds"][::2] + sql["where"][::2] + sql["having"][::2]
    return count + sum(cond[1] == 9 for cond in conds)  # 9: 'like' in WHERE_OPS


def _others(sql: dict) -> int:
    aggs = sum(_has_agg(u) for u in sql["select"][1]) + sum(_has_agg(u) for u in sql["where"][::2])
    aggs += sum(_has_agg(u) for u in sql["groupBy"]) + sum(_has_agg(u) for u in sql["having"])
    if sql["orderBy"]:
        units = [vu[1] for vu in sql["orderBy"][1] if vu[1]] + [vu[2] for vu in sql["orderBy"][1] if vu[2]]
        aggs += sum(_has_agg(u) for u in units)
    return (aggs > 1) + (len(sql["select"][1]) > 1) + (len(sql["where"]) > 1) + (len(sql["groupBy"]) > 1)


def spider_hardness(sql: dict) -> str:
    """Spider's easy/medium/hard/extra label from a parsed `sql` entry (the official rules)."""
    c1, c2, others = _component1(sql), len(_nested_sql(sql)), _others(sql)
    if c1 <= 1 and others == 0 and c2 == 0:
        return "easy"
    if (others <= 2 and c1 <= 1 and c2 == 0) or (c1 <= 2 and others < 2 and c2 == 0):
        return "medium"
    if (others > 2 and c1 <= 2 and c2 == 0) or (2 < c1 <= 3 and others <= 2 and c2 == 0) or \
            (c1 <= 1 and others == 0 and c2 <= 1):
        return "hard"
    return "extra"


def _label(item: dict) -> str | None:
    for key in ("difficulty", "hardness"):
        if isinstance(item.get(key), str) and item[key]:
            return item[key]
    if isinstance(item.get("sql"), dict):
        try:
            return spider_hardness(item["sql"])
        except (KeyError, IndexError, TypeError):
            return None
    return None


def difficulties_from_json(path: str | Path, gold: Sequence[GoldItem]) -> list[str | None] | None:
    """Labels from a Spider/BIRD question file, if it lists the same questions (count and db_id order)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, list) or len(data) != len(gold):
        return None
    if not all(isinstance(d, dict) and d.get("db_id") == g.db_id for d, g in zip(data, gold)):
        return None
    labels = [_label(d) for d in data]
    return labels if any(labels) else None


def find_difficulties(gold_path: str | Path, gold: Sequence[GoldItem]) -> list[str | None] | None:
    """Look beside the gold file: `dev_gold.sql` -> `dev.json` first, then any other JSON there."""
    gold_path = Path(gold_path)
    preferred = gold_path.with_name(gold_path.stem.removesuffix("_gold") + ".json")
    others = sorted(p for p in gold_path.parent.glob("*.json") if p != preferred)
    for candidate in [preferred, *others]:
        if candidate.is_file() and candidate.stat().st_size < 512 << 20:
            labels = difficulties_from_json(candidate, gold)
            if labels is not None:
                return labels
    return None


# ---------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScoreTask:
    """Everything one worker needs to judge one example (picklable)."""

    index: int
    db_id: str
    db_path: str
    gold_sql: str
    pred_sql: str
    semantics: str = "test-suite"
    keep_distinct: bool = False
    timeout: float = DEFAULT_TIMEOUT
    row_cap: int = DEFAULT_ROW_CAP
    difficulty: str | None = None
    early_verdicts: bool = True
    gold_timeout: float = 0.0  # 0: the semantics' official limit (GOLD_TIMEOUT)


@dataclass(frozen=True)
class ExampleResult:
    index: int
    db_id: str
    correct: bool
    exact_match: bool
    error: str | None
    gold_error: str | None
    timed_out: bool
    pred_seconds: float
    gold_seconds: float
    difficulty: str | None
    pred_row_count: int | None = None
    gold_row_count: int | None = None
    early_verdict: str | None = None  # why the prediction was stopped before its last row (it was wrong)
    worker_killed: bool = False  # a query ran past timeout + grace and its worker process was killed

    def to_dict(self) -> dict:
        return asdict(self)


def results_match(semantics: str, gold: ExecResult, pred: ExecResult, order_matters: bool = False) -> bool:
    """The verdict on two executions (`order_matters`: test-suite only, the gold has ORDER BY)."""
    if not (gold.ok and pred.ok):
        return False
    if semantics == "bird":
        return results_match_bird(gold.rows, pred.rows)
    return results_match_test_suite(gold.rows, pred.rows, order_matters=order_matters)


# BIRD's evaluator (and test-suite-sql-eval with --keep_distinct) hands the SQL to Python's
# sqlite3 as written, which refuses anything after the first statement, even a lone `;`.
# test-suite-sql-eval's DISTINCT removal keeps only the first statement, so there `; ;` runs.
TRAILING_STATEMENT_REFUSED = (
    "more than one statement in the SQL (an empty one after the query): the official evaluator runs the SQL "
    "through Python's sqlite3 as written, which refuses it"
)


@dataclass(frozen=True)
class _PredictionStep:
    """Told to the supervisor as the prediction starts: what judging the example needs if its worker is killed."""

    gold: ExecResult  # without rows
    gold_row_count: int | None


def _prepared(task: ScoreTask) -> tuple[str, str]:
    """The gold and predicted SQL as the official evaluator runs them."""
    if task.semantics != "test-suite":
        return task.gold_sql, task.pred_sql
    pred = prepare_test_suite(task.pred_sql, task.keep_distinct) if task.pred_sql.strip() else ""
    return prepare_test_suite(task.gold_sql, task.keep_distinct), pred


def _order_matters(task: ScoreTask) -> bool:
    return task.semantics == "test-suite" and has_order_by(_prepared(task)[0])


def gold_timeout(task: ScoreTask) -> float:
    return task.gold_timeout or max(GOLD_TIMEOUT[task.semantics], task.timeout)


def no_statement(sql: str) -> bool:
    """Only whitespace, comments and semicolons: Python's sqlite3 runs it as an empty result."""
    return all(tt in T.Whitespace or tt in T.Comment or v == ";" for tt, v in _tokens(sql))


def _run_prediction(task: ScoreTask, pred_sql: str, gold: ExecResult) -> ExecResult:
    if task.semantics == "bird" and no_statement(pred_sql):
        return ExecResult([], None, 0.0)  # BIRD's evaluator runs it: [], right when the gold result is empty too
    if not pred_sql.strip():
        return ExecResult(None, "empty prediction", 0.0)
    if (task.semantics == "bird" or task.keep_distinct) and drop_empty_statements(pred_sql)[1]:
        return ExecResult(None, TRAILING_STATEMENT_REFUSED, 0.0)
    stop = early_mismatch(task.semantics, gold.rows, _order_matters(task)) if task.early_verdicts and gold.ok \
        else None
    return execute_sql(task.db_path, pred_sql, task.timeout, task.row_cap, stop_when=stop,
                       strict_text=task.semantics == "bird")


def _judge(task: ScoreTask, gold: ExecResult, pred: ExecResult, gold_row_count: int | None,
           worker_killed: bool = False) -> ExampleResult:
    early = pred.error.removeprefix("stopped early: ") if pred.stopped_early else None
    return ExampleResult(
        index=task.index,
        db_id=task.db_id,
        correct=results_match(task.semantics, gold, pred, _order_matters(task)),
        exact_match=exact_match(task.gold_sql, task.pred_sql),
        error=None if early else pred.error,
        gold_error=gold.error,
        timed_out=pred.timed_out,
        pred_seconds=round(pred.elapsed, 6),
        gold_seconds=round(gold.elapsed, 6),
        difficulty=task.difficulty,
        pred_row_count=None if pred.rows is None else len(pred.rows),
        gold_row_count=gold_row_count,
        early_verdict=early,
        worker_killed=worker_killed,
    )


def score_example(task: ScoreTask) -> ExampleResult:
    """Run gold and prediction in the sandbox and judge them (runs inside a supervised worker).

    The prediction stops as soon as its rows cannot match the gold (`early_mismatch`),
    unless `task.early_verdicts` is off.
    """
    gold_sql, pred_sql = _prepared(task)
    # The gold query runs as the official evaluators run it: their time limit, no row or byte cap.
    begin_step(None, limit=gold_timeout(task) + GRACE_SECONDS)
    gold = execute_sql(task.db_path, gold_sql, gold_timeout(task), None, strict_text=task.semantics == "bird")
    gold_row_count = None if gold.rows is None else len(gold.rows)
    begin_step(_PredictionStep(replace(gold, rows=None), gold_row_count))  # the prediction's own time limit
    return _judge(task, gold, _run_prediction(task, pred_sql, gold), gold_row_count)


def unfinished_example(task: ScoreTask, failure: WorkerFailure) -> ExampleResult:
    """The verdict when the worker judging `task` was killed past timeout + grace, or died: wrong."""
    if isinstance(failure.step, _PredictionStep):
        stuck = ExecResult(None, failure.describe(task.timeout), failure.seconds, timed_out=failure.killed)
        return _judge(task, failure.step.gold, stuck, failure.step.gold_row_count, failure.killed)
    stuck = ExecResult(None, failure.describe(gold_timeout(task)), failure.seconds, timed_out=failure.killed)
    return _judge(task, stuck, ExecResult(None, "not run: the gold query did not finish", 0.0), None, failure.killed)


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _accuracy(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _difficulty_key(label: str) -> tuple:
    return (DIFFICULTY_ORDER.index(label), "") if label in DIFFICULTY_ORDER else (len(DIFFICULTY_ORDER), label)


def summarize(examples: Sequence[ExampleResult], semantics: str, keep_distinct: bool) -> dict:
    """The `summary` block of a report."""
    by_label: dict[str, list[ExampleResult]] = {}
    for ex in examples:
        if ex.difficulty:
            by_label.setdefault(ex.difficulty, []).append(ex)
    pred_times = [ex.pred_seconds for ex in examples if ex.error != "empty prediction"]
    gold_times = [ex.gold_seconds for ex in examples]
    return {
        "n": len(examples),
        "correct": sum(ex.correct for ex in examples),
        "execution_accuracy": _accuracy([ex.correct for ex in examples]),
        "exact_match": _accuracy([ex.exact_match for ex in examples]),
        "errors": sum(ex.error is not None for ex in examples),
        "empty_predictions": sum(ex.error == "empty prediction" for ex in examples),
        "timeouts": sum(ex.timed_out for ex in examples),
        "workers_killed": sum(ex.worker_killed for ex in examples),
        "stopped_early": sum(ex.early_verdict is not None for ex in examples),
        "gold_errors": sum(ex.gold_error is not None for ex in examples),
        "by_difficulty": {
            label: {
                "n": len(group),
                "execution_accuracy": _accuracy([ex.correct for ex in group]),
                "exact_match": _accuracy([ex.exact_match for ex in group]),
            }
            for label, group in sorted(by_label.items(), key=lambda kv: _difficulty_key(kv[0]))
        },
        "timing": {
            "pred_p50": percentile(pred_times, 50),
            "pred_p95": percentile(pred_times, 95),
            "gold_p50": percentile(gold_times, 50),
            "gold_p95": percentile(gold_times, 95),
        },
        "semantics": semantics,
        "keep_distinct": keep_distinct,
        "distinct_stripped": semantics == "test-suite" and not keep_distinct,
    }


def _check_options(semantics: str, timeout: float, row_cap: int) -> None:
    if semantics not in SEMANTICS:
        raise DataError(f"unknown semantics {semantics!r}: use one of {', '.join(SEMANTICS)}")
    if not timeout > 0:
        raise DataError(f"timeout must be > 0 seconds, got {timeout}")
    if row_cap < 1:
        raise DataError(f"row cap must be >= 1, got {row_cap}")


def _difficulty_labels(difficulties, gold_path: Path, gold: Sequence[GoldItem]) -> list[str | None]:
    if difficulties is None:
        return [None] * len(gold)
    if isinstance(difficulties, str) and difficulties == "auto":
        return find_difficulties(gold_path, gold) or [None] * len(gold)
    if isinstance(difficulties, (str, Path)):
        labels = difficulties_from_json(difficulties, gold)
        if labels is None:
            raise DataError(f"{difficulties}: not a JSON list of {len(gold)} questions with the gold file's db_ids "
                            "in order and a difficulty/hardness/sql field; pass the dataset's question file")
        return labels
    labels = list(difficulties)
    if len(labels) != len(gold):
        raise DataError(f"{len(labels)} difficulty labels given for {len(gold)} gold lines in {gold_path}: "
                        "pass one label (or None) per question")
    return labels


def score_files(gold: str | Path, pred: str | Path, db_root: str | Path, semantics: str = "test-suite",
                keep_distinct: bool = False, timeout: float = DEFAULT_TIMEOUT, workers: int | None = None,
                row_cap: int = DEFAULT_ROW_CAP, progress: bool = True,
                difficulties: Sequence[str | None] | str | Path | None = "auto", early_verdicts: bool = True,
                gold_timeout: float = 0.0) -> dict:
    """Score a PRED file against a GOLD file; returns the report (`summary` + per-`examples`).

    `difficulties`: "auto" (the dataset JSON beside the gold file, if any), a JSON path, a
    list of labels, or None. `workers`: supervised processes (None = one per CPU); a query
    still running `GRACE_SECONDS` past `timeout` has its worker killed and replaced, and
    its example is judged wrong. `early_verdicts`: stop a prediction once its rows cannot
    match (verdicts are the same either way; off, every prediction runs to its end).
    `gold_timeout`: seconds for each gold query (0: the official evaluator's, `GOLD_TIMEOUT`).
    """
    _check_options(semantics, timeout, row_cap)
    gold_path, pred_path = Path(gold), Path(pred)
    gold_items = read_gold(gold_path)
    preds = read_predictions(pred_path, gold_items, gold_path)
    labels = _difficulty_labels(difficulties, gold_path, gold_items)
    return score_predictions(gold_items, preds, db_root, semantics, keep_distinct, timeout, workers, row_cap,
                             progress, labels, early_verdicts, gold_timeout, gold_path=gold_path, pred_path=pred_path)


def score_predictions(gold_items: Sequence[GoldItem], preds: Sequence[str], db_root: str | Path,
                      semantics: str = "test-suite", keep_distinct: bool = False, timeout: float = DEFAULT_TIMEOUT,
                      workers: int | None = None, row_cap: int = DEFAULT_ROW_CAP, progress: bool = True,
                      labels: Sequence[str | None] | None = None, early_verdicts: bool = True,
                      gold_timeout: float = 0.0, gold_path: str | Path = "gold", pred_path: str | Path = "") -> dict:
    """`score_files` on predictions in memory, run as given (`eval` scores the SQL as generated)."""
    _check_options(semantics, timeout, row_cap)
    if gold_timeout < 0:
        raise DataError(f"gold timeout must be > 0 seconds (or 0 for the official one), got {gold_timeout}")
    db_paths = resolve_databases(gold_items, db_root, gold_path)
    labels = list(labels) if labels is not None else [None] * len(gold_items)
    tasks = [
        ScoreTask(i, g.db_id, db_paths[g.db_id], g.sql, p, semantics, keep_distinct, timeout, row_cap, label,
                  early_verdicts, gold_timeout)
        for i, (g, p, label) in enumerate(zip(gold_items, preds, labels))
    ]
    n_workers = resolve_workers(workers, len(tasks))
    start = time.perf_counter()
    # The prediction's limit; the gold query's step asks for its own (`score_example`).
    gold_limit = gold_timeout or max(GOLD_TIMEOUT[semantics], timeout)
    examples = parallel_map(score_example, tasks, workers=n_workers, progress=progress, desc="scoring",
                            limit=timeout + GRACE_SECONDS, on_failure=unfinished_example)
    summary = summarize(examples, semantics, keep_distinct)
    summary.update(timeout=timeout, gold_timeout=gold_limit, row_cap=row_cap, workers=n_workers,
                   early_verdicts=early_verdicts, wall_seconds=round(time.perf_counter() - start, 3),
                   gold=str(gold_path), pred=str(pred_path), db_root=str(db_root))
    return {"summary": summary, "examples": [ex.to_dict() for ex in examples]}


# ---------------------------------------------------------------- reports


def _fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def render_markdown(report: dict) -> str:
    """The summary as a Markdown table (one row per difficulty, then all), plus a counts line."""
    s = report["summary"]
    lines = ["| difficulty | n | execution accuracy | exact match |", "| --- | ---: | ---: | ---: |"]
    for label, group in s["by_difficulty"].items():
        lines.append(f"| {label} | {group['n']} | {group['execution_accuracy']:.3f} | {group['exact_match']:.3f} |")
    lines.append(f"| **all** | {s['n']} | **{s['execution_accuracy']:.3f}** | {s['exact_match']:.3f} |")
    distinct = "DISTINCT stripped" if s.get("distinct_stripped") else "DISTINCT kept"
    t = s["timing"]
    lines += [
        "",
        f"semantics: {s['semantics']} ({distinct}); prediction errors: {s['errors']} "
        f"(empty {s['empty_predictions']}, timeouts {s['timeouts']}, of which {s['workers_killed']} killed); "
        f"gold errors: {s['gold_errors']}; stopped early as wrong: {s['stopped_early']}",
        f"query time p50/p95: predictions {_fmt_seconds(t['pred_p50'])} / {_fmt_seconds(t['pred_p95'])}, "
        f"gold {_fmt_seconds(t['gold_p50'])} / {_fmt_seconds(t['gold_p95'])}",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_path: str | Path) -> None:
    """The whole report as JSON, atomically (temp file in the same folder, fsync, rename)."""
    atomic.write_text(out_path, json.dumps(report, indent=2) + "\n")


def write_jsonl(report: dict, out_path: str | Path) -> None:
    """One JSON object per example, in order, atomically."""
    atomic.write_text(out_path, "".join(json.dumps(ex) + "\n" for ex in report["examples"]))


def write_markdown(report: dict, out_path: str | Path) -> None:
    atomic.write_text(out_path, render_markdown(report))


# ---------------------------------------------------------------- command line


def add_score_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `score` subcommand's options."""
    parser.add_argument("--gold", required=True, help="gold file: one 'SQL<TAB>db_id' line per question")
    parser.add_argument("--pred", required=True,
                        help="predictions: one SQL per line, same order (empty line = no answer)")
    parser.add_argument("--db-root", required=True, help="folder holding <db_id>/<db_id>.sqlite")
    parser.add_argument("--semantics", choices=SEMANTICS, default="test-suite",
                        help="test-suite: Spider test-suite exec match (default); bird: set(rows) equality")
    parser.add_argument("--keep-distinct", action="store_true", help="test-suite: do not strip DISTINCT before running")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per query (default 10); a query still running {GRACE_SECONDS:g} s later has "
                             "its worker killed")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    parser.add_argument("--row-cap", type=int, default=DEFAULT_ROW_CAP, help="most rows a prediction may return")
    parser.add_argument("--gold-timeout", type=float, default=0.0,
                        help="seconds per gold query (default 0: the official evaluator's, bird 30, test-suite 60)")
    parser.add_argument("--no-early-verdicts", action="store_true",
                        help="run every prediction to its end, even once its rows cannot match (same verdicts)")
    parser.add_argument("--difficulty", default="auto", metavar="auto|none|JSON",
                        help="difficulty labels: the dataset JSON beside --gold (auto), none, or a JSON file")
    parser.add_argument("--out", required=True, help="report JSON (summary + one entry per example)")
    parser.add_argument("--markdown", help="also write the summary table here")
    parser.add_argument("--jsonl", help="also write one JSON line per example here")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def run_score_command(args: argparse.Namespace) -> int:
    """Score, write the report(s), print the summary table. DataError propagates to the CLI."""
    difficulty = None if args.difficulty == "none" else args.difficulty
    report = score_files(args.gold, args.pred, args.db_root, semantics=args.semantics,
                         keep_distinct=args.keep_distinct, timeout=args.timeout, workers=args.workers,
                         row_cap=args.row_cap, progress=not args.no_progress, difficulties=difficulty,
                         early_verdicts=not args.no_early_verdicts, gold_timeout=args.gold_timeout)
    write_report(report, args.out)
    if args.markdown:
        write_markdown(report, args.markdown)
    if args.jsonl:
        write_jsonl(report, args.jsonl)
    print(render_markdown(report), end="")
    if report["summary"]["gold_errors"]:
        print(f"warning: {report['summary']['gold_errors']} gold queries failed (counted wrong); "
              f"see gold_error in {args.out}")
    return 0
