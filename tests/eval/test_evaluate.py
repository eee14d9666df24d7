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
    from kaggle_t2sql.data import bundled
    from kaggle_t2sql.data.tokenization import prompt_text

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


# ---------------------------------------------------------------- issue 18: scoring what was generated

def _jsonl_set(tmp_path, shop_db, pairs):
    """A jsonl eval set on the shop database: (question, gold SQL) pairs."""
    data = shop_db.parent.parent / "set.jsonl"  # beside the shop/shop.sqlite folder
    data.write_text("".join(json.dumps({"db_id": "shop", "question": q, "sql": g}) + "\n" for q, g in pairs))
    return data


def _eval(tmp_path, shop_db, pairs, replies, out="eval", **settings):
    from conftest import ScriptedGenerator, sql_reply

    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.eval.evaluate import EvalSettings, run_eval

    data = _jsonl_set(tmp_path, shop_db, pairs)
    by_question = dict(zip([q for q, _ in pairs], replies))
    gen = ScriptedGenerator(lambda prompt: next(sql_reply(r) if r is not None else "no sql here"
                                                for q, r in by_question.items() if q in prompt))
    cfg = build_config("tiny")
    cfg.data.value_retrieval = False
    s = EvalSettings(data="jsonl", data_path=str(data), workers=1, **settings)
    from kaggle_t2sql.train.model import load_tokenizer

    return run_eval(cfg, s, None, tmp_path / out, progress=False, generator=gen,
                    tokenizer=load_tokenizer(cfg.model)), tmp_path / out


def test_eval_scores_the_sql_as_generated_and_writes_a_rescorable_pred_file(tmp_path, shop_db):
    """Review: eval flattened every prediction to one line: a leading -- comment swallowed the query,
    whitespace in literals collapsed, empty predictions became blank lines (test-suite reads them as breaks)."""
    from kaggle_t2sql.sql.execute import execute_sql
    from kaggle_t2sql.eval.scoring import score_files

    conn = __import__("sqlite3").connect(shop_db)
    conn.execute("INSERT INTO customers VALUES (4, 'Dee  Dee', NULL, 'Rome')")  # two spaces inside the name
    conn.commit(), conn.close()
    pairs = [("Who lives in Paris?", "SELECT name FROM customers WHERE city = 'Paris'"),
             ("Who is Dee Dee?", "SELECT id FROM customers WHERE name = 'Dee  Dee'"),
             ("Count the customers.", "SELECT count(*) FROM customers"),
             ("Nothing at all?", "SELECT name FROM customers WHERE id = 1")]
    replies = ["-- customers in Paris\nSELECT name\nFROM customers /* the city */ WHERE city = 'Paris'",
               "SELECT id FROM customers WHERE name = 'Dee  Dee'",
               "SELECT count(*)\n\tFROM customers -- all of them",
               None]  # no SQL block: an empty prediction
    report, out = _eval(tmp_path, shop_db, pairs, replies)
    assert [e["correct"] for e in report["examples"]] == [True, True, True, False]
    assert report["examples"][0]["prediction"] == replies[0]  # kept as generated
    lines = (out / "pred.sql").read_text().split("\n")
    assert lines[-1] == "" and len(lines) == 5 and all(line.strip() for line in lines[:4])  # no blank line
    assert lines[0] == "SELECT name FROM customers  WHERE city = 'Paris'"  # OmniSQL's format_sql
    assert lines[1] == "SELECT id FROM customers WHERE name = 'Dee  Dee'" and lines[3] == "Error SQL"
    assert execute_sql(shop_db, lines[1]).rows == [(4,)]
    rescored = score_files(out / "gold.sql", out / "pred.sql", out / "databases", workers=1, progress=False,
                           difficulties=None)
    assert [e["correct"] for e in rescored["examples"]] == [True, True, True, False]


def test_eval_refuses_bad_settings_before_loading_the_model(tmp_path, capsys):
    """Review defect 9: `eval --timeout 0` was refused only after generation. The adapter path does not
    exist: had the model been loaded first, that would be the error."""
    missing = str(tmp_path / "no-adapter")
    for flags, message in ((["--timeout", "0"], "--timeout 0.0: need more than 0 seconds"),
                           (["--timeout", "-1"], "--timeout -1.0"),
                           (["--max-new-tokens", "-3"], "--max-new-tokens -3"),
                           (["--batch-size", "0"], "--batch-size 0"),
                           (["--workers", "-1"], "--workers -1")):
        assert main(["eval", "--preset", "tiny", "--limit", "2", "--adapter", missing, "--out-dir",
                     str(tmp_path / "e"), "--no-progress", *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "adapter_config.json" not in err, (flags, err)


def test_max_new_tokens_defaults_to_arctics_on_the_gpu_preset_and_stays_small_on_tiny_ones():
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.config_presets import ARCTIC_MAX_NEW_TOKENS, default_max_new_tokens
    from kaggle_t2sql.eval.evaluate import EvalSettings
    from kaggle_t2sql.infer.ask import AskSettings

    assert ARCTIC_MAX_NEW_TOKENS == 8192  # ArcticTraining bird_eval/infer.py max_output_len
    assert default_max_new_tokens(build_config("arctic-7b-t4")) == 8192
    assert default_max_new_tokens(build_config("tiny")) == 48 and default_max_new_tokens(build_config("demo")) == 160
    assert EvalSettings().max_new_tokens == AskSettings().max_new_tokens == 8192


def test_eval_reports_how_many_answers_hit_the_token_cap(tmp_path, tiny_model):
    """A random tiny model never writes <|im_end|> in 6 tokens: every answer is cut, and the report says so."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.eval.evaluate import EvalSettings, run_eval
    from kaggle_t2sql.infer.engine import ModelGenerator

    model, tokenizer = tiny_model
    s = EvalSettings(limit=3, max_new_tokens=6, workers=1)
    report = run_eval(build_config("tiny"), s, None, tmp_path / "e", progress=False,
                      generator=ModelGenerator(model, tokenizer, max_new_tokens=6), tokenizer=tokenizer)
    assert report["summary"]["max_new_tokens"] == 6
    assert report["summary"]["hit_token_cap"] == 3 and all(e["hit_token_cap"] for e in report["examples"])
    assert "answers cut at max_new_tokens (6) | 3 |" in (tmp_path / "e" / "report.md").read_text()
    roomy = ModelGenerator(model, tokenizer, max_new_tokens=6).generate(["<|im_start|>user\nhi<|im_end|>\n"])[0]
    assert roomy.capped == [True]


def test_eval_database_links_survive_reruns_and_refuse_two_files_for_one_db_id(tmp_path, shop_db):
    """Review defect 8: a stale link from an earlier run into the same --out-dir was kept, a dangling one crashed
    after generation, and two files with one db_id silently used the first."""
    from kaggle_t2sql.errors import ConfigError
    from kaggle_t2sql.eval.evaluate import _db_links
    from kaggle_t2sql.data.examples import Example

    root = tmp_path / "out" / "databases"
    old = make_other_shop(tmp_path / "old" / "shop.sqlite")
    ex = lambda path: Example(id="x", db_id="shop", db_path=str(path), question="q", sql="SELECT 1")  # noqa: E731
    _db_links([ex(old)], root)
    link = root / "shop" / "shop.sqlite"
    assert link.resolve() == old.resolve()
    _db_links([ex(shop_db)], root)  # a rerun on another file under the same db_id
    assert link.resolve() == shop_db.resolve()
    old.unlink()
    link.unlink()
    link.symlink_to(old)  # dangling: its file is gone
    _db_links([ex(shop_db)], root)
    assert link.resolve() == shop_db.resolve() and link.exists()
    with pytest.raises(ConfigError, match="two database files for db_id 'shop'"):
        _db_links([ex(shop_db), ex(make_other_shop(tmp_path / "b" / "shop.sqlite"))], tmp_path / "o2")


def make_other_shop(path):
    from conftest import make_db

    return make_db(path, "CREATE TABLE customers (id INTEGER, name TEXT); INSERT INTO customers VALUES (9, 'Zed');")


def test_eval_reruns_into_the_same_out_dir_on_another_database(tmp_path, shop_db):
    pairs = [("Count the customers.", "SELECT count(*) FROM customers")]
    first, out = _eval(tmp_path, shop_db, pairs, ["SELECT count(*) FROM customers"])
    assert first["examples"][0]["correct"]
    moved = tmp_path / "moved" / "shop" / "shop.sqlite"
    moved.parent.mkdir(parents=True)
    shop_db.rename(moved)  # the old link now dangles
    data = tmp_path / "moved" / "set.jsonl"
    data.write_text(json.dumps({"db_id": "shop", "question": pairs[0][0], "sql": pairs[0][1]}) + "\n")
    from conftest import ScriptedGenerator, sql_reply

    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.eval.evaluate import EvalSettings, run_eval
    from kaggle_t2sql.train.model import load_tokenizer

    cfg = build_config("tiny")
    cfg.data.value_retrieval = False
    report = run_eval(cfg, EvalSettings(data="jsonl", data_path=str(data), workers=1), None, out, progress=False,
                      generator=ScriptedGenerator(lambda p: sql_reply("SELECT count(*) FROM customers")),
                      tokenizer=load_tokenizer(cfg.model))
    assert report["examples"][0]["correct"] and report["summary"]["gold_errors"] == 0
