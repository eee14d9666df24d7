"""The named presets (a starting RunConfig each) and the generation length each model gets by default."""

from __future__ import annotations

import typing

from .config import (TINY_MODEL, TINY_PRETRAINED, BudgetConfig, DataConfig, LoraSettings, ModelConfig, RunConfig,
                     StageConfig, StoreConfig, TrainingConfig)
from .errors import ConfigError


def _arctic_7b_t4() -> RunConfig:
    return RunConfig(
        preset="arctic-7b-t4",
        run_name="arctic-t2sql",
        store=StoreConfig(push_interval_minutes=60.0),  # ~12 versions a session: see docs/kaggle.md "Dataset growth"
        data=DataConfig(
            stages=[StageConfig(name="synsql", source="synsql", path="", per_complexity=2000)],
            max_seq_length=3072,  # ~12 GiB on a T4 with logits at labelled positions only: bench/gpu_memory.py
        ),
    )


def _tiny() -> RunConfig:
    return RunConfig(
        preset="tiny",
        run_name="tiny-demo",
        model=ModelConfig(name_or_path=TINY_MODEL),
        lora=LoraSettings(r=8, alpha=16, dropout=0.0),
        training=TrainingConfig(
            learning_rate=5e-3,
            batch_size=2,
            gradient_accumulation_steps=1,
            max_steps=0,
            warmup_steps=2,
            save_steps=5,
            save_interval_minutes=0.0,
            keep_checkpoints=2,
            gradient_checkpointing=False,
        ),
        data=DataConfig(stages=[StageConfig(name="bundled", source="bundled")], max_seq_length=4096),
        budget=BudgetConfig(session_minutes=60.0, margin_minutes=0.0),
    )


def _demo() -> RunConfig:
    """What `kaggle-t2sql demo` trains: the tiny preset on the pre-trained tiny base."""
    cfg = _tiny()
    cfg.preset, cfg.run_name = "demo", "demo"
    cfg.model.name_or_path = TINY_PRETRAINED
    cfg.data.packing = False  # on a CPU a packed 4096-token row pays attention across all of it: single rows run ~3x faster
    cfg.data.stages[0].epochs = 2  # a model this small needs each question more than once to answer it
    return cfg


PRESETS: dict[str, typing.Callable[[], RunConfig]] = {"arctic-7b-t4": _arctic_7b_t4, "tiny": _tiny, "demo": _demo}


def preset(name: str) -> RunConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(sorted(PRESETS))}")
    return PRESETS[name]()


ARCTIC_MAX_NEW_TOKENS = 8192  # ArcticTraining bird_eval/infer.py: max_output_len (OmniSQL's infer.py uses 2048)
TINY_MAX_NEW_TOKENS = {TINY_MODEL: 48, TINY_PRETRAINED: 160}  # enough to show the pipeline (the demo answers in 160)


def default_max_new_tokens(cfg: RunConfig) -> int:
    """Arctic's 8192 for a real model, so long reasoning is not cut before its SQL block; small for the tiny ones."""
    return TINY_MAX_NEW_TOKENS.get(cfg.model.name_or_path, ARCTIC_MAX_NEW_TOKENS)
