import pytest
import yaml

from kaggle_t2sql.config import ALL_PROJECTIONS
from kaggle_t2sql.config_overrides import apply_overrides, build_config, from_dict, parse_set_args
from kaggle_t2sql.config_presets import preset
from kaggle_t2sql.errors import ConfigError


def test_presets_differ_where_they_should():
    tiny, arctic = preset("tiny"), preset("arctic-7b-t4")
    assert tiny.model.name_or_path == "tiny"
    assert arctic.model.name_or_path == "Snowflake/Arctic-Text2SQL-R1-7B"
    assert arctic.quantization.quant_type == "nf4" and arctic.quantization.double_quant
    assert arctic.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert arctic.training.save_interval_minutes == 20.0
    demo = preset("demo")  # the tiny preset on the pre-trained tiny base, one example per row, two epochs
    assert demo.model.name_or_path == "tiny-pretrained" and not demo.data.packing and demo.data.stages[0].epochs == 2
    assert (demo.lora, demo.training, demo.budget) == (tiny.lora, tiny.training, tiny.budget)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="unknown preset 'big'.*arctic-7b-t4, demo, tiny"):
        preset("big")


def test_overrides_from_yaml_dict_and_set_in_that_order(tmp_path):
    f = tmp_path / "over.yaml"
    f.write_text("training:\n  learning_rate: 0.01\n  max_steps: 7\ndata:\n  packing: false\n")
    cfg = build_config(
        "tiny",
        config_file=f,
        overrides={"training.max_steps": 9, "lora": {"r": 4}},
        set_args=["training.max_steps=11", "training.learning_rate=1e-4", "lora.target_modules=q_proj,v_proj"],
    )
    assert cfg.training.max_steps == 11  # --set wins over dict wins over file
    assert cfg.training.learning_rate == pytest.approx(1e-4)  # "1e-4" is a YAML string: coerced to float
    assert cfg.data.packing is False and cfg.lora.r == 4
    assert cfg.lora.target_modules == ["q_proj", "v_proj"]


def test_papermill_style_string_values_are_coerced():
    cfg = apply_overrides(preset("tiny"), {"data.packing": "false", "training.batch_size": "2", "budget.session_minutes": "0.5"})
    assert cfg.data.packing is False and cfg.training.batch_size == 2 and cfg.budget.session_minutes == 0.5


def test_stage_lists_from_yaml_and_indexed_keys():
    cfg = apply_overrides(
        preset("tiny"),
        {"data": {"stages": [{"name": "general", "source": "bundled"}, {"name": "mine", "source": "jsonl", "path": "x.jsonl"}]}},
    )
    assert [s.name for s in cfg.data.stages] == ["general", "mine"]
    cfg = apply_overrides(cfg, {"data.stages.1.epochs": 3})
    assert cfg.data.stages[1].epochs == 3


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["training.lr=1"], r"unknown key 'training.lr' \(allowed: training.learning_rate"),
        (["nope=1"], r"unknown key 'nope'"),
        (["training.batch_size=abc"], r"bad value for 'training.batch_size': 'abc' \(expected an integer\)"),
        (["data.curriculum=random"], r"bad value for 'data.curriculum': 'random' \(expected one of 'complexity', 'none'\)"),
        (["data.packing=maybe"], r"bad value for 'data.packing': 'maybe' \(expected true or false\)"),
        (["training.learning_rate=-1"], r"'training.learning_rate': -1.0 \(expected a number > 0\)"),
        (["budget.session_steps=-2"], r"'budget.session_steps': -2 \(expected a number >= 0\)"),
        (["data.stages.4.limit=1"], r"data.stages.N.<field> with N below 1"),
        (["store.uri=s3:x"], r"store.uri.*'local:/path', 'kaggle:owner/slug', 's3://bucket/prefix'.*'hf:owner/repo'"),
        (["training.max_steps"], r"write it as key=value"),
    ],
)
def test_bad_overrides_name_key_value_and_what_is_allowed(pairs, message):
    with pytest.raises(ConfigError, match=message):
        build_config("tiny", set_args=pairs)


def test_bad_yaml_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        build_config("tiny", config_file=tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        build_config("tiny", config_file=tmp_path / "list.yaml")


def test_round_trip_and_fingerprint_ignores_budget_only():
    cfg = build_config("tiny", set_args=["training.max_steps=5"])
    assert from_dict(cfg.to_dict()) == cfg
    same = apply_overrides(cfg, {"budget.session_minutes": 1, "store.uri": "local:/tmp/x", "training.save_steps": 3})
    assert same.fingerprint() == cfg.fingerprint()
    assert apply_overrides(cfg, {"training.learning_rate": 0.5}).fingerprint() != cfg.fingerprint()


def test_parse_set_args_types():
    assert parse_set_args(["a=1", "b=true", "c=x", "d="]) == {"a": 1, "b": True, "c": "x", "d": ""}


def test_a_full_config_dumped_as_yaml_rebuilds_the_same_config(tmp_path):
    """How the notebook hands its config to a torchrun session."""
    cfg = build_config("tiny", set_args=["training.max_steps=7", "data.stages.0.limit=3", "store.uri=local:/x"])
    f = tmp_path / "session-config.yaml"
    f.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    assert build_config("tiny", config_file=f) == cfg


def test_gpu_preset_adam_states_are_small_next_to_a_t4():
    """The README's arithmetic: LoRA r=16 on every projection of Arctic-7B's shape (built on the meta device:
    no download, no memory) trains 40.4 M fp32 parameters; AdamW's two fp32 moments are 0.32 GB of a 15 GB T4,
    so the default is plain AdamW, which the resume tests cover, not an 8-bit optimizer (~2 bytes a parameter)."""
    import torch
    from transformers import AutoModelForCausalLM, Qwen2Config

    from kaggle_t2sql.train.model import add_lora

    cfg = preset("arctic-7b-t4")
    assert cfg.training.optim == "adamw_torch" and (cfg.lora.r, cfg.lora.target_modules) == (16, ALL_PROJECTIONS)
    shape = Qwen2Config(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
                        intermediate_size=18944, vocab_size=152064)
    with torch.device("meta"):
        model = add_lora(AutoModelForCausalLM.from_config(shape), cfg.lora, gradient_checkpointing=False)
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert {p.dtype for p in trainable} == {torch.float32}
    assert sum(p.numel() for p in trainable) == 40_370_176
    assert round(2 * 4 * sum(p.numel() for p in trainable) / 1e9, 2) == 0.32  # exp_avg + exp_avg_sq, fp32


def test_gpu_preset_sequence_length_fits_the_paper_estimate():
    """bench/gpu_memory.py's estimate: <= 13 GiB on a T4 with logits at labelled positions only, where the
    same length with logits at every position would not fit."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("gpu_memory", Path(__file__).parents[1] / "bench" / "gpu_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    seq = preset("arctic-7b-t4").data.max_seq_length
    assert seq > 2048 and bench.estimate_gib(seq) <= 13.0 < bench.estimate_gib(seq, labelled=1.0)


def test_schema_augmentation_is_off_by_default_and_part_of_the_fingerprint():
    cfg = preset("arctic-7b-t4")
    assert cfg.data.schema_augmentation is False
    on = build_config("arctic-7b-t4", set_args=["data.schema_augmentation=true"])
    assert on.fingerprint() != cfg.fingerprint()
    old = cfg.to_dict()
    del old["data"]["schema_augmentation"]  # a run made before the option: same fingerprint, resumes
    from kaggle_t2sql.config import training_math

    assert training_math(old) == training_math(cfg.to_dict())
