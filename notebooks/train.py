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
# # kaggle-t2sql: one training session
# Pulls the latest checkpoint, trains Arctic-Text2SQL-R1-7B (4-bit QLoRA) until the time
# budget, pushes the checkpoint to the checkpoint dataset, pushes the next session (when
# chaining), then shows where the run stands. Set it up with `kaggle-t2sql kaggle-init`,
# which writes these parameters and the kernel's metadata from one spec.

# %% tags=["parameters"]
preset = "arctic-7b-t4"  # "tiny" runs the embedded default on a CPU in seconds
run_name = ""
output_dir = ""  # "" = <Kaggle working dir>/run
time_budget_minutes = 0.0  # 0 = the preset's (690 min: Kaggle stops a session 12 h after it starts)
store = ""  # "kaggle:<you>/kaggle-t2sql-checkpoints" on Kaggle; elsewhere "s3://bucket/prefix", "hf:<you>/repo" or "local:/path"
data_source = ""  # "" = the preset's; or synsql | spider | bird | jsonl | bundled
data_path = ""  # e.g. "kaggle:<you>/synsql-subset/pairs.jsonl" (found in either Kaggle mount layout)
per_complexity = 0  # SynSQL: examples per sql_complexity level
limit = 0
overrides = {}  # any other setting, e.g. {"lora.r": 8, "training.learning_rate": 1e-4}
chain = False  # push the next session of this kernel when this one pauses
kernel_spec = {}  # written by kaggle-init: the next session's push is rebuilt from it
eval_limit = 20  # dev questions for the short evaluation (0 = skip); runs only if time is left
package_source = ""  # pip spec used when no kaggle_t2sql wheel is attached, e.g. "git+https://github.com/<you>/kaggle-t2sql"
task = "train"  # or "sample": `kaggle-t2sql sample` sessions (kaggle-init --method sample)
sample = {}  # task "sample": {"samples": 8, "temperature": 0.8, "max_new_tokens": ..., "gold_as_chosen": False}

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
from kaggle_t2sql import notebook as nb

checks = nb.preflight(preset, store, chain, kernel_spec)  # `kaggle-t2sql doctor`: stops here on a session-wasting failure

# %%
from IPython.display import Image, Markdown, display

session = nb.start_session(preset, run_name, output_dir, time_budget_minutes, store, data_source, data_path,
                           per_complexity, limit, overrides, chain, kernel_spec, task, sample)

# %%
result = nb.run_session(session)  # training, or sampling with task="sample"

# %%
next_pushed = chain and nb.push_next_session(session, result)

# %%
display(Markdown(nb.session_markdown(session)))

# %%
if task == "train":
    display(Image(filename=str(nb.loss_curve_path(session.output_dir))))

# %%
if task == "train" and eval_limit and not next_pushed:  # the next session already runs: no second GPU session for an optional eval
    display(Markdown(nb.quick_eval(session, limit=eval_limit)))
