import pytest

from kaggle_t2sql.errors import DataError
from kaggle_t2sql.data.examples import Example
from kaggle_t2sql.data.prompts import training_target
from kaggle_t2sql.data.tokenization import IGNORE_INDEX, encode_example, encode_examples, end_of_turn_id, prompt_text


@pytest.fixture
def example(shop_db):
    return Example(id="e1", db_id="shop", db_path=str(shop_db), question="Who ordered the most?",
                   sql="SELECT name FROM customers ORDER BY id LIMIT 1", external_knowledge="most means max total")


def test_labels_mask_the_prompt_and_keep_the_target(example, tiny_tokenizer):
    item = encode_example(example, tiny_tokenizer, max_seq_length=4096)
    prompt_ids = tiny_tokenizer(prompt_text(example, tiny_tokenizer), add_special_tokens=False)["input_ids"]
    n = len(prompt_ids)
    assert item["input_ids"][:n] == prompt_ids
    assert item["labels"][:n] == [IGNORE_INDEX] * n
    assert item["labels"][n:] == item["input_ids"][n:]
    assert item["labels"][-1] == end_of_turn_id(tiny_tokenizer) == tiny_tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tiny_tokenizer.decode(item["labels"][n:-1]) == training_target(example)
    assert item["value_limit"] == 2


def test_truncation_shrinks_schema_values_then_drops_never_cuts_the_target(example, tiny_tokenizer):
    full = len(encode_example(example, tiny_tokenizer, 4096)["input_ids"])
    no_values = len(encode_example(example, tiny_tokenizer, 4096, value_limit=0)["input_ids"])
    assert no_values < full
    shrunk = encode_example(example, tiny_tokenizer, full - 1)
    assert shrunk is not None and shrunk["value_limit"] < 2 and len(shrunk["input_ids"]) <= full - 1
    target = training_target(example)
    n_target = sum(1 for x in shrunk["labels"] if x != IGNORE_INDEX)
    assert tiny_tokenizer.decode(shrunk["labels"][-n_target:-1]) == target  # target intact
    assert encode_example(example, tiny_tokenizer, no_values - 1) is None


def test_encode_examples_counts_and_errors(example, tiny_tokenizer):
    no_values = len(encode_example(example, tiny_tokenizer, 4096, value_limit=0)["input_ids"])
    short = Example(id="e2", db_id="shop", db_path=example.db_path, question="Count?", sql="SELECT 1")
    encoded, stats = encode_examples([example, short], tiny_tokenizer, no_values - 1, progress=False)
    assert [e["id"] for e in encoded] == ["e2"]
    assert (stats.kept, stats.dropped, stats.dropped_ids) == (1, 1, ["e1"])
    with pytest.raises(DataError, match="raise data.max_seq_length"):
        encode_examples([example], tiny_tokenizer, 64, progress=False)


def test_shrunk_and_dropped_are_counted_per_complexity_level(example, tiny_tokenizer):
    from dataclasses import replace

    full = len(encode_example(example, tiny_tokenizer, 4096)["input_ids"])
    no_values = len(encode_example(example, tiny_tokenizer, 4096, value_limit=0)["input_ids"])
    complex_long = replace(example, id="c1", sql_complexity="Complex", question="Who ordered the most? " * 30)
    simple = Example(id="s1", db_id="shop", db_path=example.db_path, question="Count?", sql="SELECT 1")
    moderate = replace(example, id="m1", sql_complexity="Moderate")
    _, stats = encode_examples([simple, moderate, complex_long, simple], tiny_tokenizer, max(full - 1, no_values),
                               progress=False)
    assert stats.by_level == {"Simple": {"examples": 2, "shrunk": 0, "dropped": 0},
                              "Moderate": {"examples": 1, "shrunk": 1, "dropped": 0},
                              "Complex": {"examples": 1, "shrunk": 0, "dropped": 1}}
    assert stats.level_table() == [
        "| complexity | examples | shrunk | dropped |", "|---|---|---|---|",
        "| Simple | 2 | 0.0% | 0.0% |", "| Moderate | 1 | 100.0% | 0.0% |", "| Complex | 1 | 0.0% | 100.0% |"]


def test_data_command_prints_the_per_level_table(capsys):
    from kaggle_t2sql.cli import main

    assert main(["data", "--preset", "tiny", "--set", "data.max_seq_length=1024", "--set", "data.stages.0.limit=24"]) == 0
    out = capsys.readouterr().out
    assert "| complexity | examples | shrunk | dropped |" in out and "at max_seq_length 1024:" in out
    assert any(line.startswith("| Simple | ") and not line.endswith("| 0.0% | 0.0% |") for line in out.splitlines())


@pytest.mark.parametrize("seed", [1, 2])
def test_schema_augmentation_is_seeded_per_example(example, tiny_tokenizer, seed):
    """Train-mode augmentation draws from the example's own generator: the same prompt in every session
    and whatever was encoded before it; another seed gives other prompts; off by default."""
    from kaggle_t2sql.data.tokenization import db_details

    examples = [Example(id=f"q{i}", db_id="shop", db_path=example.db_path, question="Totals?",
                        sql="SELECT total FROM orders") for i in range(12)]
    plain = db_details(examples[0], value_retrieval=False)
    augmented = [db_details(ex, value_retrieval=False, augment_seed=seed) for ex in examples]
    assert augmented == [db_details(ex, value_retrieval=False, augment_seed=seed) for ex in reversed(examples)][::-1]
    assert any(a != plain for a in augmented)  # tables shuffled or unused columns left out
    assert all("total REAL" in a and "PRIMARY KEY (order_id)" in a for a in augmented)  # used and key columns kept
    assert augmented != [db_details(ex, value_retrieval=False, augment_seed=seed + 10) for ex in examples]
    encoded, _ = encode_examples(examples[:3], tiny_tokenizer, 4096, progress=False, value_retrieval=False,
                                 augment_seed=seed)
    alone = [encode_example(ex, tiny_tokenizer, 4096, value_retrieval=False, augment_seed=seed) for ex in examples[:3]]
    assert [e["input_ids"] for e in encoded] == [a["input_ids"] for a in alone]


def test_the_schema_augmentation_setting_reaches_the_training_rows(tiny_tokenizer):
    """data.schema_augmentation switches the train-mode schema text on for the rows the trainer sees (off: the
    eval-mode text); on, the rows are the same in every build (seeded by data.seed) and another seed changes them."""
    from dataclasses import replace

    from kaggle_t2sql.config import DataConfig, StageConfig
    from kaggle_t2sql.data.dataset import build_rows

    def ids(**change):
        data = replace(DataConfig(stages=[StageConfig(limit=12)], packing=False, value_retrieval=False), **change)
        return [r["input_ids"] for r in build_rows(data, tiny_tokenizer, 2, progress=False)[0]]

    plain, augmented = ids(), ids(schema_augmentation=True)
    assert len(plain) == len(augmented) == 12
    assert augmented != plain
    assert augmented == ids(schema_augmentation=True)
    assert augmented != ids(schema_augmentation=True, seed=7)
