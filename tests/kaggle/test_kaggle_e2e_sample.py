"""Issue 19 on Kaggle: `sample` as chained emulated Kaggle sessions (kaggle-init --method sample,
bench/kaggle_e2e.py method="sample").

Each session pulls the store's finished SFT run `demo` as the adapter, pulls the sample run, samples
`budget.session_steps` questions, pushes, and `chain` pushes the next session; `sync pull` then gives the
run's files, equal byte for byte to one uninterrupted local `sample` run."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import kaggle_e2e  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end / multi-session


@pytest.mark.timeout(1200)  # a cold cache first pre-trains the demo base and its adapter
def test_sample_chain_from_a_store_run_writes_the_files_of_an_uninterrupted_run(tmp_path, demo_adapter):
    init_run = Path(demo_adapter).parents[1]  # the demo run folder (finished at checkpoint-8)
    summary = kaggle_e2e.run(tmp_path / "out", method="sample", init_run=init_run, session_steps=3)
    sessions = summary["sessions"]
    assert summary["finished"] and summary["global_step"] == summary["max_steps"] == kaggle_e2e.SAMPLE_QUESTIONS
    assert [(s["start_step"], s["end_step"], s["stop_reason"]) for s in sessions] == [
        (0, 3, "budget"), (3, 6, "finished")], sessions
    assert all(s["status"] == "complete" for s in sessions), sessions
    assert summary["identical_to_uninterrupted"]  # samples.jsonl, rft.jsonl, pairs.jsonl
    assert summary["report"]["questions"] == 6 and summary["report"]["candidates"] == 12
    pairs = (Path(summary["run_dir"]) / "pairs.jsonl").read_text().splitlines()
    assert pairs  # --gold-as-chosen: a question with no right candidate still gives a pair
    assert summary["refusals"] == [] and summary["notebook_token"]["calls_made_with_it"] == 0
    assert summary["notebook_token"]["leaked_into"] == []
