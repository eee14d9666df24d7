"""HfStore: store versions in a private Hugging Face Hub repo (`hf:owner/repo`, `hf:datasets/owner/repo`).

One version = one commit on `main` (the Hub applies a commit whole or not at all), holding
`t2sql-store.json` and one zip per run (`<run>.zip`, stored uncompressed): a version stays far under
the Hub's "fewer than 100 files per commit" however many files a checkpoint or its TensorBoard folder
has. After the commit, every file's size and hash (LFS/Xet sha256, or the git blob sha1 of an inline
file) is read back from the commit's tree; only then is the commit tagged `t2sql-vNNNN`. The tag is
the commit point: versions are the tags, pulled with `snapshot_download` at that revision. Two
sessions pushing at once: `parent_commit` makes the second commit fail and retry on the new head, and
`create_tag` refuses an existing tag (409), so each version gets a number of its own.

History: pruning deletes old tags only (`delete_tag`), after a newer version was verified, keeping the
last `store.max_versions`. A tag is only a name for a commit: deleting it touches no file. It does
not shrink the repo either (the commits stay in `main`'s history): `super_squash_history` would, but the Hub documents it as destructive and
irreversible without saying what becomes of tags on the squashed branch, so it is never called
automatically (docs/kaggle.md, "Colab or your own machine").

Limits (hub-docs storage-limits.md): fewer than 100 files per commit (checked before uploading);
128 commits per hour per repo (this process refuses a push past 120 in the last hour, so the uploader
retries later instead of being rate-limited mid-upload).
"""

from __future__ import annotations

import collections
import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from ..errors import ConfigError
from .auth import CredentialsError, load_notebook_secrets
from .bundle import STORE_INDEX, BundleError, parse_index, unpack_zipped_folders
from .stores import CheckpointStore, Version

TAG_RE = re.compile(r"^t2sql-v(\d{4,})$")
MAX_FILES_PER_COMMIT = 99  # hub-docs storage-limits.md: "Commit size < 100 files"
MAX_COMMITS_PER_HOUR = 120  # the Hub allows 128 per repo; keep a margin for other writers
TOKEN_HINT = ("set HF_TOKEN to a write token (huggingface.co/settings/tokens), or run `hf auth login`; "
              "on Kaggle add it as a Secret named HF_TOKEN, on Colab in the Secrets panel")

_commits: dict[str, collections.deque] = collections.defaultdict(collections.deque)  # repo -> commit times
_commits_lock = threading.Lock()


def git_blob_sha1(path: Path) -> str:
    """The id git (and the Hub's tree listing) gives an inline file: sha1 of "blob <size>\\0" + content."""
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def parse_hf_uri(ref: str) -> tuple[str, str]:
    """("owner/repo", repo type) from "owner/repo", "datasets/owner/repo" or "models/owner/repo"."""
    parts = ref.strip("/").split("/")
    repo_type = "model"
    if len(parts) == 3 and parts[0] in ("datasets", "models"):
        repo_type, parts = parts[0][:-1], parts[1:]
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"bad Hugging Face repo {ref!r}: write it as hf:owner/repo or hf:datasets/owner/repo")
    return "/".join(parts), repo_type


class HfStore(CheckpointStore):
    """A private Hub repo through the official client (huggingface_hub.HfApi)."""

    def __init__(self, ref: str, api=None):
        self.repo_id, self.repo_type = parse_hf_uri(ref)
        prefix = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        self.uri = f"hf:{prefix}{self.repo_id}"
        self._api = api

    @property
    def api(self):
        if self._api is None:
            try:
                from huggingface_hub import HfApi
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ConfigError(f"store {self.uri} needs huggingface_hub: pip install 'kaggle-t2sql[hf]'") from exc
            load_notebook_secrets(("HF_TOKEN",))  # a Kaggle Secret named HF_TOKEN (Colab's the client reads itself)
            self._api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None)
        return self._api

    def _kw(self) -> dict:
        return {"repo_id": self.repo_id, "repo_type": self.repo_type}

    # -- the transport primitives (stores.CheckpointStore holds the shared logic) ----------------
    def check_access(self) -> None:
        """A token that the Hub accepts, with write access; the repo is created (private) when missing."""
        from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

        try:
            me = self.api.whoami()
        except LocalTokenNotFoundError as exc:
            raise CredentialsError(f"store {self.uri}: no Hugging Face token found; {TOKEN_HINT}. "
                                   "Nothing was trained or pushed") from exc
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code == 401:
                raise CredentialsError(f"store {self.uri}: the Hub refused the token ({exc}); {TOKEN_HINT}. "
                                       "Nothing was trained or pushed") from exc
            raise
        role = ((me.get("auth") or {}).get("accessToken") or {}).get("role")
        if role == "read":
            raise CredentialsError(f"store {self.uri}: the token is read-only; {TOKEN_HINT}")
        try:
            self.api.create_repo(private=True, exist_ok=True, **self._kw())
        except HfHubHTTPError as exc:
            if exc.response is not None and exc.response.status_code in (401, 403):
                raise CredentialsError(f"store {self.uri}: this token may not create or write {self.repo_id} "
                                       f"({exc}); use a repo of your own account or a token with write access") from exc
            raise

    def list_versions(self) -> list[Version]:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = self.api.list_repo_refs(**self._kw())
        except RepositoryNotFoundError:
            return []
        tags = [t for t in refs.tags if TAG_RE.match(t.name)]
        numbered = sorted((int(TAG_RE.match(t.name).group(1)), t.name) for t in tags)
        return [Version(name, "ready", number=number) for number, name in numbered]

    def read_index(self, v: Version) -> dict | None:
        from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RevisionNotFoundError

        with tempfile.TemporaryDirectory(prefix="t2sql-hf-index-") as tmp:
            try:
                path = self.api.hf_hub_download(filename=STORE_INDEX, revision=v.id, local_dir=tmp, **self._kw())
            except (EntryNotFoundError, RevisionNotFoundError):
                return None
            except HfHubHTTPError:
                return None
            return parse_index(Path(path).read_bytes())

    def _tree(self, revision: str) -> dict:
        return {f.path: f for f in self.api.list_repo_tree(revision=revision, recursive=True, **self._kw())
                if hasattr(f, "size") and f.path != ".gitattributes"}

    def list_files(self, v: Version) -> dict[str, int] | None:
        """{path: bytes} as the commit's tree lists them (a run stays `<run>.zip`: its content is checked at pull)."""
        from huggingface_hub.errors import HfHubHTTPError

        try:
            return {path: int(entry.size) for path, entry in self._tree(v.id).items()}
        except HfHubHTTPError:
            return None

    def fetch(self, v: Version, dest: Path) -> Path:
        from huggingface_hub.errors import RevisionNotFoundError

        dest = Path(dest)
        try:
            self.api.snapshot_download(revision=v.id, local_dir=dest, **self._kw())
        except RevisionNotFoundError as exc:
            raise LookupError(f"{self.uri}: version {v.id} is gone") from exc
        shutil.rmtree(dest / ".cache", ignore_errors=True)  # the client's download metadata
        (dest / ".gitattributes").unlink(missing_ok=True)
        unpack_zipped_folders(dest)
        return dest

    def put(self, root: Path, note: str = "", expendable: list[Version] | None = None) -> Version:
        """One commit holding the index and a zip per run, checked file by file, then tagged."""
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete
        from huggingface_hub.errors import HfHubHTTPError

        root = Path(root)
        if not (root / STORE_INDEX).is_file():
            raise BundleError(f"{root} has no {STORE_INDEX}: seal the version before pushing it")
        with tempfile.TemporaryDirectory(prefix="t2sql-hf-put-") as tmp:
            staged = _zip_runs(root, Path(tmp))
            if len(staged) > MAX_FILES_PER_COMMIT:
                raise BundleError(f"{self.uri}: a version of {len(staged)} files passes the Hub's limit of "
                                  f"{MAX_FILES_PER_COMMIT + 1} files per commit: keep fewer runs in one store")
            self.api.create_repo(private=True, exist_ok=True, **self._kw())
            self._count_commit()
            for attempt in range(4):
                head = self._head()
                stale = [p for p in (self._top_level(head) if head else []) if p not in staged]
                operations = [CommitOperationDelete(path_in_repo=p) for p in stale] + [
                    CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in sorted(staged.items())]
                try:
                    commit = self.api.create_commit(operations=operations, commit_message=note or "checkpoint",
                                                    parent_commit=head, **self._kw())
                    break
                except HfHubHTTPError as exc:  # another session committed meanwhile: redo on the new head
                    status = exc.response.status_code if exc.response is not None else None
                    if status not in (409, 412) or attempt == 3:
                        raise
            self._check_committed(commit.oid, staged)
            return self._tag(commit.oid, note)

    # -- helpers -------------------------------------------------------------------------------
    def _count_commit(self) -> None:
        now = time.time()
        with _commits_lock:
            times = _commits[f"{self.api.endpoint} {self.uri}"]
            while times and times[0] < now - 3600:
                times.popleft()
            if len(times) >= MAX_COMMITS_PER_HOUR:
                raise BundleError(f"{self.uri}: {len(times)} commits in the last hour; the Hub allows 128 per repo. "
                                  "Space pushes out with store.push_interval_minutes (>= 1)")
            times.append(now)

    def _head(self) -> str | None:
        from huggingface_hub.errors import RepositoryNotFoundError

        try:
            refs = self.api.list_repo_refs(**self._kw())
        except RepositoryNotFoundError:
            return None
        return next((b.target_commit for b in refs.branches if b.name == "main"), None)

    def _top_level(self, revision: str) -> list[str]:
        return [f.path for f in self.api.list_repo_tree(revision=revision, **self._kw()) if f.path != ".gitattributes"]

    def _check_committed(self, oid: str, staged: dict[str, Path]) -> None:
        """Every staged file in the commit's tree with its size and hash; anything else fails the push."""
        from ..checkpoints import sha256_file

        tree = self._tree(oid)
        for name, path in staged.items():
            entry = tree.get(name)
            if entry is None:
                raise BundleError(f"{self.uri}: commit {oid[:8]} lacks {name}")
            if int(entry.size) != path.stat().st_size:
                raise BundleError(f"{self.uri}: {name} holds {entry.size} bytes in commit {oid[:8]}, "
                                  f"expected {path.stat().st_size}")
            lfs_sha = (entry.lfs or {}).get("sha256") if isinstance(entry.lfs, dict) else getattr(entry.lfs, "sha256", None)
            ok = lfs_sha == sha256_file(path) if lfs_sha else entry.blob_id == git_blob_sha1(path)
            if not ok:
                raise BundleError(f"{self.uri}: {name} in commit {oid[:8]} does not match what was uploaded")

    def _tag(self, oid: str, note: str) -> Version:
        """Tag the verified commit with the next free version number (a 409 means another session took it)."""
        from huggingface_hub.errors import HfHubHTTPError

        for _ in range(20):
            numbers = [int(TAG_RE.match(v.id).group(1)) for v in self.list_versions()]
            tag = f"t2sql-v{max(numbers, default=0) + 1:04d}"
            try:
                self.api.create_tag(tag=tag, revision=oid, tag_message=note or None, **self._kw())
                return Version(tag, "ready", time.time(), number=max(numbers, default=0) + 1)
            except HfHubHTTPError as exc:
                if exc.response is None or exc.response.status_code != 409:
                    raise
        raise BundleError(f"{self.uri}: could not tag commit {oid[:8]}: other sessions keep taking the next number")

    def delete(self, versions: list[Version]) -> None:
        from huggingface_hub.errors import HfHubHTTPError

        for v in versions:
            if TAG_RE.match(v.id):  # only our version tags, never a branch
                try:
                    self.api.delete_tag(tag=v.id, **self._kw())
                except HfHubHTTPError as exc:
                    if exc.response is None or exc.response.status_code != 404:
                        raise


def _zip_runs(root: Path, out: Path) -> dict[str, Path]:
    """{name in the repo: staged file}: each top-level folder as an uncompressed zip, files as they are."""
    staged = {}
    for item in sorted(root.iterdir()):
        if item.is_dir():
            target = out / f"{item.name}.zip"
            with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
                for path in sorted(p for p in item.rglob("*") if p.is_file()):
                    zf.write(path, path.relative_to(item).as_posix())
            staged[target.name] = target
        elif item.is_file():
            staged[item.name] = item
    return staged
