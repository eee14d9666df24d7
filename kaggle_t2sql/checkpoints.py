"""KaggleCheckpointManager: owns a run folder and knows which checkpoint can be trusted.

Layout of a run folder:
    run.json                    manifest + ledger: run id, config and its fingerprint, one entry per session
    checkpoints/checkpoint-N/   HF Trainer checkpoint + checkpoint.json (sha256 of every file, written last)
    tb/                         TensorBoard events
    loss_curve.png              loss over all sessions, session boundaries marked

A checkpoint is published by renaming a fully written, fsynced staging folder, and is
only trusted when its checkpoint.json is there and every file matches its sha256,
trainer_state.json parses and the adapter tensors load. Anything else is skipped with
a warning and never chosen.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import socket
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from . import atomic
from .errors import ConfigError
from .plan import plan_changes  # noqa: F401 - re-exported: the pull code checks a stored run with it

CHECKPOINT_RE = re.compile(r"^checkpoint-(\d+)$")
MARKER = "checkpoint.json"
REQUIRED_FILES = ("adapter_model.safetensors", "adapter_config.json", "trainer_state.json", "optimizer.pt", "scheduler.pt")
RNG_FILES = ("rng_state.pth", "rng_state_0.pth")
MANIFEST = "run.json"


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_digests(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {sha256, bytes}} of every file under folder (the marker excluded)."""
    out = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER):
        out[path.relative_to(folder).as_posix()] = {"sha256": sha256_file(path), "bytes": path.stat().st_size}
    return out


def step_of(path: Path) -> int:
    m = CHECKPOINT_RE.match(path.name)
    return int(m.group(1)) if m else -1


def read_marker(path: Path) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The files listed in a checkpoint.json, or the problems that make it untrustworthy."""
    try:
        marker = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return {}, [f"checkpoint.json unreadable: {exc}"]
    files = marker.get("files") if isinstance(marker, dict) else None
    if not isinstance(files, dict):
        return {}, ["checkpoint.json malformed: expected an object with a 'files' object"]
    bad = [name for name, meta in files.items() if not (isinstance(meta, dict) and isinstance(meta.get("sha256"), str)
                                                        and type(meta.get("bytes")) is int)]
    if bad:
        return {}, [f"checkpoint.json malformed: {', '.join(sorted(bad))} lack(s) sha256 and bytes"]
    return files, []


def validate_checkpoint(path: str | Path, deep: bool = True) -> list[str]:
    """Problems that make a checkpoint untrustworthy ([] = valid)."""
    path = Path(path)
    if not path.is_dir():
        return [f"{path} is not a folder"]
    marker = path / MARKER
    if not marker.is_file():
        return ["no checkpoint.json: the save did not complete"]
    files, problems = read_marker(marker)
    if problems:
        return problems
    problems = [f"missing {name}" for name in REQUIRED_FILES if name not in files]
    if not any(name in files for name in RNG_FILES):
        problems.append("missing rng_state.pth")
    for name, meta in files.items():
        f = path / name
        if not f.is_file():
            problems.append(f"missing {name}")
        elif f.stat().st_size != meta["bytes"]:
            problems.append(f"{name} has {f.stat().st_size} bytes, expected {meta['bytes']}")
        elif deep and sha256_file(f) != meta["sha256"]:
            problems.append(f"{name} does not match its sha256")
    if problems:
        return problems
    try:
        int(json.loads((path / "trainer_state.json").read_text())["global_step"])
    except (ValueError, KeyError, TypeError) as exc:
        return [f"trainer_state.json unreadable: {exc!r}"]
    if deep:
        try:
            from safetensors.torch import load_file

            load_file(str(path / "adapter_model.safetensors"))
        except Exception as exc:  # noqa: BLE001 - any failure means "cannot load"
            return [f"adapter tensors do not load: {exc}"]
    return []


class KaggleCheckpointManager:
    def __init__(self, run_dir: str | Path):
        self.run_dir = Path(run_dir)
        self.checkpoints_dir = self.run_dir / "checkpoints"
        self.tb_dir = self.run_dir / "tb"
        self.manifest_path = self.run_dir / MANIFEST
        self.plot_path = self.run_dir / "loss_curve.png"

    # ------------------------------------------------------------ checkpoints

    def checkpoints(self) -> list[Path]:
        """checkpoint-N folders, newest first."""
        if not self.checkpoints_dir.is_dir():
            return []
        found = [p for p in self.checkpoints_dir.iterdir() if p.is_dir() and step_of(p) >= 0]
        return sorted(found, key=step_of, reverse=True)

    def latest_valid(self, deep: bool = True) -> Path | None:
        """The newest checkpoint that passes validation; broken ones are skipped with a warning."""
        for path in self.checkpoints():
            problems = validate_checkpoint(path, deep=deep)
            if not problems:
                return path
            warnings.warn(f"skipping checkpoint {path}: {'; '.join(problems)}", stacklevel=2)
        return None

    def staging_dir(self, step: int) -> Path:
        """Where a save is written before it is published; the same for every data-parallel rank."""
        return self.checkpoints_dir / f".staging-{step}"

    def publish(self, written: Path, step: int, world_size: int = 1) -> Path:
        """Seal a fully written checkpoint folder (marker last, fsync) and rename it into place.

        The marker names the run it belongs to (run.json's run id and fingerprint), so a checkpoint can
        never be resumed as part of another run (`check_owners`)."""
        run = self.load_manifest() or {}
        atomic.write_json(written / MARKER, {"step": step, "files": file_digests(written), "time": time.time(),
                                             "world_size": world_size, "run_id": run.get("run_id"),
                                             "fingerprint": run.get("fingerprint")})
        return atomic.publish_dir(written, self.checkpoints_dir / f"checkpoint-{step}")

    def clean_staging(self) -> None:
        """Undo what killed saves left: put back a checkpoint moved aside by a replacement that never
        completed, and remove half-written staging folders (never visible as checkpoints)."""
        if self.checkpoints_dir.is_dir():
            atomic.restore_replaced(self.checkpoints_dir)
            for p in self.checkpoints_dir.iterdir():
                if p.name.startswith(".staging-"):
                    shutil.rmtree(p, ignore_errors=True)

    def prune(self, keep: int) -> None:
        """Keep the newest `keep` valid checkpoints; drop older ones and broken ones below them.

        Valid means the full check (every sha256, the adapter loads): a size-only check would count a
        corrupt checkpoint as kept and delete the only good one below it."""
        kept = 0
        for path in self.checkpoints():
            if kept >= keep:
                shutil.rmtree(path, ignore_errors=True)
            elif not validate_checkpoint(path):
                kept += 1
            elif kept:  # broken and older than a valid one: useless
                shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------ manifest / ledger

    def load_manifest(self) -> dict | None:
        if not self.manifest_path.is_file():
            return None
        return json.loads(self.manifest_path.read_text())

    def save_manifest(self, manifest: dict) -> None:
        atomic.write_json(self.manifest_path, manifest)

    def check_owners(self, manifest: dict | None) -> None:
        """ConfigError (nothing changed) when a checkpoint here belongs to another run than run.json's, or
        when checkpoints lie here without a run.json (their settings unknown: they would be resumed silently
        under this session's settings). Checkpoints written before markers named their run are accepted."""
        owned = []
        for path in self.checkpoints():
            try:
                marker = json.loads((path / MARKER).read_text())
            except (OSError, ValueError):
                continue  # no readable marker: never chosen for a resume anyway
            if isinstance(marker, dict):
                owned.append((path, marker.get("run_id"), marker.get("fingerprint")))
        if not owned:
            return
        if manifest is None:
            path, run_id, _ = owned[0]
            of = f" of run {run_id}" if run_id else ""
            raise ConfigError(
                f"{self.run_dir} holds checkpoints ({path.name}{of}) but no {MANIFEST}: their run's settings are "
                "unknown, so nothing was trained. Put its run.json back (e.g. `kaggle-t2sql sync pull` from the "
                "store it was pushed to), or start the new run in a new --output-dir")
        for path, run_id, fingerprint in owned:
            if run_id is None:
                continue
            if run_id != manifest.get("run_id") or fingerprint != manifest.get("fingerprint"):
                raise ConfigError(
                    f"{path} belongs to run {run_id} (fingerprint {fingerprint}), not to run {manifest.get('run_id')} "
                    f"(fingerprint {manifest.get('fingerprint')}) of {self.manifest_path}: nothing was trained. "
                    "A checkpoint of another run was copied in, or run.json was replaced: move the stranger out, "
                    "or start the new run in a new --output-dir")

    def open_run(self, config: dict, fingerprint: str, plan: dict) -> dict:
        """Create the manifest with this session's plan, or check that this session may resume the
        stored run: same settings and data, a process count that keeps its global batch, and checkpoints
        that belong to it."""
        manifest = self.load_manifest()
        self.check_owners(manifest)
        if manifest is None:
            manifest = {
                "run_id": uuid.uuid4().hex[:12],
                "created": time.time(),
                "config": config,
                "fingerprint": fingerprint,
                "plan": plan,
                "max_steps": plan["max_steps"],
                "sessions": [],
            }
        else:
            changed = plan_changes(manifest, config, plan)
            if changed:
                raise ConfigError(
                    f"{self.run_dir} holds a run with other settings or data (changed: {', '.join(changed)}): "
                    "nothing was trained. Resume it with its original settings and data, or start a new run "
                    "(a new run_name / --output-dir)"
                )
            if not manifest.get("plan"):
                warnings.warn(f"{self.manifest_path} predates run plans: this session's plan is kept from now on "
                              "(earlier sessions' data cannot be compared)", stacklevel=2)
                manifest["plan"], manifest["max_steps"] = plan, plan["max_steps"]
        manifest["config"] = config  # budget / store / save cadence may change between sessions
        for session in manifest["sessions"]:  # a session that never wrote its end was killed
            if session.get("end_time") is None:
                session["end_time"] = session.get("last_save_time") or session["start_time"]
                session["stop_reason"] = "killed"
        self.save_manifest(manifest)
        return manifest

    def begin_session(self, start_step: int, gpu: str) -> dict:
        manifest = self.load_manifest()
        session = {
            "index": len(manifest["sessions"]) + 1,
            "start_time": time.time(),
            "end_time": None,
            "start_step": start_step,
            "end_step": start_step,
            "tokens_seen": 0,
            "stop_reason": None,
            "gpu": gpu,
            "host": socket.gethostname(),
        }
        manifest["sessions"].append(session)
        self.save_manifest(manifest)
        return session

    def update_session(self, **fields) -> None:
        manifest = self.load_manifest()
        manifest["sessions"][-1].update(fields)
        self.save_manifest(manifest)

    # ------------------------------------------------------------ status

    def status(self) -> dict:
        """The stable status interface: finished, global_step, latest_checkpoint, sessions (+ loss)."""
        manifest = self.load_manifest() or {"sessions": [], "max_steps": None}
        latest = self.latest_valid()
        state = json.loads((latest / "trainer_state.json").read_text()) if latest else {}
        step = int(state.get("global_step", 0))
        max_steps = manifest.get("max_steps")
        losses = [(e["step"], e["loss"]) for e in state.get("log_history", []) if "loss" in e]
        return {
            "run_id": manifest.get("run_id"),
            "finished": bool(max_steps) and step >= max_steps,
            "global_step": step,
            "max_steps": max_steps,
            "plan": manifest.get("plan"),
            "latest_checkpoint": str(latest) if latest else None,
            "sessions": manifest["sessions"],
            "loss": losses[-1][1] if losses else None,
            "loss_history": losses,
        }
