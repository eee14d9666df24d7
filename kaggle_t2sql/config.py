"""One typed configuration for a run: its sections as dataclasses, and what of it shapes the training math.

The named presets are in `config_presets.py`, the rules a whole config must meet in `config_checks.py`,
and building one from a preset plus overrides (YAML, `--set`, a dict) in `config_overrides.py`."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

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
