"""The training kernel as Kaggle sees it: one spec, written out consistently as the kernel folder
(`kernel-metadata.json` + the train notebook with its parameters set), and pushed.

A pushed notebook runs exactly as pushed ("Save & Run All": nobody injects parameters), so
the parameters live in the notebook itself, written from the same spec as the metadata:
the store the notebook pushes to is the dataset the metadata attaches, always. Every
push of a later session, from `chain` or from the notebook itself, rebuilds the metadata
from this spec (never from `kernels_pull`, which returns what Kaggle kept: without a
dataset that did not exist yet, and without the machine shape).

Kaggle's reply to a push carries `error` and `invalid_dataset_sources` (kaggle 2.2.4
`kernels_push` returns the ApiSaveKernelResponse; the CLI only prints them): a refused push
raises KernelPushRefused with Kaggle's message, so it never counts as a session.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import atomic
from ..errors import ConfigError, T2SQLError

SPEC_FILE = "t2sql-kernel.json"
NOTEBOOK_FILE = "train.ipynb"
T4_X2 = "NvidiaTeslaT4"  # "GPU T4 x2" (kaggle-cli PR #1198); without it the server picks its default accelerator
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{3,49}$")
# task "sample": the settings a notebook's sample session takes (SampleSettings' fields; its questions are the data stage)
SAMPLE_KEYS = ("samples", "temperature", "max_new_tokens", "seed", "timeout", "workers", "save_every", "gold_as_chosen")


class KernelPushRefused(T2SQLError):
    """Kaggle answered a push with an error (quota, phone verification, concurrency, ...)."""


@dataclass
class KernelSpec:
    """Everything that must agree between kernel-metadata.json and the notebook's parameters."""

    user: str
    kernel_slug: str = "kaggle-t2sql-train"
    store_slug: str = "kaggle-t2sql-checkpoints"
    preset: str = "arctic-7b-t4"
    run_name: str = ""
    data_source: str = ""  # "" = the preset's
    data_path: str = ""  # e.g. kaggle:<you>/synsql-subset/pairs.jsonl (resolved in either mount layout)
    per_complexity: int = 0
    limit: int = 0
    time_budget_minutes: float = 0.0  # 0 = the preset's
    overrides: dict = field(default_factory=dict)
    wheel_dataset: str = ""  # owner/slug of the dataset made by publish-wheel ("" = pip install package_source)
    package_source: str = ""
    dataset_sources: list[str] = field(default_factory=list)  # more inputs (e.g. the data subset)
    model_sources: list[str] = field(default_factory=list)  # e.g. a Kaggle Model instance version for the base
    internet: bool = True
    self_chain: bool = False  # the notebook pushes its own next session
    max_sessions: int = 10  # with self_chain
    eval_limit: int = 20
    task: str = "train"  # "train" (training.method: sft, dpo, orpo, grpo) or "sample" (`kaggle-t2sql sample` sessions)
    sample: dict = field(default_factory=dict)  # task "sample": samples, temperature, max_new_tokens, gold_as_chosen, ...

    @property
    def kernel(self) -> str:
        return f"{self.user}/{self.kernel_slug}"

    @property
    def store(self) -> str:
        return f"{self.user}/{self.store_slug}"

    @property
    def title(self) -> str:
        return self.kernel_slug.replace("-", " ")

    def check(self) -> None:
        """Refuse an inconsistent setup here, before any GPU time is spent."""
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", self.user or ""):
            raise ConfigError(f"bad Kaggle user {self.user!r}: give your Kaggle username (--user)")
        for name in ("kernel_slug", "store_slug"):
            if not SLUG_RE.fullmatch(getattr(self, name)):
                raise ConfigError(f"bad {name} {getattr(self, name)!r}: 4-50 lower-case letters, digits and dashes")
        cfg = self.config()
        if self.task not in ("train", "sample"):
            raise ConfigError(f"task {self.task!r}: use 'train' or 'sample'")
        unknown = sorted(set(self.sample) - set(SAMPLE_KEYS))
        if unknown:  # the values are checked with the data by kaggle-init (eval/sampling.session_settings)
            raise ConfigError(f"unknown sample setting(s) {', '.join(unknown)} (allowed: {', '.join(SAMPLE_KEYS)})")
        stage = cfg.data.stages[0]
        if stage.source != "bundled" and not stage.path:
            raise ConfigError(f"the {cfg.preset} preset trains on data_source={stage.source!r} but data_path is empty: "
                              "pass --data-path kaggle:<owner>/<dataset>/<file> (e.g. the subset from "
                              "`kaggle-t2sql prepare --publish`) and attach that dataset (--dataset-source)")
        for path in (stage.path, stage.db_root, cfg.model.name_or_path, cfg.training.init_adapter):
            ref = _input_ref(path)
            if ref and ref not in self.dataset_sources and ref not in self.model_sources and ref != self.store:
                where = "--model-source" if path.startswith("kaggle-model:") else "--dataset-source"
                raise ConfigError(f"{path!r} names {ref}, which the kernel does not attach: add {where} {ref}")
        if not self.wheel_dataset and not self.package_source:
            raise ConfigError("the notebook must install kaggle_t2sql: pass --wheel (publishes and attaches the wheel "
                              "dataset) or --package-source <pip spec> (needs internet)")
        if not self.internet:
            raise ConfigError(f"--no-internet: a session without internet can neither push its checkpoints to "
                              f"kaggle:{self.store} nor read Kaggle Secrets (your credentials), so every session's "
                              "training would be lost: drop --no-internet (internet on needs a phone-verified account)")
        if self.package_source and not self.internet and not self.wheel_dataset:
            raise ConfigError("--package-source needs internet: drop --no-internet, or use --wheel")

    def config(self):
        from ..config_overrides import make_config

        return make_config(self.preset, self.run_name, self.time_budget_minutes, f"kaggle:{self.store}",
                           self.data_source, self.data_path, self.per_complexity, self.limit, self.overrides)

    def metadata(self) -> dict[str, Any]:
        """kernel-metadata.json: private, GPU T4 x2 forced, every input attached (the store first)."""
        sources = [self.store, *([self.wheel_dataset] if self.wheel_dataset else []), *self.dataset_sources]
        return {
            "id": self.kernel,
            "title": self.title,
            "code_file": NOTEBOOK_FILE,
            "language": "python",
            "kernel_type": "notebook",
            "is_private": True,
            "enable_gpu": True,
            "enable_tpu": False,
            "enable_internet": self.internet,
            "machine_shape": T4_X2,
            "dataset_sources": list(dict.fromkeys(sources)),
            "competition_sources": [],
            "kernel_sources": [],
            "model_sources": list(self.model_sources),
        }

    def parameters(self) -> dict[str, Any]:
        """The train notebook's parameters (papermill names), from the same spec."""
        return {
            "preset": self.preset, "run_name": self.run_name, "time_budget_minutes": self.time_budget_minutes,
            "store": f"kaggle:{self.store}", "data_source": self.data_source, "data_path": self.data_path,
            "per_complexity": self.per_complexity, "limit": self.limit, "overrides": dict(self.overrides),
            "chain": self.self_chain, "kernel_spec": asdict(self), "eval_limit": self.eval_limit,
            "package_source": self.package_source, "task": self.task, "sample": dict(self.sample),
        }

    @classmethod
    def from_dict(cls, data: dict) -> "KernelSpec":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown kernel setting(s) {', '.join(unknown)} (allowed: {', '.join(sorted(names))})")
        return cls(**data)


def _input_ref(path: str) -> str | None:
    """The dataset (owner/slug) or model handle an input path names, if it is a Kaggle reference."""
    from .env import DATASET_PREFIX, MODEL_PREFIX

    if path.startswith(DATASET_PREFIX):
        return "/".join(path[len(DATASET_PREFIX):].strip("/").split("/")[:2])
    if path.startswith(MODEL_PREFIX):
        return "/".join(path[len(MODEL_PREFIX):].strip("/").split("/")[:5])
    return None


def notebook_template() -> Path:
    """notebooks/train.ipynb of this checkout (the jupytext-generated notebook)."""
    path = Path(__file__).resolve().parents[2] / "notebooks" / NOTEBOOK_FILE
    if not path.is_file():
        raise ConfigError(f"{path} not found: run kaggle-init from a clone of the kaggle-t2sql repository")
    return path


def parameterized_notebook(spec: KernelSpec, template: str | Path | None = None) -> str:
    """The train notebook with the spec's parameters injected after its parameters cell (papermill's way),
    outputs cleared: what Kaggle will run, as is."""
    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(str(template or notebook_template()))
    nb = parameterize_notebook(nb, spec.parameters(), kernel_name="python3", language="python")
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(nb)


def write_kernel_folder(spec: KernelSpec, folder: str | Path, source: str | None = None) -> Path:
    """kernel-metadata.json + train.ipynb (+ the spec) in `folder`, each written atomically.

    `source`: the notebook text to push (a pulled copy of the running kernel); default: the
    repo's template with the spec's parameters.
    """
    spec.check()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_text(folder / NOTEBOOK_FILE, source if source is not None else parameterized_notebook(spec))
    atomic.write_json(folder / "kernel-metadata.json", spec.metadata())
    atomic.write_json(folder / SPEC_FILE, asdict(spec))
    return folder


def load_spec(folder: str | Path) -> KernelSpec:
    path = Path(folder) / SPEC_FILE
    if not path.is_file():
        raise ConfigError(f"{path} not found: set the kernel up first with `kaggle-t2sql kaggle-init --user <you>` "
                          "(or pass --folder to the folder it wrote)")
    return KernelSpec.from_dict(json.loads(path.read_text()))


def push_kernel(api, folder: str | Path) -> int:
    """`kernels_push` with Kaggle's reply checked: the new version number, or KernelPushRefused / T2SQLError."""
    from .auth import kaggle_call

    meta = json.loads((Path(folder) / "kernel-metadata.json").read_text())
    response = kaggle_call(api.kernels_push, str(folder))
    error = getattr(response, "error", "") or ""
    if error:
        raise KernelPushRefused(f"Kaggle refused to run {meta.get('id')}: {error}")
    dropped = list(getattr(response, "invalid_dataset_sources", None) or [])
    dropped += list(getattr(response, "invalid_model_sources", None) or [])
    if dropped:
        raise T2SQLError(
            f"pushed {meta.get('id')} (version {getattr(response, 'version_number', '?')}), but Kaggle could not attach "
            f"{', '.join(dropped)}: they do not exist or are not yours. Create them (kaggle-t2sql kaggle-init creates the "
            "checkpoint and wheel datasets) or fix the kernel's sources before the next push")
    return int(getattr(response, "version_number", 0) or 0)
