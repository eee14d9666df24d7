"""The README's "From zero to a chained run on Kaggle", walked in the emulated Kaggle by bench/kaggle_e2e.py:
kaggle-init, pushes, sessions cut by the limit, chaining (from outside, and by the notebook itself on a
fresh account), pull; the final adapter bit-identical to an uninterrupted run."""

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
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
    token = summary["notebook_token"]  # every session had Kaggle's own token; none of our calls used it
    assert token["sessions_with_it"] >= len(sessions) and token["calls_made_with_it"] == 0, token
    assert token["leaked_into"] == [], token


def used_hours(stop_line: str) -> float:
    """The hours Kaggle's quota refusal says were used: '(25.3 h of 24 h used; resets ...)'."""
    match = re.search(r"\(([\d.]+) h of ([\d.]+) h used; resets ", stop_line)
    assert match, stop_line
    return float(match.group(1))


def test_chain_from_outside_on_a_busy_account_killed_at_the_limit_and_stopped_by_the_quota(tmp_path, reference):
    """Chained from outside, every session killed at Kaggle's 12-hour limit (the next resumes from the last
    pushed checkpoint). Issue 25 on the same path: two other GPU sessions of the account run when the chain
    pushes (Kaggle's session cap, waited out), and the 24-hour weekly quota holds two 12-hour sessions: the
    chain stops with Kaggle's text and the reset time; after each emulated reset `chain` carries on, and the
    run ends bit-identical to an uninterrupted one."""
    summary = kaggle_e2e.run(tmp_path / "out", self_chain=False, kill_at_limit=True, busy_account=True,
                             quota_hours=24, reference=reference)
    check(summary)
    assert all(s["killed_at_limit"] and s["status"] == "error" for s in summary["sessions"][:-1]), summary["sessions"]
    assert summary["chain_waits"] >= 1
    assert any("Maximum batch GPU session count of 2 reached." in r for r in summary["refusals"])
    assert "Maximum weekly GPU quota of 24.00 hours reached." in summary["refusals"]
    quota_stops = [line for line in summary["chain_stops"] if "weekly GPU quota" in line]
    assert quota_stops and len(quota_stops) == summary["quota_weeks"], summary["chain_stops"]
    for line in quota_stops:  # stopped only once the week's hours were spent: two sessions at the 12-hour limit
        assert "after 2 session(s)" in line and used_hours(line) >= 24, summary["chain_stops"]
    assert 1 <= summary["quota_weeks"] <= kaggle_e2e.MAX_QUOTA_WEEKS


def test_self_chaining_notebook_on_a_fresh_account(tmp_path, reference):
    """Each session pushes the next itself. Issue 17: whenever a session pushes, the week has only half an hour
    of GPU quota left (--thin-quota: Kaggle charges the running session's time as it goes, kaggle_sessions.py),
    so a session whose own time were counted twice, or kept in reserve, would stop the chain after one session."""
    summary = kaggle_e2e.run(tmp_path / "out", self_chain=True, fresh_account=True, layout="datasets",
                             reference=reference, thin_quota=True)
    check(summary)
    assert summary["refusals"] == []  # no push was refused for the quota
    assert all(s["stop_reason"] == "budget" for s in summary["sessions"][:-1]), summary["sessions"]
    assert summary["sessions"][-1]["stop_reason"] == "finished"


OVERLAP_STEPS, OVERLAP_SESSION_STEPS = 16, 8  # both runs in one test: a shorter run (its reference is made with
# the same steps), in sessions cut by step count, so that each run takes two sessions on any machine


def test_two_overlapping_chains_on_one_store_through_a_partial_and_a_failed_pruning_push(tmp_path):
    """Issue 17, bench variants --prune-fault --overlapping at once: two runs chained at the same time on one
    store that prunes on every push (store.max_versions=2), one pruning push with an upload Kaggle refused (a
    partial version) and a later one whose version Kaggle failed. Both runs end bit-identical to an
    uninterrupted run, nothing is lost, the store stays bounded, and every session ran with the kaggle client
    its install cell upgraded from the wheel dataset (the image has Kaggle's older one)."""
    summary = kaggle_e2e.run(tmp_path / "out", prune_fault=True, overlapping=True, max_steps=OVERLAP_STEPS,
                             session_steps=OVERLAP_SESSION_STEPS, reference=tmp_path / "reference")
    check_overlapping_with_pruning_faults(summary)


def check_overlapping_with_pruning_faults(summary):
    check(summary, min_sessions=OVERLAP_STEPS // OVERLAP_SESSION_STEPS)
    assert summary["max_steps"] == OVERLAP_STEPS
    second = summary["second_run"]
    assert second["finished"] and second["global_step"] == OVERLAP_STEPS, second
    assert second["identical_to_uninterrupted"], second
    assert second["overlap_s"] > 0, second  # the two chains' sessions really ran at the same time
    expected = [(start, min(start + OVERLAP_SESSION_STEPS, OVERLAP_STEPS))
                for start in range(0, OVERLAP_STEPS, OVERLAP_SESSION_STEPS)]
    for rows in (summary["sessions"], second["session_rows"]):  # nothing lost, in either run: every session
        # ended by its step budget, its ledger entry is in the store, and each started where the last one ended
        assert all(r["status"] == "complete" for r in rows), rows
        assert [(r["start_step"], r["end_step"]) for r in rows] == expected, rows
    faults = summary["faults_injected"]
    assert len(faults) == 2 and faults[0].startswith("refused upload") and faults[1].startswith("failed version"), faults
    assert summary["faults_unused"] == []  # the emulator refused that upload and failed that version
    versions = summary["store_versions"]
    assert summary["store_versions_peak"] <= 6 and len(versions) <= 4, (summary["store_versions_peak"], versions)
    assert summary["image_kaggle_client"] == "2.0.2"  # Kaggle's image; each session upgraded it from the wheels
    clients = summary["session_kaggle_clients"]
    assert len(clients) == 1 and clients[0] != "2.0.2", clients
    assert f"kaggle-{clients[0]}" in summary["installed_by_sessions"], summary["installed_by_sessions"]
