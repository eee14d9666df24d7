"""A local emulator of the Hugging Face Hub's HTTP API, for driving the REAL `huggingface_hub` client in tests.

Stdlib only (http.server + threading), everything in memory. Written against huggingface_hub 2.4.0
(read from its source); the client finds it through HF_ENDPOINT (constants.ENDPOINT, or
HfApi(endpoint=...)). `emulator.install(monkeypatch, home)` sets HF_ENDPOINT, HF_TOKEN and an isolated
HF_HOME.

Endpoint -> the client code that calls it (huggingface_hub 2.4.0)
-----------------------------------------------------------------
  GET    /api/whoami-v2                                   hf_api.HfApi._inner_whoami (401: "Invalid user token")
  POST   /api/repos/create {name, organization, type}     hf_api.HfApi.create_repo (409 when it exists: exist_ok
                                                          passes; 403 for another namespace); like the Hub, a new
                                                          repo gets an "initial commit" holding .gitattributes
  GET    /api/{type}s/{repo}/refs                         hf_api.HfApi.list_repo_refs {branches, converts, tags}
  GET    /api/{type}s/{repo}/revision/{rev}               hf_api.HfApi.model_info / dataset_info (repo_info): sha
  GET    /api/{type}s/{repo}/tree/{rev}[/{path}]          hf_api.HfApi._iter_repo_tree_pages ({type, path, size,
                                                          oid}; recursive=true lists every file)
  POST   /api/{type}s/{repo}/preupload/{rev}              _commit_api._fetch_upload_modes ({files: [{path,
                                                          uploadMode, shouldIgnore, oid}]})
  POST   /api/{type}s/{repo}/commit/{rev}  (ndjson)       _commit_api._send_commit / _prepare_commit_payload:
                                                          header {summary, parentCommit}, file (base64), deletedFile,
                                                          deletedFolder; 412 when parentCommit is not the head
                                                          (the Hub's compare-and-swap: datasets#7777, funes#69)
  POST   /api/{type}s/{repo}/tag/{rev} {tag, message}     hf_api.HfApi.create_tag (409 when the tag exists)
  DELETE /api/{type}s/{repo}/tag/{tag}                    hf_api.HfApi.delete_tag
  HEAD/GET /[{type}s/]{repo}/resolve/{rev}/{path}         file_download.get_hf_file_metadata / http_get (headers
                                                          X-Repo-Commit, ETag, Content-Length); snapshot_download
                                                          = repo_info + tree + one download per file
Errors carry X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound), which utils/_http.py
hf_raise_for_status turns into the client's typed errors.

Not served: LFS / Xet uploads. preupload answers "regular" (inline, base64 in the commit) for files up
to INLINE_LIMIT and "lfs" above it, and an "lfsFile" commit line is refused (the Xet protocol cannot be
served locally), so tests keep checkpoints small. The real Hub sends binary files (*.zip, per the repo's
.gitattributes) through Xet; that path is not exercised here.

Fault hooks for tests: `fail_next(method, path_part, status)` answers one matching request with an
error; `corrupt(repo, path, revision)` changes the bytes served for a stored file;
`drop_from_next_commit(path)` makes the next commit silently leave a file out.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

INLINE_LIMIT = 10 * 1024 * 1024  # the Hub's threshold for non-LFS files (10 MB)
GITATTRIBUTES = b"*.zip filter=lfs diff=lfs merge=lfs -text\n*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.extra = status, message, code, extra or {}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - quiet
        pass

    def do_GET(self):
        self.server.hub.dispatch(self, "GET")

    def do_HEAD(self):
        self.server.hub.dispatch(self, "HEAD")

    def do_POST(self):
        self.server.hub.dispatch(self, "POST")

    def do_DELETE(self):
        self.server.hub.dispatch(self, "DELETE")


class HubEmulator:
    def __init__(self, user: str = "tester", token: str = "hf_tester_token", port: int = 0):
        self.user = user
        self.tokens = {token: user}
        self.token = token
        self.repos: dict[tuple[str, str], dict] = {}  # (type, repo_id) -> repo
        self.blobs: dict[str, bytes] = {}  # blob oid -> bytes
        self.corrupted: dict[str, bytes] = {}  # blob oid -> bytes served instead
        self.calls: list[tuple[str, str]] = []
        self._faults: list[tuple[str, str, int]] = []
        self._drop: set[str] = set()
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _Handler)
        self._server.daemon_threads = True
        self._server.hub = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "HubEmulator":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "HubEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client_env(self, home) -> dict[str, str]:
        return {"HF_ENDPOINT": self.url, "HF_TOKEN": self.token, "HF_HOME": str(home), "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_XET": "1"}

    def install(self, monkeypatch, home) -> dict[str, str]:
        env = self.client_env(home)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "ENDPOINT", self.url)  # read once at import time
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", self.url + "/{repo_id}/resolve/{revision}/{filename}")
        return env

    # -- fault hooks ----------------------------------------------------------------------------
    def fail_next(self, method: str, path_part: str, status: int = 500) -> None:
        with self._lock:
            self._faults.append((method, path_part, status))

    def corrupt(self, repo_id: str, path: str, revision: str = "main", repo_type: str = "model",
                data: bytes = b"corrupt") -> None:
        """Serve other bytes for the file `path` holds at `revision` (content-addressed: every revision
        holding the same blob is damaged with it, as on a real store)."""
        with self._lock:
            repo = self.repos[(repo_type, repo_id)]
            self.corrupted[repo["commits"][self._resolve(repo, revision)]["tree"][path]] = data

    def drop_from_next_commit(self, path: str) -> None:
        with self._lock:
            self._drop.add(path)

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "model") -> dict[str, bytes]:
        repo = self.repos[(repo_type, repo_id)]
        return {p: self.blobs[o] for p, o in repo["commits"][self._resolve(repo, revision)]["tree"].items()}

    # -- plumbing -------------------------------------------------------------------------------
    def dispatch(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlparse(h.path)
        body = h.rfile.read(int(h.headers.get("Content-Length") or 0)) if method in ("POST", "DELETE") else b""
        self.calls.append((method, url.path))
        try:
            with self._lock:
                for fault in self._faults:
                    if fault[0] == method and fault[1] in url.path:
                        self._faults.remove(fault)
                        raise HubError(fault[2], f"injected fault on {url.path}")
                user = self._user(h)
                status, payload, headers = self._route(method, url.path, parse_qs(url.query), body, user)
        except HubError as exc:
            headers = {"X-Error-Message": exc.message}
            if exc.code:
                headers["X-Error-Code"] = exc.code
            status, payload = exc.status, {"error": exc.message, **exc.extra}
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        h.send_response(status)
        content_type = "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        h.send_header("Content-Type", content_type)
        for key, value in headers.items():
            h.send_header(key, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)

    def _user(self, h) -> str | None:
        auth = h.headers.get("Authorization") or ""
        if not auth.startswith("Bearer "):
            return None
        user = self.tokens.get(auth[len("Bearer "):])
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        return user

    def _repo(self, repo_type: str, repo_id: str, user: str | None, write: bool = False) -> dict:
        repo = self.repos.get((repo_type, repo_id))
        # The Hub hides a private repo from others exactly like a missing one (401/404 + RepoNotFound)
        if repo is None or (repo["private"] and user != repo["owner"]):
            raise HubError(401 if user is None else 404, "Repository Not Found", "RepoNotFound")
        if write and user != repo["owner"]:
            raise HubError(403, "You don't have the rights to write to this repo")
        return repo

    def _resolve(self, repo: dict, rev: str) -> str:
        rev = unquote(rev)
        for refs in (repo["branches"], repo["tags"]):
            if rev in refs:
                return refs[rev]
        if rev in repo["commits"]:
            return rev
        raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _commit(self, repo: dict, tree: dict[str, str], message: str, parent: str | None) -> str:
        oid = hashlib.sha1(f"{parent}{message}{sorted(tree.items())}{time.time_ns()}{secrets.token_hex(4)}".encode()).hexdigest()
        repo["commits"][oid] = {"tree": tree, "parent": parent, "message": message, "date": time.time()}
        return oid

    def _store_blob(self, data: bytes) -> str:
        oid = blob_oid(data)
        self.blobs[oid] = data
        return oid

    # -- routes ---------------------------------------------------------------------------------
    def _route(self, method: str, path: str, query: dict, body: bytes, user: str | None):
        if path == "/api/whoami-v2" and method == "GET":
            if user is None:
                raise HubError(401, "Invalid credentials in Authorization header")
            return 200, {"type": "user", "name": user, "auth": {"type": "access_token",
                                                                  "accessToken": {"role": "write"}}}, {}
        if path == "/api/repos/create" and method == "POST":
            return self._create_repo(json.loads(body or b"{}"), user)
        m = re.match(r"^/api/(model|dataset|space)s/([^/]+/[^/]+)/(refs|revision|tree|preupload|commit|tag)(?:/(.*))?$", path)
        if m:
            repo_type, repo_id, action, rest = m.group(1), m.group(2), m.group(3), m.group(4) or ""
            repo = self._repo(repo_type, repo_id, user, write=action in ("preupload", "commit", "tag"))
            return getattr(self, f"_api_{action}")(repo, method, rest, query, body)
        m = re.match(r"^/(?:(datasets|spaces)/)?([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
        if m and method in ("GET", "HEAD"):
            repo_type = (m.group(1) or "models")[:-1]
            repo = self._repo(repo_type, m.group(2), user)
            return self._resolve_file(repo, m.group(3), unquote(m.group(4)))
        raise HubError(404, f"no such endpoint in the emulator: {method} {path}")

    def _create_repo(self, payload: dict, user: str | None):
        if user is None:
            raise HubError(401, "Invalid credentials in Authorization header")
        owner = payload.get("organization") or user
        if owner != user:
            raise HubError(403, f"You don't have the rights to create a repo under the namespace {owner!r}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{owner}/{payload['name']}"
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        if (repo_type, repo_id) in self.repos:  # create_repo(exist_ok=True) reads "url" from this answer too
            raise HubError(409, "You already created this model repo", extra={"url": f"{self.url}/{prefix}{repo_id}"})
        repo = {"id": repo_id, "url": f"{self.url}/{prefix}{repo_id}", "owner": owner, "private": payload.get("visibility", "private") != "public", "branches": {},
                "tags": {}, "commits": {}}
        repo["branches"]["main"] = self._commit(repo, {".gitattributes": self._store_blob(GITATTRIBUTES)},
                                                "initial commit", None)
        self.repos[(repo_type, repo_id)] = repo
        return 200, {"url": repo["url"], "name": repo_id}, {}

    def _api_refs(self, repo, method, rest, query, body):
        ref = lambda kind, name, oid: {"name": name, "ref": f"refs/{kind}/{name}", "targetCommit": oid}  # noqa: E731
        return 200, {"branches": [ref("heads", n, o) for n, o in repo["branches"].items()], "converts": [],
                     "tags": [ref("tags", n, o) for n, o in repo["tags"].items()], "pullRequests": []}, {}

    def _api_revision(self, repo, method, rest, query, body):
        oid = self._resolve(repo, rest)
        tree = repo["commits"][oid]["tree"]
        return 200, {"id": "", "_id": "", "sha": oid, "private": repo["private"],
                     "siblings": [{"rfilename": p} for p in sorted(tree)]}, {}

    def _api_tree(self, repo, method, rest, query, body):
        rev, _, sub = rest.partition("/")
        tree = repo["commits"][self._resolve(repo, rev)]["tree"]
        sub = unquote(sub).strip("/")
        recursive = (query.get("recursive") or ["false"])[0].lower() == "true"
        out, folders = [], set()
        for path, oid in sorted(tree.items()):
            if sub and not path.startswith(sub + "/"):
                continue
            rel = path[len(sub) + 1:] if sub else path
            if "/" in rel and not recursive:
                folders.add(path[: len(path) - len(rel)] + rel.split("/")[0])
                continue
            if recursive:
                parts = rel.split("/")[:-1]
                for i in range(1, len(parts) + 1):
                    folders.add("/".join(([sub] if sub else []) + parts[:i]))
            out.append({"type": "file", "path": path, "size": len(self.blobs[oid]), "oid": oid})
        if sub and not out and not folders:
            raise HubError(404, f"{sub} does not exist", "EntryNotFound")
        out += [{"type": "directory", "path": f, "oid": blob_oid(f.encode()), "size": 0} for f in sorted(folders)]
        return 200, out, {}

    def _api_preupload(self, repo, method, rest, query, body):
        files = json.loads(body)["files"]
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular" if f["size"] <= INLINE_LIMIT else "lfs",
                                "shouldIgnore": False, "oid": None} for f in files]}, {}

    def _api_commit(self, repo, method, rest, query, body):
        branch = unquote(rest)
        if branch not in repo["branches"]:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        header = next(item["value"] for item in lines if item["key"] == "header")
        head = repo["branches"][branch]
        if header.get("parentCommit") and header["parentCommit"] != head:
            raise HubError(412, "A commit has happened since. Please refresh and try again.")
        tree = dict(repo["commits"][head]["tree"])
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                if value["path"] in self._drop:
                    self._drop.discard(value["path"])
                    continue
                tree[value["path"]] = self._store_blob(base64.b64decode(value["content"]))
            elif key == "deletedFile":
                if value["path"] not in tree:
                    raise HubError(404, "A file with this name doesn't exist", "EntryNotFound")
                del tree[value["path"]]
            elif key == "deletedFolder":
                prefix = value["path"].rstrip("/") + "/"
                tree = {p: o for p, o in tree.items() if not p.startswith(prefix)}
            elif key == "lfsFile":
                raise HubError(422, "LFS/Xet uploads are not served by this emulator: keep test files under "
                                    f"{INLINE_LIMIT} bytes")
        oid = self._commit(repo, tree, header.get("summary", ""), head)
        repo["branches"][branch] = oid
        return 200, {"commitUrl": f"{repo['url']}/commit/{oid}", "commitOid": oid, "pullRequestUrl": None}, {}

    def _api_tag(self, repo, method, rest, query, body):
        if method == "DELETE":
            tag = unquote(rest)
            if tag not in repo["tags"]:
                raise HubError(404, f"Invalid rev id: {tag}", "RevisionNotFound")
            del repo["tags"][tag]
            return 200, {}, {}
        tag = json.loads(body)["tag"]
        if tag in repo["tags"] or tag in repo["branches"]:
            raise HubError(409, f"Tag {tag} already exists")
        repo["tags"][tag] = self._resolve(repo, rest)
        return 200, {}, {}

    def _resolve_file(self, repo, rev, path):
        oid = self._resolve(repo, rev)
        tree = repo["commits"][oid]["tree"]
        if path not in tree:
            raise HubError(404, "Entry not found", "EntryNotFound")
        blob = tree[path]
        data = self.corrupted.get(blob, self.blobs[blob])
        return 200, data, {"X-Repo-Commit": oid, "ETag": f'"{blob}"'}
