"""One typed configuration for a run, named presets, and overrides.

Overrides come from a YAML file, `--set key=value` on the command line, or a plain
dict (papermill parameters). Keys are dotted paths (`training.learning_rate`);
unknown keys and bad values raise ConfigError naming the key, the value and what
is allowed.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import ConfigError

ALL_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
COMPLEXITY_LEVELS = ["Simple", "Moderate", "Complex", "Highly Complex"]
TINY_MODEL = "tiny"  # model.name_or_path that selects the embedded tiny Qwen2 model (random weights)
TINY_PRETRAINED = "tiny-pretrained"  # the same model pre-trained on the bundled train split (the demo's base)


@dataclass
class ModelConfig:
    name_or_path: str = "Snowflake/Arctic-Text2SQL-R1-7B"  # hub id, local path, "tiny" or "tiny-pretrained"
    revision: str = ""
    attn_implementation: Literal["sdpa", "eager"] = "sdpa"


@dataclass
class QuantizationConfig:
    load_in_4bit: bool = True
    quant_type: Literal["nf4", "fp4"] = "nf4"
    double_quant: bool = True
    compute_dtype: Literal["auto", "float16", "bfloat16", "float32"] = "auto"


@dataclass
class LoraSettings:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: list(ALL_PROJECTIONS))


@dataclass
class StageConfig:
    """One block of training data; stages run one after another on the same adapter."""

    name: str = "main"
    source: Literal["bundled", "synsql", "spider", "bird", "jsonl", "pairs"] = "bundled"
    path: str = ""  # dataset root (synsql/spider/bird), JSONL file, or a `sample` run's pairs.jsonl (source pairs)
    db_root: str = ""  # folder of SQLite files; default derived from `path`
    split: str = "train"
    per_complexity: int = 0  # sample N per sql_complexity level (0 = keep all)
    limit: int = 0  # keep the first N examples after sampling (0 = all)
    epochs: int = 1


@dataclass
class DataConfig:
    stages: list[StageConfig] = field(default_factory=lambda: [StageConfig()])
    max_seq_length: int = 2048
    packing: bool = True
    curriculum: Literal["complexity", "none"] = "complexity"
    prompt_style: Literal["arctic", "omnisql"] = "arctic"
    value_limit: int = 2  # sampled example values per column in the schema text
    value_retrieval: bool = True  # also list the values matching the question (OmniSQL/Arctic did, in training and eval)
    schema_augmentation: bool = False  # OmniSQL's train-mode schema text: sampled columns, shuffled tables (seeded)
    seed: int = 42


@dataclass
class TrainingConfig:
    learning_rate: float = 1e-4
    batch_size: int = 1
    gradient_accumulation_steps: int = 8
    max_steps: int = 0  # 0 = one pass over the staged data
    warmup_steps: int = 10
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    optim: Literal["adamw_torch", "paged_adamw_8bit", "adamw_8bit"] = "adamw_torch"  # fused on a GPU; 8-bit: see docs/training.md "Optimizer"
    seed: int = 42
    logging_steps: int = 1
    save_steps: int = 50
    save_interval_minutes: float = 20.0  # also save by wall clock (0 = off)
    keep_checkpoints: int = 2
    gradient_checkpointing: bool = True
    method: Literal["sft", "dpo", "orpo", "grpo"] = "sft"  # see docs/learning-from-execution.md
    init_adapter: str = ""  # start a new run from this adapter: a checkpoint-N folder, or run:NAME (a finished run of store.uri)
    max_skipped_steps_in_row: int = 5  # stop when this many steps in a row had non-finite gradients (fp16 overflow, NaN)
    max_skipped_steps_fraction: float = 0.02  # ... or at least max_skipped_steps_in_row that are also this share of the session


@dataclass
class GrpoSettings:
    """GRPO (training.method=grpo) with Arctic-Text2SQL-R1's execution reward; defaults follow its paper where a T4 allows."""

    num_generations: int = 8  # completions per prompt (Arctic: 16; 8 fits a T4, see bench/gpu_memory.py)
    temperature: float = 0.8  # Arctic's
    max_completion_length: int = 1024
    beta: float = 0.001  # KL weight (Arctic's)


@dataclass
class DpoSettings:
    beta: float = 0.1  # ExCoT's


@dataclass
class OrpoSettings:
    beta: float = 0.1  # the odds-ratio loss weight (lambda in the ORPO paper; TRL's default)


@dataclass
class BudgetConfig:
    session_minutes: float = 690.0  # Kaggle stops a session at 12 h; leave room for setup
    margin_minutes: float = 2.0  # extra room before the deadline, on top of measured save time
    session_steps: int = 0  # also end a session after this many steps (0 = the clock only): a chain's dry run in minutes


@dataclass
class StoreConfig:
    uri: str = ""  # "" (none), "local:/path", "kaggle:owner/slug", "s3://bucket/prefix" (any fsspec URL), "hf:owner/repo"
    input_root: str = ""  # where attached datasets are mounted (searched by content); "" = Kaggle's (kaggle/env.py)
    final_push_timeout_minutes: float = 15.0  # how long the session end waits for the last push
    push_interval_minutes: float = 0.0  # at least this long between pushes (the final one excepted); 0 = every save
    max_versions: int = 12  # a push onto this many versions deletes the older ones (0 = keep every version)
    push_retry_seconds: list[float] = field(default_factory=lambda: [5.0, 20.0, 60.0])  # backoff between tries


@dataclass
class RunConfig:
    preset: str = "arctic-7b-t4"
    run_name: str = "arctic-t2sql"
    model: ModelConfig = field(default_factory=ModelConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    grpo: GrpoSettings = field(default_factory=GrpoSettings)
    dpo: DpoSettings = field(default_factory=DpoSettings)
    orpo: OrpoSettings = field(default_factory=OrpoSettings)
    data: DataConfig = field(default_factory=DataConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    store: StoreConfig = field(default_factory=StoreConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """Hash of what shapes the training math: changing it mid-run breaks exact resume."""
        return hashlib.sha256(json.dumps(training_math(self.to_dict()), sort_keys=True).encode()).hexdigest()[:16]


def training_math(config: dict) -> dict:
    """A config dict without what may change between sessions: budget, store, save cadence, names,
    and where the data is mounted (the run plan's data fingerprint checks its content instead)."""
    d = copy.deepcopy(config)
    for volatile in ("budget", "store", "run_name", "preset"):
        d.pop(volatile, None)
    for volatile in ("save_steps", "save_interval_minutes", "keep_checkpoints", "logging_steps",
                     "max_skipped_steps_in_row", "max_skipped_steps_fraction"):
        d.get("training", {}).pop(volatile, None)
    method = d.get("training", {}).get("method", "sft")
    for section in ("grpo", "dpo", "orpo"):  # only the method's own settings shape its math
        if section != method:
            d.pop(section, None)
    if method == "sft":  # runs made before the methods existed keep their fingerprint
        d["training"].pop("method", None)
    if not d.get("training", {}).get("init_adapter", "x"):
        d["training"].pop("init_adapter", None)
    if d.get("data", {}).get("value_retrieval") is False:
        # the prompts of runs made before value retrieval existed: such a run resumes with it off
        d["data"].pop("value_retrieval")
    if d.get("data", {}).get("schema_augmentation") is False:
        d["data"].pop("schema_augmentation")  # runs made before the option existed resume unchanged
    for stage in d.get("data", {}).get("stages", []):
        for volatile in ("path", "db_root"):
            stage.pop(volatile, None)
    return d


def diff_keys(a: Any, b: Any, prefix: str = "") -> set[str]:
    """Dotted keys whose values differ between two nested dicts, e.g. {"data.stages.0.limit"}."""
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        a, b = dict(enumerate(a)), dict(enumerate(b))
    if isinstance(a, dict) and isinstance(b, dict):
        out: set[str] = set()
        for k in set(a) | set(b):
            out |= diff_keys(a.get(k), b.get(k), f"{prefix}{k}.")
        return out
    return set() if a == b else {prefix.rstrip(".")}


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


# ---------------------------------------------------------------- overrides


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    return getattr(tp, "__name__", str(tp))


def _coerce(key: str, value: Any, tp: Any) -> Any:
    """Turn `value` into type `tp` or raise ConfigError naming key, value and what is allowed."""

    def bad(allowed: str) -> ConfigError:
        return ConfigError(f"bad value for {key!r}: {value!r} (expected {allowed})")

    origin = typing.get_origin(tp)
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise bad(_type_name(tp))
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if isinstance(value, str) and item_tp is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise bad(_type_name(tp))
        return [_coerce(f"{key}.{i}", v, item_tp) for i, v in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise bad(f"a mapping of {tp.__name__} fields")
        obj = tp()
        _apply(obj, value, key + ".")
        return obj
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "on", "false", "no", "0", "off"):
            return value.lower() in ("true", "yes", "1", "on")
        raise bad("true or false")
    if tp is int:
        if isinstance(value, bool):
            raise bad("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise bad("an integer")
    if tp is float:
        if isinstance(value, bool):
            raise bad("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        raise bad("a number")
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise bad("a string")
    raise bad(_type_name(tp))  # pragma: no cover - every field type is handled above


def _apply(obj: Any, mapping: dict[str, Any], prefix: str = "") -> None:
    hints = typing.get_type_hints(type(obj))
    names = [f.name for f in dataclasses.fields(obj)]
    for raw_key, value in mapping.items():
        head, _, rest = str(raw_key).partition(".")
        key = prefix + head
        if head not in names:
            raise ConfigError(f"unknown key {key!r} (allowed: {', '.join(prefix + n for n in names)})")
        tp = hints[head]
        current = getattr(obj, head)
        if rest:
            if dataclasses.is_dataclass(current):
                _apply(current, {rest: value}, key + ".")
            elif isinstance(current, list) and dataclasses.is_dataclass(typing.get_args(tp)[0]):
                index, _, field_rest = rest.partition(".")
                if not index.isdigit() or int(index) >= len(current) or not field_rest:
                    raise ConfigError(
                        f"unknown key {prefix + raw_key!r}: use {key}.N.<field> with N below {len(current)}"
                    )
                _apply(current[int(index)], {field_rest: value}, f"{key}.{index}.")
            else:
                raise ConfigError(f"unknown key {prefix + raw_key!r}: {key!r} has no sub-keys")
        elif dataclasses.is_dataclass(current) and isinstance(value, dict):
            _apply(current, value, key + ".")
        else:
            setattr(obj, head, _coerce(key, value, tp))


def _validate(cfg: RunConfig) -> None:
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


def apply_overrides(cfg: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Return a copy of `cfg` with nested or dotted-key overrides applied and validated."""
    out = copy.deepcopy(cfg)
    _apply(out, dict(overrides))
    _validate(out)
    return out


def parse_set_args(pairs: list[str]) -> dict[str, Any]:
    """`["training.max_steps=20", ...]` -> {"training.max_steps": 20}; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"bad --set {pair!r}: write it as key=value, e.g. training.max_steps=100")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} not found: pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys, not {type(data).__name__}")
    return data


def build_config(
    preset_name: str,
    config_file: str | Path | None = None,
    set_args: list[str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Preset, then YAML file, then a dict (papermill), then `--set` pairs: later wins."""
    cfg = preset(preset_name)
    merged: list[dict[str, Any]] = []
    if config_file:
        data = load_yaml(config_file)
        if "preset" in data and data["preset"] != preset_name:
            cfg = preset(str(data["preset"]))
        merged.append({k: v for k, v in data.items() if k != "preset"})
    if overrides:
        merged.append(dict(overrides))
    if set_args:
        merged.append(parse_set_args(set_args))
    for layer in merged:
        cfg = apply_overrides(cfg, layer)
    _validate(cfg)
    return cfg


def from_dict(data: dict[str, Any]) -> RunConfig:
    """Rebuild a RunConfig saved with `to_dict` (e.g. from a run manifest)."""
    data = dict(data)
    cfg = preset(data.pop("preset", "arctic-7b-t4"))
    return apply_overrides(cfg, data)



# ---------------------------------------------------------------- inference defaults

ARCTIC_MAX_NEW_TOKENS = 8192  # ArcticTraining bird_eval/infer.py: max_output_len (OmniSQL's infer.py uses 2048)
TINY_MAX_NEW_TOKENS = {TINY_MODEL: 48, TINY_PRETRAINED: 160}  # enough to show the pipeline (the demo answers in 160)


def default_max_new_tokens(cfg: RunConfig) -> int:
    """Arctic's 8192 for a real model, so long reasoning is not cut before its SQL block; small for the tiny ones."""
    return TINY_MAX_NEW_TOKENS.get(cfg.model.name_or_path, ARCTIC_MAX_NEW_TOKENS)


def make_config(
    preset: str,
    run_name: str = "",
    time_budget_minutes: float = 0.0,
    store: str = "",
    data_source: str = "",
    data_path: str = "",
    per_complexity: int = 0,
    limit: int = 0,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Papermill parameters -> RunConfig; empty / zero values keep the preset's choice."""
    layer: dict[str, Any] = {}
    if run_name:
        layer["run_name"] = run_name
    if time_budget_minutes:
        layer["budget.session_minutes"] = time_budget_minutes
    if store:
        layer["store.uri"] = store
    if data_source:
        layer["data.stages.0.source"] = data_source
        layer["data.stages.0.name"] = data_source
    if data_path:
        layer["data.stages.0.path"] = data_path
    if per_complexity:
        layer["data.stages.0.per_complexity"] = per_complexity
    if limit:
        layer["data.stages.0.limit"] = limit
    layer.update(overrides or {})
    return build_config(preset, overrides=layer)


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
