import json

import pytest

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kaggle_t2sql.cli import main
from kaggle_t2sql.demo import run_demo


def test_demo_chains_at_least_three_budget_cut_sessions(tmp_path, capsys):
    run_dir = tmp_path / "demo"
    results = run_demo(run_dir, session_seconds=6, max_sessions=200, overrides=[
        "data.stages.0.limit=40", "data.max_seq_length=2048", "training.batch_size=1", "training.max_steps=60"])
    assert len(results) >= 3 and results[-1].status == "finished"
    assert all(r.stop_reason == "budget" for r in results[:-1])
    assert all(b.start_step == a.end_step for a, b in zip(results, results[1:]))  # each resumes where the last stopped
    out = capsys.readouterr().out
    assert "session        steps  stopped by" in out and f"loss curve: {run_dir / 'loss_curve.png'}" in out

    # status: the stable JSON interface
    assert main(["status", "--output-dir", str(run_dir), "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert {"finished", "global_step", "latest_checkpoint", "sessions"} <= set(status)
    assert status["finished"] is True and status["global_step"] == 60
    assert status["latest_checkpoint"].endswith("checkpoint-60") and len(status["sessions"]) == len(results)
    assert main(["status", "--output-dir", str(run_dir)]) == 0
    assert "finished" in capsys.readouterr().out

    # TensorBoard holds one loss per step across all sessions, the same as the trainer state
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tb = {e.step: e.value for e in acc.Scalars("train/loss")}
    assert sorted(tb) == list(range(1, 61))
    assert all(abs(tb[step] - loss) < 1e-5 for step, loss in status_loss_history(run_dir))


def status_loss_history(run_dir):
    from kaggle_t2sql.checkpoints import KaggleCheckpointManager

    return KaggleCheckpointManager(run_dir).status()["loss_history"]


def test_status_and_train_bad_paths(tmp_path, capsys):
    assert main(["status", "--output-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--preset", "nope", "--output-dir", str(tmp_path)]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--output-dir", str(tmp_path / "r"), "--set", "data.stages.0.source=jsonl",
                 "--set", f"data.stages.0.path={tmp_path / 'missing.jsonl'}"]) == 2
    assert "missing.jsonl not found" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()  # nothing half-written


def test_next_budget_leaves_work_for_the_sessions_still_wanted():
    from kaggle_t2sql.demo import next_budget
    from kaggle_t2sql.trainer import SessionResult

    result = SessionResult("paused", "budget", 0, 32, 60, 0, elapsed_s=5.0, checkpoint=None, run_dir="x")
    budget = next_budget(result, [0.1] * 32, cap_s=20.0, sessions_left=2)
    assert budget == pytest.approx(1.8 + 0.1 * 28 / 2)  # setup 1.8 s + half of the remaining 28 steps
    assert next_budget(result, [0.1] * 32, cap_s=2.0, sessions_left=2) == 2.0
