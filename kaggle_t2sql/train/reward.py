"""Arctic-Text2SQL-R1's execution reward: 1.0 when the SQL's result matches the gold result, 0.1 when it
runs without error, else 0 (arXiv 2505.20315; finer-grained rewards made the model "lazy"). A completion
with no SQL statement in it earns 0, not 0.1: it did not run, there was nothing to run.

Judging is the `score` harness's with BIRD semantics (`set(pred) == set(gold)`), each candidate in a
supervised sandbox worker: a candidate still running past its timeout has its worker killed and is an
error, so a runaway query cannot stall sampling or a training step.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..sql.execute import DEFAULT_TIMEOUT
from ..sql.pool import GRACE_SECONDS, SandboxPool
from ..sql.judge import ScoreTask, score_example, unfinished_example

REWARD = {"correct": 1.0, "ran": 0.1, "error": 0.0}
SEMANTICS = "bird"
NO_SQL = "no SQL in the completion"


def has_sql(sql: str) -> bool:
    """Whether there is a statement at all: an empty answer (nothing extracted, or only comments) 'runs without
    error' in SQLite, and rewarding it 0.1 would pay a model for answering nothing."""
    import sqlparse

    return bool(sqlparse.format(sql or "", strip_comments=True).strip().strip(";").strip())


@dataclass(frozen=True)
class Verdict:
    verdict: str  # correct | ran | error
    reward: float
    error: str | None


def verdict_of(result) -> Verdict:
    """A scored example (`scoring.ExampleResult`) as correct / ran / error and its reward.

    A prediction stopped early because its rows could not match ran without error (`error` is None then).
    """
    if result.correct:
        name = "correct"
    elif result.error is None:
        name = "ran"
    else:
        name = "error"
    return Verdict(name, REWARD[name], result.error)


class ExecutionJudge:
    """Judges candidate SQL against gold SQL on a pool of supervised sandbox workers (one pool, reused)."""

    def __init__(self, workers: int = 1, timeout: float = DEFAULT_TIMEOUT):
        self.timeout = timeout
        self.pool = SandboxPool(max(1, workers))

    def judge(self, items: list[tuple[str, str, str, str]]) -> list[Verdict]:
        """`items`: (db_id, db_path, gold_sql, candidate_sql) each; verdicts in order. A candidate with no
        statement is an error without being run."""
        tasks = [ScoreTask(i, db_id, str(db_path), gold, pred, SEMANTICS, timeout=self.timeout)
                 for i, (db_id, db_path, gold, pred) in enumerate(items) if has_sql(pred)]
        results = self.pool.map(score_example, tasks, limit=self.timeout + GRACE_SECONDS,
                                on_failure=unfinished_example, progress=False)
        judged = {task.index: verdict_of(r) for task, r in zip(tasks, results)}
        return [judged.get(i, Verdict("error", REWARD["error"], NO_SQL)) for i in range(len(items))]

    def close(self) -> None:
        self.pool.close()

    def __enter__(self) -> ExecutionJudge:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
