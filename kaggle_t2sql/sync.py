"""Pull at session start: bring the newest trustworthy checkpoint into the run folder.

Candidates, newest global step wins:
  - the run folder itself (a machine that kept its disk);
  - a checkpoint dataset mounted under /kaggle/input, found by content (its
    t2sql-sync.json), wherever Kaggle mounted it (/kaggle/input/<slug> or
    /kaggle/input/datasets/<owner>/<slug>), checked file by file against sha256;
  - the store itself, when it is reachable (credentials present) and holds a newer
    version than the mount: a mount can lag minutes behind a just-published version.
Corrupt or partial copies are skipped with a warning and the next best one is used.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

from .bundle import find_bundles, install_bundle, read_manifest, verify_bundle
from .checkpoints import KaggleCheckpointManager
from .errors import T2SQLError
from .kaggle_auth import CredentialsError
from .stores import CheckpointStore, KaggleStore


@dataclass
class PullReport:
    source: str  # "fresh" | "run folder" | "mount:<path>" | "<store uri> v<N>"
    global_step: int
    notes: list[str]

    def summary(self) -> str:
        return f"starting from {self.source} at step {self.global_step}" + "".join(f"; {n}" for n in self.notes)


def _local_step(run_dir: Path) -> int:
    latest = KaggleCheckpointManager(run_dir).latest_valid()
    return json.loads((latest / "trainer_state.json").read_text())["global_step"] if latest else 0


def best_mount(input_root: str | Path, fingerprint: str | None) -> tuple[Path | None, list[str]]:
    """The verified mounted bundle with the highest step for this run's configuration."""
    notes, best, best_step = [], None, -1
    for folder in find_bundles(input_root):
        manifest = read_manifest(folder) or {}
        if fingerprint and manifest.get("fingerprint") not in (None, fingerprint):
            notes.append(f"ignored {folder}: a run with another configuration")
            continue
        problems = verify_bundle(folder)
        if problems:
            msg = f"mounted checkpoint {folder} is corrupt or partial ({'; '.join(problems[:3])}): falling back"
            warnings.warn(msg, stacklevel=2)
            notes.append(msg)
            continue
        if manifest["global_step"] > best_step:
            best, best_step = folder, manifest["global_step"]
    return best, notes


def pull_for_session(
    run_dir: str | Path,
    store: CheckpointStore | None,
    input_root: str | Path = "/kaggle/input",
    fingerprint: str | None = None,
    plan: dict | None = None,  # this session's run plan (plan.make_plan), for checking a stored run
) -> PullReport:
    run_dir = Path(run_dir)
    local = _local_step(run_dir)
    source, step = ("run folder", local) if local else ("fresh", 0)
    mount, notes = best_mount(input_root, fingerprint)
    mount_step = read_manifest(mount)["global_step"] if mount else -1
    if mount is not None and mount_step > step:
        install_bundle(mount, run_dir)
        source, step = f"mount:{mount}", mount_step

    if store is not None:
        try:
            latest = store.latest()
        except CredentialsError as exc:
            if isinstance(store, KaggleStore):
                notes.append(f"store not checked ({exc})")
                latest = None
            else:
                raise
        except (T2SQLError, OSError, LookupError) as exc:
            notes.append(f"store {store.uri} not reachable ({exc}): using what is mounted")
            latest = None
        if latest and latest.get("fingerprint") not in (None, fingerprint) and fingerprint:
            notes.append(f"store {store.uri} holds a run with another configuration: not used")
        elif latest and latest["global_step"] > step:
            if mount is not None:
                notes.append(f"mount is stale (step {mount_step}); store {store.uri} has step {latest['global_step']}")
            with tempfile.TemporaryDirectory(prefix="t2sql-pull-") as tmp:
                pulled = store.pull(tmp)
                if pulled is not None:
                    pulled_step = read_manifest(pulled)["global_step"]
                    if pulled_step > step:
                        install_bundle(pulled, run_dir)
                        source, step = f"{store.uri} {pulled.name}", pulled_step
                else:
                    notes.append(f"no intact version in {store.uri}")
    return PullReport(source, step, notes)
