"""CheckpointStore: where store versions live between sessions, chosen by a URI.

    local:/path          versioned folders /path/v0001, /path/v0002, ... (atomic renames)
    kaggle:owner/slug    a private Kaggle Dataset, one dataset version per push

Both keep every version as a full snapshot holding all runs of the store side by side
(bundle.py), so an interrupted push leaves the previous version intact, and a corrupt
latest version falls back to the one before it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
import warnings
import zipfile
from pathlib import Path

from .. import atomic
from ..errors import ConfigError
from .auth import Forbidden, kaggle_api, kaggle_call
from .bundle import STORE_INDEX, BundleError, parse_index, read_index, unpack_zipped_folders, verify_bundle


class CheckpointStore:
    """push(version root) -> version; index() -> latest index; pull(dest, run) -> verified version root."""

    uri: str

    def push(self, root: Path, note: str = "", delete_old_versions: bool = False) -> int:  # pragma: no cover
        """A new version holding `root`; with delete_old_versions, the only one left afterwards."""
        raise NotImplementedError

    def versions(self) -> list[int]:  # pragma: no cover - interface
        raise NotImplementedError

    def index(self) -> dict | None:  # pragma: no cover - interface
        """The newest version's store index (+ "version"), None when the store is empty."""
        raise NotImplementedError

    def fetch(self, version: int, dest: Path) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def check_access(self) -> None:
        """Raise now (before any training) when pushes could not succeed."""

    def latest(self, run_name: str) -> dict | None:
        """That run's sync manifest in the newest version (+ "version"), None when the store lacks it."""
        index = self.index()
        entry = (index or {}).get("runs", {}).get(run_name)
        return {**entry, "version": index["version"]} if entry else None

    def pull(self, dest: str | Path, run_name: str) -> Path | None:
        """The newest version whose copy of `run_name` matches every sha256 (the version root); older
        ones are tried in turn. A version that does not hold the run counts when it is intact."""
        dest = Path(dest)
        for version in sorted(self.versions(), reverse=True):
            target = dest / f"v{version:04d}"
            shutil.rmtree(target, ignore_errors=True)
            try:
                root = self.fetch(version, target)
            except LookupError:  # deleted (a push with delete_old_versions): not a fault
                continue
            except Exception as exc:  # noqa: BLE001 - a failed download is one more bad version
                warnings.warn(f"{self.uri} version {version} could not be downloaded ({exc}); trying the one before")
                continue
            index = read_index(root)
            if index is None:
                problems = [f"no readable {STORE_INDEX}"]
            else:
                problems = verify_bundle(root / run_name) if run_name in index["runs"] else []
            if not problems:
                return root
            warnings.warn(f"{self.uri} version {version} is corrupt ({'; '.join(problems[:3])}); trying the one before")
            shutil.rmtree(target, ignore_errors=True)
        return None

    def status(self) -> dict:
        index = self.index() or {"runs": {}}
        keys = ("run_id", "global_step", "max_steps", "finished", "sessions", "checkpoint", "created")
        return {"store": self.uri, "versions": len(self.versions()), "version": index.get("version"),
                "runs": {name: {k: m.get(k) for k in keys} for name, m in index["runs"].items()}}


class LocalStore(CheckpointStore):
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = f"local:{self.root}"

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in self.root.iterdir() if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit())

    def check_access(self) -> None:
        parent = next((p for p in [self.root, *self.root.parents] if p.exists()), None)
        if parent is None or not parent.is_dir():
            raise ConfigError(f"store {self.uri}: {self.root} cannot be created: give a writable folder")

    def push(self, root: Path, note: str = "", delete_old_versions: bool = False) -> int:
        old = self.versions()
        version = (old or [0])[-1] + 1
        with atomic.staged_dir(self.root / f"v{version:04d}") as tmp:
            for path in sorted(Path(root).rglob("*")):
                if path.is_file():
                    target = tmp / path.relative_to(root)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
        if delete_old_versions:  # only once the new version is whole
            for number in old:
                shutil.rmtree(self.root / f"v{number:04d}", ignore_errors=True)
        return version

    def index(self) -> dict | None:
        for version in reversed(self.versions()):
            index = read_index(self.root / f"v{version:04d}")
            if index:
                return {**index, "version": version}
        return None

    def fetch(self, version: int, dest: Path) -> Path:
        shutil.copytree(self.root / f"v{version:04d}", dest)
        return dest


class KaggleStore(CheckpointStore):
    """A private Kaggle Dataset through the official client (KaggleApi)."""

    def __init__(self, ref: str, api=None, ready_timeout_s: float = 1800.0, poll_s: float = 5.0):
        if ref.count("/") != 1 or not all(ref.split("/")):
            raise ConfigError(f"bad Kaggle dataset {ref!r}: write it as kaggle:owner/slug")
        self.ref = ref
        self.uri = f"kaggle:{ref}"
        self._api = api
        self.ready_timeout_s = ready_timeout_s
        self.poll_s = poll_s

    @property
    def api(self):
        if self._api is None:
            self._api = kaggle_api()
        return self._api

    def check_access(self) -> None:
        """Credentials present and accepted (CredentialsError otherwise); a missing dataset is fine:
        the first push creates it."""
        self._status()

    def _status(self) -> dict | None:
        """{"status", "current_version_number"}, or None when the dataset does not exist (or is not visible yet:
        Kaggle answers 403, not 404, for a dataset that does not exist or was created seconds ago)."""
        try:
            return json.loads(kaggle_call(self.api.dataset_status, self.ref, format="json(status,current_version_number)"))
        except (LookupError, Forbidden):
            return None

    def wait_ready(self, exists: bool = False) -> dict | None:
        """Kaggle refuses a new version while the previous one is processing: wait for `ready`.

        While processing, the client reports the databundle state (blobs_received,
        blobs_decompressed, ...); only failed and deleted are final. With `exists` (right
        after creating it) a dataset that is not visible yet is waited for too.
        """
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            status = self._status()
            if (status is None and not exists) or (status is not None and status["status"] == "ready"):
                return status
            if status is None:
                if time.monotonic() > deadline:
                    raise BundleError(f"{self.uri}: created, but still not visible after {self.ready_timeout_s:.0f} s")
                time.sleep(self.poll_s)
                continue
            if status["status"] in ("failed", "deleted"):
                raise BundleError(f"{self.uri}: the latest version is {status['status']!r}; check it on kaggle.com")
            if time.monotonic() > deadline:
                raise BundleError(f"{self.uri}: still {status['status']!r} after {self.ready_timeout_s:.0f} s")
            time.sleep(self.poll_s)

    def versions(self) -> list[int]:
        status = self._status()
        return list(range(1, int(status["current_version_number"] or 0) + 1)) if status else []

    def push(self, root: Path, note: str = "", delete_old_versions: bool = False) -> int:
        status = self.wait_ready()
        owner, slug = self.ref.split("/")
        atomic.write_json(Path(root) / "dataset-metadata.json", {
            "id": self.ref, "title": slug.replace("-", " ")[:50].ljust(6, "_"), "licenses": [{"name": "CC0-1.0"}]})
        try:
            if status is None:
                response = kaggle_call(self.api.dataset_create_new, str(root), public=False, quiet=True, dir_mode="zip")
            else:
                response = kaggle_call(self.api.dataset_create_version, str(root), version_notes=note or "checkpoint",
                                       quiet=True, dir_mode="zip", delete_old_versions=delete_old_versions)
        finally:
            (Path(root) / "dataset-metadata.json").unlink(missing_ok=True)
        if str(getattr(response, "status", "ok") or "ok").lower() != "ok" or getattr(response, "error", ""):
            raise BundleError(f"{self.uri}: Kaggle refused the push: {getattr(response, 'error', '') or response.status}")
        status = self.wait_ready(exists=True)
        version = int(status["current_version_number"])
        self._check_complete(root, version)
        return version

    def _listed_files(self, version: int) -> list[str]:
        names, token = [], None
        while True:
            page = kaggle_call(self.api.dataset_list_files, f"{self.ref}/{version}", page_token=token, page_size=200)
            names += [f.name for f in (page.files or [])]
            token = getattr(page, "next_page_token", None)
            if not token:
                return names

    def _check_complete(self, root: Path, version: int) -> None:
        """The client leaves out a file whose upload the server refused, silently: look for every entry."""
        listed = self._listed_files(version)
        missing = [
            p.name for p in Path(root).iterdir()
            if p.name != "dataset-metadata.json"
            and not any(n == p.name or n == f"{p.name}.zip" or n.startswith(f"{p.name}/") for n in listed)
        ]
        if missing:
            raise BundleError(f"{self.uri} version {version} lacks {', '.join(sorted(missing))}: an upload was dropped; "
                              "the next push retries (pulls skip incomplete versions)")

    def index(self) -> dict | None:
        status = self._status()
        if not status or not status.get("current_version_number"):
            return None
        version = int(status["current_version_number"])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                kaggle_call(self.api.dataset_download_file, f"{self.ref}/{version}", STORE_INDEX, path=tmp,
                            force=True, quiet=True)
            except LookupError:
                return None
            index = _read_downloaded_index(Path(tmp))
        return {**index, "version": version} if index else None

    def fetch(self, version: int, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        kaggle_call(self.api.dataset_download_files, f"{self.ref}/{version}", path=str(dest), force=True,
                    quiet=True, unzip=True)
        unpack_zipped_folders(dest)
        return dest


def _read_downloaded_index(folder: Path) -> dict | None:
    """The client names a single-file download after the last part of the download URL, and a large
    file may come zipped: accept `t2sql-store.json` under any name, plain or inside a zip."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                names = [n for n in zf.namelist() if n.endswith(STORE_INDEX)]
                if names:
                    return parse_index(zf.read(names[0]))
        else:
            index = parse_index(path.read_bytes())
            if index:
                return index
    return None


def open_store(uri: str, api=None) -> CheckpointStore:
    if uri.startswith("local:"):
        return LocalStore(uri[len("local:"):])
    if uri.startswith("kaggle:"):
        return KaggleStore(uri[len("kaggle:"):], api=api)
    if uri.startswith("hf:"):  # a Hugging Face Hub repo (hf_store.py)
        from .hf_store import HfStore

        return HfStore(uri[len("hf:"):])
    if re.match(r"^[a-z][a-z0-9+.-]*://", uri):  # s3://, gs://, az://, any fsspec URL (fsspec_store.py)
        from .fsspec_store import FsspecStore

        return FsspecStore(uri)
    raise ConfigError(f"bad store {uri!r}: use local:/path, kaggle:owner/slug, s3://bucket/prefix (or another "
                      "fsspec URL: gs://, az://) or hf:owner/repo")
