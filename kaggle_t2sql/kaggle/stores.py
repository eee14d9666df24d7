"""CheckpointStore: where store versions live between sessions, chosen by a URI.

    local:/path          versioned folders /path/v0001, /path/v0002, ... (atomic renames)
    kaggle:owner/slug    two private Kaggle Datasets, owner/slug and owner/slug-b, used in turn
                         (one dataset version per push; see KaggleStore, kaggle_store.py)

Every version is a full snapshot holding all runs of the store side by side (bundle.py).

One code path for every store (this class): pull, per-run merge, verification and pruning.
A transport implements only these primitives (none knows about runs or merging):

    check_access()                    raise now, before any training, when pushes could not succeed
    list_versions() -> [Version]      every stored version, OLDEST FIRST, with its state
    read_index(v) -> dict | None      v's store index (t2sql-store.json), None when absent or unreadable
    list_files(v) -> {path: bytes}    v's files as the transport lists them (None: cannot list)
    fetch(v, dest) -> Path            the whole version under dest, unpacked; returns its root
    put(root, note, expendable) -> v  upload `root` as ONE new version, return once stored (Kaggle: ready);
                                      it MAY delete versions listed in `expendable` on the way (Kaggle's
                                      delete_old_versions), never any other
    delete(versions)                  remove these versions (Kaggle: no-op, it prunes inside put)

What the shared code guarantees (checkpoints_sync/README.md, "Losing nothing"):
  - a push re-reads the newest verified version just before uploading and merges per run:
    a run's copy with the higher (global_step, sessions) wins, no run is dropped, this
    session's own run is never lowered; after the upload, versions pushed meanwhile by
    another session are merged in by one more push;
  - a new version counts only once verified (ready, its index read back, every file listed
    with its size); pruning deletes only versions OLDER than the newest verified version that
    existed before the push, so a failed, partial or killed push always leaves one;
  - a pull takes every run's highest INTACT copy (sha256 + checkpoint validation) among the ready
    versions (a newer version made by a racing push may hold an older copy until the next merge),
    passing, with a warning, damaged copies and failed versions; `index` / `latest` / `status` show
    each run at its highest verified copy.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import ConfigError
from .bundle import (STORE_INDEX, SYNC_MANIFEST, BundleError, copy_tree, read_index, read_manifest, refresh_carried,
                     seal_version, verify_bundle)


@dataclass(frozen=True)
class Version:
    """One stored version. `id` is the transport's own name for it (shown to users)."""

    id: str
    state: str = field(default="ready", compare=False)  # "ready" | "processing" | "failed"; only ready ones are read
    created: float = field(default=0.0, compare=False)
    number: int = field(default=0, compare=False)  # the transport's version number, where it has one


def run_key(manifest: dict) -> tuple[int, int]:
    """Which copy of a run is newer: the higher global step, then the more sessions."""
    return int(manifest.get("global_step") or 0), int(manifest.get("sessions") or 0)


def _dominates(index: dict, other: dict) -> bool:
    """Every run of `other` is in `index` at the same or a newer copy."""
    runs = index.get("runs", {})
    return all(r in runs and run_key(runs[r]) >= run_key(m) for r, m in other.get("runs", {}).items())


def _same_runs(a: dict | None, b: dict | None) -> bool:
    files = lambda index: {r: m.get("files") for r, m in (index or {}).get("runs", {}).items()}  # noqa: E731
    return a is not None and b is not None and files(a) == files(b)


def _folder_name(version: Version) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", version.id)


class CheckpointStore:
    """The shared code path; subclasses implement the primitives (module docstring)."""

    uri: str

    # ------------------------------------------------------------------ primitives (per transport)

    def check_access(self) -> None:
        """Raise now (before any training) when pushes could not succeed."""

    def list_versions(self) -> list[Version]:  # pragma: no cover - interface
        raise NotImplementedError

    def read_index(self, version: Version) -> dict | None:  # pragma: no cover - interface
        raise NotImplementedError

    def list_files(self, version: Version) -> dict[str, int] | None:
        return None

    def fetch(self, version: Version, dest: Path) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def put(self, root: Path, note: str, expendable: list[Version]) -> Version:  # pragma: no cover - interface
        raise NotImplementedError

    def delete(self, versions: list[Version]) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    # ------------------------------------------------------------------ shared: reading

    def versions(self) -> list[Version]:
        return self.list_versions()

    def index(self) -> dict | None:
        """The newest verified version's store index (+ "version": its id), each run at its highest copy among
        every verified version; None when the store has none. Two sessions pushing at once can leave the newest
        version holding an older copy of a run until the next merge: what a run reached is never read lower."""
        newest, runs = None, {}
        for version in reversed(self.list_versions()):
            index = self._verified_index(version)
            if index is None:
                continue
            newest = newest or (version, index)
            for run, manifest in index["runs"].items():
                if run not in runs or run_key(manifest) > run_key(runs[run]):
                    runs[run] = manifest
        return {**newest[1], "runs": runs, "version": newest[0].id} if newest else None

    def _verified_index(self, version: Version) -> dict | None:
        """`check`'s verdict on a version, read once per store object (a version never changes once ready)."""
        if version.state != "ready":
            return None
        cache = self.__dict__.setdefault("_checked", {})
        if version.id not in cache:
            index, problems = self.check(version)
            if index is None:  # maybe a passing read failure: asked again next time
                return None
            cache[version.id] = None if problems else index
        return cache[version.id]

    def latest(self, run_name: str) -> dict | None:
        """That run's sync manifest at its highest verified copy (+ "version": the newest), None when the store
        lacks it."""
        index = self.index()
        entry = (index or {}).get("runs", {}).get(run_name)
        return {**entry, "version": index["version"]} if entry else None

    def check(self, version: Version) -> tuple[dict | None, list[str]]:
        """(its index, problems): ready, index readable, every file the index names listed with its size."""
        if version.state != "ready":
            return None, [f"its state is {version.state!r}"]
        index = self.read_index(version)
        if index is None:
            return None, [f"no readable {STORE_INDEX}"]
        listed = self.list_files(version)
        problems = []
        if listed is not None:
            for run, manifest in index["runs"].items():
                if f"{run}.zip" in listed:  # kept zipped by the transport: its content is checked at pull
                    continue
                wanted = {SYNC_MANIFEST: None, **{n: (m or {}).get("bytes") for n, m in (manifest.get("files") or {}).items()}}
                for name, size in wanted.items():
                    got = listed.get(f"{run}/{name}")
                    if got is None:
                        problems.append(f"missing {run}/{name}")
                    elif size is not None and got != size:
                        problems.append(f"{run}/{name} has {got} bytes, not {size}")
        return index, problems

    def newest_verified(self, versions: list[Version] | None = None) -> tuple[Version | None, dict | None]:
        """The newest version that passes `check` (and its index; each version checked once, as `index` does)."""
        for version in reversed(self.list_versions() if versions is None else versions):
            index = self._verified_index(version)
            if index is not None:
                return version, index
        return None, None

    def collect(self, dest: str | Path, only: set[str] | None = None) -> dict[str, Path]:
        """Every run's highest INTACT copy ({run: folder under dest}).

        The runs sought are those of every readable version (or `only`). A run's copies are tried highest
        (global_step, sessions) first, the newer version first among equal ones: two sessions that pushed at
        once can leave a newer version holding an older copy of a run, which a pull must not resume from.
        A damaged copy or a failed version is warned about, and the next copy is used instead.
        """
        dest = Path(dest)
        readable: list[tuple[Version, dict]] = []  # newest first
        for version in reversed(self.list_versions()):
            if version.state != "ready":
                warnings.warn(f"{self.uri} version {version.id} is {version.state}: skipped", stacklevel=2)
                continue
            index = self.read_index(version)
            if index is None:
                warnings.warn(f"{self.uri} version {version.id} has no readable {STORE_INDEX}: trying the one before",
                              stacklevel=2)
                continue
            readable.append((version, index))
        wanted = set(only) if only is not None else {r for _, index in readable for r in index["runs"]}
        roots: dict[str, Path | None] = {}  # version id -> its download (None: gone or failed)

        def download(version: Version) -> Path | None:
            if version.id not in roots:
                target = dest / _folder_name(version)
                shutil.rmtree(target, ignore_errors=True)
                try:
                    roots[version.id] = self.fetch(version, target)
                except LookupError:  # deleted meanwhile (pruned by another session): not a fault
                    roots[version.id] = None
                except Exception as exc:  # noqa: BLE001 - a failed download is one more bad version
                    warnings.warn(f"{self.uri} version {version.id} could not be downloaded ({exc}); trying the one "
                                  "before", stacklevel=3)
                    roots[version.id] = None
            return roots[version.id]

        found: dict[str, Path] = {}
        for run in sorted(wanted):
            copies = sorted((vi for vi in readable if run in vi[1]["runs"]),
                            key=lambda vi: run_key(vi[1]["runs"][run]), reverse=True)  # stable: newer first among equals
            for version, _ in copies:
                root = download(version)
                if root is None:
                    continue
                problems = verify_bundle(root / run)
                if not problems:
                    found[run] = root / run
                    break
                warnings.warn(f"{self.uri} version {version.id}: the copy of run {run} is corrupt "
                              f"({'; '.join(problems[:3])}); using its next intact copy", stacklevel=2)
        return found

    def pull(self, dest: str | Path, run_name: str) -> Path | None:
        """The root of the newest version holding an intact copy of `run_name` (None when none does)."""
        folder = self.collect(dest, only={run_name}).get(run_name)
        return folder.parent if folder is not None else None

    def status(self) -> dict:
        index = self.index() or {"runs": {}}
        keys = ("run_id", "global_step", "max_steps", "finished", "sessions", "checkpoint", "created")
        return {"store": self.uri, "versions": len(self.versions()), "version": index.get("version"),
                "runs": {name: {k: m.get(k) for k in keys} for name, m in index["runs"].items()}}

    # ------------------------------------------------------------------ shared: the push

    def commit(self, root: str | Path, note: str = "", run_name: str | None = None, max_versions: int = 0,
               carry: str | Path | None = None, rounds: int = 4) -> Version:
        """Push the sealed store version staged in `root` without ever losing a run (module docstring).

        `run_name` is this session's own run (never lowered: a higher copy in the store is kept and
        warned about); `carry` is refreshed with the newer copies of other runs merged in, so later
        pushes need not download them again. Returns the new version, or the newest verified one
        when the store already holds everything `root` has.

        Every ready version is read, not just the newest: two sessions pushing at once each make a
        version the other has not seen, so the newest may lack a run that only an older one holds.
        The push is done once the newest readable version holds every run's newest copy.
        """
        root = Path(root)
        indices: dict[str, dict | None] = {}  # a version never changes: read each index once
        damaged: set[tuple[str, str]] = set()  # (version id, run): copies found corrupt, which no push can carry

        def usable(v: Version, index: dict) -> dict:
            return {**index, "runs": {r: m for r, m in index.get("runs", {}).items() if (v.id, r) not in damaged}}

        def readable(versions: list[Version]) -> list[tuple[Version, dict]]:
            for v in versions:
                if v.state == "ready" and v.id not in indices:
                    indices[v.id] = self.read_index(v)
            return [(v, usable(v, indices[v.id])) for v in versions
                    if v.state == "ready" and indices.get(v.id) is not None]

        new = None
        for _ in range(rounds):
            before = self.list_versions()
            base, base_index = self.newest_verified(before)
            if base is not None:
                indices.setdefault(base.id, base_index)  # newest_verified read it already
            known = readable(before)
            candidates = ([(base, base_index)] if base is not None else []) + [
                (v, i) for v, i in known if v != base and not _dominates(base_index or {}, i)]
            self._merge(root, candidates, run_name, carry, damaged)
            pushed = seal_version(root)
            if base_index is not None and _same_runs(pushed, base_index):
                return base  # the store holds all of it already
            due = bool(max_versions) and base is not None and len(before) + 1 > max_versions
            # only what the new version makes redundant: failed pushes, and ready versions it dominates
            expendable = [v for v in before[:before.index(base)]
                          if v.state == "failed" or (v.state == "ready" and _dominates(pushed, usable(v, indices.get(v.id) or {})))
                          ] if due else []
            new = self.put(root, note, expendable)
            index, problems = self.check(new)
            if index is None or problems or not _same_runs(index, pushed):
                problems = problems or ["its index differs from the one pushed"]
                raise BundleError(f"{self.uri} version {new.id} is incomplete ({'; '.join(problems[:3])}): the previous "
                                  "version stays the newest good one; the next push retries")
            indices[new.id] = pushed
            after = self.list_versions()
            present = readable([v for v in after if v != new])  # damaged copies left out: none can be carried
            if new in after:
                newest = max([(new, pushed), *present], key=lambda vi: after.index(vi[0]))[1]
                if all(_dominates(newest, i) for i in [pushed, *(i for _, i in present)]):
                    if max_versions:
                        surplus = [v for v in after if v in expendable][:max(0, len(after) - max_versions)]
                        if surplus:
                            self.delete(surplus)
                    return new  # the newest version holds every run's newest copy
            warnings.warn(f"{self.uri}: another session pushed while this push ran; merging its runs and pushing again",
                          stacklevel=2)
        warnings.warn(f"{self.uri}: other sessions kept pushing during {rounds} rounds; {new.id if new else 'no version'} "
                      "is stored and the next push merges again (older versions keep every copy meanwhile)", stacklevel=2)
        return new

    def _merge(self, root: Path, candidates: list[tuple[Version, dict]], run_name: str | None,
               carry: str | Path | None, damaged: set[tuple[str, str]]) -> None:
        """Bring into `root` every run whose copy in a candidate version is newer than root's (or missing).
        Corrupt copies met on the way are added to `damaged` as (version id, run)."""
        best: dict[str, tuple[tuple[int, int], Version]] = {}
        for version, index in candidates:
            for run, manifest in index.get("runs", {}).items():
                if run not in best or run_key(manifest) > best[run][0]:
                    best[run] = (run_key(manifest), version)
        needed: dict[str, list[str]] = {}
        versions = {}
        for run, (key, version) in best.items():
            mine = read_manifest(root / run)
            if mine is not None and run_key(mine) >= key:
                continue
            if mine is not None and run == run_name:
                warnings.warn(f"{self.uri} holds run {run} at step {key[0]} (pushed by another session); this session's "
                              f"step {mine.get('global_step')} does not replace it", stacklevel=3)
            needed.setdefault(version.id, []).append(run)
            versions[version.id] = version
        if not needed:
            return
        with tempfile.TemporaryDirectory(prefix="t2sql-merge-") as tmp:
            for vid, runs in needed.items():
                try:
                    fetched = self.fetch(versions[vid], Path(tmp) / _folder_name(versions[vid]))
                except LookupError:  # pruned meanwhile: a newer version holds these runs (pruning's rule)
                    continue
                intact = {r: fetched / r for r in runs if not verify_bundle(fetched / r)}
                corrupt = [r for r in runs if r not in intact]
                if corrupt:
                    damaged.update((vid, r) for r in corrupt)
                    warnings.warn(f"{self.uri} version {vid}: the copy of run(s) {', '.join(corrupt)} is corrupt; "
                                  "using the newest intact copy in an older version", stacklevel=3)
                    older = self.collect(Path(tmp) / "older", only=set(corrupt))
                    intact.update({r: f for r, f in older.items()
                                   if read_manifest(root / r) is None or run_key(read_manifest(f)) > run_key(read_manifest(root / r))})
                for run, folder in intact.items():
                    shutil.rmtree(root / run, ignore_errors=True)
                    copy_tree(folder, root / run, link=False)
                    if carry and run != run_name:
                        refresh_carried(carry, run, folder)


class LocalStore(CheckpointStore):
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = f"local:{self.root}"

    def _path(self, version: Version) -> Path:
        return self.root / version.id

    def list_versions(self) -> list[Version]:
        if not self.root.is_dir():
            return []
        numbers = sorted(int(p.name[1:]) for p in self.root.iterdir()
                         if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit())
        return [Version(f"v{n:04d}", number=n) for n in numbers]

    def check_access(self) -> None:
        parent = next((p for p in [self.root, *self.root.parents] if p.exists()), None)
        if parent is None or not parent.is_dir():
            raise ConfigError(f"store {self.uri}: {self.root} cannot be created: give a writable folder")

    def read_index(self, version: Version) -> dict | None:
        return read_index(self._path(version))

    def list_files(self, version: Version) -> dict[str, int] | None:
        base = self._path(version)
        return {p.relative_to(base).as_posix(): p.stat().st_size for p in base.rglob("*") if p.is_file()}

    def fetch(self, version: Version, dest: Path) -> Path:
        if not self._path(version).is_dir():
            raise LookupError(f"{self.uri} has no version {version.id}")
        shutil.copytree(self._path(version), dest)
        return dest

    def put(self, root: Path, note: str, expendable: list[Version]) -> Version:
        """A new numbered folder, renamed in whole (a second session taking the same number fails, and retries)."""
        number = max([v.number for v in self.list_versions()] + [0]) + 1
        final = self.root / f"v{number:04d}"
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=self.root))
        try:
            copy_tree(Path(root), tmp, link=False)
            atomic.fsync_tree(tmp)
            tmp.rename(final)  # refuses (ENOTEMPTY/EEXIST) when another session took the number meanwhile
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return Version(final.name, number=number)

    def delete(self, versions: list[Version]) -> None:
        for version in versions:
            shutil.rmtree(self._path(version), ignore_errors=True)
