"""A local emulator of the Kaggle public API, for driving the REAL `kaggle` client in tests.

Stdlib only (http.server + threading). Every byte it is given is kept on disk under
`root_dir`; dataset versions are full snapshots (root/datasets/<owner>/<slug>/v<N>/files/).

Written against kaggle 2.2.4 / kagglesdk 0.1.37 (read from their source).

How the real client finds the emulator
--------------------------------------
kagglesdk's KaggleHttpClient builds URLs as `<endpoint>/api/v1/<service>/<Method>` (PROD:
`https://api.kaggle.com/v1/...`) and POSTs the request object as camelCase JSON. The endpoint
is a fixed table in kagglesdk/kaggle_env.py: LOCAL "http://localhost" (port 80), TEST
"http://localhost:7777", PROD "https://api.kaggle.com". No environment variable changes the
host or the port.

BUT `KaggleApi` (and so the `kaggle` CLI) never reads KAGGLE_API_ENVIRONMENT=TEST: it passes
an explicit env to KaggleClient, chosen from the class attribute `KaggleApi.args`, which is
computed once at import time: "--local" only when KAGGLE_API_ENVIRONMENT == "LOCALHOST",
otherwise PROD. So with TEST set, KaggleApi talks to the REAL https://api.kaggle.com.
TEST only applies to a bare `kagglesdk.KaggleClient()` (env=None -> get_env()).

This emulator is therefore reached in one of two ways:
  * KaggleApi / CLI: KAGGLE_API_ENVIRONMENT=LOCALHOST (set before `kaggle` is imported, or patch
    `KaggleApi.args = ["--local"]`) plus HTTP_PROXY=http://127.0.0.1:<port> with NO_PROXY unset.
    requests then sends `POST http://localhost/api/v1/...` in proxy (absolute) form to the
    emulator, which accepts it; any port works. HTTPS_PROXY also points here, so a stray PROD
    call is refused (CONNECT -> 403, logged) instead of reaching kaggle.com.
    `emulator.client_env(base_dir)` returns exactly these variables (plus an isolated HOME,
    KAGGLE_CONFIG_DIR, TMPDIR and the credentials); `emulator.install(monkeypatch, base_dir)`
    applies them in-process and patches the KaggleApi class attributes.
  * bare kagglesdk with KAGGLE_API_ENVIRONMENT=TEST: the emulator must listen on 7777 (default).

Client call -> endpoints (all RPCs are POST <prefix>/v1/<service>/<Method>, prefix "/api" or "")
-----------------------------------------------------------------------------------------------
  KaggleApi.authenticate() with KAGGLE_API_TOKEN   security.OAuthService/IntrospectToken
  dataset_create_new(folder, public, dir_mode)     datasets.DatasetApiService/GetDatasetStatus (expects 404),
                                                   then per file / zipped sub-folder:
                                                   blobs.BlobApiService/StartBlobUpload -> {token, createUrl}
                                                   PUT createUrl (GCS-style resumable upload, see below),
                                                   then datasets.DatasetApiService/CreateDataset {files:[{token}]}
  dataset_create_version(folder, notes, dir_mode)  StartBlobUpload + PUT per file, then CreateDatasetVersion
                                                   (CreateDatasetVersionById when the metadata has id_no)
  dataset_status(ref[, format=json(...)])          GetDatasetStatus (+ GetDataset for current_version_number)
  dataset_download_files(ref[/N], path, unzip)     DownloadDataset -> 302 -> GET /_emulator/download/... (zip of the version)
  dataset_download_file(ref[/N], name, path)       DownloadDataset {fileName} -> 302 -> GET the raw file
  dataset_list_files(ref[/N])                      ListDatasetFiles
  dataset_metadata(ref, path)                      GetDatasetMetadata (the CLI download calls it first too)
  dataset_list(...)                                ListDatasets
  dataset_delete(owner, slug, no_confirm=True)     DeleteDataset
  kernels_push(folder)                             kernels.KernelsApiService/SaveKernel (each push = new version;
                                                   tests/emulator/kaggle_sessions.py runs it like Kaggle runs a version)
  kernels_status(ref)                              GetKernelSessionStatus
  kernels_output(ref, path) / kernels_logs(ref)    ListKernelSessionOutput -> GET /_emulator/kernel-output/... (no auth)
  kernels_pull(ref[/N], path, metadata)            GetKernel
  kernels_list(...)                                ListKernels
  kernels_delete(ref, no_confirm=True)             DeleteKernel
  quota_view()  (CLI: `kaggle quota`)              kernels.KernelsApiService/GetAcceleratorQuotaStatistics

What the client hands back (kaggle 2.2.4): dataset_status() -> str, the DatabundleVersionStatus name
lower-cased ("ready", "blobs_received", "failed", ...; never "pending"/"running"); create_new /
create_version -> ApiCreateDatasetResponse (no exception on a body-level error: check .status == "ok",
.error); kernels_status() -> ApiGetKernelSessionStatusResponse whose .status is the KernelWorkerStatus
enum (.status.name: QUEUED, RUNNING, COMPLETE, ERROR, CANCEL_REQUESTED, CANCEL_ACKNOWLEDGED) and
.failure_message. A version is addressed as "owner/slug/N" ("owner/slug/versions/N" is a ValueError).
Server side, a sub-folder uploaded as <name>.zip (dir_mode="zip") is unpacked to <name>/, as Kaggle
does; a whole-dataset download is a zip of the version tree.

Upload flow (what the client does in KaggleApi._upload_blob / upload_complete / _resume_upload):
  PUT createUrl with the whole body (no auth header)            -> 200 when all bytes arrived
  PUT createUrl, Content-Range "bytes */N", empty body (status)  -> 200 complete | 308 [+ Range: bytes=0-K]
  PUT createUrl, Content-Range "bytes S-E/N" (resume from S)    -> 200 | 308
  unknown / expired token                                         -> 404 (client: "Upload ... expired", gives up)
A non-200/201/503 answer makes the client give up on that file and SILENTLY leave it out of the
version it then creates; 503 or a dropped connection makes it resume (up to 10 times).

Errors are answered like Kaggle: HTTP status + JSON {"code": N, "message": "..."}; kagglesdk turns
that into requests.exceptions.HTTPError(message) with .response.status_code == N.
  * bad credentials                    401 "Unauthenticated"
  * other owner's private dataset      403 "Permission 'datasets.get' was denied"
  * version of other owner's dataset   403 "Permission 'datasets.update' was denied"
  * version while the latest version   403 "Permission 'datasets.update' was denied" (what Kaggle answers,
    is still processing                    see Kaggle/kagglehub#181/#182, which says only the FIRST version
                                           blocks; the emulator blocks on any processing latest version,
                                           the stricter case). The blobs were uploaded before the refusal
  (the messages follow what kaggle-cli issues show; Kaggle does not document them)
  * create under another owner         200 {"status": "error", "error": "You are not allowed to create a dataset as this owner."}
  * unknown dataset / kernel           404

Test controls (attributes / methods of KaggleEmulator)
------------------------------------------------------
  processing_polls, processing_seconds   a new version is processing until N GetDatasetStatus polls have
                                         reported it AND that many seconds passed (defaults 0, 0 -> ready
                                         at once); polls N+1.. say "ready". Downloads serve the latest READY
                                         version; asking for a processing version by number -> 404
  processing_statuses                    what those polls report, in order (client: status.name.lower(),
                                         e.g. "blobs_received"). Which intermediate state real Kaggle shows
                                         is not documented; these are the kagglesdk enum's states
  reject_version_while_processing        default True
  current_version_includes_processing    GetDataset.currentVersionNumber counts a processing version (default True)
  set_dataset_status(ref, status, version=None), finish_processing(ref=None)
  fail_next_upload = True | n            the next n upload PUTs read half the body then drop the connection (RST)
  hold_next_upload = True | "name"       the next upload PUT (of that blob name) reads half then blocks
                                         (upload_held is set) until release_uploads() or stop(), then drops
                                         the connection: kill the client process meanwhile to emulate a crash
  reject_uploads_with = 400              answer every upload PUT with that status (None: off);
  reject_next_upload = 400               the same for the next upload PUT only
  expire_uploads()                       forget all upload sessions (resume attempts get 404)
  missing_dataset_status = 403           what reads of a dataset that does not exist answer (Kaggle: 403, not 404;
                                         push-kaggle-dataset#14; a 2026 field log "Permission 'datasets.get' was denied")
  new_dataset_invisible_polls = N        a new dataset answers 403 to its first N reads (observed live 2026-09-06 on the
                                         first poll after CreateDataset; kaggle-cli's backend tests sleep 10 s after create)
  zip_single_file_downloads              a single-file download is served as <name>.zip, which the 2.2.4 client saves
                                         as is (kaggle-cli#158, fixed after 2.2.4 by PR#1184)
  refuse_next_push = "msg"               SaveKernel answers HTTP 200 {"error": msg} and makes no version (a refused
                                         push as a user captured it: "Maximum weekly GPU quota of 30.00 hours reached.");
                                         the quota and max_concurrent_gpu_sessions (2: "Maximum batch GPU session count
                                         of 2 reached", adapter-hub/playground PR#4) refuse on their own
  other_gpu_sessions = N                 GPU sessions of the account that run elsewhere (interactive, other kernels):
                                         they count toward max_concurrent_gpu_sessions
  status_lag_polls = N                   after a push, N kernels_status polls still describe the previous version (the
                                         staleness kaggle-cli PR#1177 guards against)
  model_exists(handle)                   which model sources exist (KaggleSessions registers them); dataset and model
                                         sources that do not exist are left off the kernel and listed in the reply
                                         (invalidDatasetSources / invalidModelSources)
  on_kernel_push(ref, version, folder)   hook called after each push, before the push returns (folder has
                                         the code file, kernel-metadata.json and output/; files written to
                                         output/ become the kernel output); exceptions -> status "error".
                                         kernel_push_hook_async = True runs it in a thread instead
  kernel_initial_status = "queued"
  kernel_runs(ref), set_kernel_status(ref, status, version=None, failure_message=None),
  add_kernel_output(ref, relpath, data, version=None), set_kernel_log(ref, text, version=None)
  gpu_quota_total_hours / gpu_quota_used_hours (gpu_hours_remaining property), tpu_* likewise
  add_user(name, key=None, token=None)   more accounts (for cross-owner tests)
  issue_notebook_token(user, inputs)     Kaggle's own notebook token (what a session finds in the file named by
                                         KAGGLE_API_V1_TOKEN; kagglesdk kaggle_env.get_access_token_from_env prefers it
                                         to the user's credentials). What it may do is undocumented: the harsher
                                         reading here: IntrospectToken takes it as the user's, it may READ the
                                         datasets in `inputs` (the session's attached inputs), and everything else,
                                         every write included, gets 403. notebook_token_calls() lists its requests
  throttle_next = N, retry_after_s       (throttle_only = "RpcName": only that RPC) the next N RPCs answer HTTP 429 with Retry-After (the client retries 429 up to
                                         10 times honouring Retry-After: ARCHITECTURE "More facts", kagglesdk)
  known_machine_shapes                   SaveKernel refuses any other machine_shape with an `error` (Kaggle's list:
                                         kaggle-cli PR #1198 "NvidiaTeslaT4", #821 P100 default, TPU shapes)
  requests / calls(method) / clear_log() request log: method, path, rpc, body (secrets masked), status, user

Usage
-----
    from kaggle_emulator import KaggleEmulator   # tests/emulator/ is on sys.path under pytest (tests/conftest.py puts it there)

    def test_push(tmp_path, monkeypatch):
        with KaggleEmulator(tmp_path / "kaggle", port=0) as emu:   # port=0: any free port (proxy mode)
            emu.install(monkeypatch, tmp_path)                        # env + KaggleApi class attributes
            from kaggle.api.kaggle_api_extended import KaggleApi
            api = KaggleApi(); api.authenticate()
            api.dataset_create_new(str(folder), public=False, quiet=True, dir_mode="zip")
            assert api.dataset_status("tester/my-data") == "ready"
            subprocess.run([sys.executable, "-m", "kaggle", "datasets", "status", "tester/my-data"],
                           env=emu.subprocess_env(tmp_path), check=True)
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import struct
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import quote, urlsplit

# DatabundleVersionStatus / KernelWorkerStatus names (kagglesdk enums) -> wire form. The server
# sends lowerCamel names ("ready", "individualBlobsCompressed", "cancelAcknowledged"); kagglesdk's
# EnumSerializer maps them back to the enum members.
DATASET_STATUSES = ("NOT_YET_PERSISTED", "BLOBS_RECEIVED", "BLOBS_DECOMPRESSED", "BLOBS_COPIED_TO_SDS",
                    "INDIVIDUAL_BLOBS_COMPRESSED", "READY", "FAILED", "DELETED", "REPROCESSING")
KERNEL_STATUSES = ("QUEUED", "RUNNING", "COMPLETE", "ERROR", "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED", "NEW_SCRIPT")
_FINAL_DATASET_STATUSES = ("READY", "FAILED", "DELETED")

_KERNEL_EXTENSIONS = {("script", "python"): ".py", ("script", "r"): ".R", ("script", "rmarkdown"): ".Rmd",
                      ("notebook", "python"): ".ipynb", ("notebook", "r"): ".irnb"}


def _enum_name(value: str, allowed: tuple[str, ...]) -> str:
    """'cancelAcknowledged' / 'cancel_acknowledged' / 'CANCEL_ACKNOWLEDGED' -> 'CANCEL_ACKNOWLEDGED'."""
    name = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", str(value)).upper()
    if name not in allowed:
        raise ValueError(f"unknown status {value!r}; use one of {', '.join(allowed)}")
    return name


def _wire(name: str) -> str:
    """'CANCEL_ACKNOWLEDGED' -> 'cancelAcknowledged'."""
    first, *rest = name.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _duration(hours: float) -> str:
    seconds = round(float(hours) * 3600, 3)
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds:.3f}s"


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class KernelRun:
    """A snapshot of one pushed kernel version (what kernel_runs() returns)."""

    ref: str
    version: int
    status: str  # wire form: queued, running, complete, error, cancelAcknowledged, ...
    failure_message: Optional[str]
    folder: Path  # code file + kernel-metadata.json + output/
    code_file: Path
    output_dir: Path
    settings: dict = field(default_factory=dict)  # the SaveKernel request, minus the source text
    created: float = 0.0


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr, emulator):
        self.emulator = emulator
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "KaggleEmulator/1.0"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_POST(self):
        self.server.emulator._dispatch(self, "POST")

    def do_GET(self):
        self.server.emulator._dispatch(self, "GET")

    def do_HEAD(self):
        self.server.emulator._dispatch(self, "HEAD")

    def do_PUT(self):
        self.server.emulator._dispatch(self, "PUT")

    def do_CONNECT(self):
        self.server.emulator._dispatch(self, "CONNECT")


class KaggleEmulator:
    """See the module docstring."""

    def __init__(self, root_dir, port: int = 7777, username: str = "tester", key: str = "tester-api-key",
                 token: Optional[str] = "tester-access-token", host: str = "127.0.0.1"):
        self.root = Path(root_dir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.requested_port = port
        self.port: Optional[int] = None
        self.username = username
        self.key = key
        self.token = token
        # accounts: username -> {"key": ..., "token": ...}
        self.users: dict[str, dict] = {username: {"key": key, "token": token}}

        # dataset processing
        self.processing_polls = 0
        self.processing_seconds = 0.0
        self.processing_statuses = ["BLOBS_RECEIVED", "BLOBS_DECOMPRESSED", "BLOBS_COPIED_TO_SDS",
                                    "INDIVIDUAL_BLOBS_COMPRESSED"]
        self.reject_version_while_processing = True
        self.current_version_includes_processing = True
        self.unpack_archives = True
        self.missing_dataset_status = 403  # what GetDatasetStatus & co answer for a dataset that does not exist
        self.new_dataset_invisible_polls = 0  # a new dataset answers 403 to this many reads after CreateDataset
        self.zip_single_file_downloads = False  # serve a single-file download as <name>.zip (kaggle-cli#158)
        # Versions whose processing ends `failed` (`kaggle datasets status` reports failed as a final state:
        # kagglesdk DatabundleVersionStatus.FAILED; a new version may be created over it, as over a ready one)
        self.fail_next_versions = 0
        # Kaggle Datasets: at most 50 top-level files and 200 GB per dataset (ARCHITECTURE.md "More facts";
        # Kaggle's dataset docs). A version over either is refused in the reply's `error` (the CLI prints
        # "Dataset version creation error: ..." and exits 0: kaggle 2.2.4 dataset_create_version_cli).
        self.max_top_level_files = 50
        self.max_dataset_bytes = 200 * 10**9

        # upload failure injection
        self.fail_next_upload: bool | int = False
        self.hold_next_upload = False
        self.hold_timeout_s = 60.0
        self.reject_uploads_with: Optional[int] = None
        self.reject_next_upload: Optional[int] = None
        self.upload_held = threading.Event()
        self._release = threading.Event()

        # kernels
        self.kernel_initial_status = "queued"
        self.refuse_next_push: Optional[str] = None  # SaveKernel answers {"error": <this>} once (no version made)
        self.status_lag_polls = 0  # after a push, this many status polls still describe the previous version
        self.max_concurrent_gpu_sessions = 2  # Kaggle: at most two GPU sessions at a time per user
        self.other_gpu_sessions = 0  # GPU sessions of the account this emulator does not run (e.g. in the editor)
        self.model_exists: Callable[[str], bool] = lambda handle: False  # KaggleSessions registers models
        self.on_kernel_push: Optional[Callable[[str, int, Path], Any]] = None
        self.kernel_push_hook_async = False
        self.hook_errors: list[BaseException] = []
        self.server_errors: list[BaseException] = []  # exceptions inside RPC handlers (answered 500)

        # quota
        self.gpu_quota_total_hours = 30.0
        self.gpu_quota_used_hours = 0.0
        self.tpu_quota_total_hours = 20.0
        self.tpu_quota_used_hours = 0.0
        self.quota_refresh_time = time.time() + 5 * 86400

        # Kaggle's own notebook token (see issue_notebook_token), HTTP 429 and machine shapes
        self.notebook_tokens: dict[str, dict] = {}
        self.throttle_next = 0
        self.throttle_only: Optional[str] = None  # only this RPC (e.g. "GetKernelSessionStatus") is throttled
        self.retry_after_s = 1
        self.known_machine_shapes = ("NvidiaTeslaT4", "NvidiaTeslaP100", "NvidiaTeslaT4Highmem", "NvidiaL4",
                                     "NvidiaL4X1", "TpuV38", "Tpu1VmV38", "TpuV6E8")

        self.requests: list[dict] = []
        self._lock = threading.RLock()
        self._tls = threading.local()
        self._links: dict[str, dict] = {}  # download secret -> {"path", "name", "etag", "mtime"}
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._state_file = self.root / "state.json"
        if self._state_file.exists():
            self._state = json.loads(self._state_file.read_text())
        else:
            self._state = {"next_id": 1, "datasets": {}, "kernels": {}, "blobs": {}}

        self._rpcs = {
            ("security.OAuthService", "IntrospectToken"): (self._rpc_introspect, None),
            ("blobs.BlobApiService", "StartBlobUpload"): (self._rpc_start_blob_upload, True),
            ("datasets.DatasetApiService", "CreateDataset"): (self._rpc_create_dataset, True),
            ("datasets.DatasetApiService", "CreateDatasetVersion"): (self._rpc_create_version, True),
            ("datasets.DatasetApiService", "CreateDatasetVersionById"): (self._rpc_create_version, True),
            ("datasets.DatasetApiService", "GetDatasetStatus"): (self._rpc_dataset_status, False),
            ("datasets.DatasetApiService", "GetDataset"): (self._rpc_get_dataset, False),
            ("datasets.DatasetApiService", "ListDatasetFiles"): (self._rpc_list_dataset_files, False),
            ("datasets.DatasetApiService", "GetDatasetMetadata"): (self._rpc_dataset_metadata, False),
            ("datasets.DatasetApiService", "DownloadDataset"): (self._rpc_download_dataset, False),
            ("datasets.DatasetApiService", "ListDatasets"): (self._rpc_list_datasets, False),
            ("datasets.DatasetApiService", "DeleteDataset"): (self._rpc_delete_dataset, True),
            ("kernels.KernelsApiService", "SaveKernel"): (self._rpc_save_kernel, True),
            ("kernels.KernelsApiService", "GetKernelSessionStatus"): (self._rpc_kernel_status, True),
            ("kernels.KernelsApiService", "ListKernelSessionOutput"): (self._rpc_kernel_output, True),
            ("kernels.KernelsApiService", "GetKernel"): (self._rpc_get_kernel, True),
            ("kernels.KernelsApiService", "ListKernels"): (self._rpc_list_kernels, True),
            ("kernels.KernelsApiService", "DeleteKernel"): (self._rpc_delete_kernel, True),
            ("kernels.KernelsApiService", "GetAcceleratorQuotaStatistics"): (self._rpc_quota, True),
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> "KaggleEmulator":
        """Bind and serve in a daemon thread. Raises OSError (EADDRINUSE) when the port is taken."""
        self._server = _Server((self.host, self.requested_port), self)
        self.port = self._server.server_address[1]
        self._release.clear()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"kaggle-emulator-{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "KaggleEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------------ client wiring

    def client_env(self, base_dir, auth: str = "key") -> dict[str, str]:
        """Environment for a `kaggle` CLI subprocess (or in-process client) that talks to this emulator.

        auth: "key" (KAGGLE_USERNAME/KAGGLE_KEY -> HTTP basic), "token" (KAGGLE_API_TOKEN -> bearer),
        "both", or "none" (no credentials). HOME, KAGGLE_CONFIG_DIR and TMPDIR (resumable-upload bookkeeping) go under base_dir so
        no ~/.kaggle file of the machine is read. NO_PROXY/no_proxy are emptied (subprocess);
        install() deletes them instead.
        """
        base = Path(base_dir)
        home, tmp = base / "home", base / "tmp"
        config_dir = home / ".kaggle"
        for d in (config_dir, tmp):
            d.mkdir(parents=True, exist_ok=True)
        proxy = f"http://127.0.0.1:{self.port}"
        env = {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "KAGGLE_CONFIG_DIR": str(config_dir),
            "HOME": str(home),
            "TMPDIR": str(tmp),
            "HTTP_PROXY": proxy, "http_proxy": proxy,
            "HTTPS_PROXY": proxy, "https_proxy": proxy,
            "NO_PROXY": "", "no_proxy": "", "ALL_PROXY": "", "all_proxy": "",
        }
        if auth in ("key", "both"):
            env["KAGGLE_USERNAME"] = self.username
            env["KAGGLE_KEY"] = self.key
        if auth in ("token", "both"):
            env["KAGGLE_API_TOKEN"] = self.token or ""
        return env

    def subprocess_env(self, base_dir, auth: str = "key") -> dict[str, str]:
        """os.environ without any KAGGLE_* variable of the machine, plus client_env()."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_")}
        env.update(self.client_env(base_dir, auth))
        return env

    def install(self, monkeypatch, base_dir, auth: str = "key") -> dict[str, str]:
        """Apply client_env() to this process with pytest's monkeypatch, and patch what `kaggle`
        computed at import time (KaggleApi.args / config_dir / config, tempfile.tempdir)."""
        import tempfile

        env = self.client_env(base_dir, auth)
        for name in [n for n in os.environ if n.startswith("KAGGLE_")]:  # e.g. a real KAGGLE_API_TOKEN
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            if value == "":
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        monkeypatch.setattr(tempfile, "tempdir", env["TMPDIR"])
        from kaggle.api.kaggle_api_extended import KaggleApi  # runs kaggle/__init__ (authenticates; harmless)

        monkeypatch.setattr(KaggleApi, "args", ["--local"])
        monkeypatch.setattr(KaggleApi, "config_dir", env["KAGGLE_CONFIG_DIR"])
        monkeypatch.setattr(KaggleApi, "config", os.path.join(env["KAGGLE_CONFIG_DIR"], "kaggle.json"))
        return env

    def add_user(self, name: str, key: Optional[str] = None, token: Optional[str] = None) -> None:
        self.users[name] = {"key": key, "token": token}

    def issue_notebook_token(self, user: str, inputs: list[str]) -> str:
        """A notebook token of `user` that may only read the datasets `inputs` (owner/slug)."""
        token = "kgl-nb-" + secrets.token_urlsafe(18)
        with self._lock:
            self.notebook_tokens[token] = {"user": user, "inputs": sorted({"/".join(i.split("/")[:2]) for i in inputs})}
        return token

    def notebook_token_calls(self) -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r.get("notebook_token")]

    # ------------------------------------------------------------------ request log

    def calls(self, method: Optional[str] = None) -> list[dict]:
        """Logged requests, optionally only the RPC `method` (e.g. "CreateDatasetVersion") or kind
        ("upload", "download")."""
        with self._lock:
            items = list(self.requests)
        if method is None:
            return items
        return [r for r in items if r.get("rpc", "").endswith("/" + method) or r.get("kind") == method]

    def clear_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def _mask(self, value):
        secrets_ = [v for u in self.users.values() for v in (u.get("key"), u.get("token")) if v]
        secrets_ += list(self.notebook_tokens)
        if isinstance(value, dict):
            return {k: ("***" if k == "token" and value.get(k) in secrets_ else self._mask(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [self._mask(v) for v in value]
        if isinstance(value, str):
            for s in secrets_:
                value = value.replace(s, "***")
        return value

    # ------------------------------------------------------------------ state helpers

    def _save(self) -> None:
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state, indent=1, sort_keys=True))
        os.replace(tmp, self._state_file)

    def _next_id(self) -> int:
        value = self._state["next_id"]
        self._state["next_id"] = value + 1
        return value

    def _dataset_dir(self, ref: str) -> Path:
        return self.root / "datasets" / ref

    def version_dir(self, ref: str, version: Optional[int] = None) -> Path:
        """The snapshot folder of a dataset version (latest when version is None)."""
        with self._lock:
            ds = self._state["datasets"][ref]
            number = version or ds["versions"][-1]["number"]
        return self._dataset_dir(ref) / f"v{number}" / "files"

    def dataset_versions(self, ref: str) -> list[dict]:
        """[{number, notes, status (enum name), files: [{name, size}], created}] of a dataset."""
        with self._lock:
            ds = self._state["datasets"].get(ref)
            if ds is None:
                return []
            return [dict(copy.deepcopy(v), status=self._version_status(v)) for v in ds["versions"]]

    def dataset_files(self, ref: str, version: Optional[int] = None) -> dict[str, bytes]:
        """{relative posix path: bytes} of a version (latest when None)."""
        base = self.version_dir(ref, version)
        return {p.relative_to(base).as_posix(): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}

    def set_dataset_status(self, ref: str, status: str, version: Optional[int] = None) -> None:
        """Force a version's status (e.g. "ready", "failed", "blobsReceived")."""
        name = _enum_name(status, DATASET_STATUSES)
        with self._lock:
            v = self._find_version(self._state["datasets"][ref], version)
            if name in _FINAL_DATASET_STATUSES:
                v["status"] = name
                v.pop("forced", None)
            else:  # processing until set ready/failed or finish_processing()
                v["status"] = None
                v["forced"] = name
            self._save()

    def finish_processing(self, ref: Optional[str] = None) -> None:
        """Mark every processing version (of one dataset or all) ready."""
        with self._lock:
            for key, ds in self._state["datasets"].items():
                if ref in (None, key):
                    for v in ds["versions"]:
                        if v.get("status") is None:
                            v["status"] = "READY"
                            v.pop("forced", None)
            self._save()

    def _find_version(self, ds: dict, version) -> dict:
        if not ds["versions"]:
            raise ApiError(404, "Dataset has no versions")
        if version in (None, "", 0):
            return ds["versions"][-1]
        for v in ds["versions"]:
            if v["number"] == int(version):
                return v
        raise ApiError(404, f"Dataset version {version} not found")

    def _version_status(self, v: dict, consume_poll: bool = False) -> str:
        if v.get("status"):
            return v["status"]
        if v.get("forced"):
            return v["forced"]
        if v["polls_left"] <= 0 and time.time() >= v["ready_at"]:
            v["status"] = "FAILED" if v.get("fails") else "READY"
            self._save()
            return v["status"]
        statuses = list(self.processing_statuses) or ["BLOBS_RECEIVED"]
        name = _enum_name(statuses[min(v["polls_done"], len(statuses) - 1)], DATASET_STATUSES)
        if consume_poll:
            v["polls_left"] -= 1
            v["polls_done"] += 1
            self._save()
        return name

    def _latest_ready(self, ds: dict) -> Optional[dict]:
        for v in reversed(ds["versions"]):
            if self._version_status(v) == "READY":
                return v
        return None

    # ------------------------------------------------------------------ kernels (test hooks)

    def _kernel(self, ref: str) -> dict:
        kernel = self._state["kernels"].get(ref)
        if kernel is None:
            raise KeyError(f"no kernel {ref}")
        return kernel

    def _kernel_version(self, kernel: dict, version) -> dict:
        if not kernel["versions"]:
            raise ApiError(404, "Kernel has no versions")
        if version in (None, "", 0):
            return kernel["versions"][-1]
        for v in kernel["versions"]:
            if v["number"] == int(version):
                return v
        raise ApiError(404, f"Kernel version {version} not found")

    def _run_view(self, ref: str, v: dict) -> KernelRun:
        folder = self.root / "kernels" / ref / f"v{v['number']}"
        return KernelRun(ref=ref, version=v["number"], status=_wire(v["status"]), failure_message=v.get("failure_message"),
                         folder=folder, code_file=folder / v["code_file"], output_dir=folder / "output",
                         settings=copy.deepcopy(v["settings"]), created=v["created"])

    def kernel_runs(self, ref: str) -> list[KernelRun]:
        with self._lock:
            kernel = self._state["kernels"].get(ref)
            return [self._run_view(ref, v) for v in kernel["versions"]] if kernel else []

    def set_kernel_status(self, ref: str, status: str, version: Optional[int] = None,
                          failure_message: Optional[str] = None) -> None:
        name = _enum_name(status, KERNEL_STATUSES)
        with self._lock:
            v = self._kernel_version(self._kernel(ref), version)
            v["status"] = name
            v["failure_message"] = failure_message
            self._save()

    def add_kernel_output(self, ref: str, relpath: str, data: bytes | str, version: Optional[int] = None) -> Path:
        with self._lock:
            run = self._run_view(ref, self._kernel_version(self._kernel(ref), version))
        path = run.output_dir / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
        return path

    def set_kernel_log(self, ref: str, text: str, version: Optional[int] = None) -> None:
        with self._lock:
            run = self._run_view(ref, self._kernel_version(self._kernel(ref), version))
        (run.folder / "log.txt").write_text(text)

    # ------------------------------------------------------------------ quota

    @property
    def gpu_hours_remaining(self) -> float:
        return max(0.0, self.gpu_quota_total_hours - self.gpu_quota_used_hours)

    @gpu_hours_remaining.setter
    def gpu_hours_remaining(self, hours: float) -> None:
        self.gpu_quota_used_hours = max(0.0, self.gpu_quota_total_hours - float(hours))

    # ------------------------------------------------------------------ uploads (test hooks)

    def release_uploads(self) -> None:
        self._release.set()

    def expire_uploads(self) -> None:
        with self._lock:
            for token in list(self._state["blobs"]):
                (self.root / "blobs" / f"{token}.part").unlink(missing_ok=True)
            self._state["blobs"].clear()
            self._save()

    # ------------------------------------------------------------------ HTTP plumbing

    def _dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        target = h.path
        if method == "CONNECT":
            self._log({"method": method, "path": target, "kind": "connect", "status": 403})
            self._send(h, 403, b"the Kaggle emulator does not tunnel HTTPS (is KaggleApi.args missing --local?)",
                       "text/plain", close=True)
            return
        parts = urlsplit(target)
        path = parts.path if parts.scheme else target.split("?", 1)[0]
        try:
            if path.startswith("/_emulator/upload/"):
                self._handle_upload(h, path.rsplit("/", 1)[-1])
            elif path.startswith("/_emulator/download/") or path.startswith("/_emulator/kernel-output/"):
                self._handle_download(h, method, path)
            else:
                m = re.fullmatch(r"(?:/api)?/v1/([A-Za-z0-9_.]+)/([A-Za-z0-9_]+)", path)
                if method != "POST" or not m:
                    self._drain(h)
                    self._log({"method": method, "path": path, "status": 404})
                    self._send_error(h, 404, f"Not found: {method} {path}")
                    return
                self._handle_rpc(h, path, m.group(1), m.group(2))
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    def _drain(self, h) -> bytes:
        length = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(length) if length else b""

    def _send(self, h, status: int, body: bytes, content_type: str = "application/json",
              headers: Optional[dict] = None, close: bool = False, head: bool = False) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if close:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        if not head and body:
            h.wfile.write(body)

    def _send_json(self, h, status: int, obj) -> None:
        self._send(h, status, json.dumps(obj).encode())

    def _send_error(self, h, status: int, message: str) -> None:
        self._send_json(h, status, {"code": status, "message": message})

    def _log(self, record: dict) -> dict:
        record.setdefault("time", time.time())
        with self._lock:
            self.requests.append(record)
        return record

    def _authenticate(self, header: Optional[str]) -> Optional[str]:
        """Username for a valid Authorization header, None when absent; ApiError(401) when invalid."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, key = base64.b64decode(value.strip()).decode().partition(":")
            except Exception:
                raise ApiError(401, "Unauthenticated")
            account = self.users.get(user)
            if account and account.get("key") and secrets.compare_digest(account["key"].encode(), key.encode()):
                return user
        elif scheme.lower() == "bearer":
            for user, account in self.users.items():
                if account.get("token") and secrets.compare_digest(account["token"].encode(), value.strip().encode()):
                    return user
            notebook = self.notebook_tokens.get(value.strip())
            if notebook:
                self._tls.notebook = notebook
                return notebook["user"]
        raise ApiError(401, "Unauthenticated")

    def _handle_rpc(self, h, path: str, service: str, name: str) -> None:
        raw = self._drain(h)
        self._tls.__dict__.pop("after", None)
        record = self._log({"method": "POST", "path": path, "rpc": f"{service}/{name}", "kind": "rpc"})
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"_unparsed": raw.decode("utf-8", "replace")}
        record["body"] = self._mask(body)
        header = h.headers.get("Authorization")
        record["auth"] = header.split(" ", 1)[0].lower() if header else None
        self._tls.__dict__.pop("notebook", None)
        try:
            with self._lock:
                throttled = self.throttle_next > 0 and self.throttle_only in (None, name)
                self.throttle_next -= 1 if throttled else 0
            if throttled:  # kagglesdk retries 429 honouring Retry-After
                record["status"] = 429
                self._send(h, 429, json.dumps({"code": 429, "message": "Too Many Requests"}).encode(),
                           headers={"Retry-After": str(self.retry_after_s)})
                return
            entry = self._rpcs.get((service, name))
            if entry is None:
                raise ApiError(404, f"The emulator does not implement {service}/{name}")
            fn, needs_auth = entry  # needs_auth None: credentials are not even checked
            user = self._authenticate(header) if needs_auth is not None else None
            record["user"] = user
            if needs_auth and user is None:
                raise ApiError(401, "Unauthenticated")
            notebook = self._tls.__dict__.pop("notebook", None)
            if notebook is not None:
                record["notebook_token"] = True
                self._notebook_token_allows(name, body, notebook)
            with self._lock:
                result = fn(body, user)
            for action in self._tls.__dict__.pop("after", []):  # e.g. on_kernel_push, outside the lock
                action()
        except ApiError as e:
            record["status"] = e.status
            record["error"] = e.message
            self._send_error(h, e.status, e.message)
            return
        except Exception as e:  # an emulator bug: answer 500 (the client does not retry it) and keep it
            self.server_errors.append(e)
            record["status"] = 500
            record["error"] = f"{type(e).__name__}: {e}"
            self._send_error(h, 500, f"emulator error: {type(e).__name__}: {e}")
            return
        if isinstance(result, tuple) and result[0] == "redirect":
            record["status"] = 302
            self._send(h, 302, b"", "text/plain", headers={"Location": result[1]})
        else:
            record["status"] = 200
            record["response"] = result
            self._send_json(h, 200, result)

    _NOTEBOOK_READS = ("GetDatasetStatus", "GetDataset", "ListDatasetFiles", "GetDatasetMetadata", "DownloadDataset")

    def _notebook_token_allows(self, rpc: str, body: dict, notebook: dict) -> None:
        """The harsher reading of the notebook token's rights: reads of the session's attached inputs only."""
        ref = f"{body.get('ownerSlug', '')}/{body.get('datasetSlug', '')}"
        if rpc not in self._NOTEBOOK_READS or ref not in notebook["inputs"]:
            raise ApiError(403, f"Permission denied: the notebook token may not call {rpc}"
                                + (f" on {ref}" if ref != "/" else ""))

    # ------------------------------------------------------------------ uploads

    def _handle_upload(self, h, token: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        content_range = h.headers.get("Content-Range")
        record = self._log({"method": "PUT", "path": f"/_emulator/upload/{token}", "kind": "upload",
                            "content_length": length, "content_range": content_range,
                            "auth": (h.headers.get("Authorization") or " ").split(" ")[0].lower() or None})
        with self._lock:
            blob = self._state["blobs"].get(token)
        if blob is None:
            self._drain(h)
            record["status"] = 404
            self._send_error(h, 404, "No such upload session (expired?)")
            return
        part = self.root / "blobs" / f"{token}.part"
        total = blob["content_length"]

        def range_headers() -> dict:
            received = part.stat().st_size if part.exists() else 0
            return {"Range": f"bytes=0-{received - 1}"} if received else {}

        if content_range and re.fullmatch(r"bytes \*/\d+", content_range.strip()):  # status query
            self._drain(h)
            if blob["complete"]:
                record["status"] = 200
                self._send_json(h, 200, {})
            else:
                record["status"] = 308
                self._send(h, 308, b"", "text/plain", headers=range_headers())
            return
        start = 0
        if content_range:
            m = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range.strip())
            if not m:
                self._drain(h)
                record["status"] = 400
                self._send_error(h, 400, f"Bad Content-Range {content_range!r}")
                return
            start = int(m.group(1))
        have = part.stat().st_size if part.exists() else 0
        if start > have:
            self._drain(h)
            record["status"] = 400
            self._send_error(h, 400, f"Upload resumed at {start} but only {have} bytes were received")
            return

        abort = hold = False
        with self._lock:
            if self.hold_next_upload is True or self.hold_next_upload == blob["name"]:
                self.hold_next_upload = False
                self.upload_held.clear()
                hold = True
            elif self.fail_next_upload:
                abort = True
                n = self.fail_next_upload
                self.fail_next_upload = False if n is True or int(n) <= 1 else int(n) - 1
        limit = max(1, length // 2) if (abort or hold) else length

        part.parent.mkdir(parents=True, exist_ok=True)
        with open(part, "r+b" if part.exists() else "wb") as f:
            f.truncate(start)
            f.seek(start)
            remaining = limit
            while remaining > 0:
                chunk = h.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    break
                f.write(chunk)
                remaining -= len(chunk)
        record["bytes_received"] = limit - remaining

        if hold:
            self.upload_held.set()
            self._release.wait(self.hold_timeout_s)
            self._release.clear()
        if abort or hold:
            record["status"] = "aborted"
            self._abort(h)
            return
        with self._lock:
            reject = self.reject_next_upload or self.reject_uploads_with
            self.reject_next_upload = None
        if reject:
            record["status"] = reject
            self._send_error(h, reject, "Upload rejected by the emulator")
            return
        received = part.stat().st_size
        if received >= total:
            with self._lock:
                blob["complete"] = True
                blob["size"] = received
                self._save()
            record["status"] = 200
            self._send_json(h, 200, {})
        else:
            record["status"] = 308
            self._send(h, 308, b"", "text/plain", headers=range_headers())

    @staticmethod
    def _abort(h) -> None:
        """Drop the connection with a RST, leaving the rest of the request body unread."""
        try:
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        h.close_connection = True
        try:
            h.connection.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ downloads

    def _link(self, path: Path, name: str, route: str) -> str:
        secret = secrets.token_urlsafe(12)
        st = path.stat()
        etag = '"' + hashlib.sha1(f"{path}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest() + '"'
        self._links[secret] = {"path": str(path), "etag": etag, "mtime": st.st_mtime}
        return f"{self.url}/_emulator/{route}/{secret}/{quote(name)}"

    def _handle_download(self, h, method: str, path: str) -> None:
        self._drain(h)
        secret = path.split("/")[3] if len(path.split("/")) > 3 else ""
        record = self._log({"method": method, "path": path, "kind": "download"})
        link = self._links.get(secret)
        if link is None or not os.path.exists(link["path"]):
            record["status"] = 404
            self._send(h, 404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
            return
        data = Path(link["path"]).read_bytes()
        headers = {"Accept-Ranges": "bytes", "ETag": link["etag"],
                   "Last-Modified": formatdate(link["mtime"], usegmt=True)}
        range_header = h.headers.get("Range")
        if_range = h.headers.get("If-Range")
        m = re.fullmatch(r"bytes=(\d+)-", range_header.strip()) if range_header else None
        if m and (not if_range or if_range in (link["etag"], headers["Last-Modified"])):
            start = int(m.group(1))
            if start >= len(data):
                record["status"] = 416
                self._send(h, 416, b"", "text/plain", headers={"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            record["status"] = 206
            self._send(h, 206, data[start:], "application/octet-stream", headers=headers, head=method == "HEAD")
            return
        record["status"] = 200
        self._send(h, 200, data, "application/octet-stream", headers=headers, head=method == "HEAD")

    # ------------------------------------------------------------------ RPC: auth

    def _rpc_introspect(self, body, user):
        token = body.get("token") or ""
        for name, account in self.users.items():
            if account.get("token") and secrets.compare_digest(account["token"], token):
                return {"active": True, "username": name, "clientId": "kaggle-emulator", "scope": "resources.admin:*"}
        if token in self.notebook_tokens:  # taken as valid: the client then authenticates with it (the harsh case)
            return {"active": True, "username": self.notebook_tokens[token]["user"], "clientId": "kaggle-notebook",
                    "scope": "resources.notebook"}
        return {"active": False}

    # ------------------------------------------------------------------ RPC: blobs

    def _rpc_start_blob_upload(self, body, user):
        name = body.get("name") or ""
        if not name or "/" in name or name in (".", ".."):
            raise ApiError(400, f"Invalid blob name {name!r}")
        token = secrets.token_hex(16)
        self._state["blobs"][token] = {"name": name, "content_length": int(body.get("contentLength") or 0),
                                       "type": body.get("type", "API_BLOB_TYPE_UNSPECIFIED"), "owner": user,
                                       "complete": int(body.get("contentLength") or 0) == 0, "created": time.time()}
        if self._state["blobs"][token]["complete"]:
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            (self.root / "blobs" / f"{token}.part").write_bytes(b"")
        self._save()
        return {"token": token, "createUrl": f"{self.url}/_emulator/upload/{token}"}

    # ------------------------------------------------------------------ RPC: datasets

    def _dataset_for(self, owner: str, slug: str, user: Optional[str], write: bool = False) -> dict:
        ds = self._state["datasets"].get(f"{owner}/{slug}")
        if ds is None:  # Kaggle answers 403, not 404, for a dataset that does not exist (push-kaggle-dataset#14)
            raise ApiError(self.missing_dataset_status, "Permission 'datasets.get' was denied")
        if ds.get("invisible_polls", 0) > 0:  # freshly created: not visible for a moment (seen live, 2026-09-06)
            ds["invisible_polls"] -= 1
            raise ApiError(403, "Permission 'datasets.get' was denied")
        if write and user != ds["owner"]:
            raise ApiError(403, "Permission 'datasets.update' was denied")
        if ds["is_private"] and user != ds["owner"]:
            raise ApiError(403, "Permission 'datasets.get' was denied")
        return ds

    def _materialize(self, ref: str, number: int, files: list) -> list[dict]:
        """Copy the uploaded blobs of a new version into its snapshot folder (unpacking archives)."""
        blobs = []
        for item in files or []:
            token = item.get("token") or ""
            blob = self._state["blobs"].get(token)
            if blob is None:
                raise ApiError(400, f"Unknown upload token {token!r}")
            if not blob["complete"]:
                raise ApiError(400, f"Upload {blob['name']!r} is not complete")
            blobs.append((token, blob, item))
        if not blobs:
            raise ApiError(400, "A dataset version needs at least one file")
        vdir = self._dataset_dir(ref) / f"v{number}"
        tmp = vdir.with_name(vdir.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        dest = tmp / "files"
        dest.mkdir(parents=True)
        for token, blob, _ in blobs:
            src = self.root / "blobs" / f"{token}.part"
            name = blob["name"]
            lower = name.lower()
            if self.unpack_archives and lower.endswith(".zip") and zipfile.is_zipfile(src):
                target = dest / name[:-4]
                with zipfile.ZipFile(src) as z:
                    for info in z.infolist():
                        out = (target / info.filename).resolve()
                        if not str(out).startswith(str(target.resolve())):
                            raise ApiError(400, f"Unsafe path in {name}: {info.filename}")
                    z.extractall(target)
            elif self.unpack_archives and lower.endswith(".tar") and tarfile.is_tarfile(src):
                target = dest / name[:-4]
                with tarfile.open(src) as t:
                    try:
                        t.extractall(target, filter="data")
                    except TypeError:  # Python without extraction filters
                        t.extractall(target)
            else:
                shutil.copyfile(src, dest / name)
        descriptions = {blob["name"]: item.get("description") for _, blob, item in blobs}
        shutil.rmtree(vdir, ignore_errors=True)
        os.replace(tmp, vdir)
        listing = []
        for p in sorted(vdir.joinpath("files").rglob("*")):
            if p.is_file():
                rel = p.relative_to(vdir / "files").as_posix()
                listing.append({"name": rel, "size": p.stat().st_size, "description": descriptions.get(rel)})
        return listing

    def _new_version(self, ds: dict, notes: Optional[str], files: list, user: str) -> dict:
        number = (ds["versions"][-1]["number"] + 1) if ds["versions"] else 1
        ref = f"{ds['owner']}/{ds['slug']}"
        listing = self._materialize(ref, number, files)
        now = time.time()
        v = {"number": number, "notes": notes, "created": now, "creator": user, "files": listing,
             "status": None, "polls_left": int(self.processing_polls), "polls_done": 0,
             "ready_at": now + float(self.processing_seconds), "fails": self.fail_next_versions > 0}
        self.fail_next_versions = max(0, self.fail_next_versions - 1)
        if v["polls_left"] <= 0 and float(self.processing_seconds) <= 0:
            v["status"] = "FAILED" if v["fails"] else "READY"
        ds["versions"].append(v)
        return v

    def _over_limits(self, files: list) -> Optional[str]:
        """Why a new version's files break Kaggle's per-dataset limits (None when they do not)."""
        if len(files or []) > self.max_top_level_files:
            return (f"A dataset can have at most {self.max_top_level_files} top-level files; got {len(files)}: "
                    "put them in folders or an archive")
        size = sum(self._state["blobs"].get(f.get("token") or "", {}).get("size") or 0 for f in files or [])
        if size > self.max_dataset_bytes:
            return f"The dataset is too large: {size} bytes, the limit is {self.max_dataset_bytes}"
        return None

    def _rpc_create_dataset(self, body, user):
        owner = body.get("ownerSlug") or user
        slug = body.get("slug") or ""
        ref = f"{owner}/{slug}"
        if owner != user:
            return {"status": "error", "error": "You are not allowed to create a dataset as this owner."}
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{4,49}", slug):
            return {"status": "error", "error": f"Invalid dataset slug {slug!r}"}
        if ref in self._state["datasets"]:
            return {"status": "error", "error": "The requested slug is already in use by a dataset."}
        if self._over_limits(body.get("files")):
            return {"status": "error", "error": self._over_limits(body.get("files"))}
        ds = {"id": self._next_id(), "owner": owner, "slug": slug, "title": body.get("title") or slug,
              "subtitle": body.get("subtitle"), "description": body.get("description"),
              "license": body.get("licenseName"), "is_private": bool(body.get("isPrivate", False)),
              "keywords": body.get("categoryIds") or [], "created": time.time(), "versions": []}
        self._new_version(ds, "Initial release", body.get("files") or [], user)
        ds["invisible_polls"] = int(self.new_dataset_invisible_polls)
        self._state["datasets"][ref] = ds
        self._save()
        return {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok", "error": "",
                "invalidTags": []}

    def _rpc_create_version(self, body, user):
        if "id" in body and "ownerSlug" not in body:
            ds = next((d for d in self._state["datasets"].values() if d["id"] == int(body["id"])), None)
            if ds is None:
                raise ApiError(404, f"Dataset id {body['id']} not found")
        else:
            ds = self._state["datasets"].get(f"{body.get('ownerSlug', '')}/{body.get('datasetSlug', '')}")
            if ds is None:
                raise ApiError(404, f"Dataset {body.get('ownerSlug')}/{body.get('datasetSlug')} not found")
        if user != ds["owner"]:
            raise ApiError(403, "Permission 'datasets.update' was denied")
        if (self.reject_version_while_processing and ds["versions"]
                and self._version_status(ds["versions"][-1]) not in _FINAL_DATASET_STATUSES):
            raise ApiError(403, "Permission 'datasets.update' was denied")
        req = body.get("body") or {}
        if self._over_limits(req.get("files")):
            return {"status": "error", "error": self._over_limits(req.get("files"))}
        self._new_version(ds, req.get("versionNotes"), req.get("files") or [], user)
        for key, field_ in (("subtitle", "subtitle"), ("description", "description")):
            if req.get(key) is not None:
                ds[field_] = req[key]
        if req.get("categoryIds"):
            ds["keywords"] = req["categoryIds"]
        if req.get("deleteOldVersions"):
            for old in ds["versions"][:-1]:
                shutil.rmtree(self._dataset_dir(f"{ds['owner']}/{ds['slug']}") / f"v{old['number']}", ignore_errors=True)
            ds["versions"] = ds["versions"][-1:]
        self._save()
        ref = f"{ds['owner']}/{ds['slug']}"
        return {"ref": ref, "url": f"https://www.kaggle.com/datasets/{ref}", "status": "ok", "error": "",
                "invalidTags": []}

    def _rpc_dataset_status(self, body, user):
        ds = self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user)
        if not ds["versions"]:
            return {"status": _wire("NOT_YET_PERSISTED")}
        return {"status": _wire(self._version_status(ds["versions"][-1], consume_poll=True))}

    def _api_dataset(self, ds: dict) -> dict:
        ref = f"{ds['owner']}/{ds['slug']}"
        if self.current_version_includes_processing:
            current = ds["versions"][-1] if ds["versions"] else None
        else:
            current = self._latest_ready(ds)
        out = {"id": ds["id"], "ref": ref, "title": ds["title"], "url": f"https://www.kaggle.com/datasets/{ref}",
               "ownerName": ds["owner"], "ownerRef": ds["owner"], "creatorName": ds["owner"],
               "creatorUrl": ds["owner"], "isPrivate": ds["is_private"], "licenseName": ds["license"],
               "lastUpdated": _iso(ds["versions"][-1]["created"] if ds["versions"] else ds["created"]),
               "versions": [{"versionNumber": v["number"], "creationDate": _iso(v["created"]),
                             "creatorName": v["creator"], "creatorRef": v["creator"], "versionNotes": v["notes"],
                             "status": _wire(self._version_status(v))} for v in ds["versions"]]}
        if current is not None:
            out["currentVersionNumber"] = current["number"]
            out["totalBytes"] = sum(f["size"] for f in current["files"])
        for key in ("subtitle", "description"):
            if ds.get(key):
                out[key] = ds[key]
        return out

    def _rpc_get_dataset(self, body, user):
        return self._api_dataset(self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user))

    def _rpc_list_dataset_files(self, body, user):
        ds = self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user)
        number = body.get("datasetVersionNumber")
        v = self._find_version(ds, number) if number else self._latest_ready(ds)
        if v is None:
            return {"datasetFiles": [], "errorMessage": "The dataset is still being processed"}
        ref = f"{ds['owner']}/{ds['slug']}"
        offset = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page = v["files"][offset:offset + size]
        out = {"datasetFiles": [{"ref": f"{ref}/{f['name']}", "datasetRef": ref, "ownerRef": ds["owner"],
                                 "name": f["name"], "creationDate": _iso(v["created"]), "totalBytes": f["size"],
                                 **({"description": f["description"]} if f.get("description") else {})}
                                for f in page]}
        if offset + size < len(v["files"]):
            out["nextPageToken"] = str(offset + size)
        return out

    def _rpc_dataset_metadata(self, body, user):
        ds = self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user)
        latest = ds["versions"][-1] if ds["versions"] else {"files": []}
        info = {"datasetId": ds["id"], "datasetSlug": ds["slug"], "ownerUser": ds["owner"], "title": ds["title"],
                "isPrivate": ds["is_private"], "keywords": ds["keywords"],
                "licenses": [{"name": ds["license"]}] if ds["license"] else [],
                "data": [{"name": f["name"], "totalBytes": f["size"],
                          **({"description": f["description"]} if f.get("description") else {})}
                         for f in latest["files"]]}
        for key in ("subtitle", "description"):
            if ds.get(key):
                info[key] = ds[key]
        return {"info": info}

    def _rpc_download_dataset(self, body, user):
        ds = self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user)
        number = body.get("datasetVersionNumber")
        if number:
            v = self._find_version(ds, number)
            if self._version_status(v) != "READY":
                raise ApiError(404, f"Dataset version {number} is not ready")
        else:
            v = self._latest_ready(ds)
            if v is None:
                raise ApiError(404, "The dataset has no ready version yet")
        vdir = self._dataset_dir(f"{ds['owner']}/{ds['slug']}") / f"v{v['number']}"
        file_name = body.get("fileName")
        if file_name:
            path = vdir / "files" / file_name
            if not path.is_file() or ".." in Path(file_name).parts:
                raise ApiError(404, f"File {file_name!r} not found in version {v['number']}")
            if self.zip_single_file_downloads:  # the client then saves <name>.zip and does not unzip (2.2.4)
                zipped = vdir / "single" / f"{path.name}.zip"
                if not zipped.exists():
                    zipped.parent.mkdir(exist_ok=True)
                    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
                        z.write(path, path.name)
                return ("redirect", self._link(zipped, zipped.name, "download"))
            return ("redirect", self._link(path, path.name, "download"))
        archive = vdir / "archive.zip"
        if not archive.exists():
            stamp = time.gmtime(max(v["created"], 315532800))[:6]
            tmp = archive.with_suffix(".tmp")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                for p in sorted((vdir / "files").rglob("*")):
                    if p.is_file():
                        zinfo = zipfile.ZipInfo(p.relative_to(vdir / "files").as_posix(), stamp)
                        zinfo.compress_type = zipfile.ZIP_DEFLATED
                        z.writestr(zinfo, p.read_bytes())
            os.replace(tmp, archive)
        return ("redirect", self._link(archive, f"{ds['slug']}.zip", "download"))

    def _rpc_list_datasets(self, body, user):
        group = body.get("group", "DATASET_SELECTION_GROUP_PUBLIC")
        search = (body.get("search") or "").lower()
        owner_filter = body.get("user") or ""
        out = []
        for ds in self._state["datasets"].values():
            visible = not ds["is_private"] or ds["owner"] == user
            if group.endswith("_MY"):
                visible = ds["owner"] == user
            elif group.endswith("_USER"):
                visible = visible and ds["owner"] == owner_filter
            elif group.endswith("_PUBLIC"):
                visible = not ds["is_private"]
            if visible and (not search or search in ds["slug"].lower() or search in (ds["title"] or "").lower()):
                out.append(self._api_dataset(ds))
        size = int(body.get("pageSize") or 20)
        page = int(body.get("page") or 1)
        return {"datasets": out[(page - 1) * size: page * size], "nextPageToken": ""}

    def _rpc_delete_dataset(self, body, user):
        ref = f"{body.get('ownerSlug', '')}/{body.get('datasetSlug', '')}"
        self._dataset_for(body.get("ownerSlug", ""), body.get("datasetSlug", ""), user, write=True)  # checks access
        del self._state["datasets"][ref]
        shutil.rmtree(self._dataset_dir(ref), ignore_errors=True)
        self._save()
        return {}

    # ------------------------------------------------------------------ RPC: kernels

    def _kernel_for(self, owner: str, slug: str, user: Optional[str]) -> dict:
        kernel = self._state["kernels"].get(f"{owner}/{slug}")
        if kernel is None:
            raise ApiError(404, f"Kernel {owner}/{slug} not found")
        if kernel["is_private"] and user != kernel["owner"]:
            raise ApiError(403, "Permission 'kernels.get' was denied")
        return kernel

    def _rpc_save_kernel(self, body, user):
        refusal = self._push_refusal(body, user)
        if refusal:
            return {"ref": "", "url": "", "error": refusal}
        kernel = None
        if body.get("id") is not None:
            kernel = next((k for k in self._state["kernels"].values() if k["id"] == int(body["id"])), None)
            if kernel is None:
                raise ApiError(404, f"Kernel id {body['id']} not found")
        slug_field = body.get("slug") or ""
        if kernel is None:
            owner, _, slug = slug_field.rpartition("/")
            owner = owner or user
            if not slug:
                return {"ref": "", "url": "", "error": "A kernel slug or id is required"}
            kernel = self._state["kernels"].get(f"{owner}/{slug}")
            if kernel is None:
                if owner != user:
                    raise ApiError(403, "Permission 'kernels.create' was denied")
                if not body.get("language") or not body.get("kernelType"):
                    return {"ref": "", "url": "", "error": "Language and kernel type are required for a new kernel"}
                kernel = {"id": self._next_id(), "owner": owner, "slug": slug, "versions": [],
                          "title": body.get("newTitle") or slug, "created": time.time()}
                self._state["kernels"][f"{owner}/{slug}"] = kernel
        if user != kernel["owner"]:
            raise ApiError(403, "Permission 'kernels.update' was denied")
        settings = {k: v for k, v in body.items() if k != "text"}
        for key, default in (("language", None), ("kernelType", None), ("isPrivate", True), ("enableGpu", False),
                             ("enableTpu", False), ("enableInternet", True), ("machineShape", None),
                             ("dockerImage", None), ("dockerImagePinningType", None)):
            if key in body:
                kernel[key] = body[key]
            else:
                kernel.setdefault(key, default)
        for key in ("kernelDataSources", "competitionDataSources", "categoryIds"):
            kernel[key] = list(body.get(key) or [])
        # Sources that do not exist are left off the kernel and reported (kaggle 2.2.4 kernels_push_cli:
        # "The following are not valid dataset sources and could not be added to the kernel")
        invalid_datasets = [s for s in body.get("datasetDataSources") or []
                            if "/".join(s.split("/")[:2]) not in self._state["datasets"]]
        invalid_models = [m for m in body.get("modelDataSources") or [] if not self.model_exists(m)]
        kernel["datasetDataSources"] = [s for s in body.get("datasetDataSources") or [] if s not in invalid_datasets]
        kernel["modelDataSources"] = [m for m in body.get("modelDataSources") or [] if m not in invalid_models]
        settings["datasetDataSources"], settings["modelDataSources"] = kernel["datasetDataSources"], kernel["modelDataSources"]
        if body.get("newTitle"):
            kernel["title"] = body["newTitle"]
        kernel["is_private"] = bool(kernel.get("isPrivate", True))
        ref = f"{kernel['owner']}/{kernel['slug']}"
        number = (kernel["versions"][-1]["number"] + 1) if kernel["versions"] else 1
        ext = _KERNEL_EXTENSIONS.get((kernel["kernelType"], kernel["language"]), ".py")
        code_file = kernel["slug"] + ext
        folder = self.root / "kernels" / ref / f"v{number}"
        (folder / "output").mkdir(parents=True, exist_ok=True)
        (folder / code_file).write_text(body.get("text") or "", encoding="utf-8")
        meta = {"id": ref, "id_no": kernel["id"], "title": kernel["title"], "code_file": code_file,
                "language": kernel["language"], "kernel_type": kernel["kernelType"],
                "is_private": kernel["isPrivate"], "enable_gpu": kernel["enableGpu"], "enable_tpu": kernel["enableTpu"],
                "enable_internet": kernel["enableInternet"], "dataset_sources": kernel["datasetDataSources"],
                "kernel_sources": kernel["kernelDataSources"], "competition_sources": kernel["competitionDataSources"],
                "model_sources": kernel["modelDataSources"], "keywords": kernel["categoryIds"],
                "machine_shape": body.get("machineShape"), "session_timeout_seconds": body.get("sessionTimeoutSeconds")}
        (folder / "kernel-metadata.json").write_text(json.dumps(meta, indent=2))
        kernel["lag_polls"] = self.status_lag_polls
        # A push does not stop a running version: the versions before this one keep their status (queued / running
        # go on), so pushing while a version runs starts a second session of the run. Source: kaggle-cli #388 ("when
        # I push a new kernel all other versions keep running and I have to go to the website and stop them"); no
        # public call cancels a session by kernel or version (kaggle-cli #1169/#1174). chain.py guards against it.
        kernel["versions"].append({"number": number, "status": _enum_name(self.kernel_initial_status, KERNEL_STATUSES),
                                   "failure_message": None, "created": time.time(), "code_file": code_file,
                                   "settings": settings, "secret": secrets.token_urlsafe(12)})
        self._save()
        if self.on_kernel_push is not None:  # runs before the response is sent, outside the lock
            self._tls.__dict__.setdefault("after", []).append(lambda: self._run_hook(ref, number, folder))
        return {"ref": f"/code/{ref}", "url": f"https://www.kaggle.com/code/{ref}", "versionNumber": number,
                "kernelId": kernel["id"], "invalidDatasetSources": invalid_datasets, "invalidModelSources": invalid_models}

    def _push_refusal(self, body, user) -> Optional[str]:
        """The error a push gets instead of a session: HTTP 200 with `error` set and no version (a live body
        captured by a user: {"error": "Maximum weekly GPU quota of 30.00 hours reached.", "versionNumber": 0});
        the session-count text is from adapter-hub/playground PR#4 and kaggle-cli#185."""
        if self.refuse_next_push:
            message, self.refuse_next_push = self.refuse_next_push, None
            return message
        shape = body.get("machineShape")
        if shape and shape not in self.known_machine_shapes:  # SaveKernel checks the shape (kaggle-cli PR #1198)
            return f"Invalid machine shape {shape!r}"
        if body.get("enableGpu"):
            if self.gpu_hours_remaining <= 0:
                return f"Maximum weekly GPU quota of {self.gpu_quota_total_hours:.2f} hours reached."
            running = sum(1 for k in self._state["kernels"].values() if k["owner"] == user and k.get("enableGpu")
                          for v in k["versions"] if v["status"] in ("QUEUED", "RUNNING"))
            running += self.other_gpu_sessions
            if running >= self.max_concurrent_gpu_sessions:
                return f"Maximum batch GPU session count of {self.max_concurrent_gpu_sessions} reached."
        return None

    def _run_hook(self, ref: str, number: int, folder: Path) -> None:
        def call():
            try:
                self.on_kernel_push(ref, number, folder)
            except BaseException as e:  # noqa: BLE001 - reported through status and hook_errors
                self.hook_errors.append(e)
                self.set_kernel_status(ref, "error", number, failure_message=f"{type(e).__name__}: {e}")

        if self.kernel_push_hook_async:
            threading.Thread(target=call, daemon=True).start()
        else:
            call()

    def _split_kernel_slug(self, body) -> tuple[str, Optional[str]]:
        slug = body.get("kernelSlug") or ""
        version = body.get("versionLabel")
        if "/" in slug:
            slug, version = slug.split("/", 1)
        return slug, version

    def _rpc_kernel_status(self, body, user):
        slug, version = self._split_kernel_slug(body)
        kernel = self._kernel_for(body.get("userName", ""), slug, user)
        v = self._kernel_version(kernel, version)
        if kernel.get("lag_polls", 0) > 0 and len(kernel["versions"]) > 1:
            # Right after a push the status may still be the previous session's: kaggle-cli's backend tests
            # sleep 30 s after a push, and PR#1177 adds a stale-session check for exactly this.
            kernel["lag_polls"] -= 1
            v = kernel["versions"][-2]
        out = {"status": _wire(v["status"])}
        if v.get("failure_message"):
            out["failureMessage"] = v["failure_message"]
        return out

    def _rpc_kernel_output(self, body, user):
        slug, version = self._split_kernel_slug(body)
        kernel = self._kernel_for(body.get("userName", ""), slug, user)
        v = self._kernel_version(kernel, version)
        run = self._run_view(f"{kernel['owner']}/{kernel['slug']}", v)
        files = sorted(p for p in run.output_dir.rglob("*") if p.is_file()) if run.output_dir.exists() else []
        offset = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        out = {"files": [{"fileName": p.relative_to(run.output_dir).as_posix(),
                          "url": self._link(p, p.name, "kernel-output")} for p in files[offset:offset + size]]}
        if offset + size < len(files):
            out["nextPageToken"] = str(offset + size)
        log = run.folder / "log.txt"
        if log.exists():
            out["log"] = log.read_text()
        return out

    def _rpc_get_kernel(self, body, user):
        slug, version = self._split_kernel_slug(body)
        kernel = self._kernel_for(body.get("userName", ""), slug, user)
        v = self._kernel_version(kernel, version)
        run = self._run_view(f"{kernel['owner']}/{kernel['slug']}", v)
        return {"metadata": self._kernel_metadata(kernel),
                "blob": {"source": run.code_file.read_text(encoding="utf-8"), "language": kernel["language"],
                         "kernelType": kernel["kernelType"], "slug": kernel["slug"]}}

    def _kernel_metadata(self, kernel: dict) -> dict:
        ref = f"{kernel['owner']}/{kernel['slug']}"
        latest = kernel["versions"][-1] if kernel["versions"] else None
        out = {"id": kernel["id"], "ref": ref, "title": kernel["title"], "author": kernel["owner"],
               "slug": kernel["slug"], "language": kernel["language"], "kernelType": kernel["kernelType"],
               "isPrivate": kernel["isPrivate"], "enableGpu": kernel["enableGpu"], "enableTpu": kernel["enableTpu"],
               "enableInternet": kernel["enableInternet"], "categoryIds": kernel["categoryIds"],
               "datasetDataSources": kernel["datasetDataSources"], "kernelDataSources": kernel["kernelDataSources"],
               "competitionDataSources": kernel["competitionDataSources"],
               "modelDataSources": kernel["modelDataSources"]}
        if latest:
            out["currentVersionNumber"] = latest["number"]
            out["lastRunTime"] = _iso(latest["created"])
        for key in ("dockerImage", "machineShape"):
            if kernel.get(key):
                out[key] = kernel[key]
        return out

    def _rpc_list_kernels(self, body, user):
        search = (body.get("search") or "").lower()
        owner_filter = body.get("user") or ""
        profile = str(body.get("group", "")).endswith("PROFILE")
        out = []
        for kernel in self._state["kernels"].values():
            if kernel["is_private"] and kernel["owner"] != user:
                continue
            if profile and kernel["owner"] != (owner_filter or user):
                continue
            if owner_filter and kernel["owner"] != owner_filter:
                continue
            if search and search not in kernel["slug"].lower() and search not in kernel["title"].lower():
                continue
            out.append(self._kernel_metadata(kernel))
        size = int(body.get("pageSize") or 20)
        page = int(body.get("page") or 1)
        return {"kernels": out[(page - 1) * size: page * size], "nextPageToken": ""}

    def _rpc_delete_kernel(self, body, user):
        ref = f"{body.get('userName', '')}/{body.get('kernelSlug', '')}"
        kernel = self._kernel_for(body.get("userName", ""), body.get("kernelSlug", ""), user)
        if kernel["owner"] != user:
            raise ApiError(403, "Permission 'kernels.delete' was denied")
        del self._state["kernels"][ref]
        shutil.rmtree(self.root / "kernels" / ref, ignore_errors=True)
        self._save()
        return {}

    # ------------------------------------------------------------------ RPC: quota

    def _rpc_quota(self, body, user):
        def quota(total, used):
            return {"timeUsed": _duration(used), "timeReserved": "0s", "totalTimeAllowed": _duration(total),
                    "minimumTimeAllowed": _duration(total), "hasEverRun": used > 0}

        return {"quotaRefreshTime": _iso(self.quota_refresh_time),
                "gpuQuota": quota(self.gpu_quota_total_hours, self.gpu_quota_used_hours),
                "tpuQuota": quota(self.tpu_quota_total_hours, self.tpu_quota_used_hours)}


if __name__ == "__main__":  # a standalone emulator for trying the CLI by hand
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, default=7777)
    parser.add_argument("--username", default="tester")
    parser.add_argument("--key", default="tester-api-key")
    parser.add_argument("--processing-polls", type=int, default=0)
    args = parser.parse_args()
    emu = KaggleEmulator(args.root, port=args.port, username=args.username, key=args.key)
    emu.processing_polls = args.processing_polls
    emu.start()
    print(f"Kaggle emulator on {emu.url}; client environment:")
    for k, v in emu.client_env(Path(args.root) / "client").items():
        print(f"  export {k}={v!r}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        emu.stop()
