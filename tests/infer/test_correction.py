"""Self-correction: exact logic with a scripted generator, then the report's counts, then one run on the tiny model."""

import json

from conftest import ScriptedGenerator, sql_reply

from kaggle_t2sql.config import DataConfig
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.data.examples import Example
from kaggle_t2sql.infer.pipeline import InferenceSettings, answer

GOOD = "SELECT name FROM customers WHERE city = 'Paris'"


def shop_example(shop_db, question="Who lives in Paris?"):
    return Example(id="q", db_id="shop", db_path=str(shop_db), question=question, sql=GOOD)


def run(shop_db, tokenizer, script, fix_rounds, samples=1):
    gen = ScriptedGenerator(script)
    (out,) = answer(gen, tokenizer, [shop_example(shop_db)], DataConfig(value_retrieval=False),
                    InferenceSettings(samples=samples, fix_rounds=fix_rounds, timeout=5))
    return out, gen


def test_error_is_fed_back_and_the_fix_is_kept(shop_db, tiny_tokenizer):
    out, gen = run(shop_db, tiny_tokenizer, [sql_reply("SELECT nam FROM customers"), sql_reply(GOOD)], fix_rounds=2)
    assert (out.sql, out.result.rows, out.fix_rounds) == (GOOD, [("Cyd",)], 1)
    assert out.chosen_sql == "SELECT nam FROM customers" and not out.chosen_result.ok
    fix_prompt = gen.prompts[1]
    assert fix_prompt.startswith(gen.prompts[0].rsplit("<|im_start|>assistant", 1)[0])  # same conversation
    assert "```sql\nSELECT nam FROM customers\n```" in fix_prompt and "no such column: nam" in fix_prompt
    assert fix_prompt.endswith("Let me solve this step by step. \n<think>")  # a fresh assistant turn


def test_no_rows_is_fed_back(shop_db, tiny_tokenizer):
    empty = "SELECT name FROM customers WHERE city = 'paris'"
    out, gen = run(shop_db, tiny_tokenizer, [sql_reply(empty), sql_reply(GOOD)], fix_rounds=1)
    assert "returned no rows" in gen.prompts[1] and out.sql == GOOD


def test_rounds_are_capped_and_a_repeat_stops_early(shop_db, tiny_tokenizer):
    bad = [sql_reply(f"SELECT bad{i} FROM customers") for i in range(5)]
    out, gen = run(shop_db, tiny_tokenizer, list(bad), fix_rounds=3)
    assert out.fix_rounds == 3 and len(gen.prompts) == 4 and not out.result.ok
    out, gen = run(shop_db, tiny_tokenizer, [bad[0], bad[0], bad[1]], fix_rounds=3)
    assert out.fix_rounds == 1 and len(gen.prompts) == 2  # the model repeated itself: nothing new to run


def test_a_worse_fix_does_not_replace_a_better_answer(shop_db, tiny_tokenizer):
    empty = "SELECT name FROM customers WHERE id = 99"
    out, _ = run(shop_db, tiny_tokenizer, [sql_reply(empty), sql_reply("SELECT broken"), "no sql here"], fix_rounds=2)
    assert out.sql == empty and out.result.ok and out.fix_rounds == 2


def test_off_means_no_extra_generation_and_good_answers_are_left_alone(shop_db, tiny_tokenizer):
    out, gen = run(shop_db, tiny_tokenizer, [sql_reply("SELECT nam FROM customers")], fix_rounds=0)
    assert gen.calls == 1 and out.fix_rounds == 0 and not out.result.ok
    out, gen = run(shop_db, tiny_tokenizer, [sql_reply(GOOD)], fix_rounds=2)
    assert gen.calls == 1 and out.fix_rounds == 0


def test_correction_follows_the_vote(shop_db, tiny_tokenizer):
    samples = [sql_reply("SELECT nam FROM customers")] * 2 + [sql_reply("SELECT 1 FROM customers WHERE 0")]
    out, gen = run(shop_db, tiny_tokenizer, [samples, sql_reply(GOOD)], fix_rounds=1, samples=3)
    assert out.candidates[0] == "SELECT nam FROM customers" and out.chosen_sql == "SELECT 1 FROM customers WHERE 0"
    assert out.sql == GOOD and "returned no rows" in gen.prompts[1]


def test_eval_report_counts_fixes_and_changed_verdicts(tmp_path, tiny_tokenizer):
    from kaggle_t2sql.data import bundled
    from kaggle_t2sql.eval.evaluate import EvalSettings, run_eval

    examples = bundled.load_examples("dev")[:4]
    gold = {ex.question: ex.sql for ex in examples}

    def script(prompt):
        q = next(q for q in gold if q in prompt)
        if "failed with this error" in prompt:
            return sql_reply(gold[q] if q == examples[0].question else "SELECT 1")  # one fix right, one wrong
        return sql_reply(gold[q]) if q in (examples[2].question, examples[3].question) else sql_reply("SELECT nope")

    cfg = build_config("tiny")
    report = run_eval(cfg, EvalSettings(limit=4, fix_rounds=1, workers=1), None, tmp_path, progress=False,
                      generator=ScriptedGenerator(script), tokenizer=tiny_tokenizer)
    fix = report["summary"]["correction"]
    assert fix == {"attempted": 2, "rounds": 2, "changed_verdict": 1, "gained": 1, "lost": 0,
                   "execution_accuracy_before": 0.5}
    assert report["summary"]["execution_accuracy"] == 0.75
    assert "| fixes attempted / changed verdict | 2 / 1 (+1 -0) |" in (tmp_path / "report.md").read_text()
    rows = [json.loads(line) for line in (tmp_path / "examples.jsonl").read_text().splitlines()]
    assert [r["fix_rounds"] for r in rows] == [1, 1, 0, 0] and rows[0]["voted"] == "SELECT nope"


def test_correction_runs_on_the_tiny_model(shop_db, tiny_model):
    from kaggle_t2sql.infer.engine import ModelGenerator

    model, tokenizer = tiny_model
    before = shop_db.read_bytes()
    (out,) = answer(ModelGenerator(model, tokenizer, max_new_tokens=24, batch_size=1), tokenizer,
                    [shop_example(shop_db)], DataConfig(), InferenceSettings(fix_rounds=2, timeout=5))
    # near-random text: whatever it wrote was extracted (or nothing), run read-only, and reported
    assert isinstance(out.sql, str) and out.result.ok == (out.result.error is None)
    assert out.fix_rounds >= 1 or out.result.rows  # an empty or failing answer went back to the model
    assert out.timings["correction"] > 0 or out.fix_rounds == 0
    assert shop_db.read_bytes() == before
