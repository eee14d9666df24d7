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
# Train on it with `data_source="jsonl"`, `data_path="/kaggle/input/<slug>/pairs.jsonl"`.

# %% tags=["parameters"]
source = "synsql"  # synsql | jsonl | spider | bird | bundled
path = "/kaggle/input/synsql-2-5m"  # the source folder (data.json + databases/) or JSONL file
per_complexity = 2000  # examples per sql_complexity level (Simple .. Highly Complex)
limit = 0
seed = 42
out_dir = "/kaggle/working/subset"
publish = ""  # "<you>/synsql-subset" to publish as a private dataset (needs Kaggle credentials)

# %%
import json

from IPython.display import Markdown, display

from kaggle_t2sql.config import StageConfig
from kaggle_t2sql.prepare import publish_folder, write_subset

summary = write_subset(StageConfig(name="subset", source=source, path=path, per_complexity=per_complexity, limit=limit),
                       out_dir, seed=seed)
display(Markdown("| level | examples |\n|---|---|\n" + "\n".join(f"| {k} | {v} |" for k, v in summary["by_complexity"].items())))
print(json.dumps({k: v for k, v in summary.items() if k != "by_complexity"}))

# %%
if publish:
    version = publish_folder(publish, out_dir, note=f"{summary['examples']} examples")
    print(f"published {publish} version {version}")
