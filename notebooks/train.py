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
# budget, pushes the checkpoint to the checkpoint dataset, and shows where the run stands.
# Run it again (or let `chain` do it) and it carries on exactly where it stopped.

# %% tags=["parameters"]
preset = "arctic-7b-t4"  # "tiny" runs the embedded default on a CPU in seconds
run_name = ""
output_dir = "/kaggle/working/run"
time_budget_minutes = 0.0  # 0 = the preset's (690 min on Kaggle: sessions stop at 12 h)
store = ""  # "kaggle:<you>/kaggle-t2sql-checkpoints" on Kaggle; "local:/path" elsewhere
data_source = ""  # "" = the preset's; or synsql | spider | bird | jsonl | bundled
data_path = ""
per_complexity = 0  # SynSQL: examples per sql_complexity level
limit = 0
overrides = {}  # any other setting, e.g. {"lora.r": 8, "training.learning_rate": 1e-4}
chain = False  # push the next session of this kernel when this one pauses
kernel = ""  # "<you>/kaggle-t2sql-train", needed with chain
eval_limit = 20  # dev questions for the short evaluation (0 = skip)
package_source = ""  # pip spec used when no kaggle_t2sql wheel is attached, e.g. "git+https://github.com/<you>/kaggle-t2sql"

# %%
import importlib.util
import subprocess
import sys

if importlib.util.find_spec("kaggle_t2sql") is None:  # on Kaggle: the wheel dataset (offline), else pip
    from pathlib import Path

    wheels = sorted(Path("/kaggle/input").rglob("kaggle_t2sql-*.whl"))
    if wheels:
        src = ["--no-index", "--find-links", str(wheels[-1].parent), "kaggle_t2sql"]
    elif package_source:
        src = [package_source]
    else:
        raise RuntimeError("kaggle_t2sql is not installed: attach the wheel dataset (kaggle-t2sql publish-wheel) "
                           "or set package_source to a pip spec")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", *src], check=True)

# %%
from IPython.display import Image, Markdown, display

from kaggle_t2sql import notebook as nb

cfg = nb.make_config(preset, run_name, time_budget_minutes, store, data_source, data_path, per_complexity, limit, overrides)
nb.environment()

# %%
result = nb.train_session(cfg, output_dir)

# %%
display(Markdown(nb.session_table_markdown(output_dir)))

# %%
display(Image(filename=str(nb.loss_curve_path(output_dir))))

# %%
if eval_limit:
    report = nb.quick_eval(cfg, output_dir, limit=eval_limit)
    display(Markdown(report))

# %%
if chain and result.status == "paused":
    nb.push_next_session(kernel, cfg.store.uri)
