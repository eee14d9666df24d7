"""ResumableTrainer: one training session on the plain HF Trainer that can be cut anywhere.

A session resumes from the run folder's latest valid checkpoint (or starts fresh),
trains until the run is done, the time budget is nearly spent, or a signal arrives,
and always leaves a published checkpoint behind. Sessions chained this way end with
the same adapter (bit for bit on CPU) and the same per-step losses as one
uninterrupted run, because:
  - data is a deterministic, map-style stream read in order (sequential sampler),
    so a resumed Trainer skips straight to its position;
  - optimizer, scheduler, scaler and RNG states come back from the checkpoint;
  - the model is rebuilt fresh and the adapter is loaded once, by the Trainer;
  - checkpoints are saved at step boundaries and published atomically.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import gpu
from .callbacks import CheckpointHookCallback, SessionClock, SignalStopCallback, TimeBudgetCallback, WallClockSaveCallback
from .checkpoints import KaggleCheckpointManager
from .config import RunConfig
from .console import LogFileCallback, SessionProgressCallback


@dataclass
class SessionResult:
    status: str  # "finished" | "paused"
    stop_reason: str  # finished | budget | signal | stopped
    start_step: int
    end_step: int
    max_steps: int
    tokens_seen: int
    elapsed_s: float
    checkpoint: str | None
    run_dir: str

    def summary(self) -> str:
        return (
            f"session {self.status} ({self.stop_reason}): steps {self.start_step} -> {self.end_step} of "
            f"{self.max_steps}, {self.tokens_seen} tokens, {self.elapsed_s:.1f} s; checkpoint {self.checkpoint}"
        )

    def to_dict(self) -> dict:
        return asdict(self)


def _hf_trainer_class():
    from torch.utils.data import SequentialSampler
    from transformers import Trainer

    class _Trainer(Trainer):
        """HF Trainer with an in-order sampler and atomic, validated checkpoint publishing."""

        manager: KaggleCheckpointManager
        clock: SessionClock
        keep_checkpoints: int = 2

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
                    self.manager.update_session(end_step=step, last_save_time=time.time())
                self.accelerator.wait_for_everyone()
            finally:
                if self.args.should_save:
                    shutil.rmtree(self._staging, ignore_errors=True)
                self._staging = None
            self.clock.save_durations.append(time.monotonic() - start)

    return _Trainer


def steps_for(rows: int, cfg: RunConfig, world_size: int = 1) -> int:
    """Optimizer steps of the whole run: explicit max_steps, else one pass over the staged stream."""
    if cfg.training.max_steps:
        return cfg.training.max_steps
    per_step = cfg.training.batch_size * cfg.training.gradient_accumulation_steps * world_size
    return max(1, math.ceil(rows / per_step))


def training_arguments(cfg: RunConfig, run_dir: Path, max_steps: int):
    import torch
    from transformers import TrainingArguments

    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and torch.cuda.get_device_capability()[0] >= 8 and cfg.quantization.compute_dtype in ("auto", "bfloat16")
    fp16 = on_gpu and not bf16 and cfg.quantization.compute_dtype in ("auto", "float16")
    args = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=cfg.training.batch_size,
        gradient_accumulation_steps=cfg.training.gradient_accumulation_steps,
        learning_rate=cfg.training.learning_rate,
        max_steps=max_steps,
        warmup_steps=cfg.training.warmup_steps,
        lr_scheduler_type=cfg.training.lr_scheduler,
        weight_decay=cfg.training.weight_decay,
        max_grad_norm=cfg.training.max_grad_norm,
        optim=cfg.training.optim if on_gpu else "adamw_torch",  # bitsandbytes' paged optimizers need CUDA
        seed=cfg.training.seed,
        data_seed=cfg.training.seed,
        logging_steps=cfg.training.logging_steps,
        save_strategy="steps",
        save_steps=cfg.training.save_steps,
        save_total_limit=None,  # the manager prunes, and never drops the newest valid checkpoint
        train_sampling_strategy="sequential",
        report_to="none",  # TensorBoard is attached explicitly, with the run folder's tb/
        fp16=fp16,
        bf16=bf16,
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


class ResumableTrainer:
    """Runs one session of a run folder. `run()` returns a SessionResult; it never loses a save."""

    def __init__(
        self,
        cfg: RunConfig,
        run_dir: str | Path,
        session_start: float | None = None,
        on_checkpoint=None,
        progress: bool = True,
        callbacks: list | None = None,
        echo=print,
    ):
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.session_start = time.monotonic() if session_start is None else session_start
        self.manager = KaggleCheckpointManager(self.run_dir)
        self.clock = SessionClock(
            deadline=self.session_start + cfg.budget.session_minutes * 60,
            margin_s=cfg.budget.margin_minutes * 60,
        )
        self.on_checkpoint = on_checkpoint
        self.progress = progress
        self.extra_callbacks = list(callbacks or [])
        self.echo = echo  # where the session's info lines go (the demo sends them to a log file)
        self.pushes: list[tuple[int, int]] = []

    def run(self) -> SessionResult:
        import torch
        import transformers.trainer as hf_trainer
        from transformers import set_seed
        from transformers.integrations import TensorBoardCallback
        from transformers.trainer_callback import PrinterCallback

        from .callbacks import AgreeOnStopCallback, any_rank
        from .dataset import RowsDataset, build_rows, collator_for
        from .model import build_model, load_tokenizer
        from .plots import plot_loss_curve

        cfg = self.cfg
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        main = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set these
        devices = gpu.check()
        say = self.echo if main else (lambda *a, **k: None)
        say(gpu.describe(devices), flush=True)

        set_seed(cfg.training.seed)
        tokenizer = load_tokenizer(cfg.model)
        rows, report = build_rows(cfg.data, tokenizer, cfg.training.batch_size, progress=self.progress and main)
        say("data: " + "; ".join(report.lines()), flush=True)
        max_steps = steps_for(len(rows), cfg, world_size)
        args = training_arguments(cfg, self.run_dir, max_steps)  # also sets up the process group, if any

        store = uploader = None
        with args.main_process_first(local=False, desc="prepare the run folder"):
            if main:  # one process owns the run folder, the pull and the pushes
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.manager.clean_staging()
                if cfg.store.uri:
                    from .stores import open_store
                    from .sync import pull_for_session

                    store = open_store(cfg.store.uri)
                    say(pull_for_session(self.run_dir, store, cfg.store.input_root, cfg.fingerprint()).summary(), flush=True)
                self.manager.open_run(cfg.to_dict(), cfg.fingerprint(), max_steps)

        latest = self.manager.latest_valid()
        start_state = json.loads((latest / "trainer_state.json").read_text()) if latest else {}
        start_step = int(start_state.get("global_step", 0))
        tokens_before = int(start_state.get("num_input_tokens_seen", 0))
        if start_step >= max_steps:
            return self._result("finished", "finished", start_step, start_step, max_steps, 0, latest)
        if latest is not None:
            _warn_on_world_size_change(latest, world_size)

        set_seed(cfg.training.seed)  # LoRA init; a resume overwrites it with the checkpoint's adapter
        model = build_model(cfg)
        self.clock.initial_save_estimate_s = _save_estimate(model)

        from torch.utils.tensorboard import SummaryWriter

        budget_cb = TimeBudgetCallback(self.clock)
        signal_cb = SignalStopCallback()
        callbacks = [
            *self.extra_callbacks,  # first: what they ask of `control` is seen by the stop callbacks below
            budget_cb,
            WallClockSaveCallback(cfg.training.save_interval_minutes * 60),
            signal_cb,
            AgreeOnStopCallback(),  # after every callback that decides to save or stop
        ]
        if main:
            callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(self.manager.tb_dir))))
            callbacks.append(LogFileCallback(self.run_dir / "train_log.jsonl"))
            if self.progress:
                callbacks.append(SessionProgressCallback())
        if store is not None:
            from .stores import KaggleStore
            from .uploader import BackgroundUploader

            self.clock.extra_reserve_s = 30.0 if isinstance(store, KaggleStore) else 1.0  # until measured
            uploader = BackgroundUploader(store, self.run_dir, on_measure=self._reserve_upload)
            callbacks.append(CheckpointHookCallback(uploader.submit, skip_final=True))
        if self.on_checkpoint is not None and main:
            callbacks.append(CheckpointHookCallback(self.on_checkpoint))
        trainer = _hf_trainer_class()(
            model=model,
            args=args,
            train_dataset=RowsDataset(rows),
            data_collator=collator_for(cfg.data, tokenizer),
            callbacks=callbacks,
        )
        for printer in (hf_trainer.DEFAULT_PROGRESS_CALLBACK, PrinterCallback):  # they print raw log dicts
            trainer.remove_callback(printer)
        trainer.manager, trainer.clock = self.manager, self.clock
        trainer.keep_checkpoints = cfg.training.keep_checkpoints

        if main:
            self.manager.begin_session(start_step, gpu.describe(devices) + (f" x{world_size} processes" if world_size > 1 else ""))
        trainer.train(resume_from_checkpoint=str(latest) if latest else None)
        end_step = trainer.state.global_step
        by_signal, by_budget = any_rank(signal_cb.received is not None, budget_cb.stopped)
        reason = "signal" if by_signal else "finished" if end_step >= max_steps else "budget" if by_budget else "stopped"
        latest = self.manager.latest_valid(deep=False)
        tokens = max(int(trainer.state.num_input_tokens_seen) - tokens_before, 0)
        if main:
            self.manager.update_session(end_time=time.time(), end_step=end_step, stop_reason=reason, tokens_seen=tokens)
            sessions = self.manager.load_manifest()["sessions"]
            plot_loss_curve(trainer.state.log_history, [s["start_step"] for s in sessions[1:]], self.manager.plot_path)
        if uploader is not None:
            if latest is not None:
                uploader.submit(int(latest.name.split("-")[1]))  # the final push carries the final ledger and plot
            pushed = uploader.close(cfg.store.final_push_timeout_minutes * 60)
            self.pushes = uploader.pushed
            say(f"pushed {len(uploader.pushed)} checkpoint(s) to {store.uri}"
                + ("" if pushed else " (final push still running at the timeout)"), flush=True)
        del trainer, model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        status = "finished" if end_step >= max_steps else "paused"
        return self._result(status, reason, start_step, end_step, max_steps, tokens, latest)

    def _reserve_upload(self, seconds: float) -> None:
        self.clock.extra_reserve_s = seconds

    def _result(self, status, reason, start, end, max_steps, tokens, checkpoint) -> SessionResult:
        return SessionResult(
            status=status,
            stop_reason=reason,
            start_step=start,
            end_step=end,
            max_steps=max_steps,
            tokens_seen=tokens,
            elapsed_s=time.monotonic() - self.session_start,
            checkpoint=str(checkpoint) if checkpoint else None,
            run_dir=str(self.run_dir),
        )


def _warn_on_world_size_change(checkpoint: Path, world_size: int) -> None:
    """Resuming with another number of processes works, but the data order is no longer the one an
    uninterrupted run with the original count would have seen (batches are sharded per process)."""
    import warnings

    saved = json.loads((checkpoint / "checkpoint.json").read_text()).get("world_size", 1)
    if saved != world_size:
        warnings.warn(
            f"{checkpoint.name} was written by {saved} process(es), this session runs {world_size}: training "
            f"continues from step {checkpoint.name.split('-')[1]}, but batches are sharded differently from here on, "
            f"so the result will not match an uninterrupted {saved}-process run bit for bit",
            stacklevel=2,
        )


def _save_estimate(model) -> float:
    """Before the first save: adapter + two Adam moments at a pessimistic 50 MB/s, plus a second."""
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 1.0 + 3 * trainable / 50e6
