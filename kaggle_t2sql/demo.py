"""The main job on the embedded default: the `tiny` preset trained as a chain of short local
sessions, each cut by its time budget as Kaggle's 12-hour limit would, each resuming where
the previous one stopped."""

from __future__ import annotations

import time
from pathlib import Path

from .checkpoints import KaggleCheckpointManager
from .config import apply_overrides, build_config
from .trainer import ResumableTrainer, SessionResult


def session_rows(sessions: list[dict], losses: list[tuple[int, float]]) -> list[tuple]:
    """Per session: index, start step, end step, stop reason, seconds, tokens, loss at its last step ('' if none)."""
    loss_at = dict(losses)
    return [
        (s["index"], s["start_step"], s["end_step"], str(s["stop_reason"]), (s["end_time"] or s["start_time"]) - s["start_time"],
         s.get("tokens_seen", 0), "" if loss_at.get(s["end_step"]) is None else f"{loss_at[s['end_step']]:.4f}")
        for s in sessions
    ]


def session_table(sessions: list[dict], losses: list[tuple[int, float]]) -> str:
    """One line per session: steps, why it stopped, time, tokens, loss at its last step."""
    lines = [f"{'session':>7}  {'steps':>11}  {'stopped by':>10}  {'seconds':>7}  {'tokens':>8}  {'loss':>7}"]
    for index, start, end, reason, secs, tokens, loss in session_rows(sessions, losses):
        lines.append(f"{index:>7}  {start:>4} -> {end:<4}  {reason:>10}  {secs:>7.1f}  {tokens:>8}  {loss:>7}")
    return "\n".join(lines)


def next_budget(result: SessionResult, step_durations: list[float], cap_s: float, sessions_left: int) -> float:
    """A budget that leaves work for at least `sessions_left` more sessions on a fast machine too.

    Setup time (everything but the steps) is kept; the training part is the remaining
    steps' share for one of the sessions still wanted, at the measured step time.
    """
    if not step_durations:
        return cap_s
    step = sorted(step_durations)[len(step_durations) // 2]
    setup = max(result.elapsed_s - sum(step_durations), 0.0)
    remaining = result.max_steps - result.end_step
    return min(cap_s, setup + step * remaining / sessions_left)


def run_demo(
    output_dir: str | Path | None = None,
    session_seconds: float = 20.0,
    max_sessions: int = 20,
    overrides: list[str] | None = None,
    progress: bool = False,
    min_sessions: int = 3,
) -> list[SessionResult]:
    run_dir = Path(output_dir or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    base = build_config("tiny", set_args=list(overrides or []))
    print(f"demo: tiny preset, sessions of at most {session_seconds:.0f} s, run folder {run_dir}", flush=True)
    results: list[SessionResult] = []
    budget = session_seconds
    for _ in range(max_sessions):
        cfg = apply_overrides(base, {"budget.session_minutes": budget / 60})
        trainer = ResumableTrainer(cfg, run_dir, progress=progress)
        result = trainer.run()
        results.append(result)
        print(result.summary(), flush=True)
        if result.status == "finished":
            break
        wanted_after_next = min_sessions - len(results) - 1  # sessions still wanted after the next one
        budget = (next_budget(result, trainer.clock.step_durations, session_seconds, wanted_after_next + 1)
                  if wanted_after_next > 0 else session_seconds)
    status = KaggleCheckpointManager(run_dir).status()
    print()
    print(session_table(status["sessions"], status["loss_history"]))
    print(f"\nfinished: {status['finished']}, global step {status['global_step']} of {status['max_steps']}")
    print(f"loss curve: {KaggleCheckpointManager(run_dir).plot_path}")
    return results
