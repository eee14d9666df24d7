"""`kaggle-init`: from zero to a training kernel that can be chained, in one command.

It refuses an inconsistent setup before any GPU time is spent (credentials of another
user, inputs that do not exist, data the notebook could not find), creates the private
checkpoint dataset (and the wheel dataset when asked), and writes the kernel folder
(`kernel-metadata.json` + the train notebook with its parameters) from one spec.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..errors import ConfigError
from .auth import Forbidden, kaggle_api, kaggle_call
from .bundle import STORE_INDEX
from .kernel import KernelSpec, write_kernel_folder

STORE_README = """# kaggle-t2sql checkpoints

Written by kaggle-t2sql: one folder per training run ({index} lists them), each with its
latest checkpoint, ledger, loss curve and TensorBoard events. Do not edit by hand.
"""


def dataset_exists(api, ref: str) -> bool:
    try:
        kaggle_call(api.dataset_status, ref)
    except (LookupError, Forbidden):  # Kaggle answers 403 for a dataset that does not exist (or is not ours)
        return False
    return True


def create_empty_store(api, ref: str) -> int:
    """The checkpoint dataset with an empty index, so the first push of the kernel can attach it."""
    from .. import atomic
    from .kaggle_store import KaggleStore

    with tempfile.TemporaryDirectory(prefix="t2sql-store-") as tmp:
        atomic.write_json(Path(tmp) / STORE_INDEX, {"format": 2, "created": 0, "runs": {}})
        (Path(tmp) / "README.md").write_text(STORE_README.format(index=STORE_INDEX))
        return KaggleStore(ref, api=api, poll_s=2.0).publish(Path(tmp), "empty checkpoint store")


def init_kernel(spec: KernelSpec, folder: str | Path, publish_wheel: bool = False, wheel_deps: bool = True,
                create_store: bool = True, api=None) -> list[str]:
    """Check, create what is missing, write the kernel folder; returns what was done, one line each."""
    spec.check()
    api = api or kaggle_api()
    done = []
    me = (getattr(api, "config_values", {}) or {}).get("username")
    if me and me != spec.user:
        raise ConfigError(f"--user {spec.user!r} but the Kaggle credentials belong to {me!r}: use your own username")
    missing = [ref for ref in spec.dataset_sources if not dataset_exists(api, ref)]
    if missing:
        raise ConfigError(f"dataset(s) {', '.join(missing)} not found (or not yours): create them first, e.g. "
                          "`kaggle-t2sql prepare ... --publish <you>/<slug>`, or fix --dataset-source")
    if publish_wheel:
        from .prepare import publish_folder
        from .wheels import build_wheels

        with tempfile.TemporaryDirectory(prefix="t2sql-wheel-") as tmp:
            names = build_wheels(tmp, with_deps=wheel_deps)
            version = publish_folder(spec.wheel_dataset, tmp, note="kaggle_t2sql wheels", api=api)
        done.append(f"published {len(names)} wheel(s) as {spec.wheel_dataset} version {version}")
    elif spec.wheel_dataset and not dataset_exists(api, spec.wheel_dataset):
        raise ConfigError(f"wheel dataset {spec.wheel_dataset} not found: pass --wheel to publish it")
    if dataset_exists(api, spec.store):
        done.append(f"checkpoint dataset {spec.store} exists: sessions resume from it")
    elif create_store:
        create_empty_store(api, spec.store)
        done.append(f"created the private checkpoint dataset {spec.store}")
    else:
        done.append(f"checkpoint dataset {spec.store} does not exist yet: the first session creates it")
    write_kernel_folder(spec, folder)
    done.append(f"wrote {Path(folder) / 'kernel-metadata.json'} and {Path(folder) / 'train.ipynb'} "
                f"(kernel {spec.kernel}, GPU T4 x2, store kaggle:{spec.store})")
    if spec.self_chain:
        done.append(f"next: push it once (kaggle kernels push -p {folder}); each session pushes the next one")
    else:
        done.append(f"next: kaggle-t2sql chain --folder {folder}")
    return done
