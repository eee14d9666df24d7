"""What the notebooks call: each function does one thing and returns something to show.

Notebooks stay thin (parameters, these calls, pictures); everything here also works
outside Jupyter, which is how the tests run it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .config import RunConfig, build_config


def on_kaggle() -> bool:
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE")) or Path("/kaggle/working").is_dir()


def make_config(
    preset: str,
    run_name: str = "",
    time_budget_minutes: float = 0.0,
    store: str = "",
    data_source: str = "",
    data_path: str = "",
    per_complexity: int = 0,
    limit: int = 0,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """Papermill parameters -> RunConfig; empty / zero values keep the preset's choice."""
    layer: dict[str, Any] = {}
    if run_name:
        layer["run_name"] = run_name
    if time_budget_minutes:
        layer["budget.session_minutes"] = time_budget_minutes
    if store:
        layer["store.uri"] = store
    if data_source:
        layer["data.stages.0.source"] = data_source
        layer["data.stages.0.name"] = data_source
    if data_path:
        layer["data.stages.0.path"] = data_path
    if per_complexity:
        layer["data.stages.0.per_complexity"] = per_complexity
    if limit:
        layer["data.stages.0.limit"] = limit
    layer.update(overrides or {})
    return build_config(preset, overrides=layer)


def environment() -> str:
    """One line per GPU (or CPU), stopping clearly on a GPU this torch cannot use (e.g. a P100)."""
    import torch

    from . import gpu

    line = f"torch {torch.__version__}; " + gpu.describe(gpu.check())
    print(line)
    return line


def train_session(cfg: RunConfig, output_dir: str | Path):
    """Pull (when a store is set), train until done or out of budget, push; returns the SessionResult.

    With more than one GPU (Kaggle's "GPU T4 x2") the session runs data-parallel in a
    `torchrun` subprocess, one process per GPU; otherwise in this kernel.
    """
    import torch

    from .trainer import ResumableTrainer, SessionResult

    gpus = torch.cuda.device_count()
    if gpus < 2:
        result = ResumableTrainer(cfg, output_dir).run()
        print(result.summary())
        return result
    import json
    import subprocess
    import sys

    import yaml

    from . import atomic

    config_file = Path(output_dir) / "session-config.yaml"
    atomic.write_text(config_file, yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(gpus), "-m",
           "kaggle_t2sql", "train", "--preset", cfg.preset, "--config", str(config_file), "--output-dir", str(output_dir),
           "--json"]
    print(f"{gpus} GPUs: running the session data-parallel with torchrun", flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        print(line, end="", flush=True)
    if proc.wait() != 0:
        raise RuntimeError(f"the torchrun session failed (exit {proc.returncode}); its output is above")
    text = "".join(lines)
    result = SessionResult(**json.loads(text[text.rindex("\n{") + 1 :]))
    print(result.summary())
    return result


def session_table_markdown(output_dir: str | Path) -> str:
    from .checkpoints import KaggleCheckpointManager
    from .demo import session_rows

    status = KaggleCheckpointManager(output_dir).status()
    rows = ["| session | steps | stopped by | minutes | tokens | loss |", "|---|---|---|---|---|---|"]
    for index, start, end, reason, secs, tokens, loss in session_rows(status["sessions"], status["loss_history"]):
        rows.append(f"| {index} | {start} → {end} | {reason} | {secs / 60:.1f} | {tokens} | {loss} |")
    rows.append(f"\n**step {status['global_step']} of {status['max_steps']}** — "
                f"{'finished' if status['finished'] else 'not finished yet'}")
    return "\n".join(rows)


def loss_curve_path(output_dir: str | Path) -> Path:
    from .checkpoints import KaggleCheckpointManager

    return KaggleCheckpointManager(output_dir).plot_path


def push_next_session(kernel: str, store_uri: str) -> bool:
    """In-notebook chaining: once the final push is `ready`, push the next version of this kernel.

    The kernel's own source and metadata are pulled from Kaggle first (`kernels_pull -m`),
    so the next session runs exactly what this one ran.
    """
    import tempfile

    from .kaggle_auth import kaggle_api, kaggle_call
    from .stores import open_store

    api = kaggle_api()
    store = open_store(store_uri, api=api)
    if hasattr(store, "wait_ready"):
        store.wait_ready()
    latest = store.latest()
    if latest and latest.get("finished"):
        print("run finished: no next session")
        return False
    with tempfile.TemporaryDirectory() as folder:
        kaggle_call(api.kernels_pull, kernel, path=folder, metadata=True, quiet=True)
        kaggle_call(api.kernels_push, folder)
    print(f"pushed the next session of {kernel}")
    return True


def evaluate(cfg: RunConfig, adapter: str = "", data: str = "bundled", data_path: str = "", split: str = "dev",
             limit: int = 0, samples: int = 1, temperature: float = 0.8, out_dir: str | Path = "eval") -> dict:
    """Generate, execute, score; returns the report with `markdown` and `chart` (PNG path) added."""
    from .evaluate import EvalSettings, markdown_report, run_eval

    settings = EvalSettings(data=data, data_path=data_path, split=split, limit=limit, samples=samples,
                            temperature=temperature, max_new_tokens=cfg_max_new_tokens(cfg))
    report = run_eval(cfg, settings, adapter or None, out_dir)
    report["markdown"] = markdown_report(report)
    report["chart"] = str(Path(out_dir) / "report.png")
    return report


def quick_eval(cfg: RunConfig, output_dir: str | Path, limit: int = 20) -> str:
    """A short greedy evaluation of the run's latest checkpoint on the bundled dev split (Markdown)."""
    from .checkpoints import KaggleCheckpointManager

    latest = KaggleCheckpointManager(output_dir).latest_valid(deep=False)
    report = evaluate(cfg, adapter=str(latest) if latest else "", limit=limit, out_dir=Path(output_dir) / "eval")
    return f"**Dev evaluation** ({limit} questions, adapter `{latest.name if latest else 'none'}`)\n\n" + report["markdown"]


def cfg_max_new_tokens(cfg: RunConfig) -> int:
    """The tiny model only needs to show the pipeline; the real model reasons at length."""
    return 48 if cfg.model.name_or_path == "tiny" else 1024
