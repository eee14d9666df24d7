import pytest
import torch

from kaggle_t2sql.config_overrides import build_config
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.train.model import bnb_config, build_model, compute_dtype, model_path


def test_tiny_model_is_4bit_nf4_with_fp32_lora_on_every_projection():
    import bitsandbytes as bnb

    cfg = build_config("tiny")
    model = build_model(cfg)
    quantized = [n for n, m in model.named_modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert len(quantized) == 2 * 7  # 2 layers x (q,k,v,o,gate,up,down)
    weight = next(m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)).weight
    assert weight.quant_state.quant_type == "nf4" and weight.quant_state.nested  # double quantization
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and p.dtype == torch.float32 for n, p in trainable.items())
    assert {n.split(".")[-4] for n in trainable} == set(cfg.lora.target_modules)
    assert model.config.use_cache is False  # a KV cache would switch off packed-sequence masks


@pytest.mark.skipif(torch.cuda.is_available(), reason="the CPU rule")
def test_dtype_is_float32_on_cpu_and_4bit_config_is_nf4_double():
    cfg = build_config("arctic-7b-t4")
    assert compute_dtype(cfg.quantization) == torch.float32
    assert compute_dtype(build_config("tiny", set_args=["quantization.compute_dtype=float16"]).quantization) == torch.float16
    q = bnb_config(cfg.quantization)
    assert q.load_in_4bit and q.bnb_4bit_quant_type == "nf4" and q.bnb_4bit_use_double_quant
    assert bnb_config(build_config("tiny", set_args=["quantization.load_in_4bit=false"]).quantization) is None


def test_bad_model_path_and_targets():
    with pytest.raises(ConfigError, match="does not exist"):
        model_path(build_config("tiny", set_args=["model.name_or_path=/no/such/model"]).model)
    with pytest.raises(ConfigError, match=r"lora.target_modules.*\['c_attn'\] not found"):
        build_model(build_config("tiny", set_args=["lora.target_modules=q_proj,c_attn"]))


def test_tiny_model_is_cached():
    from kaggle_t2sql.train.tiny import tiny_model_dir

    first = tiny_model_dir()
    tiny_model_dir.cache_clear()
    assert tiny_model_dir() == first and (first / "config.json").is_file()
