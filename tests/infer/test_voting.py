"""Voting over hand-built result tables: OmniSQL's exact majority vs Arctic's soft denotation similarity."""

import pytest

from kaggle_t2sql.sql.execute import ExecResult
from kaggle_t2sql.infer.voting import Choice, exact_vote, soft_similarity, soft_vote, vote


def table(columns, rows):
    return ExecResult(rows=[tuple(r) for r in rows], error=None, elapsed=0.0, columns=tuple(columns))


def column(name, values):
    return table([name], [(v,) for v in values])


FAILED = ExecResult(rows=None, error="OperationalError: no such column: nope", elapsed=0.0)


def test_exact_and_soft_pick_differently():
    # Two samples agree exactly on an outlier; three others are near-identical but never equal.
    results = [column("x", [9]), column("x", [9]),
               column("x", [1, 2, 3, 4]), column("x", [1, 2, 3, 5]), column("x", [1, 2, 3, 6])]
    assert exact_vote(results) == Choice(0, 2.0)
    chosen = soft_vote(results)
    # candidate 2: itself 1 + 0.6 + 0.6 (3 shared of 5 distinct) = 2.2 > candidate 0: 1 + 1 = 2
    assert chosen.index == 2 and chosen.support == pytest.approx(2.2)
    assert vote(results, "exact").index == 0 and vote(results, "soft").index == 2


# Values checked against ArcticTraining's efficient_soft_df_similarity (pandas) on the same tables.
@pytest.mark.parametrize("a, b, expected", [
    (column("x", [1, 2, 3, 4]), column("x", [1, 2, 3, 5]), 0.6),
    (column("x", [1, 1, 2]), column("x", [1, 2, 2]), 0.5),  # counts matter: min 1+1 over max 2+2
    (column("x", [1, 2]), column("x", [2, 1]), 1.0),  # row order does not
    (column("x", [1]), column("x", [1.0]), 1.0),
    (column("x", [1, None]), column("x", [1, None]), 1 / 3),  # NULLs never agree
    (table(["x", "y"], [(1, "p")]), table(["x", "z"], [(1, "q")]), 1 / 3),  # columns matched by name
    (column("x", [1]), column("x", []), 0.0),
    (column("x", [1]), FAILED, 0.0),
])
def test_soft_similarity_matches_arctic(a, b, expected):
    assert soft_similarity(a, b) == pytest.approx(expected)
    assert soft_similarity(b, a) == pytest.approx(expected)


def test_exact_vote_is_omnisql_majority():
    # rows as a set: duplicates and order do not split the vote; failures do not vote; an empty result does
    results = [FAILED, column("x", [1, 2]), column("x", [2, 1, 1]), column("x", []), column("x", [])]
    assert exact_vote(results) == Choice(1, 2.0)  # tie 2-2: the earlier result wins
    assert exact_vote([FAILED, FAILED]) == Choice(0, 0.0)


def test_soft_vote_skips_failures_and_empty_results():
    results = [FAILED, column("x", []), column("x", [7])]
    assert soft_vote(results) == Choice(1, 1.0)  # ran (1 for itself) but similar to nothing; earliest of the ties
    assert soft_vote([FAILED, FAILED]).index == 0


def test_single_candidate_and_bad_mode():
    assert vote([FAILED], "soft") == Choice(0, 0.0)
    with pytest.raises(ValueError, match="unknown vote mode"):
        vote([FAILED, FAILED], "majority")
