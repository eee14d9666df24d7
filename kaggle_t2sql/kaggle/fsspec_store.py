"""FsspecStore: store versions in an object store or any fsspec filesystem (s3://, gs://, az://, ...).

    s3://bucket/prefix/
        v0001-3fa2c1/            one prefix per version (the suffix keeps two sessions that push at the
            <run>/...            same moment apart: each gets a prefix of its own)
            t2sql-store.json     the store index, written LAST: the commit point
        v0002-9b07de/...

Object stores have no atomic multi-file commit, so a version counts only once its store index is
there, and the index is written only after every other file of the version was read back and
matched its size and sha256: a push cut anywhere leaves a prefix without an index, which is
never read ("processing" while newer than every whole version or written to within the last hour,
as another session's push still uploading is; "failed" once a newer whole one exists and it has
lain untouched for `stale_s`, so the shared pruning removes it). Deleting happens only through `delete`, which the
shared code calls for versions older than a newer verified one.

Credentials are the filesystem's own (s3fs: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE,
an instance role; AWS_ENDPOINT_URL for S3-compatible services), checked before any training.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from pathlib import Path

from ..errors import ConfigError
from .auth import CredentialsError, load_notebook_secrets
from .bundle import STORE_INDEX, BundleError, parse_index
from .stores import CheckpointStore, Version

# Read from Kaggle Secrets into the environment when the session runs in a Kaggle notebook.
NOTEBOOK_SECRETS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                    "AWS_DEFAULT_REGION", "GOOGLE_APPLICATION_CREDENTIALS", "AZURE_STORAGE_CONNECTION_STRING")
VERSION_RE = re.compile(r"^v(\d{4,})-([0-9a-f]{6})$")

# What to set, per protocol, when the filesystem has no working credentials.
CREDENTIAL_HINTS = {
    "s3": "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE; AWS_ENDPOINT_URL for an S3-compatible "
          "service such as MinIO or R2)",
    "gs": "GOOGLE_APPLICATION_CREDENTIALS (a service-account key file) or `gcloud auth application-default login`",
    "gcs": "GOOGLE_APPLICATION_CREDENTIALS (a service-account key file) or `gcloud auth application-default login`",
    "az": "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY)",
    "abfs": "AZURE_STORAGE_CONNECTION_STRING (or AZURE_STORAGE_ACCOUNT_NAME with AZURE_STORAGE_ACCOUNT_KEY)",
}


def sha256_remote(fs, path: str, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with fs.open(path, "rb", block_size=chunk) as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def private_copy(fs):
    """The same filesystem with a listing cache of its own. fsspec hands every caller with the same
    options ONE cached instance, so two stores in one process (two threads pushing) would share its
    directory cache: one store's listing taken mid-push hides the other's just-written index
    (s3fs then answers FileNotFoundError for a file that exists)."""
    try:
        return type(fs)(*getattr(fs, "storage_args", ()), **getattr(fs, "storage_options", {}), skip_instance_cache=True)
    except Exception:  # noqa: BLE001 - a filesystem that cannot be rebuilt from its options is used as given
        return fs


def _written_at(info: dict) -> float:
    """An object's last write as a Unix time, from whichever field the filesystem gives (s3: LastModified,
    local: mtime, gcs: updated); 0 when none does (then the prefix counts as long untouched)."""
    for key in ("LastModified", "mtime", "updated", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return value.timestamp()
        if isinstance(value, str) and value:
            try:
                from datetime import datetime

                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0


class FsspecStore(CheckpointStore):
    """A store under one fsspec URL; `fs` may be given (tests, custom options), else fsspec builds it from the URL."""

    stale_s = 3600.0  # an unfinished prefix untouched this long is a push that died, not one still uploading

    def __init__(self, url: str, fs=None):
        load_notebook_secrets(NOTEBOOK_SECRETS)  # before the filesystem reads its credentials
        try:
            import fsspec
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ConfigError(f"store {url!r} needs fsspec: pip install 'kaggle-t2sql[s3]'") from exc
        self.uri = url.rstrip("/")
        self.protocol = url.split("://", 1)[0]
        path = None
        if fs is None:
            try:
                fs, path = fsspec.core.url_to_fs(url, skip_instance_cache=True)
            except (ImportError, ValueError) as exc:
                raise ConfigError(f"store {url!r}: no fsspec filesystem for {self.protocol}:// is installed ({exc}); "
                                  "for s3:// pip install 'kaggle-t2sql[s3]', for gs:// gcsfs, for az:// adlfs") from exc
        else:
            fs = private_copy(fs)
        self.fs = fs
        self.base = (fs._strip_protocol(url) if path is None else path).rstrip("/")
        if not self.base:
            raise ConfigError(f"bad store {url!r}: name a bucket, e.g. s3://my-bucket/t2sql")

    # -- helpers -------------------------------------------------------------------------------
    def _path(self, *parts: str) -> str:
        return "/".join([self.base, *parts])

    def _listing(self, touched: dict[str, float] | None = None) -> dict[str, dict[str, int]]:
        """{version prefix: {relative path: bytes}} from one recursive listing (the cache dropped first:
        another session may have pushed since). `touched` gets each prefix's newest write time."""
        self.fs.invalidate_cache(self.base)
        try:
            found = self.fs.find(self.base, detail=True)
        except FileNotFoundError:
            return {}
        finally:
            # s3fs keeps what `find` saw as its directory cache and answers later `info` calls from it: a
            # version another session was still uploading would then lack its index for good (cat_file,
            # open and get_file size the file through `info`). Nothing listed is kept.
            self.fs.invalidate_cache()
        out: dict[str, dict[str, int]] = {}
        for path, info in found.items():
            rel = path[len(self.base):].lstrip("/")
            prefix, _, name = rel.partition("/")
            if VERSION_RE.match(prefix) and name:
                out.setdefault(prefix, {})[name] = int(info.get("size") or 0)
                if touched is not None:
                    touched[prefix] = max(touched.get(prefix, 0.0), _written_at(info))
        return out

    def _credentials_error(self, exc: Exception) -> CredentialsError:
        hint = CREDENTIAL_HINTS.get(self.protocol, f"the credentials the {self.protocol}:// filesystem reads")
        return CredentialsError(f"store {self.uri}: access refused or no credentials ({type(exc).__name__}: {exc}). "
                                f"Set {hint}; nothing was trained or pushed")

    # -- the transport primitives (stores.CheckpointStore holds the shared logic) ----------------
    def check_access(self) -> None:
        """Credentials work and the prefix is writable: write and remove a small probe object now."""
        probe = self._path(f".t2sql-probe-{secrets.token_hex(4)}")
        try:
            self.fs.invalidate_cache(self.base)
            self.fs.pipe_file(probe, b"probe")
            self.fs.rm_file(probe)
        except FileNotFoundError as exc:
            raise ConfigError(f"store {self.uri}: the bucket or container does not exist ({exc}); create it first") from exc
        except Exception as exc:  # noqa: BLE001 - botocore / gcsfs / adlfs raise their own credential errors
            if isinstance(exc, PermissionError) or "credential" in f"{type(exc).__name__} {exc}".lower():
                raise self._credentials_error(exc) from exc
            raise

    def list_versions(self) -> list[Version]:
        touched: dict[str, float] = {}
        listing = self._listing(touched)
        ordered = sorted(listing, key=lambda p: (int(VERSION_RE.match(p).group(1)), p))
        whole = [p for p in ordered if STORE_INDEX in listing[p]]
        newest_whole = ordered.index(whole[-1]) if whole else -1
        now = time.time()
        out = []
        for i, prefix in enumerate(ordered):
            # an unfinished prefix may be another session's push still uploading: failed only once it lies untouched
            abandoned = i < newest_whole and now - touched.get(prefix, 0.0) > self.stale_s
            state = "ready" if STORE_INDEX in listing[prefix] else ("failed" if abandoned else "processing")
            out.append(Version(prefix, state, number=int(VERSION_RE.match(prefix).group(1))))
        return out

    def read_index(self, v: Version) -> dict | None:
        try:
            path = self._path(v.id, STORE_INDEX)
            self.fs.invalidate_cache(path)
            return parse_index(self.fs.cat_file(path))
        except (FileNotFoundError, OSError):
            return None

    def list_files(self, v: Version) -> dict[str, int] | None:
        return self._listing().get(v.id)

    def fetch(self, v: Version, dest: Path) -> Path:
        dest = Path(dest)
        files = self.list_files(v)
        if not files:
            raise LookupError(f"{self.uri}: version {v.id} is gone")
        for rel in sorted(files):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.fs.get_file(self._path(v.id, rel), str(target))
        return dest

    def put(self, root: Path, note: str = "", expendable: list[Version] | None = None) -> Version:
        """Upload every file, read each back (size + sha256), then write the store index last."""
        root = Path(root)
        numbers = [int(VERSION_RE.match(p).group(1)) for p in self._listing()]
        version = Version(f"v{max(numbers, default=0) + 1:04d}-{secrets.token_hex(3)}", "processing", time.time())
        files = sorted(p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() != STORE_INDEX)
        if not (root / STORE_INDEX).is_file():
            raise BundleError(f"{root} has no {STORE_INDEX}: seal the version before pushing it")
        for path in files:
            self.fs.put_file(str(path), self._path(version.id, path.relative_to(root).as_posix()))
        self.fs.invalidate_cache(self._path(version.id))
        for path in files:
            self._check_uploaded(path, self._path(version.id, path.relative_to(root).as_posix()))
        index = self._path(version.id, STORE_INDEX)
        self.fs.put_file(str(root / STORE_INDEX), index)  # the commit point
        self._check_uploaded(root / STORE_INDEX, index)
        return Version(version.id, "ready", version.created, number=max(numbers, default=0) + 1)

    def _check_uploaded(self, local: Path, remote: str) -> None:
        self.fs.invalidate_cache(remote)  # the listing taken before this upload does not hold it
        size = int(self.fs.info(remote).get("size") or 0)
        if size != local.stat().st_size:
            raise BundleError(f"{self.uri}: {remote} holds {size} bytes after upload, expected {local.stat().st_size}")
        from ..checkpoints import sha256_file

        if sha256_remote(self.fs, remote) != sha256_file(local):
            raise BundleError(f"{self.uri}: {remote} does not match its sha256 after upload")

    def delete(self, versions: list[Version]) -> None:
        for v in versions:
            if VERSION_RE.match(v.id):  # never anything outside a version prefix
                try:
                    self.fs.rm(self._path(v.id), recursive=True)
                except FileNotFoundError:
                    pass
        self.fs.invalidate_cache(self.base)
