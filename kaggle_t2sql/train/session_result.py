"""What a training session reports: its SessionResult (printed, written as JSON, read back by the notebooks)
and SessionFailed, raised when an exception stopped training after the newest checkpoint was pushed."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from ..errors import T2SQLError


@dataclass
class SessionResult:
    status: str  # "finished" | "paused" | "failed"
    stop_reason: str  # finished | budget | signal | nonfinite | stopped | error | interrupted
    start_step: int
    end_step: int
    max_steps: int
    tokens_seen: int
    elapsed_s: float
    checkpoint: str | None
    run_dir: str
    not_pushed: list[int] = field(default_factory=list)  # checkpoints that never reached the store
    push_errors: list[str] = field(default_factory=list)
    error: str = ""  # why training stopped, when not by plan: the exception, or the non-finite steps
    skipped_steps: int = 0  # optimizer steps skipped for non-finite gradients (GradScaler overflow, NaN/inf)
    nonfinite_loss_steps: int = 0  # steps with a non-finite loss (HF's log hides them)

    def summary(self) -> str:
        unpushed = (f"; NOT PUSHED: step(s) {', '.join(map(str, self.not_pushed))} "
                    f"({self.push_errors[-1] if self.push_errors else 'push timed out'})") if self.not_pushed else ""
        skipped = (f"; {self.skipped_steps} step(s) skipped for non-finite gradients, {self.nonfinite_loss_steps} "
                   "with a non-finite loss") if self.skipped_steps or self.nonfinite_loss_steps else ""
        return (
            f"session {self.status} ({self.stop_reason}): steps {self.start_step} -> {self.end_step} of "
            f"{self.max_steps}, {self.tokens_seen} tokens, {self.elapsed_s:.1f} s; checkpoint {self.checkpoint}"
            + skipped + unpushed + (f"; {self.error}" if self.error else "")
        )

    def to_dict(self) -> dict:
        return asdict(self)


class SessionFailed(T2SQLError):
    """Training stopped by an exception; the newest valid checkpoint was pushed (and waited for) all the same."""

    def __init__(self, result: SessionResult):
        self.result = result
        where = f"checkpoint-{result.end_step}" if result.checkpoint else "no checkpoint yet"
        pushed = (" (NOT pushed: " + (result.push_errors[-1] if result.push_errors else "push timed out") + ")"
                  if result.not_pushed else "")
        super().__init__(f"training stopped by {result.error}; the run keeps step {result.end_step} ({where}{pushed}): "
                         "fix the cause and run the session again to resume from there")


def skip_counts(nonfinite) -> dict:
    return {"skipped_steps": nonfinite.skipped, "nonfinite_loss_steps": nonfinite.nonfinite_loss} if nonfinite else {}


def describe_failure(exc: BaseException) -> str:
    """One line naming the exception, e.g. 'OutOfMemoryError: CUDA out of memory. Tried to allocate ...'."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:400]}" if text else type(exc).__name__
