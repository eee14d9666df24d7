"""Trainer callbacks, one concern each: when to save, when to stop. They only set flags on
`control`; the Trainer then saves at the step boundary, which is what makes a stop clean."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field

from transformers import TrainerCallback


@dataclass
class SessionClock:
    """Wall-clock facts of one session, shared by the callbacks and the trainer."""

    deadline: float  # time.monotonic() by which the session must have saved and stopped
    margin_s: float = 0.0
    initial_save_estimate_s: float = 5.0
    save_durations: list[float] = field(default_factory=list)
    step_durations: list[float] = field(default_factory=list)
    extra_reserve_s: float = 0.0  # e.g. the measured time of a checkpoint upload
    wrap_up_s: float = 2.0  # after the last save: ledger, loss plot, releasing the model

    def reserve(self) -> float:
        """Room to keep before the deadline: one more step, one save, the upload, wrap-up, the margin."""
        save = max(self.save_durations) if self.save_durations else self.initial_save_estimate_s
        step = max(self.step_durations[-20:]) if self.step_durations else 0.0
        return step + save + self.extra_reserve_s + self.wrap_up_s + self.margin_s

    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class TimeBudgetCallback(TrainerCallback):
    """Save and stop while there is still time for it before the session deadline."""

    def __init__(self, clock: SessionClock):
        self.clock = clock
        self.stopped = False
        self._step_start: float | None = None

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_start = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_start is not None:
            self.clock.step_durations.append(time.monotonic() - self._step_start)
        if self.clock.remaining() <= self.clock.reserve() and state.global_step < state.max_steps:
            control.should_save = True
            control.should_training_stop = True
            self.stopped = True


class SessionStepsCallback(TrainerCallback):
    """Save and stop once this session has made `steps` steps (budget.session_steps): a chain cut by step count,
    whatever the machine's speed, e.g. a dry run of the whole Kaggle path before a 12-hour session."""

    def __init__(self, start_step: int, steps: int):
        self.stop_at = start_step + steps if steps > 0 else None
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.stop_at is not None and self.stop_at <= state.global_step < state.max_steps:
            control.should_save = True
            control.should_training_stop = True
            self.stopped = True


class WallClockSaveCallback(TrainerCallback):
    """Save every `interval_s` seconds of wall clock, on top of the step-based saves."""

    def __init__(self, interval_s: float):
        self.interval_s = interval_s
        self._last = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.interval_s > 0 and time.monotonic() - self._last >= self.interval_s:
            control.should_save = True

    def on_save(self, args, state, control, **kwargs):
        self._last = time.monotonic()


class SignalStopCallback(TrainerCallback):
    """SIGTERM/SIGINT: finish the current step, save, stop. A second signal is left to the default."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.received: int | None = None
        self._previous = {}

    def _handler(self, signum, frame):
        self.received = signum
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))

    def on_train_begin(self, args, state, control, **kwargs):
        for sig in self.SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread: signals cannot be caught here
                pass

    def on_step_end(self, args, state, control, **kwargs):
        if self.received is not None:
            control.should_save = True
            control.should_training_stop = True

    def on_train_end(self, args, state, control, **kwargs):
        self.restore()

    def restore(self) -> None:
        """Give the signals back to their previous handlers (also when training ended by an exception)."""
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous.clear()


def any_rank(*flags: bool) -> tuple[bool, ...]:
    """Each flag True on every process when it is True on any (one all-reduce; no-op when not distributed)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return tuple(bool(f) for f in flags)
    import torch

    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([int(bool(f)) for f in flags], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return tuple(bool(v) for v in t.tolist())


class AgreeOnStopCallback(TrainerCallback):
    """Data-parallel runs: every process saves and stops at the same step.

    Budget, wall clock and signals are seen per process; one all-reduce per step makes
    the union of their decisions everyone's (a save that only some ranks enter would hang).
    Must come after the callbacks that decide.
    """

    def on_step_end(self, args, state, control, **kwargs):
        if args.world_size > 1:
            control.should_save, control.should_training_stop = any_rank(control.should_save, control.should_training_stop)


class CheckpointHookCallback(TrainerCallback):
    """Tell the outside world (e.g. the background uploader) that a checkpoint was published.

    With `skip_final`, the save that ends the session is left to the caller, who pushes it
    after the ledger and plot are final (one push of that checkpoint, not two).
    """

    def __init__(self, hook, skip_final: bool = False):
        self.hook = hook
        self.skip_final = skip_final

    def on_save(self, args, state, control, **kwargs):
        if not (self.skip_final and control.should_training_stop):
            self.hook(state.global_step)


class NonFiniteStepsCallback(TrainerCallback):
    """fp16 overflow and NaN: count the optimizer steps whose update had to be skipped, and stop before a
    run trains on for hours learning nothing.

    A step is skipped when any trainable gradient is not finite (an fp16 overflow, or a NaN/inf loss).
    With fp16 the GradScaler skips it (and lowers its scale); without a scaler (bf16, fp32, CPU) nothing
    would, and one such step would turn the adapter into NaN, so the gradients are dropped here and the
    optimizer leaves every weight as it was. Either way `global_step` advances and HF's NaN filter hides
    the loss from the log: these counts are the only trace. Past `max_in_row` skipped steps in a row, or
    `max_in_row` in the session that are also more than `max_fraction` of its steps, the session saves
    (the adapter is intact) and stops, with `message` saying why.

    The decision rests on the gradients, which data-parallel ranks share after their all-reduce, so
    every rank decides the same.
    """

    def __init__(self, max_in_row: int = 5, max_fraction: float = 0.02, scaler: bool = False):
        self.max_in_row, self.max_fraction, self.scaler = max_in_row, max_fraction, scaler
        self.steps = self.skipped = self.in_row = self.nonfinite_loss = 0
        self.stopped = False
        self.message = ""
        self._loss_bad = None  # tensor flag over this step's micro-batches (no device sync per micro-batch)
        self._skip = False

    def saw_loss(self, loss) -> None:
        """Called by the trainer with each micro-batch's loss."""
        import torch

        bad = ~torch.isfinite(loss.detach()).all()
        self._loss_bad = bad if self._loss_bad is None else self._loss_bad | bad

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        import torch

        grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
        self._skip = bool(grads) and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())
        if self._skip and not self.scaler:  # no GradScaler to skip it: an update without gradients changes nothing
            for p in model.parameters():
                p.grad = None

    def on_step_end(self, args, state, control, **kwargs):
        loss_bad = bool(self._loss_bad) if self._loss_bad is not None else False
        self._loss_bad = None
        self.steps += 1
        self.nonfinite_loss += loss_bad
        if not self._skip:
            self.in_row = 0
            return
        self._skip = False
        self.skipped += 1
        self.in_row += 1
        too_many = self.skipped >= self.max_in_row and self.skipped > self.max_fraction * self.steps
        if self.in_row >= self.max_in_row or too_many:
            what = (f"{self.in_row} steps in a row" if self.in_row >= self.max_in_row
                    else f"{self.skipped} of this session's {self.steps} steps")
            self.message = (
                f"stopped at step {state.global_step}: {what} had non-finite gradients and were skipped "
                f"({self.skipped} skipped this session, {self.nonfinite_loss} with a non-finite loss). "
                "The adapter is intact and saved, but the run is not learning: on fp16 (T4) this is an overflow; "
                "start a new run with a lower training.learning_rate or max_grad_norm, shorter data.max_seq_length, "
                "or quantization.compute_dtype=float32 (slow); thresholds: training.max_skipped_steps_in_row / "
                "training.max_skipped_steps_fraction")
            self.stopped = True
            control.should_save = True
            control.should_training_stop = True
