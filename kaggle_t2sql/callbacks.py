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
