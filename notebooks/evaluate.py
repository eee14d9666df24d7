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
adapter = ""  # a checkpoint folder (e.g. /kaggle/working/run/checkpoints/checkpoint-N); "" = base model
data = "bundled"  # bundled | spider | bird | jsonl
data_path = ""  # Spider/BIRD folder or JSONL file
split = "dev"
limit = 50  # questions (0 = all)
samples = 1  # 1 = greedy; > 1 = self-consistency with execution-result voting
temperature = 0.8  # used when samples > 1
out_dir = "/kaggle/working/eval"
overrides = {}

# %%
from IPython.display import Image, Markdown, display

from kaggle_t2sql import notebook as nb

cfg = nb.make_config(preset, overrides=overrides)
nb.environment()

# %%
report = nb.evaluate(cfg, adapter=adapter, data=data, data_path=data_path, split=split, limit=limit,
                     samples=samples, temperature=temperature, out_dir=out_dir)
display(Markdown(report["markdown"]))

# %%
display(Image(filename=report["chart"]))
