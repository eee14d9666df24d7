"""What a person sees while training: one progress bar per session with the loss and tokens/s,
the full per-step logs in the run folder (and TensorBoard) instead of the terminal, and known
third-party noise that is not the user's business silenced where it comes from."""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

from tqdm.auto import tqdm
from transformers import TrainerCallback


@contextlib.contextmanager
def hf_progress_bars_off() -> Iterator[None]:
    """No 'Loading weights' / 'Writing model shards' bars from transformers inside this block."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def peft_deprecation_quiet() -> Iterator[None]:
    """peft 0.21 reads `model.is_gradient_checkpointing`, deprecated in transformers 5: that one warning,
    raised inside peft and nothing the user can act on, is dropped inside this block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        yield


class SessionProgressCallback(TrainerCallback):
    """One bar per session over the whole run's steps (a resumed session starts where it left
    off), with the latest loss and this session's tokens per second in its postfix."""

    def __init__(self, desc: str = "training"):
        self.desc = desc
        self.bar = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.desc, unit="step", dynamic_ncols=True)
            self._step, self._tokens, self._start = state.global_step, state.num_input_tokens_seen, time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self._step)
            self._step = state.global_step

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs and "loss" in logs:
            seconds = max(time.monotonic() - self._start, 1e-9)
            tokens_per_s = (state.num_input_tokens_seen - self._tokens) / seconds
            self.bar.set_postfix(loss=f"{float(logs['loss']):.3f}", tok_s=f"{tokens_per_s:,.0f}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogFileCallback(TrainerCallback):
    """Every log the Trainer emits, one JSON object per line with its step, appended to `path`.

    One write per line, flushed: a kill loses at most the line being written. Steps re-run after
    a kill are logged again (as in TensorBoard).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(json.dumps({"step": state.global_step, "time": time.time(), **logs}, default=str) + "\n")
