"""The main job on the embedded default: the pre-trained tiny model fine-tuned with 4-bit QLoRA as a
chain of short local sessions, each cut by its time budget as Kaggle's 12-hour limit would, each
resuming where the previous one stopped; then the trained adapter answers questions on a bundled
database through the evaluation path, and the demo says which of them it saw in training."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from transformers import TrainerCallback

from .checkpoints import KaggleCheckpointManager
from .config import RunConfig
from .config_overrides import apply_overrides, build_config
from .data.examples import Example
from .train.session_result import SessionResult
from .train.trainer import ResumableTrainer

DEMO_PRESET = "demo"
DEMO_DATABASE = "school"
QUESTIONS = {"train": 6, "dev": 3}  # the first N of each split for DEMO_DATABASE, in file order
ROWS_SHOWN = 3


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


def session_mean_losses(sessions: list[dict], losses: list[tuple[int, float]]) -> list[float]:
    """Mean training loss over the steps each session ran (sessions that ran none are left out)."""
    means = []
    for s in sessions:
        ran = [loss for step, loss in losses if s["start_step"] < step <= s["end_step"]]
        if ran:
            means.append(sum(ran) / len(ran))
    return means


class SessionPace(TrainerCallback):
    """The demo's sessions leave work for the next ones on a fast machine too.

    After a few steps, the session's deadline is pulled in so that it does about 1/`sessions_wanted`
    of the steps left (at the measured step time); the last wanted session keeps its whole budget.
    The trainer's own TimeBudgetCallback still decides when to save and stop.
    """

    def __init__(self, clock, sessions_wanted: int, measure_steps: int = 4):
        self.clock, self.sessions_wanted, self.measure_steps = clock, sessions_wanted, measure_steps
        self._start_step = self._ran = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self._start_step, self._ran = state.global_step, 0

    def on_step_end(self, args, state, control, **kwargs):
        self._ran += 1
        if self.sessions_wanted < 2 or self._ran != self.measure_steps:
            return
        recent = sorted(self.clock.step_durations[-self.measure_steps:])
        if not recent:
            return
        step = recent[len(recent) // 2]
        share = max((state.max_steps - self._start_step) // self.sessions_wanted, self.measure_steps)
        self.clock.deadline = min(self.clock.deadline,
                                  time.monotonic() + step * (share - self._ran) + self.clock.reserve())


@dataclass
class Answer:
    example: Example
    sql: str  # what the model wrote, as extract_sql found it
    columns: tuple[str, ...]
    rows: list[tuple] | None  # None when the SQL did not run
    error: str | None
    correct: bool  # same result as the gold SQL (test-suite semantics, as `eval` scores it)
    seen_in_training: bool


def ask(cfg: RunConfig, adapter: str | Path, examples: list[Example], seen_ids: set[str]) -> list[Answer]:
    """The adapter answers each question through `eval`'s path (`infer.pipeline.answer`: the training
    prompt, greedy generation, SQL extraction, read-only sandboxed execution); each answer is then
    judged against the gold result as `eval` scores it."""
    from .infer.engine import ModelGenerator, load_for_inference
    from .infer.pipeline import InferenceSettings, answer
    from .sql.judge import ScoreTask, score_example

    model, tokenizer = load_for_inference(cfg, adapter)
    generator = ModelGenerator(model, tokenizer, max_new_tokens=160, batch_size=len(examples))
    outcomes = answer(generator, tokenizer, examples, cfg.data, InferenceSettings())
    answers = []
    for i, (ex, out) in enumerate(zip(examples, outcomes)):
        verdict = score_example(ScoreTask(i, ex.db_id, ex.db_path, ex.sql, out.sql))
        answers.append(Answer(ex, out.sql, tuple(out.result.columns or ()), out.result.rows, out.result.error,
                              verdict.correct, ex.id in seen_ids))
    return answers


def demo_questions(database: str, counts: dict[str, int]) -> list[Example]:
    """The first questions of each split for one bundled database, in file order (never chosen by result)."""
    from .data import bundled

    return [ex for split, n in counts.items() for ex in [e for e in bundled.load_examples(split) if e.db_id == database][:n]]


def format_answer(answer: Answer) -> str:
    """Three lines: the question (and whether training saw it), the SQL, the first rows and the verdict."""
    if answer.rows is None:
        outcome = f"error: {answer.error}"
    else:
        more = f", ... ({len(answer.rows)} rows)" if len(answer.rows) > ROWS_SHOWN else ""
        outcome = ", ".join(map(str, answer.rows[:ROWS_SHOWN])) + more or "(no rows)"
    tag = "seen in training" if answer.seen_in_training else "never seen (dev)"
    verdict = "correct" if answer.correct else "wrong"
    sql = " ".join(answer.sql.split()) or "(no SQL)"
    return f"  [{tag}] {answer.example.question}\n      {sql}\n      -> {outcome}   {verdict}"


def accuracy_line(answers: list[Answer]) -> str:
    parts = []
    for seen, name in ((True, "questions seen in training"), (False, "dev questions never seen")):
        group = [a for a in answers if a.seen_in_training == seen]
        if group:
            parts.append(f"{sum(a.correct for a in group)}/{len(group)} on {name}")
    total = sum(a.correct for a in answers) / len(answers)
    return f"execution accuracy {total:.2f}: " + ", ".join(parts)


def _log_to(path: Path):
    """A print-like function appending to `path`: the sessions' info lines go there, not to the screen."""

    def echo(*args, **_kwargs) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.write(" ".join(map(str, args)) + "\n")

    return echo


@dataclass
class DemoResult:
    sessions: list[SessionResult]
    session_losses: list[float]  # mean training loss of each session that ran steps
    answers: list[Answer]
    seconds: float  # wall time of the whole demo, pre-training of the base included when it ran
    pretrain_seconds: float  # ~0 once the pre-trained base is cached

    @property
    def loss_ratio(self) -> float:
        """Mean loss of the last session over that of the first."""
        return self.session_losses[-1] / self.session_losses[0]

    @property
    def accuracy(self) -> float:
        return sum(a.correct for a in self.answers) / len(self.answers) if self.answers else 0.0


def run_demo(
    output_dir: str | Path | None = None,
    session_seconds: float = 20.0,
    max_sessions: int = 20,
    overrides: list[str] | None = None,
    progress: bool = True,
    min_sessions: int = 3,
) -> DemoResult:
    from .train.console import SessionProgressCallback, hf_progress_bars_off
    from .data.curriculum import training_stream
    from .train.model import model_path
    from .runlock import run_lock
    from .train.tiny import one_thread

    start = time.monotonic()
    run_dir = Path(output_dir or f"runs/demo-{time.strftime('%Y%m%d-%H%M%S')}")
    base = build_config(DEMO_PRESET, set_args=list(overrides or []))
    manager = KaggleCheckpointManager(run_dir)
    log_path = run_dir / "sessions.log"
    with run_lock(run_dir, "demo"), hf_progress_bars_off(), one_thread():  # one writer for all its sessions;
        # refused before a line is printed
        print(f"demo: the {base.model.name_or_path} model in 4-bit + LoRA r={base.lora.r}, "
              f"{base.data.stages[0].epochs} epochs of the bundled train split, "
              f"in sessions of at most {session_seconds:.0f} s, "
              f"each cut by its time budget (the first ones leave work for at least {min_sessions} sessions)")
        print(f"run folder {run_dir} (full logs: {log_path.name}, train_log.jsonl, TensorBoard tb/)", flush=True)
        model_path(base.model)  # the first time: pre-trains the base, with its own progress bar
        pretrain_seconds = time.monotonic() - start
        results: list[SessionResult] = []
        cfg = apply_overrides(base, {"budget.session_minutes": session_seconds / 60})
        for index in range(1, max_sessions + 1):
            latest = manager.latest_valid()
            where = f"resumes from step {latest.name.split('-')[1]}" if latest else "starts the run"
            print(f"session {index} {where}, budget {session_seconds:.0f} s", flush=True)
            bar = [SessionProgressCallback(f"session {index}")] if progress else []
            trainer = ResumableTrainer(cfg, run_dir, progress=False, callbacks=bar, echo=_log_to(log_path))
            trainer.extra_callbacks.append(SessionPace(trainer.clock, min_sessions - len(results)))
            results.append(trainer.run())
            if results[-1].status == "finished" or results[-1].stop_reason == "nonfinite":
                break
        status = manager.status()
        means = session_mean_losses(status["sessions"], status["loss_history"])
        print()
        print(session_table(status["sessions"], status["loss_history"]))
        print(f"\nfinished: {status['finished']}, global step {status['global_step']} of {status['max_steps']}")
        print(f"mean training loss per session: {', '.join(f'{m:.2f}' for m in means)}"
              + (f" (last / first = {means[-1] / means[0]:.2f})" if len(means) > 1 else ""))
        print(f"loss curve: {manager.plot_path}", flush=True)
        answers: list[Answer] = []
        if status["finished"]:
            seen_ids = {ex.id for ex in training_stream(base.data)[0]}
            print(f"\nthe trained adapter answers questions on the bundled `{DEMO_DATABASE}` database "
                  "(prompt, greedy generation, extract SQL, run read-only, compare with the gold result):", flush=True)
            answers = ask(base, status["latest_checkpoint"], demo_questions(DEMO_DATABASE, QUESTIONS), seen_ids)
            print("\n".join(format_answer(a) for a in answers))
            print(accuracy_line(answers))
        else:
            print(f"\nnot finished after {len(results)} session(s): run the demo again with --output-dir {run_dir} "
                  "to carry on, or give it more --max-sessions / --session-seconds")
    seconds = time.monotonic() - start
    built = f" ({pretrain_seconds:.0f} s of it pre-training the base, once)" if pretrain_seconds > 2 else ""
    print(f"\ndemo took {seconds:.0f} s{built}", flush=True)
    return DemoResult(results, means, answers, seconds, pretrain_seconds)
