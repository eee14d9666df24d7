"""`export`: the tiny base in 16/32-bit + a LoRA adapter, merged, saved, and loaded back by plain transformers."""

import json

import pytest
import torch

from kaggle_t2sql.cli import main
from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.infer.export import export_merged


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, _cache_dir):
    """A LoRA adapter with non-zero weights (a fresh one would be a no-op and prove nothing)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from kaggle_t2sql.train.model import model_path

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(model_path(build_config("tiny").model), dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"],
                                                 init_lora_weights=False, task_type="CAUSAL_LM"))
    folder = tmp_path_factory.mktemp("adapter") / "checkpoint-7"
    peft_model.save_pretrained(folder)
    return folder


def reference_logits(adapter, ids):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from kaggle_t2sql.train.model import model_path

    base = AutoModelForCausalLM.from_pretrained(model_path(build_config("tiny").model), dtype=torch.float32)
    with torch.no_grad():
        return PeftModel.from_pretrained(base, str(adapter)).eval()(ids).logits


def test_merged_model_matches_base_plus_adapter(adapter, tmp_path, tiny_tokenizer):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = export_merged(build_config("tiny"), adapter, tmp_path / "merged", dtype="float32", max_shard_size="500KB")
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    assert len(shards) > 1 and (out / "model.safetensors.index.json").is_file()
    assert not any("lora" in k for k in json.loads((out / "model.safetensors.index.json").read_text())["weight_map"])

    merged = AutoModelForCausalLM.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    messages = [{"role": "user", "content": "How many singers are there?"}]
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert text == tiny_tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        got = merged(ids).logits
    want = reference_logits(adapter, ids)
    assert torch.allclose(got, want, atol=1e-5, rtol=1e-5), (got - want).abs().max()  # measured: 3e-7
    base_only = AutoModelForCausalLM.from_pretrained(tiny_tokenizer.name_or_path).eval()
    with torch.no_grad():
        assert not torch.allclose(base_only(ids).logits, want, atol=1e-3)  # the adapter does change the output


def test_default_export_is_16_bit_and_refuses_bad_input(adapter, tmp_path, capsys):
    from safetensors import safe_open

    assert main(["export", "--preset", "tiny", "--adapter", str(adapter), "--out", str(tmp_path / "bf16")]) == 0
    assert "safetensors shard" in capsys.readouterr().out
    with safe_open(str(next((tmp_path / "bf16").glob("*.safetensors"))), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.bfloat16}
    with pytest.raises(ConfigError, match="not empty"):
        export_merged(build_config("tiny"), adapter, tmp_path / "bf16")
    with pytest.raises(ConfigError, match="no adapter_config.json"):
        export_merged(build_config("tiny"), tmp_path, tmp_path / "other")
    assert not (tmp_path / "other").exists()
