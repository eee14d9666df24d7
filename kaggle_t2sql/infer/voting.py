"""Choosing one SQL among sampled candidates from their execution results (pure functions).

- `exact`: OmniSQL's self-consistency (`train_and_evaluate/evaluate_bird.py`, major_voting):
  candidates that ran (an empty result counts) vote with their result rows as a set; the
  first candidate of the most frequent result wins. When none ran, the first candidate.
- `soft`: Arctic-Text2SQL-R1's default ("Snow", ArcticTraining `projects/arctic_text2sql_r1/
  bird_eval/self_consistency.py`): a denotation similarity between every two result
  tables, from per-column value-count overlap (columns matched by name): the sum over
  columns and values of min(count1, count2) over the sum of max(count1, count2); a column
  only one side has adds its count to the denominator; NULLs never agree (as pandas
  NaN-handling in the original makes them). Empty or failed results are similar to nothing.
  Each candidate that ran scores 1 for itself plus its similarity to every other; the
  highest total wins, the first one on ties.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ..sql.execute import ExecResult

VOTE_MODES = ("exact", "soft")


@dataclass(frozen=True)
class Choice:
    index: int  # of the chosen candidate
    support: float  # exact: how many candidates share its result; soft: its similarity total


def _column_counts(result: ExecResult) -> dict[str, Counter]:
    """Value counts per column name (columns sharing a name are pooled, as the original stacks them)."""
    counts: dict[str, Counter] = {}
    for i, name in enumerate(result.columns):
        counts.setdefault(name, Counter()).update(row[i] for row in result.rows)
    return counts


def soft_similarity(a: ExecResult, b: ExecResult) -> float:
    """Arctic's soft denotation similarity of two result tables, in [0, 1]."""
    if not a.ok or not b.ok or not a.rows or not b.rows:
        return 0.0
    counts_a, counts_b = _column_counts(a), _column_counts(b)
    agree = possible = 0
    for name in counts_a.keys() | counts_b.keys():
        ca, cb = counts_a.get(name, Counter()), counts_b.get(name, Counter())
        for value in ca.keys() | cb.keys():
            if value is None:  # NULLs only add to what could have agreed
                possible += ca[value] + cb[value]
                continue
            agree += min(ca[value], cb[value])
            possible += max(ca[value], cb[value])
    return agree / possible if possible else 0.0


def soft_vote(results: Sequence[ExecResult]) -> Choice:
    totals = []
    for i, a in enumerate(results):
        total = 1.0 if a.ok else 0.0
        total += sum(soft_similarity(a, b) for j, b in enumerate(results) if j != i)
        totals.append(total)
    best = max(range(len(results)), key=lambda i: (totals[i], -i))
    return Choice(best, totals[best])


def exact_vote(results: Sequence[ExecResult]) -> Choice:
    keys = [frozenset(r.rows) if r.ok else None for r in results]
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return Choice(0, 0.0)
    best_key, votes = max(counts.items(), key=lambda kv: (kv[1], -keys.index(kv[0])))
    return Choice(keys.index(best_key), float(votes))


def vote(results: Sequence[ExecResult], mode: str) -> Choice:
    """The chosen candidate for `mode` ('exact' or 'soft'); one candidate is chosen as is."""
    if not results:
        raise ValueError("no candidates to vote on")
    if len(results) == 1:
        return Choice(0, 1.0 if results[0].ok else 0.0)
    if mode == "exact":
        return exact_vote(results)
    if mode == "soft":
        return soft_vote(results)
    raise ValueError(f"unknown vote mode {mode!r}: use one of {', '.join(VOTE_MODES)}")
