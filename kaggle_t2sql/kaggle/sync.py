"""Pull at session start: bring this run's newest trustworthy checkpoint into the run folder,
and keep the store's other runs so every push carries them too.

Candidates for this run (the store's folder named after `run_name`), newest global step wins:
  - the run folder itself (a machine that kept its disk);
  - a checkpoint dataset mounted under the Kaggle input root, found by content (its
    t2sql-store.json), wherever Kaggle mounted it (/kaggle/input/<slug> or
    /kaggle/input/datasets/<owner>/<slug>), checked file by file against sha256;
  - the store itself, which holds a newer version than the mount when the mount lags
    behind a just-published version. Missing or rejected credentials stop here, before
    any training, naming what to add: a session that cannot push must not train for hours.
A stored run of the same name whose settings or data differ is refused before anything
is installed (ConfigError naming what changed): the store stays as it was. Corrupt or
partial copies are skipped with a warning and the next best one is used, for this run and
for every other run of the store (carried: the newest intact copy, from an older version
when the newest is damaged).
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..checkpoints import KaggleCheckpointManager
from ..errors import ConfigError
from ..plan import plan_changes
from . import env as kaggle_env
from .bundle import STORE_INDEX, find_bundles, install_bundle, keep_carried, keep_runs, read_index, read_manifest, verify_bundle
from .stores import CheckpointStore

CARRY_DIR = "store-carry"  # in the run folder: the store's other runs, re-pushed with every version


@dataclass
class PullReport:
    source: str  # "fresh" | "run folder" | "mount:<path>" | "<store uri> v<N>"
    global_step: int
    notes: list[str] = field(default_factory=list)
    carried: list[str] = field(default_factory=list)  # other runs of the store, kept for the next pushes

    def summary(self) -> str:
        carried = f"; carrying the store's other runs: {', '.join(self.carried)}" if self.carried else ""
        return f"starting from {self.source} at step {self.global_step}" + "".join(f"; {n}" for n in self.notes) + carried


def carry_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / CARRY_DIR


def _local_step(run_dir: Path) -> int:
    latest = KaggleCheckpointManager(run_dir).latest_valid()
    return json.loads((latest / "trainer_state.json").read_text())["global_step"] if latest else 0


def refuse_if_changed(stored: dict, config: dict, plan: dict | None, where: str) -> None:
    """ConfigError naming what differs between a stored run (its sync manifest: config + plan) and this session."""
    if set(config) <= {"run_name"}:  # a bare `sync pull --run-name`: no settings to compare
        return
    changed = plan_changes(stored, config, plan)
    if changed:
        raise ConfigError(
            f"{where} holds run {config.get('run_name')!r} with other settings or data (changed: {', '.join(changed)}): "
            "nothing was trained or pushed. Resume it with its original settings, or start a new run on purpose "
            "with a new run_name (runs sit side by side in one store)"
        )


def store_roots(input_root: str | Path) -> list[Path]:
    """Mounted store versions under the input root (folders holding a store index), by content."""
    roots = {p.parent for p in find_bundles(input_root) if (p.parent / STORE_INDEX).is_file()}
    return sorted(roots)


def best_mount(input_root: str | Path, run_name: str, config: dict, plan: dict | None) -> tuple[Path | None, Path | None, list[str]]:
    """(this run's verified mounted folder with the highest step, the mounted version root to carry from, notes)."""
    notes, best, best_step, newest_root = [], None, -1, None
    for root in store_roots(input_root):
        index = read_index(root)
        if newest_root is None or index.get("created", 0) > (read_index(newest_root) or {}).get("created", 0):
            newest_root = root
        folder = root / run_name
        manifest = read_manifest(folder)
        if manifest is None:
            continue
        refuse_if_changed(manifest, config, plan, f"the mounted checkpoint dataset {root}")
        problems = verify_bundle(folder)
        if problems:
            msg = f"mounted checkpoint {folder} is corrupt or partial ({'; '.join(problems[:3])}): falling back"
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
            continue
        if manifest["global_step"] > best_step:
            best, best_step = folder, manifest["global_step"]
    return best, newest_root, notes


def pull_for_session(
    run_dir: str | Path,
    store: CheckpointStore | None,
    input_root: str | Path | None,
    config: dict,
    plan: dict | None = None,  # this session's run plan (plan.make_plan), for checking a stored run
) -> PullReport:
    """Install the best copy of this run; refuse a stored run of the same name with other settings."""
    run_dir = Path(run_dir)
    run_name = str(config.get("run_name"))
    input_root = Path(input_root) if input_root else kaggle_env.input_root()
    local = _local_step(run_dir)
    report = PullReport(*(("run folder", local) if local else ("fresh", 0)))
    mount, mount_root, report.notes = best_mount(input_root, run_name, config, plan)
    mount_step = read_manifest(mount)["global_step"] if mount else -1
    if mount is not None and mount_step > report.global_step:
        install_bundle(mount, run_dir)
        report.source, report.global_step = f"mount:{mount}", mount_step
    carry_from = mount_root

    index = None
    if store is not None:
        store.check_access()  # CredentialsError now, not after hours of training
        index = store.index()
    entry = (index or {}).get("runs", {}).get(run_name)
    if entry:
        refuse_if_changed(entry, config, plan, f"the store {store.uri} (version {index['version']})")
    mounted_index = read_index(mount_root) if mount_root else None
    others_newer = index is not None and {k: v.get("files") for k, v in index["runs"].items() if k != run_name} != {
        k: v.get("files") for k, v in (mounted_index or {"runs": {}})["runs"].items() if k != run_name}
    if index is not None and ((entry and entry["global_step"] > report.global_step) or others_newer):
        if entry and mount is not None and entry["global_step"] > mount_step:
            report.notes.append(f"mount is stale (step {mount_step}); store {store.uri} has step {entry['global_step']}")
        with tempfile.TemporaryDirectory(prefix="t2sql-pull-") as tmp:
            found = store.collect(tmp)  # every run's newest intact copy: a damaged one is warned about, and skipped
            own = found.pop(run_name, None)
            if own is None and entry:
                report.notes.append(f"no intact copy of {run_name} in {store.uri}")
            elif own is not None:
                manifest = read_manifest(own)
                if manifest["global_step"] > report.global_step:
                    install_bundle(own, run_dir)
                    report.source, report.global_step = f"{store.uri} {own.parent.name}", manifest["global_step"]
            report.carried = keep_runs(list(found.values()), carry_dir(run_dir))
            carry_from = None
    if carry_from is not None:
        report.carried = keep_carried(carry_from, run_name, carry_dir(run_dir))
    return report
