"""KaggleStore: the checkpoint store on two private Kaggle Datasets, through the official client (KaggleApi).

A transport of stores.py (which holds the shared pull / merge / verify / prune path every store uses);
`store_uri.open_store("kaggle:owner/slug")` picks it.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import zipfile
from pathlib import Path

from .. import atomic
from ..errors import ConfigError
from .auth import Forbidden, kaggle_api, kaggle_call, other_owner
from .bundle import STORE_INDEX, BundleError, parse_index, unpack_zipped_folders
from .stores import CheckpointStore, Version


class KaggleStore(CheckpointStore):
    """Two private Kaggle Datasets used in turn, through the official client (KaggleApi).

    Kaggle can prune only with `delete_old_versions`, which deletes EVERY older version of the
    dataset in the same call that creates the new one, before the new one is processed or
    checked. So pruning never touches the dataset holding the newest verified version: a
    push that must prune goes to the OTHER dataset (`owner/slug-b` for `owner/slug`, created
    by the first pruning push) with delete_old_versions, and only once that version is ready
    and verified does the other dataset become the one to prune next. A failed, partial or
    killed pruning push leaves the first dataset as it was. Versions of both datasets are
    ordered by their creation date. A version Kaggle marks `failed` is skipped by pulls and
    pushed over (a new version), never waited on.
    """

    MAX_TOP_LEVEL_FILES = 50  # Kaggle Datasets: at most 50 top-level files (ARCHITECTURE.md, "More facts")
    MAX_BYTES = 200 * 10**9  # ... and 200 GB per dataset

    def __init__(self, ref: str, api=None, ready_timeout_s: float = 1800.0, poll_s: float = 5.0):
        if ref.count("/") != 1 or not all(ref.split("/")):
            raise ConfigError(f"bad Kaggle dataset {ref!r}: write it as kaggle:owner/slug")
        if len(ref.split("/")[1]) > 48:
            raise ConfigError(f"bad Kaggle dataset {ref!r}: keep the slug to 48 characters (the store also uses "
                              f"{ref}-b, and Kaggle allows 50)")
        self.ref = ref
        self.uri = f"kaggle:{ref}"
        self.refs = (ref, f"{ref}-b")  # used in turn (class docstring)
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
        the first push creates it. Another account's dataset is refused here, by name: Kaggle's 403 would read
        as "does not exist yet" and the first push would fail hours later."""
        problem = other_owner(self.api, self.ref)
        if problem:
            raise Forbidden(problem)
        self._status()

    def _status(self, ref: str | None = None) -> dict | None:
        """{"status", "current_version_number"}, or None when the dataset does not exist (or is not visible yet:
        Kaggle answers 403, not 404, for a dataset that does not exist or was created seconds ago)."""
        try:
            return json.loads(kaggle_call(self.api.dataset_status, ref or self.ref,
                                          format="json(status,current_version_number)"))
        except (LookupError, Forbidden):
            return None

    def wait_ready(self, exists: bool = False, ref: str | None = None) -> dict | None:
        """Kaggle refuses a new version while the previous one is processing: wait until it is final.

        While processing, the client reports the databundle state (blobs_received,
        blobs_decompressed, ...); ready, failed and deleted are final (a new version may be
        pushed over a failed one). With `exists` (right after creating it) a dataset that is
        not visible yet is waited for too.
        """
        if ref is None:  # both datasets of the store (chain: the session's last push may be in either)
            return [self.wait_ready(exists, r) for r in self.refs][0]
        deadline = time.monotonic() + self.ready_timeout_s
        while True:
            status = self._status(ref)
            if (status is None and not exists) or (status is not None and status["status"] in ("ready", "failed", "deleted")):
                return status
            if time.monotonic() > deadline:
                state = "not visible" if status is None else repr(status["status"])
                raise BundleError(f"kaggle:{ref or self.ref}: still {state} after {self.ready_timeout_s:.0f} s")
            time.sleep(self.poll_s)

    def _dataset_versions(self, ref: str) -> list[Version]:
        """Every version of one dataset with its state and creation date (GetDataset, through the client's SDK)."""
        from kagglesdk.datasets.types.dataset_api_service import ApiGetDatasetRequest

        owner, slug = ref.split("/")

        def get_dataset():
            with self.api.build_kaggle_client() as kaggle:
                request = ApiGetDatasetRequest()
                request.owner_slug, request.dataset_slug = owner, slug
                return kaggle.datasets.dataset_api_client.get_dataset(request)

        try:
            dataset = kaggle_call(get_dataset)
        except (LookupError, Forbidden):
            return []
        out = []
        for v in dataset.versions or []:
            raw = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(v.status or "")).lower()
            state = "ready" if raw == "ready" else "failed" if raw in ("failed", "deleted") else "processing"
            created = v.creation_date.timestamp() if v.creation_date else 0.0
            out.append(Version(f"{ref}/{v.version_number}", state, created, int(v.version_number)))
        return out

    def list_versions(self) -> list[Version]:
        versions = [v for ref in self.refs for v in self._dataset_versions(ref)]
        return sorted(versions, key=lambda v: (v.created, v.id.rsplit("/", 1)[0] != self.ref, v.number))

    def _ref_of(self, version: Version) -> str:
        return version.id.rsplit("/", 1)[0]

    def put(self, root: Path, note: str, expendable: list[Version]) -> Version:
        """Upload `root` as a new version of the dataset chosen by the class docstring's rule; wait until ready."""
        root = Path(root)
        entries = [p for p in root.iterdir() if p.name != "dataset-metadata.json"]
        if len(entries) > self.MAX_TOP_LEVEL_FILES:
            raise BundleError(f"{self.uri}: a Kaggle Dataset holds at most {self.MAX_TOP_LEVEL_FILES} top-level files; "
                              f"this version has {len(entries)} (one per run + the index): start new runs in a new store")
        size = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
        if size > self.MAX_BYTES:
            raise BundleError(f"{self.uri}: {size / 1e9:.1f} GB is over Kaggle's {self.MAX_BYTES / 1e9:.0f} GB per dataset")
        by_ref = {ref: self._dataset_versions(ref) for ref in self.refs}
        gone = set(expendable)
        prunable = [r for r in self.refs if expendable and all(v in gone for v in by_ref[r])]
        if prunable:  # never the dataset holding the newest verified version: it is not expendable
            return self._upload(root, note, prunable[0], prune=True)
        newest_ready = [v for v in self.list_versions() if v.state == "ready"]
        return self._upload(root, note, self._ref_of(newest_ready[-1]) if newest_ready else self.ref, prune=False)

    def publish(self, root: Path, note: str) -> int:
        """A plain new version of owner/slug (not a checkpoint store: the wheel and pairs datasets)."""
        return self._upload(Path(root), note, self.ref, prune=False).number

    def _upload(self, root: Path, note: str, target: str, prune: bool) -> Version:
        status = self.wait_ready(ref=target)
        owner, slug = target.split("/")
        atomic.write_json(root / "dataset-metadata.json", {
            "id": target, "title": slug.replace("-", " ")[:50].ljust(6, "_"), "licenses": [{"name": "CC0-1.0"}]})
        try:
            if status is None:
                response = kaggle_call(self.api.dataset_create_new, str(root), public=False, quiet=True, dir_mode="zip")
            else:
                response = self._create_version(root, note, target, prune)
        finally:
            (root / "dataset-metadata.json").unlink(missing_ok=True)
        if str(getattr(response, "status", "ok") or "ok").lower() != "ok" or getattr(response, "error", ""):
            raise BundleError(f"{self.uri}: Kaggle refused the push: {getattr(response, 'error', '') or response.status}")
        status = self.wait_ready(exists=True, ref=target)
        number = int(status["current_version_number"])
        if status["status"] != "ready":
            raise BundleError(f"kaggle:{target} version {number} is {status['status']!r} on Kaggle: the previous version "
                              "stays the newest good one; the next push makes a new version over it")
        self._check_complete(root, target, number)
        return Version(f"{target}/{number}", "ready", time.time(), number)

    def delete(self, versions: list[Version]) -> None:
        """Kaggle's API deletes no single version: pruning happens inside `put` (class docstring)."""

    def _create_version(self, root: Path, note: str, target: str, prune: bool):
        """A 403 on our own dataset is Kaggle refusing a new version while one (the first, kagglehub PR #182) is
        still processing, not another account's dataset: wait until it is ready, then try again."""
        for attempt in range(3):
            try:
                return kaggle_call(self.api.dataset_create_version, str(root), version_notes=note or "checkpoint",
                                   quiet=True, dir_mode="zip", delete_old_versions=prune)
            except Forbidden:
                if attempt == 2 or other_owner(self.api, target):
                    raise
                self.wait_ready(exists=True, ref=target)

    def _listed(self, dataset: str) -> dict[str, int]:
        names, token = {}, None
        while True:
            page = kaggle_call(self.api.dataset_list_files, dataset, page_token=token, page_size=200)
            names.update({f.name: int(getattr(f, "total_bytes", 0) or 0) for f in (page.files or [])})
            token = getattr(page, "next_page_token", None)
            if not token:
                return names

    def list_files(self, version: Version) -> dict[str, int] | None:
        try:
            return self._listed(version.id)
        except LookupError:
            return {}

    def _check_complete(self, root: Path, ref: str, number: int) -> None:
        """The client leaves out a file whose upload the server refused, silently: look for every entry."""
        listed = self._listed(f"{ref}/{number}")
        missing = [
            p.name for p in Path(root).iterdir()
            if p.name != "dataset-metadata.json"
            and not any(n == p.name or n == f"{p.name}.zip" or n.startswith(f"{p.name}/") for n in listed)
        ]
        if missing:
            raise BundleError(f"kaggle:{ref} version {number} lacks {', '.join(sorted(missing))}: an upload was dropped; "
                              "the next push retries (pulls skip incomplete versions)")

    def read_index(self, version: Version) -> dict | None:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                kaggle_call(self.api.dataset_download_file, version.id, STORE_INDEX, path=tmp, force=True, quiet=True)
            except LookupError:
                return None
            return _read_downloaded_index(Path(tmp))

    def fetch(self, version: Version, dest: Path) -> Path:
        dest.mkdir(parents=True, exist_ok=True)
        kaggle_call(self.api.dataset_download_files, version.id, path=str(dest), force=True, quiet=True, unzip=True)
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
