import json

from kaggle_t2sql.config import COMPLEXITY_LEVELS, DataConfig, StageConfig
from kaggle_t2sql.data.curriculum import order_examples, training_stream
from kaggle_t2sql.data.examples import Example


def _ex(i, level):
    return Example(id=str(i), db_id="d", db_path="p", question=f"q{i}", sql="SELECT 1", sql_complexity=level)


def test_complexity_order_is_stable_and_none_keeps_source_order():
    levels = ["Complex", "Simple", "Highly Complex", "Moderate", "Simple", "Complex"]
    examples = [_ex(i, lvl) for i, lvl in enumerate(levels)]
    ordered = order_examples(examples, "complexity")
    assert [e.sql_complexity for e in ordered] == ["Simple", "Simple", "Moderate", "Complex", "Complex", "Highly Complex"]
    assert [e.id for e in ordered] == ["1", "4", "3", "0", "5", "2"]
    assert order_examples(examples, "none") == examples


def test_stages_follow_each_other_with_their_epochs(tmp_path, shop_db):
    mine = tmp_path / "mine.jsonl"
    mine.write_text("\n".join(json.dumps({"db_id": "shop", "question": f"q{i}", "sql": sql}) for i, sql in enumerate(
        ["SELECT count(*) FROM orders", "SELECT name FROM customers"])))
    data = DataConfig(stages=[
        StageConfig(name="general", source="bundled", limit=20),
        StageConfig(name="mine", source="jsonl", path=str(mine), db_root=str(shop_db.parent.parent), epochs=2),
    ])
    stream, plans = training_stream(data)
    assert [(p.name, p.start, p.count) for p in plans] == [("general", 0, 20), ("mine", 20, 4)]
    general = [COMPLEXITY_LEVELS.index(e.sql_complexity) for e in stream[:20]]
    assert general == sorted(general)
    # each epoch of a stage is ordered Simple -> ...; the user's stage comes after the general one
    assert [e.question for e in stream[20:]] == ["q1", "q0", "q1", "q0"]
