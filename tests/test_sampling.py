"""`sample`: candidates judged by execution -> samples / rft / pairs files, resumable across a real kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kaggle_t2sql.sampling import edit_distance, pair_rows, pass_at_k, reasoning_of, rft_rows, summarize


def _record(candidates, gold_sql="SELECT 1"):
    return {"index": 0, "id": "q0", "db_id": "school", "question": "how many?", "external_knowledge": "",
            "gold_sql": gold_sql, "sql_complexity": "Simple", "prompt": "P",
            "candidates": [{"completion": f"\nthink {i}\n</think>\n<answer>\n```sql\n{sql}\n```\n</answer>", "sql": sql,
                            "verdict": v, "reward": {"correct": 1.0, "ran": 0.1, "error": 0.0}[v], "error": None}
                           for i, (sql, v) in enumerate(candidates)]}


def test_edit_distance():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("same", "same") == 0


def test_each_correct_candidate_pairs_with_the_nearest_wrong_one():
    rec = _record([("SELECT count(*) FROM t", "correct"), ("SELECT name FROM other_table", "ran"),
                   ("SELECT count(*) FROM u", "error"), ("SELECT max(a) FROM t", "correct")])
    pairs = pair_rows(rec, gold_as_chosen=False, style="arctic")
    assert [(p["chosen_sql"], p["rejected_sql"]) for p in pairs] == [
        ("SELECT count(*) FROM t", "SELECT count(*) FROM u"), ("SELECT max(a) FROM t", "SELECT count(*) FROM u")]
    assert set(pairs[0]) == {"db_id", "question", "external_knowledge", "gold_sql", "prompt", "chosen", "rejected",
                             "chosen_sql", "rejected_sql"}
    assert pairs[0]["chosen"] == rec["candidates"][0]["completion"]


def test_gold_is_chosen_only_when_asked_and_only_without_a_correct_candidate():
    rec = _record([("SELECT 2", "ran"), ("SELEC 1", "error")], gold_sql="SELECT 1")
    assert pair_rows(rec, gold_as_chosen=False, style="arctic") == []
    [pair] = pair_rows(rec, gold_as_chosen=True, style="arctic")
    assert pair["chosen_sql"] == "SELECT 1" and pair["rejected_sql"] == "SELEC 1" and "```sql\nSELECT 1\n```" in pair["chosen"]
    all_right = _record([("SELECT 1", "correct")])
    assert pair_rows(all_right, gold_as_chosen=True, style="arctic") == []  # nothing wrong to contrast with


def test_rft_rows_keep_distinct_correct_sql_with_its_reasoning():
    rec = _record([("SELECT 1", "correct"), ("SELECT 1", "correct"), ("SELECT 2", "ran")])
    rows = rft_rows(rec, "arctic")
    assert [(r["sql"], r["cot"]) for r in rows] == [("SELECT 1", "think 0")]
    assert reasoning_of("no end tag ```sql\nSELECT 1\n```", "arctic") == ""
    assert reasoning_of(" all of it ", "omnisql") == "all of it"


def test_pass_at_k_and_summary():
    assert pass_at_k(4, 0, 1) == 0.0 and pass_at_k(4, 4, 1) == 1.0 and pass_at_k(4, 1, 1) == 0.25
    assert pass_at_k(4, 1, 4) == 1.0 and abs(pass_at_k(4, 1, 2) - 0.5) < 1e-12
    s = summarize([_record([("a", "correct"), ("b", "ran")]), _record([("c", "error"), ("d", "ran")])])
    assert s["share_with_correct"] == 0.5 and s["pass@1"] == 0.25 and s["pass@2"] == 0.5
    assert abs(s["mean_reward"] - (1.0 + 0.1 + 0.0 + 0.1) / 4) < 1e-12
    assert s["verdicts"] == {"correct": 1, "ran": 2, "error": 1}
