"""The README's "From zero to a chained run on Kaggle", walked in the emulated Kaggle by bench/kaggle_e2e.py:
kaggle-init, pushes, sessions cut by the limit, chaining (from outside, and by the notebook itself on a
fresh account), pull; the final adapter bit-identical to an uninterrupted run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import kaggle_e2e  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end / multi-session: deselect with -m "not slow" while iterating


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted local run of the e2e configuration, shared by both paths."""
    return tmp_path_factory.mktemp("e2e") / "reference"


def check(summary, min_sessions=3):
    first = summary["first_session_without_secret"]
    assert first["status"] == "error" and first["elapsed_s"] < 60 and first["names_the_secret"], first
    sessions = summary["sessions"]
    assert summary["finished"] and summary["global_step"] == summary["max_steps"], sessions
    assert len(sessions) >= min_sessions, sessions
    assert summary["identical_to_uninterrupted"]
    assert summary["pushes_without_machine_shape"] == []
    steps = [(s["start_step"], s["end_step"]) for s in sessions if s["start_step"] is not None]
    assert all(b[0] <= a[1] for a, b in zip(steps, steps[1:])), steps  # each resumes where a push left it
    assert summary["gpu_hours_used"] > 0


def test_chain_from_outside_with_every_session_killed_at_the_limit(tmp_path, reference):
    summary = kaggle_e2e.run(tmp_path / "out", self_chain=False, kill_at_limit=True, reference=reference)
    check(summary)
    assert all(s["killed_at_limit"] and s["status"] == "error" for s in summary["sessions"][:-1]), summary["sessions"]


def test_self_chaining_notebook_on_a_fresh_account(tmp_path, reference):
    summary = kaggle_e2e.run(tmp_path / "out", self_chain=True, fresh_account=True, layout="datasets",
                             reference=reference)
    check(summary)
    assert all(s["stop_reason"] == "budget" for s in summary["sessions"][:-1]), summary["sessions"]
    assert summary["sessions"][-1]["stop_reason"] == "finished"


def test_two_overlapping_chains_on_one_store_through_a_partial_and_a_failed_pruning_push(tmp_path, reference):
    """Issue 17: two runs chained at once on one store (every push after the second prunes), one pruning push
    left partial by a refused upload and one failed by Kaggle; both runs end bit-identical to the uninterrupted
    run, and the store stays bounded (max_versions 2: at most 3 versions across its two datasets)."""
    summary = kaggle_e2e.run(tmp_path / "out", prune_fault=True, overlapping=True, reference=reference)
    check(summary)
    second = summary["second_run"]
    assert second["finished"] and second["identical_to_uninterrupted"], second
    assert len(summary["faults_injected"]) == 2, summary["faults_injected"]
    assert len(summary["store_versions"]) <= 3, summary["store_versions"]
