"""Issue 19 on Kaggle: a GRPO run chained across emulated Kaggle sessions (bench/kaggle_e2e.py, method="grpo").

The run starts from a finished SFT run of the checkpoint store (training.init_adapter=run:demo, pushed there
first and pulled by each session), is cut by the session's step budget twice (budget.session_steps: the number of sessions does not hang on the
machine's speed), resumes in each new kernel from
the pushed checkpoint, and ends bit-identical to an uninterrupted local run from the same adapter. Each session's
ledger entry carries GRPO's numbers (`status --json`)."""

import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import kaggle_e2e  # noqa: E402

pytestmark = pytest.mark.slow  # end-to-end / multi-session


@pytest.mark.timeout(1200)  # a cold cache first pre-trains the demo base and its adapter
def test_grpo_chain_from_a_store_run_is_bit_identical_to_an_uninterrupted_run(tmp_path, demo_adapter):
    init_run = Path(demo_adapter).parents[1]  # the demo run folder (finished at checkpoint-8)
    summary = kaggle_e2e.run(tmp_path / "out", method="grpo", init_run=init_run, session_steps=2)
    sessions = summary["sessions"]
    assert summary["finished"] and summary["global_step"] == summary["max_steps"] == 6, sessions
    # three sessions of two steps (budget.session_steps=2), each resumed from the last one's push
    assert [(s["start_step"], s["end_step"], s["stop_reason"]) for s in sessions] == [
        (0, 2, "budget"), (2, 4, "budget"), (4, 6, "finished")], sessions
    assert summary["identical_to_uninterrupted"]
    assert summary["init_adapter_run"] == "demo"
    # every GRPO session records its method, mean reward and share of zero-variance groups (status --json)
    ledger = summary["ledger"]
    assert [s["method"] for s in ledger] == ["grpo"] * len(ledger)
    assert all(isinstance(s["reward"], float) and 0.0 <= s["reward"] <= 1.0 for s in ledger), ledger
    assert all(0.0 <= s["zero_std_share"] <= 1.0 for s in ledger), ledger
    # it started from the store run's adapter (trained B weights, moved a little), not from a fresh LoRA
    start = load_file(str(Path(demo_adapter) / "adapter_model.safetensors"))
    end = load_file(str(Path(summary["run_dir"]) / "checkpoints" / f"checkpoint-{summary['max_steps']}" / "adapter_model.safetensors"))
    b_key = next(k for k in start if "lora_B" in k)
    assert start[b_key].abs().sum() > 0 and torch.allclose(end[b_key], start[b_key], atol=0.05)
    assert not torch.equal(end[b_key], start[b_key])  # and GRPO really moved it
