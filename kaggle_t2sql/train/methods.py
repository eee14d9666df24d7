"""Learning from execution: the `dpo`, `orpo` and `grpo` training methods on TRL's trainers.

TRL's DPOTrainer, ORPOTrainer (trl.experimental) and GRPOTrainer subclass transformers.Trainer, so
`ResumableTrainer` runs them with its session budget, signals, checkpoint publishing, pushes and ledger
unchanged; this module gives each its data, arguments and trainer class. What TRL 1.16 does that this
project must undo or refuse (checked on this stack, see ARCHITECTURE.md):

  - its configs default bf16=True and gradient_checkpointing=True, and DPO/ORPO cut at max_length=1024:
    every TrainingArguments field is copied from the project's own arguments, max_length is the run's
    data.max_seq_length;
  - for a 4-bit base it casts the trainable LoRA weights to bf16 (small updates vanish; fp16 AMP on a
    T4 fails to unscale them): they are cast back to fp32 once the trainer is built;
  - GRPO buffers generations between steps and does not checkpoint them, so a resume is exact only when
    each step generates afresh (steps_per_generation == gradient_accumulation_steps, num_iterations == 1);
    anything else is refused;
  - DPO adds a frozen `ref` copy of the adapter: checkpoints hold the policy (`default`) only, so
    `eval` / `export` load the policy, and a resumed session rebuilds `ref` from the run's start adapter.

Each micro-batch's randomness (GRPO's sampling, LoRA dropout) is seeded from its position in the run
(optimizer step, micro-batch), so a resumed session draws what an uninterrupted one would.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..config import RunConfig
from ..errors import ConfigError, DataError

TRL_METHODS = ("dpo", "orpo", "grpo")


# ---------------------------------------------------------------- adapters (the start adapter: init_adapter.py)


def lora_fp32(model) -> int:
    """Cast every trainable parameter to fp32 (TRL casts them to bf16 for 4-bit bases); returns how many."""
    import torch

    cast = 0
    for p in model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
            cast += 1
    return cast


# ---------------------------------------------------------------- data


@dataclass
class MethodData:
    """Rows for TRL (dicts), the rows the run plan fingerprints (token ids), and the data report's lines."""

    rows: list[dict]
    fingerprint_rows: list[dict]
    notes: list[str] = field(default_factory=list)
    rows_per_item: int = 1  # completions each row trains (GRPO: num_generations)

    def lines(self) -> list[str]:
        return self.notes


def grpo_rows(cfg: RunConfig, tokenizer, progress: bool = False) -> MethodData:
    """Each example of the configured stages (any source with gold SQL) as a prompt and what the reward needs."""
    from ..data.curriculum import training_stream
    from ..data.tokenization import prompt_text

    stream, plans = training_stream(cfg.data)
    rows, fingerprint = [], []
    memo: dict = {}
    for ex in stream:
        if ex not in memo:
            prompt = prompt_text(ex, tokenizer, cfg.data.prompt_style, cfg.data.value_limit, cfg.data.value_retrieval)
            memo[ex] = ({"prompt": prompt, "db_id": ex.db_id, "db_path": ex.db_path, "gold_sql": ex.sql},
                        {"input_ids": tokenizer(prompt, add_special_tokens=False)["input_ids"],
                         "labels": tokenizer(ex.sql, add_special_tokens=False)["input_ids"]})
        rows.append(memo[ex][0])
        fingerprint.append(memo[ex][1])
    notes = [f"stage {p.name}: {p.count} prompts" for p in plans]
    notes.append(f"grpo: {len(rows)} prompts x {cfg.grpo.num_generations} completions")
    return MethodData(rows, fingerprint, notes, rows_per_item=cfg.grpo.num_generations)


def read_pairs(path: str | Path) -> list[dict]:
    """A `sample` run's pairs.jsonl: each line needs prompt, chosen and rejected."""
    from ..kaggle.env import resolve_input

    path = Path(resolve_input(str(path)))
    if path.is_dir():
        path = path / "pairs.jsonl"
    if not path.is_file():
        raise DataError(f"{path} not found: give the pairs.jsonl written by `kaggle-t2sql sample` (stage path)")
    pairs = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: malformed JSON ({exc.msg})") from None
        missing = [k for k in ("prompt", "chosen", "rejected") if not isinstance(item.get(k), str) or not item[k]]
        if missing:
            raise DataError(f"{path}:{lineno}: missing {', '.join(missing)}; each pair needs prompt, chosen and rejected")
        pairs.append(item)
    return pairs


def pair_rows(cfg: RunConfig, tokenizer) -> MethodData:
    """The `pairs` stages, in order and repeated for their epochs; each completion closed with `<|im_end|>`."""
    from ..data.tokenization import END_OF_TURN

    rows, fingerprint, notes = [], [], []
    for stage in cfg.data.stages:
        pairs = read_pairs(stage.path)
        if stage.limit:
            pairs = pairs[: stage.limit]
        if not pairs:
            raise DataError(f"stage {stage.name!r}: {stage.path} holds no pairs (no question had both a correct and "
                            "a wrong candidate): sample more (--samples, --limit) or use --gold-as-chosen")
        notes.append(f"stage {stage.name}: {len(pairs)} pairs x {stage.epochs} epoch(s)")
        for _ in range(stage.epochs):
            for p in pairs:
                row = {"prompt": p["prompt"], "chosen": p["chosen"] + END_OF_TURN, "rejected": p["rejected"] + END_OF_TURN}
                rows.append(row)
                fingerprint.append({"input_ids": tokenizer(row["prompt"] + row["chosen"], add_special_tokens=False)["input_ids"],
                                    "labels": tokenizer(row["rejected"], add_special_tokens=False)["input_ids"]})
    return MethodData(rows, fingerprint, notes)


def method_data(cfg: RunConfig, tokenizer, progress: bool = False) -> MethodData:
    return grpo_rows(cfg, tokenizer, progress) if cfg.training.method == "grpo" else pair_rows(cfg, tokenizer)


def planned_rows(data: MethodData, plan: dict) -> list[dict]:
    """The rows the run trains, in order, cycled or cut to the plan's length (as SFT's RowsDataset)."""
    per_step = plan["global_batch"] // data.rows_per_item
    length = plan["max_steps"] * per_step
    return [data.rows[i % len(data.rows)] for i in range(length)]


# ---------------------------------------------------------------- arguments


def method_arguments(cfg: RunConfig, args):
    """The TRL config of `cfg.training.method`, every TrainingArguments field copied from `args`."""
    import dataclasses

    from transformers import TrainingArguments

    method = cfg.training.method
    if method == "grpo":
        from trl import GRPOConfig as Config

        extra = {"num_generations": cfg.grpo.num_generations, "temperature": cfg.grpo.temperature,
                 "max_completion_length": cfg.grpo.max_completion_length, "beta": cfg.grpo.beta,
                 "steps_per_generation": args.gradient_accumulation_steps, "num_iterations": 1,
                 "shuffle_dataset": False, "log_completions": False, "use_vllm": False,
                 "include_num_input_tokens_seen": False}  # GRPO's batches are prompts, not token ids
    elif method == "dpo":
        from trl import DPOConfig as Config

        extra = {"beta": cfg.dpo.beta, "max_length": cfg.data.max_seq_length, "precompute_ref_log_probs": False}
    else:
        from trl.experimental.orpo import ORPOConfig as Config

        extra = {"beta": cfg.orpo.beta, "max_length": cfg.data.max_seq_length,
                 "max_completion_length": cfg.data.max_seq_length}
    names = {f.name for f in dataclasses.fields(TrainingArguments) if f.init}
    copied = {n: getattr(args, n) for n in names if hasattr(args, n)}
    copied.pop("gradient_checkpointing", None)
    for key in extra:
        copied.pop(key, None)
    # The model is set up for gradient checkpointing (or not) by model.add_lora; TRL would enable it again.
    out = Config(**copied, gradient_checkpointing=False, **extra)
    out.remove_unused_columns = False
    if method == "grpo":
        check_exact_resume(out)
    return out


def check_exact_resume(args) -> None:
    """Refuse GRPO settings whose resume is inexact: buffered generations are not checkpointed."""
    problems = []
    if args.steps_per_generation != args.gradient_accumulation_steps:
        problems.append(f"steps_per_generation ({args.steps_per_generation}) != gradient_accumulation_steps "
                        f"({args.gradient_accumulation_steps})")
    if args.num_iterations != 1:
        problems.append(f"num_iterations ({args.num_iterations}) != 1")
    if problems:
        raise ConfigError("GRPO settings refused: " + "; ".join(problems) + ". Generations buffered for later "
                          "steps are not saved in checkpoints, so a session resumed between them would train on "
                          "different completions than an uninterrupted run")


# ---------------------------------------------------------------- trainers


def reward_fn(judge):
    """Arctic's execution reward as a TRL reward function (named so TRL logs rewards/execution/mean)."""
    from ..data.prompts import extract_sql

    def execution(prompts, completions, db_id, db_path, gold_sql, **_):
        verdicts = judge.judge([(d, p, g, extract_sql(c)) for d, p, g, c in zip(db_id, db_path, gold_sql, completions)])
        return [v.reward for v in verdicts]

    return execution


def trainer_class(method: str, project_base):
    """`project_base(base)` is hf_trainer.py's checkpoint-publishing Trainer over `base`; the TRL class for `method`
    is mixed in, with seeding by position and (DPO) policy-only checkpoints."""
    import torch

    if method == "grpo":
        from trl import GRPOTrainer as Base
    elif method == "dpo":
        from trl import DPOTrainer as Base
    else:
        from trl.experimental.orpo import ORPOTrainer as Base
    from ..plan import batch_seed

    Project = project_base(Base)

    class MethodTrainer(Project):
        _seed_step, _micro = -1, 0

        def seed_micro_batch(self, inputs):
            """Seed from (optimizer step, micro-batch): the same draw in a resumed session as in an uninterrupted one."""
            step = self.state.global_step
            if step != self._seed_step:
                self._seed_step, self._micro = step, 0
            torch.manual_seed(batch_seed(self.args.seed, step * 1_000_003 + self._micro))
            self._micro += 1

        def _get_train_sampler(self, train_dataset=None):
            if method == "grpo":  # groups: each prompt repeated num_generations times, in order (shuffle off)
                return Base._get_train_sampler(self, train_dataset)
            return super()._get_train_sampler(train_dataset)

        def _save(self, output_dir=None, state_dict=None):
            """The policy adapter only (DPO's frozen `ref` copy stays out of checkpoints and exports)."""
            import os

            output_dir = output_dir or self.args.output_dir
            if self.args.should_save:
                os.makedirs(output_dir, exist_ok=True)
                self.model.save_pretrained(output_dir, selected_adapters=["default"], is_main_process=True)

        def create_model_card(self, *args, **kwargs):  # TRL writes a README into the run folder at each save
            return None

    return MethodTrainer


@dataclass
class SessionMetrics:
    """The method's numbers of one session, for the ledger: means of what TRL logged."""

    method: str
    values: dict[str, list[float]] = field(default_factory=dict)

    KEYS = {"grpo": {"reward": "reward", "frac_reward_zero_std": "zero_std_share"},
            "dpo": {"rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin"},
            "orpo": {"rewards/accuracies": "reward_accuracy", "rewards/margins": "reward_margin"}}

    def callback(self):
        from transformers import TrainerCallback

        metrics = self

        class Collect(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                for key, name in metrics.KEYS.get(metrics.method, {}).items():
                    value = (logs or {}).get(key)
                    if isinstance(value, (int, float)) and math.isfinite(value):
                        metrics.values.setdefault(name, []).append(float(value))

        return Collect()

    def session_fields(self) -> dict:
        return {k: round(sum(v) / len(v), 6) for k, v in self.values.items() if v}


def rows_dataset(rows: list[dict]):
    """A `datasets.Dataset` of `rows` fingerprinted by their content. Left to itself, `Dataset.from_list` hashes
    its arrow table with dill, which fails inside a Jupyter kernel ("Can't pickle <class 'MonthDayNano'>",
    seen in the emulated Kaggle session running the train notebook under papermill)."""
    import hashlib

    from datasets import Dataset
    from datasets.table import InMemoryTable

    digest = hashlib.sha256(json.dumps(rows, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]
    return Dataset(InMemoryTable.from_pylist(rows), fingerprint=digest)


class LearningMethod:
    """One TRL method for one session: data, arguments, trainer, and its ledger numbers."""

    def __init__(self, cfg: RunConfig):
        self.cfg, self.method = cfg, cfg.training.method
        self.metrics = SessionMetrics(self.method)
        self.judge = None
        self.data: MethodData | None = None

    def build_rows(self, tokenizer, progress: bool = False) -> tuple[list[dict], MethodData]:
        """(rows the plan fingerprints, a report with `lines()`)."""
        self.data = method_data(self.cfg, tokenizer, progress)
        return self.data.fingerprint_rows, self.data

    @property
    def plan_rows(self) -> int:
        """The plan's row count: what one pass trains (GRPO: prompts x num_generations completions)."""
        return len(self.data.rows) * self.data.rows_per_item

    def build_trainer(self, project_base, model, args, plan: dict, callbacks: list, tokenizer):
        from datasets import Dataset

        from ..data.tokenization import end_of_turn_id

        cfg = self.cfg
        trl_args = method_arguments(cfg, args)
        dataset = rows_dataset(planned_rows(self.data, plan))
        eos = model.generation_config.eos_token_id
        eos = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
        model.generation_config.eos_token_id = sorted({*eos, end_of_turn_id(tokenizer)})  # Arctic stops at <|im_end|>
        kwargs = {}
        if self.method == "grpo":
            from .reward import ExecutionJudge

            self.judge = ExecutionJudge(workers=1)
            kwargs["reward_funcs"] = [reward_fn(self.judge)]
        trainer = trainer_class(self.method, project_base)(
            model=model, args=trl_args, train_dataset=dataset, processing_class=tokenizer,
            callbacks=[self.metrics.callback(), *callbacks], **kwargs)
        lora_fp32(trainer.model)
        return trainer

    def session_fields(self) -> dict:
        return self.metrics.session_fields()

    def close(self) -> None:
        if self.judge is not None:
            self.judge.close()


def learning_method(cfg: RunConfig) -> LearningMethod | None:
    """The TRL method of `cfg`, or None for plain SFT (trainer.py's own path)."""
    return LearningMethod(cfg) if cfg.training.method in TRL_METHODS else None
