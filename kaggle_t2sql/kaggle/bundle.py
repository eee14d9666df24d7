"""What a store version holds, and how a pulled or mounted copy is checked and installed.

A store version (one Kaggle Dataset version, or one folder of a local store) holds every
run of the store side by side, each in its own folder, so a run is never overwritten by
another (layout also in checkpoints_sync/README.md):

    t2sql-store.json         index: {"format": 2, "runs": {<run_name>: <that run's sync manifest>}}
    <run_name>/              one run's bundle:
        t2sql-sync.json      sync manifest: run name/id, config + plan, global step, sessions,
                             checkpoint name, sha256 + bytes of every file of the bundle
        run.json             the run manifest / session ledger
        loss_curve.png       loss over all sessions
        checkpoint-N/        the latest valid checkpoint only, exactly as written (adapter, optimizer,
                             scheduler, scaler, rng_state*.pth of every rank, trainer state, checkpoint.json)
        tb/                  TensorBoard events
Never the base model. Checkpoint files and the atomically replaced ledger and plot are
hard-linked when possible, so staging a version is cheap and safe against the trainer pruning
the checkpoint meanwhile; TensorBoard's event files are copied, since the live writer appends
to them in place (a link would grow after the version's sha256 was taken, and the version
would fail its check after a session killed mid-run).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import warnings
import zipfile
from pathlib import Path

from .. import atomic
from ..checkpoints import MANIFEST, KaggleCheckpointManager, file_digests, sha256_file, validate_checkpoint
from ..errors import T2SQLError

SYNC_MANIFEST = "t2sql-sync.json"
STORE_INDEX = "t2sql-store.json"


class BundleError(T2SQLError):
    pass


def _link_or_copy(src: Path, dst: Path, link: bool = True) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if link:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copy2(src, dst)


def copy_tree(src: Path, dst: Path, link: bool = True) -> None:
    """Every file of src under dst (hard links where the filesystem allows and `link`)."""
    for path in sorted(src.rglob("*")):
        if path.is_file():
            _link_or_copy(path, dst / path.relative_to(src), link)


def run_name_of(run_dir: str | Path) -> str:
    manifest = KaggleCheckpointManager(run_dir).load_manifest() or {}
    return str((manifest.get("config") or {}).get("run_name") or Path(run_dir).name)


def make_bundle(run_dir: str | Path, dest: str | Path, checkpoint: Path | None = None, seal: bool = True) -> dict | None:
    """Fill the run folder `dest` with one run's push payload (hard links: instant); `seal` adds its sync manifest."""
    manager = KaggleCheckpointManager(run_dir)
    checkpoint = checkpoint or manager.latest_valid()
    if checkpoint is None:
        raise BundleError(f"{run_dir} has no valid checkpoint to push yet: train first")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    copy_tree(checkpoint, dest / checkpoint.name)
    for extra in (manager.manifest_path, manager.plot_path):
        if extra.is_file():
            _link_or_copy(extra, dest / extra.name)
    if manager.tb_dir.is_dir():
        copy_tree(manager.tb_dir, dest / "tb", link=False)  # appended to in place while training goes on
    return seal_bundle(dest) if seal else None


def seal_bundle(dest: str | Path) -> dict:
    """Write a run folder's sync manifest (sha256 of every file) last; a bundle without it is incomplete."""
    dest = Path(dest)
    checkpoint = max((p for p in dest.glob("checkpoint-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    run = json.loads((dest / MANIFEST).read_text()) if (dest / MANIFEST).is_file() else {}
    step = int(state["global_step"])
    max_steps = (run.get("plan") or {}).get("max_steps") or run.get("max_steps")
    manifest = {
        "format": 2,
        "run_name": dest.name,
        "run_id": run.get("run_id"),
        "fingerprint": run.get("fingerprint"),
        "config": run.get("config"),
        "plan": run.get("plan"),
        "global_step": step,
        "max_steps": max_steps,
        "finished": bool(max_steps) and step >= max_steps,
        "sessions": len(run.get("sessions", [])),
        "checkpoint": checkpoint.name,
        "created": time.time(),
        "files": file_digests(dest),
    }
    atomic.write_json(dest / SYNC_MANIFEST, manifest)
    return manifest


def stage_version(root: str | Path, run_dir: str | Path, carry: str | Path | None = None,
                  checkpoint: Path | None = None) -> str:
    """Stage a whole store version in `root`: this run's bundle (unsealed) + the carried runs of the store.

    Returns this run's folder name. `seal_version` finishes it (hashing: off the training thread).
    """
    root = Path(root)
    name = run_name_of(run_dir)
    make_bundle(run_dir, root / name, checkpoint, seal=False)
    if carry:
        with carry_lock(carry):  # the uploader's thread may be refreshing a carried run right now
            for other in carried_runs(carry):
                if other.name != name:
                    copy_tree(other, root / other.name)
    return name


_CARRY_LOCKS: dict[str, threading.Lock] = {}
_CARRY_LOCKS_GUARD = threading.Lock()


def carry_lock(carry: str | Path) -> threading.Lock:
    """One lock per carry folder. The uploader's thread refreshes carried runs (a merge brought a newer copy) while
    the training thread stages them into the next version: a copy taken across the folder swap lost its files."""
    key = str(Path(carry).resolve())
    with _CARRY_LOCKS_GUARD:
        return _CARRY_LOCKS.setdefault(key, threading.Lock())


def refresh_carried(carry: str | Path, run: str, folder: Path) -> None:
    """Replace the carried copy of `run` with `folder` (staged beside it, then swapped in, under the carry lock)."""
    with carry_lock(carry), atomic.staged_dir(Path(carry) / run) as staged:
        copy_tree(folder, staged, link=False)


def seal_version(root: str | Path) -> dict:
    """Seal every run folder that has no sync manifest yet, then write the store index last."""
    root = Path(root)
    runs = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        manifest = read_manifest(folder) or seal_bundle(folder)
        runs[folder.name] = manifest
    index = {"format": 2, "created": time.time(), "runs": runs}
    atomic.write_json(root / STORE_INDEX, index)
    return index


def write_version(root: str | Path, run_dir: str | Path, carry: str | Path | None = None) -> dict:
    """A whole sealed store version of the run's latest valid checkpoint (plus carried runs) in `root`."""
    stage_version(root, run_dir, carry)
    return seal_version(root)


def read_manifest(folder: str | Path) -> dict | None:
    try:
        manifest = json.loads((Path(folder) / SYNC_MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"), dict) else None


def parse_index(data: bytes) -> dict | None:
    try:
        index = json.loads(data)
    except ValueError:
        return None
    return index if isinstance(index, dict) and isinstance(index.get("runs"), dict) else None


def read_index(root: str | Path) -> dict | None:
    try:
        return parse_index((Path(root) / STORE_INDEX).read_bytes())
    except OSError:
        return None


def unpack_zipped_folders(folder: Path) -> None:
    """Kaggle stores sub-folders pushed with dir_mode="zip" as <name>.zip: unpack them in place."""
    for archive in sorted(folder.glob("*.zip")):
        target = folder / archive.stem
        if not target.exists():
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(target)
        archive.unlink()


def verify_bundle(folder: str | Path) -> list[str]:
    """Problems with a pulled or mounted run folder ([] = every file present and matching its sha256)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"no readable {SYNC_MANIFEST}"]
    problems = []
    for name, meta in manifest["files"].items():
        path = folder / name
        if not isinstance(meta, dict) or not path.is_file():
            problems.append(f"missing {name}")
        elif path.stat().st_size != meta.get("bytes") or sha256_file(path) != meta.get("sha256"):
            problems.append(f"{name} does not match its sha256")
    if not problems and manifest.get("kind") != "sample":  # a `sample` run holds samples, no checkpoint (sampling.py)
        problems = [f"checkpoint: {p}" for p in validate_checkpoint(folder / str(manifest.get("checkpoint")))]
    return problems


def find_bundles(root: str | Path, max_depth: int = 6) -> list[Path]:
    """Run folders under root holding a sync manifest (how a mounted dataset is found by content)."""
    root = Path(root)
    found = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        depth = Path(dirpath).relative_to(root).parts
        if SYNC_MANIFEST in filenames:
            found.append(Path(dirpath))
            dirnames.clear()
        elif len(depth) >= max_depth:
            dirnames.clear()
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and not d.startswith("checkpoint-")]
    return sorted(found)


def carried_runs(carry: str | Path | None) -> list[Path]:
    """The verified run folders kept to be re-pushed with every version (other runs of the store)."""
    if not carry or not Path(carry).is_dir():
        return []
    return sorted(p for p in Path(carry).iterdir()  # not a copy being staged (`.<run>.*.tmp`, atomic.staged_dir)
                  if p.is_dir() and not p.name.startswith(".") and read_manifest(p) is not None)


def install_bundle(bundle: str | Path, run_dir: str | Path) -> Path:
    """Copy a verified run folder's checkpoint (exactly as written), ledger, events and plot into a run folder.

    The checkpoint keeps its own checkpoint.json (process count, per-rank RNG files) and is
    published with an atomic rename, so a kill here leaves the run folder as it was.
    """
    bundle, manager = Path(bundle), KaggleCheckpointManager(run_dir)
    manifest = read_manifest(bundle)
    final = manager.checkpoints_dir / manifest["checkpoint"]
    if not (final.is_dir() and not validate_checkpoint(final)):
        staging = manager.staging_dir(manifest["global_step"])
        shutil.rmtree(staging, ignore_errors=True)
        copy_tree(bundle / manifest["checkpoint"], staging)
        atomic.publish_dir(staging, final)
    local = manager.load_manifest()
    remote_run = bundle / manager.manifest_path.name
    if remote_run.is_file() and (local is None or len(local.get("sessions", [])) <= len(json.loads(remote_run.read_text()).get("sessions", []))):
        atomic.write_bytes(manager.manifest_path, remote_run.read_bytes())
    if (bundle / manager.plot_path.name).is_file():
        atomic.write_bytes(manager.plot_path, (bundle / manager.plot_path.name).read_bytes())
    if (bundle / "tb").is_dir():
        for path in (bundle / "tb").rglob("*"):
            target = manager.tb_dir / path.relative_to(bundle / "tb")
            if path.is_file() and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target)
    return final


def keep_carried(version_root: str | Path, run_name: str, carry: str | Path) -> list[str]:
    """Copy the other runs of a verified store version into `carry`, to re-push them with every version.

    A damaged copy is warned about and left out: the next push takes that run from the store
    (CheckpointStore.commit merges every run of the store's newest verified version in)."""
    folders = []
    for folder in find_bundles(version_root, max_depth=1):
        if folder.name == run_name:
            continue
        problems = verify_bundle(folder)
        if problems:
            warnings.warn(f"{folder} is corrupt ({'; '.join(problems[:3])}): not carried from here", stacklevel=2)
        else:
            folders.append(folder)
    return keep_runs(folders, carry)


def keep_runs(folders: list[Path], carry: str | Path) -> list[str]:
    """Copy verified run folders into `carry` (unchanged ones are left as they are)."""
    carry = Path(carry)
    kept = []
    for folder in folders:
        target = carry / folder.name
        if (read_manifest(target) or {}).get("files") != read_manifest(folder)["files"]:
            with atomic.staged_dir(target) as tmp:
                copy_tree(folder, tmp)
        kept.append(folder.name)
    return kept
