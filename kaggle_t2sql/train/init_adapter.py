"""The adapter a new run starts from (`training.init_adapter`, any training method): a checkpoint-N folder,
or `run:NAME`, the final adapter of a finished run pulled from the run's checkpoint store."""

from __future__ import annotations

from pathlib import Path

from ..config import RunConfig
from ..config_checks import STORE_RUN
from ..errors import ConfigError
from .methods import lora_fp32


def load_init_adapter(model, path: str | Path) -> None:
    """Copy the LoRA weights of a checkpoint folder into `model`'s `default` adapter (kept fp32).

    A resumed session loads its own checkpoint over these, so a run starts from `path` exactly once.
    """
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    from ..kaggle.env import resolve_input

    folder = Path(resolve_input(str(path)))
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"training.init_adapter {str(path)!r} holds no adapter_model.safetensors: give a "
                          "checkpoint-N folder of a run with the same lora settings")
    result = set_peft_model_state_dict(model, load_file(str(weights)), adapter_name="default")
    unexpected = getattr(result, "unexpected_keys", None) or []
    if unexpected:
        raise ConfigError(f"training.init_adapter {str(path)!r} does not fit this model's LoRA (e.g. {unexpected[0]}): "
                          "use the lora settings and base model the adapter was trained with")
    lora_fp32(model)


def load_configured_init_adapter(model, cfg: RunConfig) -> str:
    """Load `training.init_adapter` into `model`: a checkpoint folder, or `run:NAME` pulled from the store.

    Every session loads it (DPO's frozen `ref` is built from it); a resumed session then loads its own
    checkpoint over the policy. `run:NAME` must be finished: a finished run's final adapter never changes,
    so every session (and the fingerprint, which holds the name) means the same weights. Returns where the
    adapter came from, for the session's log."""
    import tempfile

    spec = cfg.training.init_adapter
    if not spec.startswith(STORE_RUN):
        load_init_adapter(model, spec)
        return spec
    with tempfile.TemporaryDirectory(prefix="t2sql-init-adapter-") as tmp:
        folder, where = pull_store_run_adapter(cfg.store.uri, spec, tmp, "training.init_adapter")
        load_init_adapter(model, folder)
    return where


def pull_store_run_adapter(store_uri: str, spec: str, dest: str | Path, what: str) -> tuple[Path, str]:
    """The final checkpoint folder of the finished run `run:NAME` of the store, pulled under `dest`, and where it
    came from (for the log). An absent or unfinished run is refused with the fix; `what` names the setting."""
    from ..kaggle.bundle import read_manifest
    from ..kaggle.store_uri import open_store

    name = spec[len(STORE_RUN):]
    store = open_store(store_uri)
    entry = (store.index() or {}).get("runs", {}).get(name)
    if entry is None:
        runs = sorted((store.index() or {}).get("runs", {}))
        raise ConfigError(f"{what}={spec}: {store.uri} holds no run {name!r} "
                          f"({'its runs: ' + ', '.join(runs) if runs else 'it holds no run yet'}): train that run "
                          "into this store first, or name one of its runs")
    if not entry.get("finished"):
        raise ConfigError(f"{what}={spec}: run {name!r} in {store.uri} is at step "
                          f"{entry.get('global_step')} of {entry.get('max_steps')}, not finished: a new run starts from "
                          "a finished run's final adapter (it never changes), so finish that run first")
    folder = store.collect(dest, only={name}).get(name)
    if folder is None:
        raise ConfigError(f"{what}={spec}: {store.uri} holds no intact copy of run {name!r} (see the warnings above)")
    manifest = read_manifest(folder)
    if not manifest.get("checkpoint"):
        raise ConfigError(f"{what}={spec}: run {name!r} of {store.uri} holds no checkpoint (is it a sample run?): "
                          "name a finished training run")
    return folder / manifest["checkpoint"], f"{spec} ({store.uri}, {manifest['checkpoint']})"
