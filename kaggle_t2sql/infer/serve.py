"""`serve`: `ask` over HTTP (FastAPI + uvicorn, the optional `serve` extra).

The model is loaded once. Requests are handled concurrently: prompt building, SQL
execution (read-only, in the scoring sandbox, `sql_lanes` queries side by side, so one
slow query holds up only its own request) and JSON run side by side, while generation
takes turns on the one model. At most `max_pending` requests are in progress: one more
gets 503 at once (with Retry-After). Each request has a deadline (`request_timeout`): one
still waiting for the model or a sandbox lane then, or not answered by then, gets 503.
Bad input gets a 4xx whose `detail` names the problem: unknown database 404, body not
JSON or not an object 400, body over 64 KiB 413, empty or overlong question or evidence
422. Infinite floats in a result (`SELECT 1e999`) come back as the strings "Infinity" and
"-Infinity" (`Answer.to_dict`), so every answer is valid JSON.

    POST /ask        {"db": "<name>", "question": "...", "evidence": ""}  -> the Answer as JSON
    GET  /databases  the names that /ask accepts
    GET  /health
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `Request` annotation at definition.
import asyncio
import json
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError
from .ask import MAX_QUESTION_CHARS, Answer, AskSettings, ask, check_database
from .engine import Generation, Generator, ModelGenerator
from .sandbox import Busy, configure_lanes, request_deadline, time_left

MAX_BODY_BYTES = 64 * 1024
MAX_EVIDENCE_CHARS = MAX_QUESTION_CHARS


@dataclass
class ServeSettings:
    """How much `serve` takes on at once, and how long a request may take."""

    sql_lanes: int = min(4, os.cpu_count() or 1)  # generated queries run side by side
    max_pending: int = 16  # requests in progress (waiting or running); one more gets 503
    request_timeout: float = 600.0  # seconds a request may take, waiting included (8192 tokens on a T4 take minutes)

    def __post_init__(self):
        for name in ("sql_lanes", "max_pending"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: need 1 or more")
        if not self.request_timeout > 0:
            raise ConfigError(f"--request-timeout {self.request_timeout}: need more than 0 seconds")


class TakingTurns:
    """A generator that lets one request at a time use the model (one model, many request threads).

    A request waits for its turn until its deadline (`sandbox.request_deadline`), then gives up with `Busy`.
    """

    def __init__(self, generator: Generator):
        self.generator = generator
        self.lock = threading.Lock()

    def generate(self, prompts: list[str], samples: int = 1, temperature: float = 0.0) -> list[Generation]:
        wait = time_left()
        if not self.lock.acquire(timeout=-1 if wait is None else wait):
            raise Busy("the model stayed busy with other requests until this request's deadline")
        try:
            return self.generator.generate(prompts, samples, temperature)
        finally:
            self.lock.release()


def _folder_databases(folder: str) -> dict[str, Path]:
    """Every SQLite *.sqlite / *.db under `folder`, named by stem.

    A file (or a folder on the way) that links out of the folder is skipped; a name two
    files share is refused (serve them as NAME=FILE); a *.db that is not SQLite is skipped
    with a warning.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ConfigError(f"--db-dir {folder}: not a folder")
    real_root = root.resolve()
    found: dict[str, Path] = {}
    for path in sorted([*root.rglob("*.sqlite"), *root.rglob("*.db")]):
        if not path.resolve().is_relative_to(real_root):
            warnings.warn(f"--db-dir {folder}: skipped {path}: it links out of the folder", stacklevel=3)
            continue
        try:
            check_database(path)
        except DataError as exc:
            if path.suffix == ".sqlite":
                raise
            warnings.warn(f"--db-dir {folder}: skipped {path}: {exc}", stacklevel=3)
            continue
        if path.stem in found:
            raise ConfigError(f"--db-dir {folder}: two databases named {path.stem!r} ({found[path.stem]} and {path}); "
                              f"serve them under distinct names with --db NAME=FILE")
        found[path.stem] = path
    return found


def database_map(specs: list[str], folders: list[str] = ()) -> dict[str, Path]:
    """`NAME=PATH` or `PATH` (named by its file stem), plus every SQLite *.sqlite / *.db under each folder."""
    found: dict[str, Path] = {}
    for folder in folders:
        for name, path in _folder_databases(folder).items():
            if name in found:
                raise ConfigError(f"two databases named {name!r} ({found[name]} and {path}) in the --db-dir folders; "
                                  "serve them under distinct names with --db NAME=FILE")
            found[name] = path
    for spec in specs:
        name, sep, path = spec.partition("=")
        path = Path(path if sep else spec)
        found[name if sep else path.stem] = path
    if not found:
        raise ConfigError("no databases to serve: pass --db FILE.sqlite (or NAME=FILE) and/or --db-dir DIR")
    for path in found.values():
        check_database(path)
    return found


def require_serve_extra() -> None:
    """FastAPI and uvicorn are optional: say how to get them instead of an ImportError."""
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ConfigError("serve needs FastAPI and uvicorn: pip install 'kaggle-t2sql[serve]'") from None


def _error(status: int, detail: str, headers: dict | None = None):
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def create_app(model, tokenizer, databases: dict[str, Path], settings: AskSettings | None = None,
               generator: Generator | None = None, serve_settings: ServeSettings | None = None):
    """The FastAPI app; `generator` defaults to the model's (tests may pass a scripted one)."""
    require_serve_extra()
    from fastapi import FastAPI, Request

    settings = settings or AskSettings()
    limits = serve_settings or ServeSettings()
    shared = TakingTurns(generator or ModelGenerator(model, tokenizer, settings.max_new_tokens, batch_size=1))
    configure_lanes(limits.sql_lanes)
    # One thread per request in progress: the slot count bounds the threads, the threads bound the work.
    threads = ThreadPoolExecutor(limits.max_pending, thread_name_prefix="t2sql-ask")
    slots = threading.BoundedSemaphore(limits.max_pending)
    retry = {"Retry-After": "5"}
    app = FastAPI(title="kaggle-t2sql", description="Text-to-SQL over your SQLite files")
    app.router.on_shutdown.append(lambda: threads.shutdown(wait=False, cancel_futures=True))

    def answer_one(name: str, question: str, evidence: str) -> Answer:
        try:
            with request_deadline(limits.request_timeout):
                return ask(model, tokenizer, databases[name], question, settings, evidence=evidence, generator=shared)
        finally:
            slots.release()

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok", "databases": len(databases)}

    @app.get("/databases")
    def list_databases() -> dict:
        return {"databases": sorted(databases)}

    @app.post("/ask")
    async def ask_endpoint(request: Request):
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(413, f"request body over {MAX_BODY_BYTES} bytes: send one question at a time")
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, 'body is not JSON: send {"db": "<name>", "question": "..."}')
        if not isinstance(payload, dict):
            return _error(400, 'body must be a JSON object: {"db": "<name>", "question": "..."}')
        name, question, evidence = payload.get("db"), payload.get("question"), payload.get("evidence") or ""
        if not isinstance(name, str) or name not in databases:
            return _error(404, f"unknown database {name!r}: use one of {', '.join(sorted(databases))} (GET /databases)")
        if not isinstance(question, str) or not isinstance(evidence, str):
            return _error(422, '"question" (and "evidence") must be strings')
        if len(evidence) > MAX_EVIDENCE_CHARS:
            return _error(422, f"evidence of {len(evidence)} characters: keep it under {MAX_EVIDENCE_CHARS}")
        if not slots.acquire(blocking=False):
            return _error(503, f"busy: {limits.max_pending} requests in progress; retry later", retry)
        try:
            work = asyncio.wrap_future(threads.submit(answer_one, name, question, evidence))
        except RuntimeError:  # shutting down
            slots.release()
            return _error(503, "the server is shutting down", retry)
        work.add_done_callback(lambda f: f.cancelled() or f.exception())  # read even when nobody waits any more
        try:
            # A little past the deadline, so a request that gave up waiting (Busy) says so itself.
            answer: Answer = await asyncio.wait_for(asyncio.shield(work), limits.request_timeout + 0.5)
        except asyncio.TimeoutError:
            return _error(503, f"no answer within the request deadline ({limits.request_timeout:g} s); "
                               "retry later", retry)
        except Busy as exc:
            return _error(503, f"busy: {exc}; retry later", retry)
        except DataError as exc:
            return _error(422, str(exc))
        return answer.to_dict() | {"db": name}

    return app


def serve(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
