"""The rules a whole RunConfig must meet (ranges, names, the store URI, each training method's data), checked
after every override layer so a bad value stops the run before any work."""

from __future__ import annotations

import re

from .config import RunConfig
from .errors import ConfigError


def validate(cfg: RunConfig) -> None:
    positive = {
        "lora.r": cfg.lora.r,
        "lora.alpha": cfg.lora.alpha,
        "training.learning_rate": cfg.training.learning_rate,
        "training.batch_size": cfg.training.batch_size,
        "training.gradient_accumulation_steps": cfg.training.gradient_accumulation_steps,
        "training.logging_steps": cfg.training.logging_steps,
        "training.save_steps": cfg.training.save_steps,
        "training.keep_checkpoints": cfg.training.keep_checkpoints,
        "budget.session_minutes": cfg.budget.session_minutes,
        "training.max_skipped_steps_in_row": cfg.training.max_skipped_steps_in_row,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"bad value for {key!r}: {value!r} (expected a number > 0)")
    non_negative = {
        "lora.dropout": cfg.lora.dropout,
        "training.max_steps": cfg.training.max_steps,
        "training.warmup_steps": cfg.training.warmup_steps,
        "training.save_interval_minutes": cfg.training.save_interval_minutes,
        "budget.margin_minutes": cfg.budget.margin_minutes,
        "budget.session_steps": cfg.budget.session_steps,
        "data.value_limit": cfg.data.value_limit,
    }
    for key, value in non_negative.items():
        if value < 0:
            raise ConfigError(f"bad value for {key!r}: {value!r} (expected a number >= 0)")
    if not 0 < cfg.training.max_skipped_steps_fraction <= 1:
        raise ConfigError(f"bad value for 'training.max_skipped_steps_fraction': {cfg.training.max_skipped_steps_fraction!r} "
                          "(expected 0 < fraction <= 1)")
    if not 0 <= cfg.lora.dropout < 1:
        raise ConfigError(f"bad value for 'lora.dropout': {cfg.lora.dropout!r} (expected 0 <= dropout < 1)")
    if cfg.data.max_seq_length < 64:
        raise ConfigError(f"bad value for 'data.max_seq_length': {cfg.data.max_seq_length!r} (expected >= 64)")
    if not cfg.lora.target_modules:
        raise ConfigError("bad value for 'lora.target_modules': [] (name at least one module, e.g. q_proj)")
    if not cfg.data.stages:
        raise ConfigError("bad value for 'data.stages': [] (give at least one stage)")
    for i, stage in enumerate(cfg.data.stages):
        if stage.epochs < 1:
            raise ConfigError(f"bad value for 'data.stages.{i}.epochs': {stage.epochs!r} (expected >= 1)")
        if stage.per_complexity < 0 or stage.limit < 0:
            raise ConfigError(f"bad value in 'data.stages.{i}': per_complexity and limit must be >= 0")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", cfg.run_name):
        raise ConfigError(f"bad value for 'run_name': {cfg.run_name!r} (letters, digits, '.', '_' and '-', up to 64: "
                          "it names the run's folder in the checkpoint store)")
    if cfg.store.push_interval_minutes < 0 or cfg.store.max_versions < 0 or any(s < 0 for s in cfg.store.push_retry_seconds):
        raise ConfigError("bad value in 'store': push_interval_minutes, max_versions and push_retry_seconds must be >= 0")
    _validate_method(cfg)
    uri = cfg.store.uri
    if uri and not (uri.startswith(("local:", "kaggle:", "hf:")) or re.match(r"^[a-z][a-z0-9+.-]*://.", uri)):
        raise ConfigError(f"bad value for 'store.uri': {uri!r} (expected '', 'local:/path', 'kaggle:owner/slug', "
                          "'s3://bucket/prefix' (or gs://, az://: any fsspec URL) or 'hf:owner/repo')")


def _validate_method(cfg: RunConfig) -> None:
    """Data and batch shapes each training method needs (see docs/learning-from-execution.md)."""
    method = cfg.training.method
    pairs = [s.name for s in cfg.data.stages if s.source == "pairs"]
    if method in ("dpo", "orpo") and len(pairs) != len(cfg.data.stages):
        raise ConfigError(f"training.method={method} trains on preference pairs: give stages with source 'pairs' "
                          "(a `kaggle-t2sql sample` run's pairs.jsonl) and no other sources")
    if method in ("sft", "grpo") and pairs:
        raise ConfigError(f"stage(s) {pairs} have source 'pairs', which feeds training.method=dpo or orpo, not {method}")
    if method == "grpo":
        g = cfg.grpo
        if g.num_generations < 2:
            raise ConfigError(f"bad value for 'grpo.num_generations': {g.num_generations} (GRPO compares completions "
                              "within a group: at least 2)")
        if g.max_completion_length < 1 or g.temperature <= 0 or g.beta < 0:
            raise ConfigError("bad value in 'grpo': max_completion_length >= 1, temperature > 0 and beta >= 0")
        per_step = cfg.training.batch_size * cfg.training.gradient_accumulation_steps
        if per_step % g.num_generations:
            raise ConfigError(f"training.batch_size x gradient_accumulation_steps = {per_step} completions per step "
                              f"must be a multiple of grpo.num_generations ({g.num_generations}): each step trains "
                              "whole groups")
    for key, value in (("dpo.beta", cfg.dpo.beta), ("orpo.beta", cfg.orpo.beta)):
        if value <= 0:
            raise ConfigError(f"bad value for {key!r}: {value!r} (expected a number > 0)")
    check_init_adapter(cfg)


STORE_RUN = "run:"  # training.init_adapter = "run:NAME": the final adapter of run NAME in this run's store


def check_init_adapter(cfg: RunConfig) -> None:
    """`run:NAME` needs a store to pull from and another run's name (the syntax is checked before any work)."""
    spec = cfg.training.init_adapter
    if not spec.startswith(STORE_RUN):
        return
    name = spec[len(STORE_RUN):]
    if not name or "/" in name:
        raise ConfigError(f"bad value for 'training.init_adapter': {spec!r} (write run:NAME, NAME a run of the store)")
    if not cfg.store.uri:
        raise ConfigError(f"training.init_adapter={spec} pulls run {name!r} from the checkpoint store, but store.uri is "
                          "empty: set store.uri to the store holding that run, or give a checkpoint-N folder")
    if name == cfg.run_name:
        raise ConfigError(f"training.init_adapter={spec} names this run itself ({cfg.run_name!r}): a new run starts "
                          "from another run's adapter; give this run another run_name")
