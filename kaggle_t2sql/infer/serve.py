"""`serve`: `ask` over HTTP (FastAPI + uvicorn, the optional `serve` extra).

The model is loaded once. Requests are handled concurrently: prompt building, SQL
execution (read-only, in the scoring sandbox) and JSON run side by side, while generation
takes turns on the one model. Bad input gets a 4xx whose `detail` names the problem:
unknown database 404, body not JSON or not an object 400, body over 64 KiB 413, empty or
overlong question 422.

    POST /ask        {"db": "<name>", "question": "...", "evidence": ""}  -> the Answer as JSON
    GET  /databases  the names that /ask accepts
    GET  /health
"""

# No `from __future__ import annotations`: FastAPI reads the endpoint's `Request` annotation at definition.
import json
import threading
from pathlib import Path

from ..errors import ConfigError, DataError
from .ask import Answer, AskSettings, ask, check_database
from .engine import Generation, Generator, ModelGenerator

MAX_BODY_BYTES = 64 * 1024


class TakingTurns:
    """A generator that lets one request at a time use the model (one model, many request threads)."""

    def __init__(self, generator: Generator):
        self.generator = generator
        self.lock = threading.Lock()

    def generate(self, prompts: list[str], samples: int = 1, temperature: float = 0.0) -> list[Generation]:
        with self.lock:
            return self.generator.generate(prompts, samples, temperature)


def database_map(specs: list[str], folders: list[str] = ()) -> dict[str, Path]:
    """`NAME=PATH` or `PATH` (named by its file stem), plus every *.sqlite / *.db under each folder."""
    found: dict[str, Path] = {}
    for folder in folders:
        root = Path(folder)
        if not root.is_dir():
            raise ConfigError(f"--db-dir {folder}: not a folder")
        for path in sorted([*root.rglob("*.sqlite"), *root.rglob("*.db")]):
            found.setdefault(path.stem, path)
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


def _error(status: int, detail: str):
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": detail}, status_code=status)


def create_app(model, tokenizer, databases: dict[str, Path], settings: AskSettings | None = None,
               generator: Generator | None = None):
    """The FastAPI app; `generator` defaults to the model's (tests may pass a scripted one)."""
    require_serve_extra()
    from fastapi import FastAPI, Request
    from starlette.concurrency import run_in_threadpool

    settings = settings or AskSettings()
    shared = TakingTurns(generator or ModelGenerator(model, tokenizer, settings.max_new_tokens, batch_size=1))
    app = FastAPI(title="kaggle-t2sql", description="Text-to-SQL over your SQLite files")

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
        try:
            answer: Answer = await run_in_threadpool(ask, model, tokenizer, databases[name], question, settings,
                                                     evidence=evidence, generator=shared)
        except DataError as exc:
            return _error(422, str(exc))
        return answer.to_dict() | {"db": name}

    return app


def serve(app, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(app, host=host, port=port, log_level="info")
