"""Execution-guided self-correction: a chosen SQL that fails or returns no rows goes back to the model.

Not part of Arctic's or OmniSQL's evaluation (so `eval` leaves it off by default, and its
scores stay comparable); `ask` and `serve` turn it on. Each round continues the chat: the
model's previous SQL as its answer, then a user turn with the error (or "no rows") and a
request for a corrected query; the reply's last ```sql block is run again. Rounds stop when
the result has rows, the model repeats itself or writes no SQL, or N rounds ran. The kept
SQL is the best of all tried: rows beat an empty result, which beats an error; later wins ties.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..sql.execute import ExecResult
from ..data.prompts import extract_sql, render_prompt
from .engine import Generator

FIX_REQUEST = (
    "{problem}\n\n"
    "Find the mistake and write a corrected SQLite query that answers the question. "
    "Use the same output format as before, with the final SQL in a ```sql code block."
)


def problem_of(sql: str, result: ExecResult) -> str | None:
    """What is wrong, in words for the model; None when the query returned rows."""
    if not sql.strip():
        return "Your answer had no SQL query in a ```sql code block, so nothing could be run."
    if not result.ok:
        return f"The SQL query above was run on the database and failed with this error:\n{result.error}"
    if not result.rows:
        return "The SQL query above was run on the database and returned no rows."
    return None


def quality(result: ExecResult) -> int:
    return 2 if result.ok and result.rows else 1 if result.ok else 0


def fix_messages(messages: list[dict], sql: str, problem: str) -> list[dict]:
    """The conversation continued with the failed SQL (as the model's answer) and what went wrong."""
    answer = f"```sql\n{sql}\n```" if sql.strip() else "(no SQL)"
    return [*messages, {"role": "assistant", "content": answer},
            {"role": "user", "content": FIX_REQUEST.format(problem=problem)}]


@dataclass
class FixState:
    """One question under correction."""

    messages: list[dict]  # the conversation so far (prompt, then any fix turns)
    sql: str
    result: ExecResult
    execute: Callable[[str], ExecResult]  # runs SQL on this question's database (the sandbox)
    rounds: int = 0  # fix rounds run
    tried: list[str] = field(default_factory=list)
    seconds: float = 0.0
    best_sql: str = ""
    best_result: ExecResult | None = None

    def __post_init__(self):
        self.best_sql, self.best_result = self.sql, self.result
        self.tried.append(self.sql)


def correct(generator: Generator, tokenizer, style: str, states: list[FixState], max_rounds: int) -> list[FixState]:
    """Up to `max_rounds` greedy fix rounds for every state whose SQL fails or returns no rows (batched per round)."""
    active = [s for s in states if problem_of(s.sql, s.result) is not None]
    for _ in range(max_rounds):
        if not active:
            break
        prompts = []
        for s in active:
            s.messages = fix_messages(s.messages, s.sql, problem_of(s.sql, s.result))
            prompts.append(render_prompt(tokenizer, s.messages, style))
        t0 = time.perf_counter()
        generations = generator.generate(prompts, samples=1, temperature=0.0)
        share = (time.perf_counter() - t0) / len(active)
        still = []
        for s, gen in zip(active, generations):
            s.rounds += 1
            s.seconds += share
            sql = extract_sql(gen.texts[0])
            if not sql or sql in s.tried:
                continue  # nothing new to try: another greedy round would say the same
            t1 = time.perf_counter()
            s.sql, s.result = sql, s.execute(sql)
            s.seconds += time.perf_counter() - t1
            s.tried.append(sql)
            if quality(s.result) >= quality(s.best_result):
                s.best_sql, s.best_result = s.sql, s.result
            if problem_of(s.sql, s.result) is not None:
                still.append(s)
        active = still
    return states
