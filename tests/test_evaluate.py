"""`eval` end to end on the tiny preset: generation, SQL extraction, voting, scoring, report files."""

import json
import time

import pytest

from conftest import SPIDER, needs_spider

from kaggle_t2sql.cli import main


def test_eval_cli_greedy_and_self_consistency_write_every_report(tmp_path, capsys):
    for samples, vote in ((1, "soft"), (3, "exact")):
        out = tmp_path / f"eval-{samples}"
        assert main(["eval", "--preset", "tiny", "--limit", "5", "--samples", str(samples), "--max-new-tokens", "16",
                     "--vote", vote, "--out-dir", str(out), "--no-progress", "--workers", "1"]) == 0
        report = json.loads((out / "report.json").read_text())
        assert report["summary"]["n"] == 5 and 0.0 <= report["summary"]["execution_accuracy"] <= 1.0
        assert report["summary"]["samples"] == samples and report["summary"]["fix_rounds"] == 0
        assert report["summary"]["vote"] == ("exact" if samples > 1 else "") and "correction" not in report["summary"]
        lat = report["summary"]["latency"]
        assert lat["generation_p95_s"] >= lat["generation_p50_s"] > 0 and lat["tokens_per_second"] > 0
        lines = (out / "examples.jsonl").read_text().splitlines()
        assert len(lines) == 5 and {"prediction", "correct", "gold", "generation"} <= set(json.loads(lines[0]))
        assert (out / "report.png").read_bytes()[:4] == b"\x89PNG" and "execution accuracy" in (out / "report.md").read_text()
        assert len((out / "pred.sql").read_text().splitlines()) == 5
    assert "| execution accuracy |" in capsys.readouterr().out


def test_prompts_cli_writes_the_exact_prompts(tmp_path, capsys, tiny_tokenizer):
    from kaggle_t2sql import bundled
    from kaggle_t2sql.tokenization import prompt_text

    for values in ("on", "off"):
        out = tmp_path / f"{values}.jsonl"
        assert main(["prompts", "--data", "bundled", "--limit", "3", "--values", values, "--out", str(out),
                     "--no-progress"]) == 0
        records = [json.loads(line) for line in out.read_text().splitlines()]
        examples = bundled.load_examples("dev")[:3]
        assert [r["db_id"] for r in records] == [ex.db_id for ex in examples]
        assert [r["prompt"] for r in records] == [
            prompt_text(ex, tiny_tokenizer, value_retrieval=values == "on") for ex in examples]
        assert all(r["schema"] in r["prompt"] and r["question"] in r["prompt"] for r in records)
    assert "value retrieval off" in capsys.readouterr().out
    assert main(["prompts", "--data", "spider", "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "needs --data-path" in capsys.readouterr().err


@needs_spider
def test_prompts_cli_on_the_spider_fixture(tmp_path):
    out = tmp_path / "spider.jsonl"
    assert main(["prompts", "--data", "spider", "--data-path", str(SPIDER), "--limit", "60", "--out", str(out),
                 "--no-progress"]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 60 and {"db_id", "question", "prompt"} <= set(records[0])
    assert any("'France'" in r["schema"] for r in records if "France" in r["question"])


@pytest.mark.timeout(120)
def test_a_generated_query_stuck_in_one_sqlite_call_cannot_hang_inference(shop_db):
    """eval, ask and serve run generated SQL through infer.sandbox: a supervised worker, killed when stuck."""
    from kaggle_t2sql.infer.sandbox import run_sql

    stuck = "SELECT length(trim(printf('%.*c', 900000, 'a'), printf('%.*c', 80000, 'b') || 'a'))"  # minutes in-process
    start = time.perf_counter()
    result = run_sql(shop_db, stuck, timeout=0.5)
    assert result.timed_out and not result.ok and time.perf_counter() - start < 30
    assert run_sql(shop_db, "SELECT name FROM customers WHERE id = 1").rows == [("Ada",)]  # a fresh worker answers


def test_score_cli_is_wired(tmp_path, shop_db, capsys):
    gold = tmp_path / "gold.sql"
    pred = tmp_path / "pred.sql"
    gold.write_text("SELECT name FROM customers\tshop\nSELECT count(*) FROM orders\tshop\n")
    pred.write_text("SELECT name FROM customers ORDER BY name DESC\nSELECT 1\n")
    assert main(["score", "--gold", str(gold), "--pred", str(pred), "--db-root", str(shop_db.parent.parent),
                 "--out", str(tmp_path / "r.json"), "--workers", "1", "--no-progress"]) == 0
    report = json.loads((tmp_path / "r.json").read_text())
    assert [e["correct"] for e in report["examples"]] == [True, False]
