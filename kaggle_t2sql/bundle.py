"""A sync bundle: what a push carries, and how a pulled copy is checked and installed.

Layout (also described in checkpoints_sync/README.md):
    t2sql-sync.json        sync manifest: run id, global step, checkpoint name, sha256 + bytes of every file
    run.json               the run manifest / session ledger
    loss_curve.png         loss over all sessions
    checkpoint-N/          the latest valid checkpoint only (adapter, optimizer, scheduler, scaler, rng, state)
    tb/                    TensorBoard events
Never the base model. Files are hard-linked when possible, so making a bundle is cheap
and safe against the trainer pruning the checkpoint meanwhile.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import zipfile
from pathlib import Path

from . import atomic
from .checkpoints import MANIFEST, MARKER, KaggleCheckpointManager, file_digests, sha256_file, validate_checkpoint
from .errors import T2SQLError

SYNC_MANIFEST = "t2sql-sync.json"


class BundleError(T2SQLError):
    pass


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    for path in sorted(src.rglob("*")):
        if path.is_file():
            _link_or_copy(path, dst / path.relative_to(src))


def make_bundle(run_dir: str | Path, dest: str | Path, checkpoint: Path | None = None, seal: bool = True) -> dict | None:
    """Fill `dest` with the run's push payload (hard links: instant); `seal` adds the sync manifest."""
    manager = KaggleCheckpointManager(run_dir)
    checkpoint = checkpoint or manager.latest_valid(deep=False)
    if checkpoint is None:
        raise BundleError(f"{run_dir} has no valid checkpoint to push yet: train first")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    _copy_tree(checkpoint, dest / checkpoint.name)
    for extra in (manager.manifest_path, manager.plot_path):
        if extra.is_file():
            _link_or_copy(extra, dest / extra.name)
    if manager.tb_dir.is_dir():
        _copy_tree(manager.tb_dir, dest / "tb")
    return seal_bundle(dest) if seal else None


def seal_bundle(dest: str | Path) -> dict:
    """Write the sync manifest (sha256 of every file) last; a bundle without it is incomplete."""
    dest = Path(dest)
    checkpoint = max((p for p in dest.glob("checkpoint-*") if p.is_dir()), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    run = json.loads((dest / MANIFEST).read_text()) if (dest / MANIFEST).is_file() else {}
    step = int(state["global_step"])
    manifest = {
        "format": 1,
        "run_id": run.get("run_id"),
        "fingerprint": run.get("fingerprint"),
        "global_step": step,
        "max_steps": run.get("max_steps"),
        "finished": bool(run.get("max_steps")) and step >= run["max_steps"],
        "checkpoint": checkpoint.name,
        "created": time.time(),
        "files": file_digests(dest),
    }
    atomic.write_json(dest / SYNC_MANIFEST, manifest)
    return manifest


def read_manifest(folder: str | Path) -> dict | None:
    path = Path(folder) / SYNC_MANIFEST
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
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
    """Problems with a pulled or mounted copy ([] = every file present and matching its sha256)."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"no readable {SYNC_MANIFEST}"]
    problems = []
    for name, meta in manifest["files"].items():
        path = folder / name
        if not path.is_file():
            problems.append(f"missing {name}")
        elif path.stat().st_size != meta["bytes"] or sha256_file(path) != meta["sha256"]:
            problems.append(f"{name} does not match its sha256")
    if not problems:
        problems = [f"checkpoint: {p}" for p in validate_checkpoint(folder / manifest["checkpoint"])]
    return problems


def find_bundles(root: str | Path, max_depth: int = 5) -> list[Path]:
    """Folders under root holding a sync manifest (how a mounted dataset is found by content)."""
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


def install_bundle(bundle: str | Path, run_dir: str | Path) -> Path:
    """Copy a verified bundle's checkpoint, ledger, events and plot into a run folder (atomically)."""
    bundle, manager = Path(bundle), KaggleCheckpointManager(run_dir)
    manifest = read_manifest(bundle)
    final = manager.checkpoints_dir / manifest["checkpoint"]
    if not (final.is_dir() and not validate_checkpoint(final)):
        staging = manager.staging_dir(manifest["global_step"])
        shutil.rmtree(staging, ignore_errors=True)
        _copy_tree(bundle / manifest["checkpoint"], staging)
        (staging / MARKER).unlink(missing_ok=True)  # re-sealed by publish
        manager.publish(staging, manifest["global_step"])
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
