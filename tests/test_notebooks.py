"""The notebooks as users run them: papermill, parameters, outputs; jupytext pairs in sync."""

import json
import subprocess
import sys
from pathlib import Path

from kaggle_t2sql.data.pairs import out_of_sync

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
FAKE_TOKEN = "KGAT_notebook_test_secret_0123456789abcdef"
SMALL = {"data.stages.0.limit": 16, "data.max_seq_length": 2048, "training.batch_size": 1, "training.max_steps": 6,
         "training.save_steps": 2}


def test_pairs_are_in_sync_and_the_check_catches_drift(tmp_path):
    assert out_of_sync(NOTEBOOKS) == []
    for name in ("train", "evaluate", "prepare_data"):
        (tmp_path / f"{name}.py").write_text((NOTEBOOKS / f"{name}.py").read_text())
        (tmp_path / f"{name}.ipynb").write_text((NOTEBOOKS / f"{name}.ipynb").read_text())
    with open(tmp_path / "train.py", "a") as f:
        f.write("\n# %%\nprint('new cell')\n")
    assert out_of_sync(tmp_path) == ["train.ipynb"]
    out = subprocess.run([sys.executable, "-m", "kaggle_t2sql", "notebooks", "--folder", str(tmp_path), "--check"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "train.ipynb" in out.stderr


def _outputs(nb: dict) -> list[dict]:
    return [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]


def _run(path_in, path_out, params, cwd):
    import papermill as pm

    pm.execute_notebook(str(path_in), str(path_out), parameters=params, kernel_name="python3", cwd=str(cwd),
                        progress_bar=False)
    return json.loads(Path(path_out).read_text())


def test_train_notebook_twice_resumes_and_shows_table_and_plot(tmp_path, monkeypatch):
    monkeypatch.setenv("KAGGLE_KEY", FAKE_TOKEN)  # must never show up in any output
    run_dir = tmp_path / "run"
    params = dict(preset="tiny", output_dir=str(run_dir), eval_limit=4, overrides={**SMALL, "training.max_steps": 6})
    first = _run(NOTEBOOKS / "train.ipynb", tmp_path / "out1.ipynb", {**params, "time_budget_minutes": 0.001}, tmp_path)
    second = _run(NOTEBOOKS / "train.ipynb", tmp_path / "out2.ipynb", params, tmp_path)
    texts = []
    for nb in (first, second):
        outputs = _outputs(nb)
        assert not [o for o in outputs if o["output_type"] == "error"]
        assert any("image/png" in o.get("data", {}) for o in outputs)
        markdown = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in outputs)
        assert "| session | steps |" in markdown and "execution accuracy" in markdown.lower()
        texts.append(json.dumps(nb))
    assert "paused (budget): steps 0 -> 1 " in texts[0]
    assert "finished (finished): steps 1 -> 6 " in texts[1]  # the second run resumed where the first stopped
    for text in texts:
        assert FAKE_TOKEN not in text


def test_evaluate_notebook_runs_on_the_tiny_preset(tmp_path):
    nb = _run(NOTEBOOKS / "evaluate.ipynb", tmp_path / "eval.ipynb",
              dict(preset="tiny", data="bundled", limit=6, out_dir=str(tmp_path / "eval")), tmp_path)
    outputs = _outputs(nb)
    assert not [o for o in outputs if o["output_type"] == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)
    assert (tmp_path / "eval" / "report.json").is_file()


def test_prepare_data_notebook_writes_a_subset(tmp_path):
    nb = _run(NOTEBOOKS / "prepare_data.ipynb", tmp_path / "prep.ipynb",
              dict(source="bundled", path="", per_complexity=3, out_dir=str(tmp_path / "subset")), tmp_path)
    assert not [o for o in _outputs(nb) if o["output_type"] == "error"]
    lines = (tmp_path / "subset" / "pairs.jsonl").read_text().splitlines()
    assert len(lines) == 12 and (tmp_path / "subset" / "databases").is_dir()


def test_every_notebook_installs_the_package_the_same_way():
    """On Kaggle the image lacks kaggle_t2sql: each notebook's first code cell after its parameters installs it
    (wheel dataset, else package_source), with the same code."""
    import jupytext

    cells = []
    for name in ("train", "evaluate", "prepare_data"):
        nb = jupytext.read(NOTEBOOKS / f"{name}.py")
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert "parameters" in code[0].metadata.get("tags", []) and "package_source" in code[0].source
        cells.append(code[1].source)
    assert "pip" in cells[0] and "kaggle_t2sql-*.whl" in cells[0] and cells[0] == cells[1] == cells[2]


def test_a_data_parallel_session_hands_its_result_over_in_a_file(tmp_path):
    """With 2+ GPUs the notebook runs the session under torchrun (here: 2 CPU processes, gloo). Its output is
    only echoed (NCCL ranks print warnings after our last line, pytorch#126275); the result comes in a file."""
    import time

    from kaggle_t2sql import notebook as nb

    cfg = nb.make_config("tiny", overrides={**SMALL, "training.max_steps": 2})
    result = nb.train_session(nb.Session(cfg, tmp_path / "run", time.time()), processes=2)
    assert (result.status, result.end_step) == ("finished", 2)
    assert json.loads((tmp_path / "run" / "session-result.json").read_text())["end_step"] == 2
    marker = json.loads((tmp_path / "run" / "checkpoints" / "checkpoint-2" / "checkpoint.json").read_text())
    assert marker["world_size"] == 2


def test_the_budget_counts_from_the_kernels_start_not_from_the_training_cell(tmp_path):
    """Kaggle's 12 hours run from session start: a kernel that spent 59 s on installs and imports has less
    than the 2 s its wrap-up needs left of a 1-minute budget, so the session pauses after its first step,
    however fast the machine (counted from the training cell, it would have the whole minute)."""
    import subprocess
    import time

    from kaggle_t2sql import notebook as nb

    started = float(subprocess.run([sys.executable, "-c", "import time; time.sleep(1.5); "
                                    "from kaggle_t2sql.kaggle.env import kernel_started_at as k; print(k())"],
                                   capture_output=True, text=True, check=True).stdout)
    assert time.time() - started >= 1.5  # the process's start, not the moment of the call
    cfg = nb.make_config("tiny", time_budget_minutes=1.0, overrides={**SMALL, "training.max_steps": 6})
    result = nb.train_session(nb.Session(cfg, tmp_path / "run", time.time() - 59), processes=1)
    assert (result.status, result.stop_reason, result.end_step) == ("paused", "budget", 1)
