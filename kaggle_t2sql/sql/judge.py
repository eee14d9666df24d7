"""Judging one example: run gold and prediction in the sandbox and apply the comparison semantics
(compare.py); what `eval`, `score`, the demo and the GRPO reward all call.

Gold queries run under the official evaluator's limits, not the prediction's: no row or
byte cap, ``GOLD_TIMEOUT`` seconds (bird 30, test-suite 60). A gold query that still fails
makes its example wrong, counted in ``gold_errors`` with the reason in ``gold_error``
(test-suite's evaluation.py would stop on an assertion; BIRD's counts it 0).

Each example runs in a supervised worker (``pool.SandboxPool``): a query still
running ``GRACE_SECONDS`` past the timeout has its worker killed and replaced, and the
example is wrong (timed out); the rest of the run is untouched. Early verdicts: the
prediction's rows are checked as they arrive against what a match needs
(``early_mismatch``), and the first that rules a match out stops it; the verdict is the
one the full result would get.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .compare import (early_mismatch, exact_match, has_order_by, no_statement, prepare_test_suite, results_match_bird,
                      results_match_test_suite)
from .execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult, drop_empty_statements, execute_sql
from .pool import GRACE_SECONDS, WorkerFailure

# What the official evaluators give a gold query (no row or byte cap either): BIRD's
from .worker import begin_step
# evaluation_ex runs the pair under func_timeout(meta_time_out=30); test-suite's exec_eval
# waits TIMEOUT = 60 s per query. Arctic/OmniSQL's evaluate_bird gives the pair 10 s, as our
# prediction default (`DEFAULT_TIMEOUT`); a gold query is never held to less than that.
GOLD_TIMEOUT = {"bird": 30.0, "test-suite": 60.0}


# ---------------------------------------------------------------- one example


@dataclass(frozen=True)
class ScoreTask:
    """Everything one worker needs to judge one example (picklable)."""

    index: int
    db_id: str
    db_path: str
    gold_sql: str
    pred_sql: str
    semantics: str = "test-suite"
    keep_distinct: bool = False
    timeout: float = DEFAULT_TIMEOUT
    row_cap: int = DEFAULT_ROW_CAP
    difficulty: str | None = None
    early_verdicts: bool = True
    gold_timeout: float = 0.0  # 0: the semantics' official limit (GOLD_TIMEOUT)


@dataclass(frozen=True)
class ExampleResult:
    index: int
    db_id: str
    correct: bool
    exact_match: bool
    error: str | None
    gold_error: str | None
    timed_out: bool
    pred_seconds: float
    gold_seconds: float
    difficulty: str | None
    pred_row_count: int | None = None
    gold_row_count: int | None = None
    early_verdict: str | None = None  # why the prediction was stopped before its last row (it was wrong)
    worker_killed: bool = False  # a query ran past timeout + grace and its worker process was killed

    def to_dict(self) -> dict:
        return asdict(self)


def results_match(semantics: str, gold: ExecResult, pred: ExecResult, order_matters: bool = False) -> bool:
    """The verdict on two executions (`order_matters`: test-suite only, the gold has ORDER BY)."""
    if not (gold.ok and pred.ok):
        return False
    if semantics == "bird":
        return results_match_bird(gold.rows, pred.rows)
    return results_match_test_suite(gold.rows, pred.rows, order_matters=order_matters)


# BIRD's evaluator (and test-suite-sql-eval with --keep_distinct) hands the SQL to Python's
# sqlite3 as written, which refuses anything after the first statement, even a lone `;`.
# test-suite-sql-eval's DISTINCT removal keeps only the first statement, so there `; ;` runs.
TRAILING_STATEMENT_REFUSED = (
    "more than one statement in the SQL (an empty one after the query): the official evaluator runs the SQL "
    "through Python's sqlite3 as written, which refuses it"
)


@dataclass(frozen=True)
class _PredictionStep:
    """Told to the supervisor as the prediction starts: what judging the example needs if its worker is killed."""

    gold: ExecResult  # without rows
    gold_row_count: int | None


def _prepared(task: ScoreTask) -> tuple[str, str]:
    """The gold and predicted SQL as the official evaluator runs them."""
    if task.semantics != "test-suite":
        return task.gold_sql, task.pred_sql
    pred = prepare_test_suite(task.pred_sql, task.keep_distinct) if task.pred_sql.strip() else ""
    return prepare_test_suite(task.gold_sql, task.keep_distinct), pred


def _order_matters(task: ScoreTask) -> bool:
    return task.semantics == "test-suite" and has_order_by(_prepared(task)[0])


def gold_timeout(task: ScoreTask) -> float:
    return task.gold_timeout or max(GOLD_TIMEOUT[task.semantics], task.timeout)


def _run_prediction(task: ScoreTask, pred_sql: str, gold: ExecResult) -> ExecResult:
    if task.semantics == "bird" and no_statement(pred_sql):
        return ExecResult([], None, 0.0)  # BIRD's evaluator runs it: [], right when the gold result is empty too
    if not pred_sql.strip():
        return ExecResult(None, "empty prediction", 0.0)
    if (task.semantics == "bird" or task.keep_distinct) and drop_empty_statements(pred_sql)[1]:
        return ExecResult(None, TRAILING_STATEMENT_REFUSED, 0.0)
    stop = early_mismatch(task.semantics, gold.rows, _order_matters(task)) if task.early_verdicts and gold.ok \
        else None
    return execute_sql(task.db_path, pred_sql, task.timeout, task.row_cap, stop_when=stop,
                       strict_text=task.semantics == "bird")


def _judge(task: ScoreTask, gold: ExecResult, pred: ExecResult, gold_row_count: int | None,
           worker_killed: bool = False) -> ExampleResult:
    early = pred.error.removeprefix("stopped early: ") if pred.stopped_early else None
    return ExampleResult(
        index=task.index,
        db_id=task.db_id,
        correct=results_match(task.semantics, gold, pred, _order_matters(task)),
        exact_match=exact_match(task.gold_sql, task.pred_sql),
        error=None if early else pred.error,
        gold_error=gold.error,
        timed_out=pred.timed_out,
        pred_seconds=round(pred.elapsed, 6),
        gold_seconds=round(gold.elapsed, 6),
        difficulty=task.difficulty,
        pred_row_count=None if pred.rows is None else len(pred.rows),
        gold_row_count=gold_row_count,
        early_verdict=early,
        worker_killed=worker_killed,
    )


def score_example(task: ScoreTask) -> ExampleResult:
    """Run gold and prediction in the sandbox and judge them (runs inside a supervised worker).

    The prediction stops as soon as its rows cannot match the gold (`early_mismatch`),
    unless `task.early_verdicts` is off.
    """
    gold_sql, pred_sql = _prepared(task)
    # The gold query runs as the official evaluators run it: their time limit, no row or byte cap.
    begin_step(None, limit=gold_timeout(task) + GRACE_SECONDS)
    gold = execute_sql(task.db_path, gold_sql, gold_timeout(task), None, strict_text=task.semantics == "bird")
    gold_row_count = None if gold.rows is None else len(gold.rows)
    begin_step(_PredictionStep(replace(gold, rows=None), gold_row_count))  # the prediction's own time limit
    return _judge(task, gold, _run_prediction(task, pred_sql, gold), gold_row_count)


def unfinished_example(task: ScoreTask, failure: WorkerFailure) -> ExampleResult:
    """The verdict when the worker judging `task` was killed past timeout + grace, or died: wrong."""
    if isinstance(failure.step, _PredictionStep):
        stuck = ExecResult(None, failure.describe(task.timeout), failure.seconds, timed_out=failure.killed)
        return _judge(task, failure.step.gold, stuck, failure.step.gold_row_count, failure.killed)
    stuck = ExecResult(None, failure.describe(gold_timeout(task)), failure.seconds, timed_out=failure.killed)
    return _judge(task, stuck, ExecResult(None, "not run: the gold query did not finish", 0.0), None, failure.killed)
