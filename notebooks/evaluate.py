# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # kaggle-t2sql: evaluate a model + adapter
# Generates SQL for a Spider/BIRD-format set (or the bundled dev split), runs it read-only
# against the databases, and reports execution accuracy, exact match and latency.

# %% tags=["parameters"]
preset = "arctic-7b-t4"  # "tiny" for the embedded default
adapter = ""  # a checkpoint folder, or kaggle:<you>/kaggle-t2sql-checkpoints/<run>/checkpoint-N; "" = base model
data = "bundled"  # bundled | spider | bird | jsonl
data_path = ""  # Spider/BIRD folder or JSONL file, e.g. kaggle:<owner>/<dataset>/dev (either mount layout)
split = "dev"
limit = 50  # questions (0 = all)
samples = 1  # 1 = greedy; > 1 = self-consistency with execution-result voting
temperature = 0.8  # used when samples > 1
vote = "soft"  # with samples > 1: soft (Arctic's denotation similarity) | exact (OmniSQL's majority)
fix_rounds = 0  # execution-guided correction rounds (0 keeps scores comparable with the official recipe)
out_dir = ""  # "" = <Kaggle working dir>/eval
overrides = {}
package_source = ""  # pip spec used when no kaggle_t2sql wheel is attached

# %%
# Install kaggle_t2sql when the image lacks it: from the attached wheel dataset (offline), else with pip.
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

if importlib.util.find_spec("kaggle_t2sql") is None:
    inputs = Path(os.environ.get("T2SQL_KAGGLE_ROOT") or "/kaggle") / "input"
    wheels = sorted(inputs.rglob("kaggle_t2sql-*.whl"))
    if wheels:
        found = sorted({str(w.parent) for w in inputs.rglob("*.whl")})
        src = ["--no-index", *(f"--find-links={d}" for d in found), "kaggle_t2sql"]
    elif package_source:
        src = [package_source]
    else:
        raise RuntimeError("kaggle_t2sql is not installed: attach the wheel dataset (kaggle-t2sql publish-wheel) "
                           "or set package_source to a pip spec (needs internet)")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *src], check=True)

# %%
from IPython.display import Image, Markdown, display

from kaggle_t2sql import notebook as nb

cfg = nb.make_config(preset, overrides=overrides)
nb.environment()

# %%
report = nb.evaluate(cfg, adapter=adapter, data=data, data_path=data_path, split=split, limit=limit,
                     samples=samples, temperature=temperature, vote=vote, fix_rounds=fix_rounds,
                     out_dir=out_dir or nb.working_path("eval"))
display(Markdown(report["markdown"]))

# %%
display(Image(filename=report["chart"]))
