"""The one example shape every reader yields: SynSQL-2.5M's fields plus where the database is."""

from __future__ import annotations

from dataclasses import dataclass

import sqlparse

from ..config import COMPLEXITY_LEVELS


@dataclass(frozen=True)
class Example:
    id: str
    db_id: str
    db_path: str  # the SQLite file the question is asked against
    question: str
    sql: str
    sql_complexity: str = "Simple"
    question_style: str = ""
    external_knowledge: str = ""
    cot: str = ""
    difficulty: str = ""  # the source's own label (Spider hardness, BIRD difficulty), for reports
    tables_json: str = ""  # the tables.json describing the database ("" = derive it from the SQLite file)
    synthetic: bool = False  # SynSQL-2.5M: train-mode schema augmentation shows its comments at random


def complexity_rank(level: str) -> int:
    """Simple=0 ... Highly Complex=3; unknown labels sort last."""
    try:
        return COMPLEXITY_LEVELS.index(level)
    except ValueError:
        return len(COMPLEXITY_LEVELS)


def estimate_complexity(sql: str) -> str:
    """A SynSQL-style complexity label for sources that have none (Spider, your own pairs).

    Counted from sqlparse tokens: CTEs and window functions make it Highly Complex;
    several joins, subqueries, set operations or CASE make it Complex; one join,
    grouping or aggregation makes it Moderate.
    """
    tokens = [t for t in sqlparse.parse(sql)[0].flatten() if not t.is_whitespace] if sql.strip() else []
    words = [t.normalized.upper() for t in tokens if t.ttype in sqlparse.tokens.Keyword or t.is_keyword]
    text = " ".join(words)
    selects = sum(1 for t in tokens if t.ttype is sqlparse.tokens.DML and t.normalized.upper() == "SELECT")
    joins = sum(1 for w in words if w.endswith("JOIN"))
    if "WITH" in words or "OVER" in words or (selects >= 3 and joins >= 1):
        return "Highly Complex"
    if joins >= 2 or selects >= 2 or any(w in words for w in ("UNION", "UNION ALL", "INTERSECT", "EXCEPT", "CASE")):
        return "Complex"
    aggregates = any(
        t.ttype is sqlparse.tokens.Name and t.normalized.upper() in ("COUNT", "SUM", "AVG", "MIN", "MAX")
        for t in tokens
    )
    if joins == 1 or "GROUP BY" in text or "HAVING" in words or aggregates:
        return "Moderate"
    return "Simple"
