import json
from collections import Counter

import pytest
from conftest import BIRD, SPIDER, make_db, needs_bird, needs_spider

from kaggle_t2sql.config import COMPLEXITY_LEVELS, StageConfig
from kaggle_t2sql.errors import DataError
from kaggle_t2sql.data.readers import iter_json_array, read_bird, read_jsonl, read_spider, read_synsql
from kaggle_t2sql.data.stages import read_stage


def _synsql(tmp_path, n=200):
    root = tmp_path / "synsql"
    make_db(root / "databases" / "d1" / "d1.sqlite", "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
    items = [
        {
            "db_id": "d1",
            "sql_complexity": COMPLEXITY_LEVELS[i % 4],
            "question_style": "Formal",
            "question": f"question {i} with \"quotes\" and ] brackets, {{braces}}",
            "external_knowledge": "" if i % 3 else "k",
            "cot": f"step {i}",
            "sql": f"SELECT a FROM t WHERE a = {i}",
        }
        for i in range(n)
    ]
    root.mkdir(exist_ok=True)
    (root / "data.json").write_text(json.dumps(items, indent=1))
    return root, items


def test_iter_json_array_streams_in_small_chunks(tmp_path):
    root, items = _synsql(tmp_path, 50)
    # a chunk far smaller than one object exercises every buffer boundary
    assert list(iter_json_array(root / "data.json", chunk_chars=7)) == items


def test_iter_json_array_rejects_truncated_and_non_arrays(tmp_path):
    f = tmp_path / "bad.json"
    f.write_text('[{"a": 1}, {"a": ')
    with pytest.raises(DataError, match="malformed JSON in item 1"):
        list(iter_json_array(f, chunk_chars=4))
    f.write_text('{"a": 1}')
    with pytest.raises(DataError, match="expected a JSON array"):
        list(iter_json_array(f))


def test_synsql_reads_all_fields(tmp_path):
    root, items = _synsql(tmp_path, 8)
    examples = list(read_synsql(root))
    assert len(examples) == 8
    ex = examples[0]
    assert (ex.db_id, ex.sql_complexity, ex.question_style, ex.external_knowledge, ex.cot) == ("d1", "Simple", "Formal", "k", "step 0")
    assert ex.db_path.endswith("databases/d1/d1.sqlite") and ex.id == "synsql-0"


def test_synsql_samples_n_per_level_with_a_seed(tmp_path):
    root, _ = _synsql(tmp_path, 200)
    a = list(read_synsql(root, per_complexity=10, seed=1))
    b = list(read_synsql(root, per_complexity=10, seed=1))
    c = list(read_synsql(root, per_complexity=10, seed=2))
    assert Counter(e.sql_complexity for e in a) == {lvl: 10 for lvl in COMPLEXITY_LEVELS}
    assert a == b and a != c
    ids = [int(e.id.split("-")[1]) for e in a]
    assert ids == sorted(ids)  # kept in file order


def test_synsql_missing_database_names_the_item(tmp_path):
    root, _ = _synsql(tmp_path, 3)
    (root / "data.json").write_text(json.dumps([{"db_id": "ghost", "question": "q", "sql": "SELECT 1"}]))
    with pytest.raises(DataError, match=r"item 0: database 'ghost' not found"):
        list(read_synsql(root))


def test_jsonl_reader_and_its_errors(tmp_path, shop_db):
    db_root = shop_db.parent.parent
    f = tmp_path / "mine.jsonl"
    f.write_text(
        json.dumps({"db_id": "shop", "question": "How many customers?", "sql": "SELECT count(*) FROM customers"})
        + "\n\n"
        + json.dumps({"db_id": "shop", "question": "Big orders?", "sql": "SELECT * FROM orders WHERE total > 10",
                      "external_knowledge": "big means total > 10", "id": "x7"})
        + "\n"
    )
    examples = read_jsonl(f, db_root)
    assert [e.id for e in examples] == ["mine-1", "x7"]
    assert examples[0].sql_complexity == "Moderate" and examples[1].external_knowledge == "big means total > 10"

    f.write_text('{"db_id": "shop", "question": "q", "sql": "SELECT 1"}\n{not json}\n')
    with pytest.raises(DataError, match=r"mine.jsonl:2: malformed JSON"):
        read_jsonl(f, db_root)
    f.write_text('{"db_id": "shop", "question": "q"}\n')
    with pytest.raises(DataError, match=r"mine.jsonl:1: missing sql"):
        read_jsonl(f, db_root)
    f.write_text('{"db_id": "nowhere", "question": "q", "sql": "SELECT 1"}\n')
    with pytest.raises(DataError, match=r"mine.jsonl:1: database 'nowhere' not found"):
        read_jsonl(f, db_root)


def test_empty_stage_is_an_error(tmp_path):
    f = tmp_path / "empty.jsonl"
    f.write_text("\n")
    with pytest.raises(DataError, match="has no examples"):
        read_stage(StageConfig(name="mine", source="jsonl", path=str(f)))
    with pytest.raises(DataError, match="needs a path"):
        read_stage(StageConfig(name="s", source="spider"))


def test_spider_reader_on_a_tiny_copy(tmp_path, shop_db):
    root = tmp_path / "spider"
    make_db(root / "database" / "shop" / "shop.sqlite", "CREATE TABLE t (a INT);")
    (root / "tables.json").write_text(json.dumps([{"db_id": "shop"}]))
    (root / "dev.json").write_text(json.dumps([{"db_id": "shop", "question": "q?", "query": "SELECT a FROM t"}]))
    (ex,) = read_spider(root, "dev")
    assert (ex.question, ex.sql, ex.external_knowledge, ex.sql_complexity) == ("q?", "SELECT a FROM t", "", "Simple")
    (root / "dev.json").write_text(json.dumps([{"db_id": "other", "question": "q?", "query": "SELECT 1"}]))
    with pytest.raises(DataError, match="not in tables.json"):
        read_spider(root, "dev")


@needs_spider
def test_spider_fixture():
    examples = read_spider(SPIDER, "dev")
    assert len(examples) == 972
    gold = [line.split("\t") for line in (SPIDER / "dev_gold.sql").read_text().splitlines() if line.strip()]
    assert [(e.sql.strip(), e.db_id) for e in examples] == [(s.strip(), d.strip()) for s, d in gold]
    assert set(Counter(e.sql_complexity for e in examples)) == set(COMPLEXITY_LEVELS)


@needs_bird
def test_bird_fixture_evidence_becomes_external_knowledge():
    examples = read_bird(BIRD, "dev")
    assert len(examples) == 140
    raw = json.loads((BIRD / "mini_dev_sqlite.json").read_text())
    assert [e.external_knowledge for e in examples] == [r["evidence"] for r in raw]
    assert Counter(e.difficulty for e in examples) == {"simple": 40, "moderate": 65, "challenging": 35}
    assert {e.sql_complexity for e in examples} == {"Simple", "Moderate", "Complex"}


def test_each_reader_points_at_the_tables_json_that_describes_its_databases(tmp_path, shop_db):
    """Spider, BIRD, SynSQL-2.5M and your own JSONL use their tables.json when one ships; none: derived."""
    from kaggle_t2sql.data.tokenization import db_details

    entry = {"db_id": "d1", "table_names_original": ["t"], "table_names": ["t"],
             "column_names_original": [[-1, "*"], [0, "a"]], "column_names": [[-1, "*"], [0, "the a value"]],
             "column_types": ["text", "number"], "primary_keys": [], "foreign_keys": []}
    root, _ = _synsql(tmp_path, 4)
    assert {ex.tables_json for ex in read_synsql(root)} == {""}
    assert "    a INTEGER, -- example: [1]" in db_details(next(read_synsql(root)), value_retrieval=False)  # derived
    (root / "tables.json").write_text(json.dumps([entry]))
    ex = next(read_synsql(root))
    assert ex.tables_json == str(root / "tables.json") and ex.synthetic
    assert "    a number, -- the a value, example: [1]" in db_details(ex, value_retrieval=False)

    bird = tmp_path / "bird"
    make_db(bird / "dev_databases" / "d1" / "d1.sqlite", "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);")
    (bird / "dev.json").write_text(json.dumps([{"db_id": "d1", "question": "q", "evidence": "", "SQL": "SELECT a FROM t"}]))
    assert read_bird(bird)[0].tables_json == ""
    (bird / "dev_tables.json").write_text(json.dumps([entry]))
    assert read_bird(bird)[0].tables_json == str(bird / "dev_tables.json")

    pairs = tmp_path / "mine" / "pairs.jsonl"
    make_db(pairs.parent / "d1.sqlite", "CREATE TABLE t (a INTEGER);")
    pairs.write_text(json.dumps({"db_id": "d1", "question": "q", "sql": "SELECT a FROM t"}) + "\n")
    assert read_jsonl(pairs)[0].tables_json == ""
    (pairs.parent / "tables.json").write_text(json.dumps([entry]))
    assert read_jsonl(pairs)[0].tables_json == str(pairs.parent / "tables.json")
    assert not read_jsonl(pairs)[0].synthetic


@needs_spider
def test_spider_fixture_examples_use_its_tables_json():
    assert {e.tables_json for e in read_spider(SPIDER, "dev")} == {str(SPIDER / "tables.json")}


@needs_bird
def test_bird_fixture_without_tables_json_derives_the_schema():
    from kaggle_t2sql.data.tokenization import db_details

    ex = read_bird(BIRD, "dev")[0]
    assert ex.tables_json == ""  # the fixture ships no dev_tables.json
    text = db_details(ex, value_retrieval=False)
    assert text.count("CREATE TABLE") >= 2 and "PRIMARY KEY" in text
