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
# # kaggle-t2sql: prepare a training subset
# Samples a curriculum subset of SynSQL-2.5M (or your own question/SQL pairs) into a small
# folder — `pairs.jsonl` plus only the SQLite databases it uses — and publishes it as a
# private Kaggle Dataset, so training sessions read a few MB instead of streaming 9 GB.
# Train on it with `kaggle-t2sql kaggle-init ... --data-source jsonl --data-path kaggle:<you>/<slug>/pairs.jsonl`.

# %% tags=["parameters"]
source = "synsql"  # synsql | jsonl | spider | bird | bundled
path = "kaggle:<owner>/synsql-2-5m"  # the source folder (data.json + databases/) or JSONL file; kaggle: refs work in either mount layout
per_complexity = 2000  # examples per sql_complexity level (Simple .. Highly Complex)
limit = 0
seed = 42
out_dir = ""  # "" = <Kaggle working dir>/subset
publish = ""  # "<you>/synsql-subset" to publish as a private dataset (needs Kaggle credentials)
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
import json

from IPython.display import Markdown, display

from kaggle_t2sql.config import StageConfig
from kaggle_t2sql.kaggle.env import working_dir
from kaggle_t2sql.kaggle.prepare import publish_folder, write_subset

out_dir = out_dir or str(working_dir() / "subset")
summary = write_subset(StageConfig(name="subset", source=source, path=path, per_complexity=per_complexity, limit=limit),
                       out_dir, seed=seed)
display(Markdown("| level | examples |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in summary["by_complexity"].items())))
print(json.dumps({k: v for k, v in summary.items() if k != "by_complexity"}))

# %%
if publish:
    version = publish_folder(publish, out_dir, note=f"{summary['examples']} examples")
    print(f"published {publish} version {version}")
