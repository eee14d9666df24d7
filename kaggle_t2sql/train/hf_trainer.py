"""The HF Trainer a session runs: in-order sampling, per-micro-batch seeds, atomic validated checkpoint
publishing (over transformers.Trainer or a TRL trainer), and its TrainingArguments from the run's plan."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..checkpoints import KaggleCheckpointManager
from ..config import RunConfig
from ..data.dataset import RNG_KEY
from ..plan import accumulation as plan_accumulation
from ..plan import batch_seed
from .callbacks import SessionClock
from .session_result import skip_counts


def hf_trainer_class(base=None):
    """The project's Trainer over `base` (transformers.Trainer, or a TRL trainer: `methods.trainer_class`)."""
    import torch
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class _Trainer(base or Trainer):
        """HF Trainer with an in-order sampler and atomic, validated checkpoint publishing."""

        manager: KaggleCheckpointManager
        clock: SessionClock
        keep_checkpoints: int = 2
        nonfinite = None  # NonFiniteStepsCallback: sees every micro-batch's loss

        def training_step(self, model, inputs, num_items_in_batch=None):
            self.seed_micro_batch(inputs)
            loss = super().training_step(model, inputs, num_items_in_batch)
            if self.nonfinite is not None:
                self.nonfinite.saw_loss(loss)
            return loss

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if (base not in (None, Trainer) or return_outputs or self.label_smoother is not None
                    or self.compute_loss_func is not None):  # TRL's trainers keep their own losses
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            from .loss import trainer_loss  # logits at labelled positions only

            return trainer_loss(self, model, inputs, num_items_in_batch)

        def seed_micro_batch(self, inputs):
            torch.manual_seed(batch_seed(self.args.seed, inputs.pop(RNG_KEY)))

        def _get_train_sampler(self, train_dataset=None):
            return SequentialSampler(train_dataset if train_dataset is not None else self.train_dataset)

        def _get_output_dir(self, trial):
            return str(self._staging) if getattr(self, "_staging", None) else super()._get_output_dir(trial)

        def _save_checkpoint(self, model, trial):
            """Every rank writes into one staging folder (rank 0 the model and optimizer, each its RNG
            state); once all are done, rank 0 seals and publishes it."""
            start = time.monotonic()
            step = self.state.global_step
            self._staging = self.manager.staging_dir(step)
            try:
                super()._save_checkpoint(model, trial)
                self.accelerator.wait_for_everyone()
                if self.args.should_save:
                    self.manager.publish(self._staging / f"checkpoint-{step}", step, world_size=self.args.world_size)
                    self.manager.prune(self.keep_checkpoints)
                    self.manager.update_session(end_step=step, last_save_time=time.time(), **skip_counts(self.nonfinite))
                self.accelerator.wait_for_everyone()
            finally:
                if self.args.should_save:
                    shutil.rmtree(self._staging, ignore_errors=True)
                self._staging = None
            self.clock.save_durations.append(time.monotonic() - start)

    return _Trainer


def training_arguments(cfg: RunConfig, run_dir: Path, plan: dict):
    """TrainingArguments for `plan` with this session's process count (`use_plan` updates them)."""
    import torch
    from transformers import TrainingArguments

    from .model import compute_dtype

    on_gpu = torch.cuda.is_available()
    dtype = compute_dtype(cfg.quantization)  # refuses bf16 on a GPU without it
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=cfg.training.batch_size,
        gradient_accumulation_steps=cfg.training.gradient_accumulation_steps,
        learning_rate=cfg.training.learning_rate,
        max_steps=plan["max_steps"],
        warmup_steps=cfg.training.warmup_steps,
        lr_scheduler_type=cfg.training.lr_scheduler,
        weight_decay=cfg.training.weight_decay,
        max_grad_norm=cfg.training.max_grad_norm,
        optim=_optimizer(cfg.training.optim, on_gpu),
        seed=cfg.training.seed,
        data_seed=cfg.training.seed,
        logging_steps=cfg.training.logging_steps,
        save_strategy="steps",
        save_steps=cfg.training.save_steps,
        save_total_limit=None,  # the manager prunes, and never drops the newest valid checkpoint
        train_sampling_strategy="sequential",
        report_to="none",  # TensorBoard is attached explicitly, with the run folder's tb/
        fp16=on_gpu and dtype == torch.float16,
        bf16=on_gpu and dtype == torch.bfloat16,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        dataloader_pin_memory=on_gpu,
        remove_unused_columns=False,
        include_num_input_tokens_seen=True,
        # no gradient_checkpointing here (a deprecated name in transformers 5): it is enabled on the model, before LoRA
        ddp_find_unused_parameters=False,
        ddp_backend="gloo" if not on_gpu and int(os.environ.get("WORLD_SIZE", "1")) > 1 else None,
    )
    return args


def _optimizer(optim: str, on_gpu: bool) -> str:
    """AdamW, fused on a GPU; bitsandbytes' 8-bit optimizers need CUDA, so on a CPU plain AdamW."""
    if not on_gpu:
        return "adamw_torch"
    return "adamw_torch_fused" if optim == "adamw_torch" else optim


def use_plan(args, plan: dict, batch_size: int, world_size: int) -> str | None:
    """Set max_steps and the accumulation that keeps the plan's global batch; a note when it changed."""
    args.max_steps = plan["max_steps"]
    accumulation = plan_accumulation(plan, batch_size, world_size)
    if accumulation == args.gradient_accumulation_steps:
        return None
    args.gradient_accumulation_steps = accumulation
    return (f"run plan: global batch {plan['global_batch']} kept with {world_size} process(es) instead of "
            f"{plan['world_size']}: gradient accumulation {accumulation}")
