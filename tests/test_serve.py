"""`serve` over real HTTP on localhost: the tiny model loaded once, concurrent requests, sandboxed SQL, clear 4xx."""

import contextlib
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from conftest import SHOP_SQL, ScriptedGenerator, make_db, sql_reply

from kaggle_t2sql.config import DataConfig
from kaggle_t2sql.errors import ConfigError
from kaggle_t2sql.infer.ask import AskSettings
from kaggle_t2sql.infer.serve import MAX_BODY_BYTES, create_app, database_map


@contextlib.contextmanager
def running(app):
    """uvicorn on a free localhost port in a thread; stopped (and joined) on exit."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="module")
def dbs(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    return {"shop": make_db(root / "shop.sqlite", SHOP_SQL),
            "pets": make_db(root / "pets.sqlite", "CREATE TABLE pets (name TEXT, kind TEXT); "
                                                  "INSERT INTO pets VALUES ('Rex', 'dog'), ('Tom', 'cat');")}


def test_tiny_model_over_http(dbs, tiny_model):
    model, tokenizer = tiny_model
    before = {name: path.read_bytes() for name, path in dbs.items()}
    app = create_app(model, tokenizer, dbs, AskSettings(max_new_tokens=8, fix_rounds=1))
    with running(app) as url, httpx.Client(base_url=url, timeout=120) as client:
        assert client.get("/health").json()["status"] == "ok"
        assert client.get("/databases").json() == {"databases": ["pets", "shop"]}
        questions = [("shop", "How many customers are there?"), ("pets", "Which pets are dogs?"),
                     ("shop", "List the cities."), ("pets", "How many cats?")]
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda q: client.post("/ask", json={"db": q[0], "question": q[1]}), questions))
        for (db, question), reply in zip(questions, replies):
            assert reply.status_code == 200, reply.text
            body = reply.json()
            assert body["db"] == db and body["question"] == question and isinstance(body["sql"], str)
            assert (body["error"] is None) or (body["rows"] == [] and body["row_count"] == 0)
            assert body["timings"]["generation"] > 0
    assert {name: path.read_bytes() for name, path in dbs.items()} == before


def test_bad_input_gets_a_clear_4xx(dbs, tiny_tokenizer):
    app = create_app(None, tiny_tokenizer, dbs, AskSettings(), generator=ScriptedGenerator(lambda p: sql_reply("SELECT 1")))
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        cases = [
            (dict(json={"db": "nope", "question": "Hi?"}), 404, "unknown database 'nope': use one of pets, shop"),
            (dict(json={"question": "Hi?"}), 404, "unknown database None"),
            (dict(json={"db": "shop", "question": "   "}), 422, "empty question"),
            (dict(json={"db": "shop", "question": 42}), 422, "must be strings"),
            (dict(json={"db": "shop", "question": "x" * 5000}), 422, "keep it under"),
            (dict(content=b"{not json", headers={"content-type": "application/json"}), 400, "not JSON"),
            (dict(json=["shop", "Hi?"]), 400, "JSON object"),
            (dict(content=b"{" + b" " * MAX_BODY_BYTES + b"}"), 413, "request body over"),
        ]
        for kwargs, status, detail in cases:
            reply = client.post("/ask", **kwargs)
            assert reply.status_code == status and detail in reply.json()["detail"], (kwargs.get("json"), reply.text)
        ok = client.post("/ask", json={"db": "pets", "question": "Hi?"})
        assert ok.status_code == 200 and ok.json()["rows"] == [[1]]


def test_generated_writes_are_refused(dbs, tiny_tokenizer):
    before = dbs["pets"].read_bytes()
    gen = ScriptedGenerator(lambda p: sql_reply("DROP TABLE pets"))
    app = create_app(None, tiny_tokenizer, dbs, AskSettings(fix_rounds=0, data=DataConfig(value_retrieval=False)),
                     generator=gen)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        body = client.post("/ask", json={"db": "pets", "question": "Drop it"}).json()
    assert "refused by the sandbox" in body["error"] and dbs["pets"].read_bytes() == before


def test_database_map_names_and_checks(dbs, tmp_path):
    assert database_map([f"store={dbs['shop']}", str(dbs["pets"])]) == {"store": dbs["shop"], "pets": dbs["pets"]}
    assert set(database_map([], [str(dbs["shop"].parent)])) == {"shop", "pets"}
    with pytest.raises(ConfigError, match="no databases to serve"):
        database_map([])
    with pytest.raises(Exception, match="not found"):
        database_map([str(tmp_path / "missing.sqlite")])


def test_missing_extra_is_named(dbs, monkeypatch, capsys):
    from kaggle_t2sql.cli import main

    monkeypatch.setitem(sys.modules, "fastapi", None)  # as if the `serve` extra were not installed
    assert main(["serve", "--db", str(dbs["shop"])]) == 2
    assert "pip install 'kaggle-t2sql[serve]'" in capsys.readouterr().err
