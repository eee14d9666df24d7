"""Comparison semantics: when a predicted query's result counts as the gold's, the way the official
evaluators judge it (the scoring run over files is eval/scoring.py; one example's judging is judge.py).

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

Empty statements after the prediction (``SELECT ...; ;``) run under test-suite, whose
DISTINCT removal keeps only the first statement; under bird, and test-suite with
``keep_distinct``, the official scripts hand the text to Python's sqlite3, which refuses
them, so the prediction is wrong there too. A second real statement is always refused
(upstream test-suite would run only the first).

Exact match is reported beside execution accuracy as a plain string comparison after
normalization (keyword/identifier case, whitespace, identifier quoting, comments,
trailing semicolons); it is not Spider's component-wise exact-set-match."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlparse import lexer
from sqlparse import tokens as T

SEMANTICS = ("test-suite", "bird")
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


def no_statement(sql: str) -> bool:
    """Only whitespace, comments and semicolons: Python's sqlite3 runs it as an empty result."""
    return all(tt in T.Whitespace or tt in T.Comment or v == ";" for tt, v in _tokens(sql))


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
