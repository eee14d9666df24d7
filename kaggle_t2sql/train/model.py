"""Base model in 4-bit NF4 (bitsandbytes) + LoRA (peft), from a hub id, a local path or "tiny".

Compute dtype follows the hardware: fp16 on T4 (sm_75 has no bf16), bf16 on sm_80+,
float32 on CPU. Base weights stay in the compute dtype (casting the 152k-token
embeddings to fp32 would cost ~2 GB on a T4); LoRA weights are kept in fp32 so fp16
mixed precision can unscale their gradients.
"""

from __future__ import annotations

from pathlib import Path

from ..config import TINY_MODEL, TINY_PRETRAINED, LoraSettings, ModelConfig, QuantizationConfig, RunConfig
from ..errors import ConfigError


def model_path(model: ModelConfig) -> str:
    """Where to load from: a built tiny model, a local folder (e.g. a Kaggle mount), or a hub id."""
    if model.name_or_path in (TINY_MODEL, TINY_PRETRAINED):
        from .tiny import pretrained_model_dir, tiny_model_dir

        return str(tiny_model_dir() if model.name_or_path == TINY_MODEL else pretrained_model_dir())
    from ..kaggle.env import resolve_input

    name = resolve_input(model.name_or_path)  # an attached Kaggle Model / Dataset, in either mount layout
    if name != model.name_or_path:
        return name
    path = Path(model.name_or_path).expanduser()
    if model.name_or_path.startswith(("/", ".", "~")) and not path.exists():
        raise ConfigError(f"model.name_or_path {model.name_or_path!r} does not exist: give a folder or a hub id")
    return str(path) if path.exists() else model.name_or_path


def load_tokenizer(model: ModelConfig):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_path(model), revision=model.revision or None)
    if tokenizer.pad_token is None:  # Qwen2 has <|endoftext|>; others may not
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def compute_dtype(quant: QuantizationConfig):
    """fp16 on a T4, bf16 on sm_80+, float32 on CPU; bf16 asked for on a GPU without it is refused."""
    import torch

    from ..gpu import dtype_for

    gpus = range(torch.cuda.device_count()) if torch.cuda.is_available() else ()
    return getattr(torch, dtype_for(quant.compute_dtype, [torch.cuda.get_device_capability(i) for i in gpus]))


def bnb_config(quant: QuantizationConfig):
    from transformers import BitsAndBytesConfig

    if not quant.load_in_4bit:
        return None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant.quant_type,
        bnb_4bit_use_double_quant=quant.double_quant,
        bnb_4bit_compute_dtype=compute_dtype(quant),
    )


def load_base_model(cfg: RunConfig):
    import torch
    from transformers import AutoModelForCausalLM

    device_map = None
    if torch.cuda.is_available():
        from accelerate import PartialState

        device_map = {"": PartialState().local_process_index}  # one full 4-bit copy per process
    model = AutoModelForCausalLM.from_pretrained(
        model_path(cfg.model),
        revision=cfg.model.revision or None,
        quantization_config=bnb_config(cfg.quantization),
        dtype=compute_dtype(cfg.quantization),
        attn_implementation=cfg.model.attn_implementation,
        device_map=device_map,
    )
    model.config.use_cache = False  # a cache disables packed-sequence masking and wastes memory in training
    return model


def add_lora(model, lora: LoraSettings, gradient_checkpointing: bool):
    from peft import LoraConfig, get_peft_model

    from .console import peft_deprecation_quiet

    for p in model.parameters():
        p.requires_grad_(False)
    if gradient_checkpointing:
        if hasattr(model, "activation_checkpointing_enable"):  # transformers 5's name; 4.x has only the old one
            model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    missing = [m for m in lora.target_modules if not any(name.endswith(m) for name, _ in model.named_modules())]
    if missing:
        raise ConfigError(f"bad value for 'lora.target_modules': {missing} not found in the model (Qwen2 has {', '.join(sorted({n.rsplit('.', 1)[-1] for n, _ in model.named_modules() if n.endswith('_proj')}))})")
    with peft_deprecation_quiet():
        peft_model = get_peft_model(
            model,
            LoraConfig(
                r=lora.r,
                lora_alpha=lora.alpha,
                lora_dropout=lora.dropout,
                target_modules=list(lora.target_modules),
                task_type="CAUSAL_LM",
            ),
        )
    for p in peft_model.parameters():
        if p.requires_grad:
            p.data = p.data.float()
    return peft_model


def build_model(cfg: RunConfig):
    """A fresh 4-bit base + freshly initialised LoRA; resuming loads the adapter through the Trainer."""
    return add_lora(load_base_model(cfg), cfg.lora, cfg.training.gradient_checkpointing)
