"""CheckpointStore: where bundles live between sessions, chosen by a URI.

    local:/path          versioned folders /path/v0001, /path/v0002, ... (atomic renames)
    kaggle:owner/slug    a private Kaggle Dataset, one dataset version per push

Both keep every version as a full snapshot, so an interrupted push leaves the previous
version intact, and a corrupt latest version falls back to the one before it.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from . import atomic
from .bundle import SYNC_MANIFEST, BundleError, read_manifest, unpack_zipped_folders, verify_bundle
from .errors import ConfigError
from .kaggle_auth import kaggle_api, kaggle_call


class CheckpointStore:
    """push(bundle) -> version; pull(dest) -> verified bundle folder or None; latest() -> manifest or None."""

    uri: str

    def push(self, bundle: Path, note: str = "") -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def versions(self) -> list[int]:  # pragma: no cover - interface
        raise NotImplementedError

    def latest(self) -> dict | None:  # pragma: no cover - interface
        raise NotImplementedError

    def fetch(self, version: int, dest: Path) -> Path:  # pragma: no cover - interface
        raise NotImplementedError

    def pull(self, dest: str | Path) -> Path | None:
        """The newest version whose files all match their sha256; older ones are tried in turn."""
        dest = Path(dest)
        for version in sorted(self.versions(), reverse=True):
            target = dest / f"v{version:04d}"
            shutil.rmtree(target, ignore_errors=True)
            try:
                folder = self.fetch(version, target)
            except Exception as exc:  # noqa: BLE001 - a failed download is one more bad version
                warnings.warn(f"{self.uri} version {version} could not be downloaded ({exc}); trying the one before")
                continue
            problems = verify_bundle(folder)
            if not problems:
                return folder
            warnings.warn(f"{self.uri} version {version} is corrupt ({'; '.join(problems[:3])}); trying the one before")
            shutil.rmtree(target, ignore_errors=True)
        return None

    def status(self) -> dict:
        latest = self.latest()
        return {"store": self.uri, "versions": len(self.versions()), "latest": latest and {
            k: latest.get(k) for k in ("run_id", "global_step", "max_steps", "finished", "checkpoint", "created")}}


class LocalStore(CheckpointStore):
    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.uri = f"local:{self.root}"

    def versions(self) -> list[int]:
        if not self.root.is_dir():
            return []
        return sorted(int(p.name[1:]) for p in self.root.iterdir() if p.is_dir() and p.name[:1] == "v" and p.name[1:].isdigit())

    def push(self, bundle: Path, note: str = "") -> int:
        version = (self.versions() or [0])[-1] + 1
        with atomic.staged_dir(self.root / f"v{version:04d}") as tmp:
            for path in sorted(Path(bundle).rglob("*")):
                if path.is_file():
                    target = tmp / path.relative_to(bundle)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)
        return version

    def latest(self) -> dict | None:
        for version in reversed(self.versions()):
            manifest = read_manifest(self.root / f"v{version:04d}")
            if manifest:
                return {**manifest, "version": version}
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

    def _status(self) -> dict | None:
        """{"status", "current_version_number"} or None when the dataset does not exist yet."""
        try:
            return json.loads(kaggle_call(self.api.dataset_status, self.ref, format="json(status,current_version_number)"))
        except LookupError:
            return None

    def wait_ready(self) -> dict | None:
        """Kaggle refuses a new version while the previous one is processing: wait for `ready`.

        While processing, the client reports the databundle state (blobs_received,
        blobs_decompressed, ...); only failed and deleted are final.
        """
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            status = self._status()
            if status is None or status["status"] == "ready":
                return status
            if status["status"] in ("failed", "deleted"):
                raise BundleError(f"{self.uri}: the latest version is {status['status']!r}; check it on kaggle.com")
            if time.monotonic() > deadline:
                raise BundleError(f"{self.uri}: still {status['status']!r} after {self.ready_timeout_s:.0f} s")
            time.sleep(self.poll_s)

    def versions(self) -> list[int]:
        status = self._status()
        return list(range(1, int(status["current_version_number"] or 0) + 1)) if status else []

    def push(self, bundle: Path, note: str = "") -> int:
        status = self.wait_ready()
        owner, slug = self.ref.split("/")
        atomic.write_json(Path(bundle) / "dataset-metadata.json", {
            "id": self.ref, "title": slug.replace("-", " ")[:50].ljust(6, "_"), "licenses": [{"name": "CC0-1.0"}]})
        try:
            if status is None:
                response = kaggle_call(self.api.dataset_create_new, str(bundle), public=False, quiet=True, dir_mode="zip")
            else:
                response = kaggle_call(self.api.dataset_create_version, str(bundle), version_notes=note or "checkpoint",
                                       quiet=True, dir_mode="zip")
        finally:
            (Path(bundle) / "dataset-metadata.json").unlink(missing_ok=True)
        if getattr(response, "status", "ok") not in ("ok", None, ""):
            raise BundleError(f"{self.uri}: Kaggle refused the push: {getattr(response, 'error', '') or response.status}")
        status = self.wait_ready()
        version = int(status["current_version_number"]) if status else 1
        self._check_complete(bundle, version)
        return version

    def _listed_files(self, version: int) -> list[str]:
        names, token = [], None
        while True:
            page = kaggle_call(self.api.dataset_list_files, f"{self.ref}/{version}", page_token=token, page_size=200)
            names += [f.name for f in (page.files or [])]
            token = getattr(page, "next_page_token", None)
            if not token:
                return names

    def _check_complete(self, bundle: Path, version: int) -> None:
        """The client leaves out a file whose upload the server refused, silently: look for every entry."""
        listed = self._listed_files(version)
        missing = [
            p.name for p in Path(bundle).iterdir()
            if p.name != "dataset-metadata.json"
            and not any(n == p.name or n == f"{p.name}.zip" or n.startswith(f"{p.name}/") for n in listed)
        ]
        if missing:
            raise BundleError(f"{self.uri} version {version} lacks {', '.join(sorted(missing))}: an upload was dropped; "
                              "the next push retries (pulls skip incomplete versions)")

    def latest(self) -> dict | None:
        status = self._status()
        if not status or not status.get("current_version_number"):
            return None
        version = int(status["current_version_number"])
        with tempfile.TemporaryDirectory() as tmp:
            try:
                kaggle_call(self.api.dataset_download_file, f"{self.ref}/{version}", SYNC_MANIFEST, path=tmp,
                            force=True, quiet=True)
            except LookupError:
                return None
            found = next(Path(tmp).rglob(SYNC_MANIFEST), None)
            manifest = read_manifest(found.parent) if found else None
        return {**manifest, "version": version} if manifest else None

    def fetch(self, version: int, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        kaggle_call(self.api.dataset_download_files, f"{self.ref}/{version}", path=str(dest), force=True,
                    quiet=True, unzip=True)
        unpack_zipped_folders(dest)
        return dest


def open_store(uri: str, api=None) -> CheckpointStore:
    if uri.startswith("local:"):
        return LocalStore(uri[len("local:"):])
    if uri.startswith("kaggle:"):
        return KaggleStore(uri[len("kaggle:"):], api=api)
    raise ConfigError(f"bad store {uri!r}: use local:/path or kaggle:owner/slug")
