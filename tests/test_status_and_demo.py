"""The main job (`kaggle-t2sql demo`) run as a user runs it, and the status command on its run folder."""

import json
import re
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from kaggle_t2sql.data import bundled
from kaggle_t2sql.checkpoints import KaggleCheckpointManager
from kaggle_t2sql.cli import main
from kaggle_t2sql.demo import DEMO_DATABASE, QUESTIONS, demo_questions, session_mean_losses
from kaggle_t2sql.sql.execute import execute_sql
from kaggle_t2sql.sql.compare import has_order_by
from kaggle_t2sql.sql.judge import results_match


ANSWER = re.compile(r"^  \[(seen in training|never seen \(dev\))\] (.+)\n      (.+)\n      -> (.+)   (correct|wrong)$", re.M)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`kaggle-t2sql demo` as a user runs it, in its own process (pre-training the base on first use)."""
    run_dir = tmp_path_factory.mktemp("demo") / "run"
    proc = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "demo", "--output-dir", str(run_dir), "--max-sessions", "200"],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, proc.stdout, proc.stderr


@pytest.mark.slow
def test_demo_chains_at_least_three_budget_cut_sessions(demo, capsys):
    run_dir, out, _ = demo
    status = KaggleCheckpointManager(run_dir).status()
    sessions = status["sessions"]
    assert len(sessions) >= 3 and status["finished"] and status["global_step"] == status["max_steps"]
    assert all(s["stop_reason"] == "budget" for s in sessions[:-1]) and sessions[-1]["stop_reason"] == "finished"
    assert all(b["start_step"] == a["end_step"] for a, b in zip(sessions, sessions[1:]))  # each resumes where the last stopped
    assert "session 1 starts the run" in out and f"session 2 resumes from step {sessions[1]['start_step']}" in out
    assert "session        steps  stopped by" in out and f"loss curve: {run_dir / 'loss_curve.png'}" in out

    # status: the stable JSON interface
    assert main(["status", "--output-dir", str(run_dir), "--json"]) == 0
    js = json.loads(capsys.readouterr().out)
    assert {"finished", "global_step", "latest_checkpoint", "sessions"} <= set(js)
    assert js["finished"] is True and js["latest_checkpoint"].endswith(f"checkpoint-{status['max_steps']}")
    assert main(["status", "--output-dir", str(run_dir)]) == 0
    assert "finished" in capsys.readouterr().out

    # TensorBoard and the run folder's log hold one loss per step across all sessions, the same as the trainer state
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    tb = {e.step: e.value for e in acc.Scalars("train/loss")}
    logged = {e["step"]: e["loss"] for e in map(json.loads, (run_dir / "train_log.jsonl").read_text().splitlines()) if "loss" in e}
    assert sorted(tb) == sorted(logged) == list(range(1, status["max_steps"] + 1))
    assert all(abs(tb[step] - loss) < 1e-5 and abs(logged[step] - loss) < 1e-9 for step, loss in status["loss_history"])


@pytest.mark.slow
def test_demo_training_loss_falls_by_at_least_forty_percent(demo):
    run_dir, out, _ = demo
    status = KaggleCheckpointManager(run_dir).status()
    means = session_mean_losses(status["sessions"], status["loss_history"])
    assert means[-1] <= 0.6 * means[0], means
    assert f"mean training loss per session: {', '.join(f'{m:.2f}' for m in means)} (last / first = {means[-1] / means[0]:.2f})" in out


@pytest.mark.slow
def test_demo_answers_with_sql_that_runs_and_matches_the_gold_result(demo):
    _, out, _ = demo
    answers = ANSWER.findall(out)
    asked = demo_questions(DEMO_DATABASE, QUESTIONS)
    assert [question for _, question, *_ in answers] == [ex.question for ex in asked]
    train_ids = {ex.id for ex in bundled.load_examples("train")}
    assert [tag == "seen in training" for tag, *_ in answers] == [ex.id in train_ids for ex in asked]  # said honestly
    correct = [(ex, sql) for ex, (_, _, sql, _, verdict) in zip(asked, answers) if verdict == "correct"]
    assert correct, out  # non-zero execution accuracy
    for ex, sql in correct:  # the verdict is true: the SQL runs read-only and returns the gold result
        pred, gold = execute_sql(ex.db_path, sql), execute_sql(ex.db_path, ex.sql)
        assert pred.ok and results_match("test-suite", gold, pred, order_matters=has_order_by(ex.sql))
    n_seen = sum(ex.id in train_ids for ex in asked)
    seen_right = sum(ex.id in train_ids for ex, _ in correct)
    assert (f"execution accuracy {len(correct) / len(asked):.2f}: {seen_right}/{n_seen} on questions seen in training, "
            f"{len(correct) - seen_right}/{len(asked) - n_seen} on dev questions never seen") in out


@pytest.mark.slow
def test_demo_output_has_no_raw_log_dicts_and_no_warnings(demo):
    _, out, err = demo
    assert "{'loss'" not in out + err and "{'train_runtime'" not in out + err
    bars = re.compile(r"^(session \d+|pre-training the tiny base \(once\)): +\d+%\|")
    others = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not bars.match(line)]
    assert others == []  # stderr holds the progress bars and nothing else: no warnings, no notices
    assert "warn" not in out.lower() and re.search(r"^demo took \d+ s", out, re.M)


def test_status_and_train_bad_paths(tmp_path, capsys):
    assert main(["status", "--output-dir", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["train", "--preset", "nope", "--output-dir", str(tmp_path)]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--output-dir", str(tmp_path / "r"), "--set", "data.stages.0.source=jsonl",
                 "--set", f"data.stages.0.path={tmp_path / 'missing.jsonl'}"]) == 2
    assert "missing.jsonl not found" in capsys.readouterr().err
    assert not (tmp_path / "r" / "checkpoints").exists()  # nothing half-written


def test_the_demo_paces_its_sessions_to_leave_work_for_three_however_fast_the_machine(tmp_path):
    """With an hour of budget each, a 12-step run would end in one session; paced, sessions of 4 steps."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.demo import SessionPace
    from kaggle_t2sql.train.trainer import ResumableTrainer

    cfg = build_config("tiny", overrides={"data.stages.0.limit": 12, "training.batch_size": 1, "training.max_steps": 12,
                                          "training.save_steps": 100, "budget.session_minutes": 60})
    sessions = []
    for wanted in (3, 2, 1):
        trainer = ResumableTrainer(cfg, tmp_path / "run", progress=False)
        trainer.extra_callbacks.append(SessionPace(trainer.clock, wanted))
        result = trainer.run()
        sessions.append((result.start_step, result.end_step, result.stop_reason))
    assert sessions == [(0, 4, "budget"), (4, 8, "budget"), (8, 12, "finished")]
