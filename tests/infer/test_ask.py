"""`ask`: the plain function (scripted generator for exact answers, tiny model for the pipeline) and the CLI."""

import json

import pytest
from conftest import ScriptedGenerator, sql_reply

from kaggle_t2sql.cli import main
from kaggle_t2sql.config import DataConfig
from kaggle_t2sql.errors import DataError
from kaggle_t2sql.infer.ask import AskSettings, ask


def test_answer_holds_sql_rows_and_timings(shop_db, tiny_tokenizer):
    gen = ScriptedGenerator([sql_reply("SELECT name, city FROM customers ORDER BY id")])
    answer = ask(None, tiny_tokenizer, shop_db, "  Who are the customers?  ", AskSettings(max_rows=2), generator=gen)
    assert (answer.sql, answer.columns, answer.rows, answer.row_count, answer.error) == (
        "SELECT name, city FROM customers ORDER BY id", ["name", "city"], [["Ada", "London"], ["Bob", ""]], 3, None)
    assert answer.question == "Who are the customers?"
    assert set(answer.timings) == {"prompt", "generation", "execution", "correction", "total"}
    assert answer.timings["total"] >= answer.timings["generation"]
    assert answer.table().splitlines() == ["name | city", "-----+-------", "Ada  | London", "Bob  |",
                                           "(3 rows, first 2 shown)"]
    assert json.loads(json.dumps(answer.to_dict()))["rows"] == [["Ada", "London"], ["Bob", ""]]


def test_values_and_evidence_reach_the_prompt(shop_db, tiny_tokenizer):
    gen = ScriptedGenerator([sql_reply("SELECT 1")] * 2)
    ask(None, tiny_tokenizer, shop_db, "Who lives in Paris?", AskSettings(), evidence="Paris is a city", generator=gen)
    assert "Paris is a city\nWho lives in Paris?" in gen.prompts[0]
    assert "city TEXT, -- example: ['Paris', 'London']" in gen.prompts[0]  # retrieved value first
    ask(None, tiny_tokenizer, shop_db, "Who lives in Paris?", AskSettings(data=DataConfig(value_retrieval=False)),
        generator=gen)
    assert "city TEXT, -- example: ['London', 'Paris']" in gen.prompts[1]


def test_writes_are_refused_and_reported(shop_db, tiny_tokenizer):
    before = shop_db.read_bytes()
    gen = ScriptedGenerator([sql_reply("DELETE FROM customers")] * 3)
    answer = ask(None, tiny_tokenizer, shop_db, "Remove everyone", AskSettings(fix_rounds=1), generator=gen)
    assert answer.error and "refused" in answer.error and answer.fix_rounds == 1
    assert shop_db.read_bytes() == before


def test_bad_input_is_named(shop_db, tmp_path, tiny_tokenizer):
    gen = ScriptedGenerator([])
    with pytest.raises(DataError, match="empty question"):
        ask(None, tiny_tokenizer, shop_db, "   ", generator=gen)
    with pytest.raises(DataError, match="not found"):
        ask(None, tiny_tokenizer, tmp_path / "nope.sqlite", "How many?", generator=gen)
    text = tmp_path / "notes.sqlite"
    text.write_text("hello")
    with pytest.raises(DataError, match="not a SQLite database"):
        ask(None, tiny_tokenizer, text, "How many?", generator=gen)
    assert gen.calls == 0


def test_ask_on_the_tiny_model(shop_db, tiny_model):
    model, tokenizer = tiny_model
    before = shop_db.read_bytes()
    answer = ask(model, tokenizer, shop_db, "How many customers are there?", AskSettings(max_new_tokens=16))
    # near-random text: the pipeline still extracts (or finds no) SQL, runs it read-only and reports
    assert isinstance(answer.sql, str) and answer.candidates and answer.fix_rounds <= 2
    if answer.error is None:
        assert answer.columns and answer.row_count >= len(answer.rows)
    else:
        assert answer.rows == [] and answer.row_count == 0 and answer.table() == f"error: {answer.error}"
    assert answer.timings["generation"] > 0 and shop_db.read_bytes() == before


def test_ask_cli_prints_sql_table_and_timings(shop_db, capsys):
    assert main(["ask", "--preset", "tiny", "--db", str(shop_db), "How many customers?", "--max-new-tokens", "8",
                 "--fix-rounds", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"sql", "columns", "rows", "row_count", "error", "timings"} <= set(out) and out["fix_rounds"] == 0
    assert isinstance(out["hit_token_cap"], bool)  # docs/inference.md: whether the SQL may be cut at the cap
    assert main(["ask", "--preset", "tiny", "--db", str(shop_db), "How many customers?", "--max-new-tokens", "8"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("SQL:\n") and "\ntime: " in text
    assert main(["ask", "--db", str(shop_db), "", "--max-new-tokens", "8"]) == 2
    assert "empty question" in capsys.readouterr().err
    assert main(["ask", "--db", str(shop_db), "q?", "--samples", "3", "--temperature", "0"]) == 2
    assert "temperature > 0" in capsys.readouterr().err


def test_infinite_values_make_valid_json(shop_db, tiny_tokenizer):
    """Review defect 3: `ask --json` printed Infinity, which is not JSON."""
    settings = AskSettings(fix_rounds=0, data=DataConfig(value_retrieval=False))
    answer = ask(None, tiny_tokenizer, shop_db, "Huge?", settings,
                 generator=ScriptedGenerator([sql_reply("SELECT 1e999 AS big, -1e999 AS small, x'00ff' AS raw")]))
    text = json.dumps(answer.to_dict(), allow_nan=False)  # raises on inf/nan
    assert json.loads(text)["rows"] == [["Infinity", "-Infinity", "00ff"]]


def test_ask_refuses_bad_settings_before_loading_the_model(shop_db, tmp_path, capsys):
    missing = str(tmp_path / "no-adapter")
    for flags, message in ((["--timeout", "0"], "--timeout 0.0"), (["--timeout", "-1"], "--timeout -1.0"),
                           (["--max-rows", "-1"], "--max-rows -1"), (["--max-new-tokens", "-8"], "--max-new-tokens -8")):
        assert main(["ask", "--db", str(shop_db), "q?", "--adapter", missing, *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "adapter_config.json" not in err, (flags, err)
