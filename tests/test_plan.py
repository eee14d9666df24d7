"""The run plan and plan_changes: what lets a session resume a stored run, and what is named when not."""

import copy
import subprocess
import sys

import pytest

from kaggle_t2sql.checkpoints import plan_changes
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.plan import accumulation, data_fingerprint, make_plan, rows_digest, tokenizer_digest

ROWS = [{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "position_ids": [0, 1, 2]}, {"input_ids": [8], "labels": [8]}]
DATA = {"rows": rows_digest(ROWS), "row_count": 2, "tokenizer": "t1",
        "versions": {"transformers": "5.23.0", "tokenizers": "0.23.3", "jinja2": "3.1.6"}}


def session(*set_args, world_size=1, data=DATA):
    """(config dict, plan) of a session with these settings on `world_size` processes."""
    cfg = build_config("arctic-7b-t4", set_args=["training.batch_size=1", "training.gradient_accumulation_steps=4", *set_args])
    return cfg.to_dict(), make_plan(cfg.training, 100, data, world_size, cfg.fingerprint())


def stored(*set_args, world_size=1, data=DATA):
    config, plan = session(*set_args, world_size=world_size, data=data)
    return {"config": config, "plan": plan, "sessions": []}


def test_the_plan_fixes_global_batch_and_steps():
    _, plan = session(world_size=2)
    assert (plan["global_batch"], plan["max_steps"], plan["world_size"], plan["data"]) == (8, 13, 2, DATA)  # ceil(100 / 8)
    assert session("training.max_steps=7")[1]["max_steps"] == 7
    with pytest.raises(ConfigError, match="no training rows"):
        make_plan(build_config("tiny").training, 0, DATA, 1, "f")


def test_another_process_count_keeps_the_global_batch_through_accumulation():
    plan = stored(world_size=2)["plan"]  # 1 x 4 x 2 = 8
    assert [accumulation(plan, 1, n) for n in (1, 2, 4, 8)] == [8, 4, 2, 1]
    assert accumulation(plan, 2, 2) == 2
    with pytest.raises(ConfigError, match=r"global batch 8 does not split into 3 process\(es\) x batch 1 \(the process count must divide 8\)"):
        accumulation(plan, 1, 3)


def test_same_settings_and_data_resume_under_any_process_count_that_splits_the_batch():
    run = stored(world_size=2)
    for n in (1, 2, 4, 8):
        assert plan_changes(run, *session(world_size=n)) == []
    assert plan_changes(run, *session(world_size=3)) == [
        "process count (2 -> 3: global batch 8 does not split into 3 process(es) x batch 1 (the process count must divide 8))"]


def test_changed_settings_are_named_by_their_keys():
    run = stored()
    assert plan_changes(run, *session("training.learning_rate=0.001")) == ["training.learning_rate"]
    assert plan_changes(run, *session("lora.r=8", "data.stages.0.limit=5")) == ["data.stages.0.limit", "lora.r"]
    # what may change between sessions is not a change
    assert plan_changes(run, *session("budget.session_minutes=30", "training.save_steps=7", "store.uri=local:/x")) == []


def test_changed_data_is_named_with_its_likely_cause():
    run = stored()
    other_rows = {**DATA, "rows": "other"}
    assert plan_changes(run, *session(data=other_rows)) == ["data rows"]
    assert plan_changes(run, *session(data={**other_rows, "tokenizer": "t2"})) == ["data rows", "tokenizer"]
    newer = {**other_rows, "versions": {**DATA["versions"], "transformers": "5.24.0"}}
    assert plan_changes(run, *session(data=newer)) == ["data rows", "transformers version"]


def test_same_rows_resume_whatever_moved_or_was_upgraded():
    """Rows are what training reads: the same rows from another mount path, or after a library upgrade
    that did not change them, resume."""
    run = stored("data.stages.0.path=/kaggle/input/synsql-subset/pairs.jsonl")
    upgraded = {**DATA, "versions": {**DATA["versions"], "transformers": "5.24.0"}}
    assert plan_changes(run, *session("data.stages.0.path=/kaggle/input/datasets/me/synsql-subset/pairs.jsonl", data=upgraded)) == []


def test_runs_written_before_plans_or_without_a_config_compare_what_they_have():
    run = stored()
    legacy = {k: v for k, v in run.items() if k != "plan"}
    assert plan_changes(legacy, *session(data={**DATA, "rows": "other"})) == []
    assert plan_changes(legacy, *session("training.learning_rate=0.5")) == ["training.learning_rate"]
    assert plan_changes({}, *session()) == []


def test_rows_digest_sees_order_labels_and_row_boundaries():
    base = rows_digest(ROWS)
    assert rows_digest(copy.deepcopy(ROWS)) == base
    assert rows_digest(ROWS[::-1]) != base
    masked = copy.deepcopy(ROWS)
    masked[0]["labels"][1] = -100
    assert rows_digest(masked) != base
    assert rows_digest([{"input_ids": [1, 2]}, {"input_ids": [3]}]) != rows_digest([{"input_ids": [1]}, {"input_ids": [2, 3]}])


def test_tokenizer_digest_sees_the_chat_template(tiny_tokenizer):
    changed = copy.deepcopy(tiny_tokenizer)
    changed.chat_template = changed.chat_template.replace("<|im_start|>", "<|im_start|> ", 1)
    assert tokenizer_digest(copy.deepcopy(tiny_tokenizer)) == tokenizer_digest(tiny_tokenizer) != tokenizer_digest(changed)
    data = data_fingerprint(ROWS, tiny_tokenizer)
    assert data["row_count"] == 2 and set(data["versions"]) == {"transformers", "tokenizers", "jinja2"}


def test_plan_changes_imports_without_torch():
    """The pull code checks a stored run with it before anything heavy is loaded."""
    code = "import sys; from kaggle_t2sql.checkpoints import plan_changes; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_planned_stream_is_the_rows_repeated_or_cut_to_max_steps_times_the_global_batch():
    from kaggle_t2sql.data.dataset import RNG_KEY, RowsDataset

    rows = [{"input_ids": [i], "labels": [i]} for i in range(5)]
    plan = make_plan(build_config("tiny", set_args=["training.batch_size=2"]).training, len(rows), DATA, 1, "f")
    assert (plan["global_batch"], plan["max_steps"]) == (2, 3)  # one pass: the last step is filled from the start
    stream = RowsDataset(rows, plan["max_steps"] * plan["global_batch"])
    assert [stream[i]["input_ids"] for i in range(len(stream))] == [[0], [1], [2], [3], [4], [0]]
    assert [stream[i][RNG_KEY] for i in range(len(stream))] == list(range(6))  # the key dropout is seeded from
    with pytest.raises(IndexError):
        stream[6]
    assert len(RowsDataset(rows, 3)) == 3  # an explicit max_steps shorter than a pass cuts the stream
