"""`export`: base model in 16-bit + the trained adapter, merged, saved for other runtimes.

The adapter was trained on a 4-bit base, but merging into 4-bit weights would round the
update away (and leave a bitsandbytes checkpoint few runtimes load), so the base is loaded
unquantized in bf16/fp16 (fp32 for checks), the LoRA update is folded in
(`merge_and_unload`), and the result is written as safetensors shards with the tokenizer
and its chat template: a plain `transformers` folder that vLLM and others load as is.
The folder is written aside and renamed, so a crash never leaves half an export.
"""

from __future__ import annotations

import json
from pathlib import Path

from .. import atomic
from ..config import RunConfig
from ..errors import ConfigError

DTYPES = ("bfloat16", "float16", "float32")


def export_merged(cfg: RunConfig, adapter: str | Path, out: str | Path, dtype: str = "bfloat16",
                  max_shard_size: str = "2GB") -> Path:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from ..train.model import load_tokenizer, model_path

    adapter, out = Path(adapter), Path(out)
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"--adapter {adapter} holds no adapter_config.json: give a checkpoint-N folder")
    if dtype not in DTYPES:
        raise ConfigError(f"--dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out} exists and is not empty: remove it or choose another folder")

    base = AutoModelForCausalLM.from_pretrained(model_path(cfg.model), revision=cfg.model.revision or None,
                                                dtype=getattr(torch, dtype))
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    merged.config.use_cache = True  # training turned it off; runtimes want it on
    tokenizer = load_tokenizer(cfg.model)
    with atomic.staged_dir(out) as tmp:
        merged.save_pretrained(tmp, safe_serialization=True, max_shard_size=max_shard_size)
        tokenizer.save_pretrained(tmp)
        atomic.write_json(tmp / "kaggle_t2sql_export.json",
                          {"base": cfg.model.name_or_path, "adapter": str(adapter.resolve()), "dtype": dtype,
                           "prompt_style": cfg.data.prompt_style, "value_retrieval": cfg.data.value_retrieval})
    return out


def describe(out: Path) -> str:
    shards = sorted(p.name for p in out.glob("*.safetensors"))
    meta = json.loads((out / "kaggle_t2sql_export.json").read_text())
    size = sum(p.stat().st_size for p in out.glob("*.safetensors"))
    return (f"wrote {out}: {len(shards)} safetensors shard(s), {size / 2**20:.1f} MiB, {meta['dtype']}, "
            f"tokenizer + chat template; load with AutoModelForCausalLM.from_pretrained({str(out)!r}) or vLLM")
