"""`eval` end to end on the tiny preset: generation, SQL extraction, voting, scoring, report files."""

import json
import time

import pytest

from kaggle_t2sql.cli import main
from kaggle_t2sql.evaluate import vote
from kaggle_t2sql.execution import SandboxPool


def test_eval_cli_greedy_and_self_consistency_write_every_report(tmp_path, capsys):
    for samples in (1, 3):
        out = tmp_path / f"eval-{samples}"
        assert main(["eval", "--preset", "tiny", "--limit", "5", "--samples", str(samples), "--max-new-tokens", "16",
                     "--out-dir", str(out), "--no-progress", "--workers", "1"]) == 0
        report = json.loads((out / "report.json").read_text())
        assert report["summary"]["n"] == 5 and 0.0 <= report["summary"]["execution_accuracy"] <= 1.0
        assert report["summary"]["samples"] == samples
        lat = report["summary"]["latency"]
        assert lat["generation_p95_s"] >= lat["generation_p50_s"] > 0 and lat["tokens_per_second"] > 0
        lines = (out / "examples.jsonl").read_text().splitlines()
        assert len(lines) == 5 and {"prediction", "correct", "gold", "generation"} <= set(json.loads(lines[0]))
        assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and "execution accuracy" in (out / "report.md").read_text()
        assert len((out / "pred.sql").read_text().splitlines()) == 5
    assert "| execution accuracy |" in capsys.readouterr().out


def test_vote_picks_the_majority_execution_result(shop_db):
    candidates = ["SELECT name FROM customers WHERE id = 1", "SELECT count(*) FROM customers",
                  "SELECT name FROM customers WHERE id < 2", "SELECT nope FROM nowhere"]
    sql, votes = vote(str(shop_db), candidates, timeout=5)
    assert (sql, votes) == ("SELECT name FROM customers WHERE id = 1", 2)
    assert vote(str(shop_db), ["SELECT nope", ""], timeout=5) == ("SELECT nope", 0)


@pytest.mark.timeout(120)
def test_a_candidate_stuck_in_one_sqlite_call_does_not_hang_the_vote(shop_db):
    stuck = "SELECT length(trim(printf('%.*c', 900000, 'a'), printf('%.*c', 80000, 'b') || 'a'))"  # minutes
    candidates = [stuck, "SELECT name FROM customers WHERE id = 1", stuck, "SELECT name FROM customers WHERE id < 2"]
    start = time.perf_counter()
    with SandboxPool(grace=0.5) as pool:
        assert vote(str(shop_db), candidates, timeout=0.5, pool=pool) == (candidates[1], 2)
    assert time.perf_counter() - start < 30


def test_score_cli_is_wired(tmp_path, shop_db, capsys):
    gold = tmp_path / "gold.sql"
    pred = tmp_path / "pred.sql"
    gold.write_text("SELECT name FROM customers\tshop\nSELECT count(*) FROM orders\tshop\n")
    pred.write_text("SELECT name FROM customers ORDER BY name DESC\nSELECT 1\n")
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--db-root", str(shop_db.parent.parent),
                 "--out", str(tmp_path / "r.json"), "--workers", "1", "--no-progress"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [e["correct"] for e in report["examples"]] == [True, False]
