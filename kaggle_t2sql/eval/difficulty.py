"""Difficulty labels for the scoring run's report (scoring.py): BIRD's `difficulty`, Spider's hardness from
its parsed `sql` field by the official rules, read from the dataset's question file beside the gold file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .gold_files import GoldItem


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
