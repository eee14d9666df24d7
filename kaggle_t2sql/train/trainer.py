"""ResumableTrainer: one training session on the plain HF Trainer that can be cut anywhere.

A session resumes from the run folder's latest valid checkpoint (or starts fresh),
trains until the run is done, the time budget is nearly spent, or a signal arrives,
and always leaves a published checkpoint behind. Sessions chained this way end with
the same adapter (bit for bit on CPU) and the same per-step losses as one
uninterrupted run, because:
  - data is a deterministic, map-style stream read in order (sequential sampler),
    so a resumed Trainer skips straight to its position;
  - the run's plan (global batch, max_steps, data fingerprint) is fixed when it starts, and
    another process count keeps the global batch by changing gradient accumulation;
  - each micro-batch's randomness (LoRA dropout) is seeded from its position in the stream,
    so it is the same whichever session or process trains it;
  - optimizer, scheduler and scaler states come back from the checkpoint;
  - the model is rebuilt fresh and the adapter is loaded once, by the Trainer;
  - checkpoints are saved at step boundaries and published atomically.
The HF Trainer it runs and its arguments are in `hf_trainer.py`; what a session reports, in `session_result.py`.
"""

from __future__ import annotations

import json
import os
import time
import traceback
import warnings
from pathlib import Path

from .. import gpu
from .callbacks import (CheckpointHookCallback, SessionClock, SessionStepsCallback, SignalStopCallback, TimeBudgetCallback,
                        WallClockSaveCallback)
from ..checkpoints import KaggleCheckpointManager, step_of
from ..config import RunConfig
from .console import LogFileCallback, SessionProgressCallback
from ..plan import batch_seed  # noqa: F401 - documented here (docs/layout.md); the seeding is in hf_trainer.py
from .hf_trainer import hf_trainer_class, training_arguments, use_plan
from .session_result import SessionFailed, SessionResult, describe_failure, skip_counts


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
        """One session, holding the run folder's lock all along (runlock.py): a second writer is refused."""
        from .model import compute_dtype
        from ..runlock import group_run_lock

        gpu.check()  # an unusable GPU or dtype is refused before the run folder is touched (even by its lock)
        compute_dtype(self.cfg.quantization)
        with group_run_lock(self.run_dir, "train"):
            return self._session()

    def _session(self) -> SessionResult:
        import torch
        from transformers import set_seed
        from transformers.integrations import TensorBoardCallback

        from .callbacks import AgreeOnStopCallback, NonFiniteStepsCallback, any_rank
        from ..data.dataset import RowsDataset, build_rows, collator_for
        from .model import build_model, load_tokenizer
        from ..plan import data_fingerprint, make_plan
        from .plots import plot_loss_curve

        cfg = self.cfg
        world_size = int(os.environ.get("WORLD_SIZE", "1"))
        main = int(os.environ.get("RANK", "0")) == 0  # torchrun / accelerate launch set these
        devices = gpu.check()
        say = self.echo if main else (lambda *a, **k: None)
        say(gpu.describe(devices), flush=True)

        set_seed(cfg.training.seed)
        tokenizer = load_tokenizer(cfg.model)
        from .methods import learning_method

        method = learning_method(cfg)  # dpo / orpo / grpo on TRL's trainers; None: SFT
        if method is None:
            rows, report = build_rows(cfg.data, tokenizer, cfg.training.batch_size, progress=self.progress and main)
        else:
            rows, report = method.build_rows(tokenizer, progress=self.progress and main)
        say("data: " + "; ".join(report.lines()), flush=True)
        plan_rows = len(rows) if method is None else method.plan_rows
        plan = make_plan(cfg.training, plan_rows, data_fingerprint(rows, tokenizer), world_size, cfg.fingerprint())
        args = training_arguments(cfg, self.run_dir, plan)  # also sets up the process group, if any

        store = uploader = None
        with args.main_process_first(local=False, desc="prepare the run folder"):
            if main:  # one process owns the run folder, the pull and the pushes
                self.run_dir.mkdir(parents=True, exist_ok=True)
                self.manager.clean_staging()
                if cfg.store.uri:
                    from ..kaggle.store_uri import open_store
                    from ..kaggle.sync import pull_for_session

                    store = open_store(cfg.store.uri)
                    say(pull_for_session(self.run_dir, store, cfg.store.input_root, cfg.to_dict(), plan=plan).summary(),
                        flush=True)
                self.manager.open_run(cfg.to_dict(), cfg.fingerprint(), plan)
        plan = self.manager.load_manifest()["plan"]  # the run's, fixed when it started
        note = use_plan(args, plan, cfg.training.batch_size, world_size)
        if note:
            say(note, flush=True)
        max_steps = plan["max_steps"]

        latest = self.manager.latest_valid()
        start_state = json.loads((latest / "trainer_state.json").read_text()) if latest else {}
        start_step = int(start_state.get("global_step", 0))
        tokens_before = int(start_state.get("num_input_tokens_seen", 0))
        if start_step >= max_steps:
            return self._result("finished", "finished", start_step, start_step, max_steps, 0, latest)

        set_seed(cfg.training.seed)  # LoRA init; a resume overwrites it with the checkpoint's adapter
        model = build_model(cfg)
        if cfg.training.init_adapter:
            from .init_adapter import load_configured_init_adapter

            say(f"init adapter: {load_configured_init_adapter(model, cfg)}", flush=True)
        self.clock.initial_save_estimate_s = _save_estimate(model)

        from torch.utils.tensorboard import SummaryWriter

        budget_cb = TimeBudgetCallback(self.clock)
        steps_cb = SessionStepsCallback(start_step, cfg.budget.session_steps)
        signal_cb = SignalStopCallback()
        nonfinite_cb = NonFiniteStepsCallback(cfg.training.max_skipped_steps_in_row, cfg.training.max_skipped_steps_fraction,
                                              scaler=args.fp16)
        callbacks = [
            *self.extra_callbacks,  # first: what they ask of `control` is seen by the stop callbacks below
            budget_cb,
            steps_cb,
            WallClockSaveCallback(cfg.training.save_interval_minutes * 60),
            signal_cb,
            nonfinite_cb,
            AgreeOnStopCallback(),  # after every callback that decides to save or stop
        ]
        if main:
            callbacks.append(TensorBoardCallback(tb_writer=SummaryWriter(log_dir=str(self.manager.tb_dir))))
            callbacks.append(LogFileCallback(self.run_dir / "train_log.jsonl"))
            if self.progress:
                callbacks.append(SessionProgressCallback())
        if store is not None:
            from ..kaggle.kaggle_store import KaggleStore
            from ..kaggle.uploader import BackgroundUploader

            measured = [u for u in (x.get("upload_s") for x in self.manager.load_manifest()["sessions"]) if u]
            # until measured in this session: the last session's measured upload time, else an estimate
            self.clock.extra_reserve_s = measured[-1] if measured else _upload_estimate(model, isinstance(store, KaggleStore))
            from ..kaggle.sync import carry_dir

            uploader = BackgroundUploader(store, self.run_dir, on_measure=self._reserve_upload, carry=carry_dir(self.run_dir),
                                          min_interval_s=cfg.store.push_interval_minutes * 60,
                                          max_versions=cfg.store.max_versions,
                                          retry_delays_s=tuple(cfg.store.push_retry_seconds))
            callbacks.append(CheckpointHookCallback(uploader.submit, skip_final=True))
        if self.on_checkpoint is not None and main:
            callbacks.append(CheckpointHookCallback(self.on_checkpoint))
        if method is not None:
            trainer = method.build_trainer(hf_trainer_class, model, args, plan, callbacks, tokenizer)
        else:
            trainer = hf_trainer_class()(
                model=model,
                args=args,
                train_dataset=RowsDataset(rows, max_steps * plan["global_batch"]),
                data_collator=collator_for(cfg.data, tokenizer),
                callbacks=callbacks,
            )
        from transformers.trainer_callback import PrinterCallback, ProgressCallback
        from transformers.utils.notebook import NotebookProgressCallback

        # HF's own bars and printer show raw log dicts; in a notebook its NotebookProgressCallback also divides by
        # a rate it has not measured yet when a session ends after 0-1 steps (TypeError, transformers 5.x), which a
        # resumed Kaggle session can do. SessionProgressCallback (above) is the one bar, in notebooks too.
        for printer in (NotebookProgressCallback, ProgressCallback, PrinterCallback):
            trainer.remove_callback(printer)
        trainer.manager, trainer.clock = self.manager, self.clock
        trainer.keep_checkpoints = cfg.training.keep_checkpoints
        trainer.nonfinite = nonfinite_cb

        if main:
            self.manager.begin_session(start_step, gpu.describe(devices) + (f" x{world_size} processes" if world_size > 1 else ""))
        failure = None
        try:
            trainer.train(resume_from_checkpoint=str(latest) if latest else None)
        except BaseException as exc:  # noqa: BLE001 - OOM, disk full, a driver error, a 2nd Ctrl-C: push what is saved first
            failure = exc
            if main:
                traceback.print_exception(exc)
        finally:
            signal_cb.restore()
            if method is not None:
                method.close()
        latest = self.manager.latest_valid()  # full sha256 check: what is reported and pushed must be sound
        if failure is None:
            end_step = trainer.state.global_step
            by_signal, by_budget = any_rank(signal_cb.received is not None, budget_cb.stopped or steps_cb.stopped)
            reason = ("signal" if by_signal else "finished" if end_step >= max_steps else
                      "nonfinite" if nonfinite_cb.stopped else "budget" if by_budget else "stopped")
            error = nonfinite_cb.message if reason == "nonfinite" else ""
            tokens = max(int(trainer.state.num_input_tokens_seen) - tokens_before, 0)
        else:  # the work that counts is what the newest valid checkpoint holds
            end_step = step_of(latest) if latest is not None else start_step
            reason = "interrupted" if isinstance(failure, KeyboardInterrupt) else "error"
            error = describe_failure(failure)
            saved = json.loads((latest / "trainer_state.json").read_text()) if latest is not None else {}
            tokens = max(int(saved.get("num_input_tokens_seen", tokens_before)) - tokens_before, 0)
        if main:
            try:
                uploads = {"upload_s": round(max(uploader.durations), 3)} if uploader is not None and uploader.durations else {}
                self.manager.update_session(end_time=time.time(), end_step=end_step, stop_reason=reason, tokens_seen=tokens,
                                            method=cfg.training.method,
                                            **(method.session_fields() if method is not None else {}),
                                            **({"error": error} if error else {}), **skip_counts(nonfinite_cb), **uploads)
                sessions = self.manager.load_manifest()["sessions"]
                plot_loss_curve(trainer.state.log_history, [s["start_step"] for s in sessions[1:]], self.manager.plot_path)
            except Exception as exc:  # noqa: BLE001 - e.g. the disk is full: the push below matters more
                if failure is None:
                    raise
                warnings.warn(f"the session's ledger entry could not be written ({exc})", stacklevel=1)
        not_pushed, push_errors = [], []
        if uploader is not None:
            final_step = step_of(latest) if latest is not None else None
            if final_step is not None:
                uploader.submit(final_step, final=True)  # the final push carries the final ledger and plot
            done = uploader.close(cfg.store.final_push_timeout_minutes * 60)
            self.pushes = uploader.pushed
            not_pushed, push_errors = uploader.not_pushed, uploader.errors
            if not done and final_step is not None and final_step > uploader.last_pushed_step:
                not_pushed = sorted(set(not_pushed) | {final_step})
                push_errors = [*push_errors, f"final push still running after {cfg.store.final_push_timeout_minutes:g} min"]
            say(f"pushed {len(uploader.pushed)} checkpoint(s) to {store.uri}"
                + (f"; not pushed: step(s) {not_pushed}" if not_pushed else ""), flush=True)
        del trainer, model
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        status = "finished" if end_step >= max_steps else "failed" if failure is not None else "paused"
        result = self._result(status, reason, start_step, end_step, max_steps, tokens, latest, not_pushed, push_errors)
        result.error, result.skipped_steps, result.nonfinite_loss_steps = error, nonfinite_cb.skipped, nonfinite_cb.nonfinite_loss
        if isinstance(failure, Exception):
            raise SessionFailed(result) from failure
        if failure is not None:
            raise failure
        return result

    def _reserve_upload(self, seconds: float) -> None:
        self.clock.extra_reserve_s = seconds

    def _result(self, status, reason, start, end, max_steps, tokens, checkpoint, not_pushed=(), push_errors=()) -> SessionResult:
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
            not_pushed=list(not_pushed),
            push_errors=list(push_errors),
        )


def _upload_estimate(model, remote: bool) -> float:
    """Before the first push is measured: adapter + two Adam moments at a pessimistic 20 MB/s, plus 5 s of
    API round trips (Kaggle); a second for a local store."""
    if not remote:
        return 1.0
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 5.0 + 3 * trainable / 20e6


def _save_estimate(model) -> float:
    """Before the first save: adapter + two Adam moments at a pessimistic 50 MB/s, plus a second."""
    trainable = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    return 1.0 + 3 * trainable / 50e6
