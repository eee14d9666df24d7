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


# ---------------------------------------------------------------- issue 18: concurrency, deadlines, limits

SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"  # until its timeout


def _scripted_app(dbs, tokenizer, timeout=3.0, **limits):
    from kaggle_t2sql.infer.serve import ServeSettings

    def reply(prompt):
        return sql_reply(SLOW_SQL if "slow" in prompt else "SELECT 1e999, -1e999" if "huge" in prompt else "SELECT 1")

    settings = AskSettings(fix_rounds=0, timeout=timeout, data=DataConfig(value_retrieval=False))
    return create_app(None, tokenizer, dbs, settings, generator=ScriptedGenerator(reply),
                      serve_settings=ServeSettings(**limits))


@pytest.mark.timeout(120)
def test_a_slow_query_holds_up_only_its_own_request(dbs, tiny_tokenizer):
    """Review defect 2: one sandbox worker and a lock around map made every request wait for a slow one."""
    app = _scripted_app(dbs, tiny_tokenizer, timeout=4.0, sql_lanes=2)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.post("/ask", json={"db": "pets", "question": "warm up"})  # starts a sandbox worker
        with ThreadPoolExecutor(2) as pool:
            slow = pool.submit(client.post, "/ask", json={"db": "pets", "question": "a slow one"})
            time.sleep(0.5)
            start = time.perf_counter()
            fast = client.post("/ask", json={"db": "pets", "question": "a quick one"})
            fast_seconds = time.perf_counter() - start
            assert fast.status_code == 200 and fast.json()["rows"] == [[1]]
            assert not slow.done(), "the slow query should still be running"
            assert "timed out" in slow.result().json()["error"]
    assert fast_seconds < 2.5, fast_seconds  # not the ~3.5 s left of the slow query


@pytest.mark.timeout(120)
def test_saturated_serve_answers_503_and_a_request_past_its_deadline_too(dbs, tiny_tokenizer):
    app = _scripted_app(dbs, tiny_tokenizer, timeout=3.0, sql_lanes=1, max_pending=1)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(client.post, "/ask", json={"db": "pets", "question": "a slow one"})
            time.sleep(0.5)
            full = client.post("/ask", json={"db": "pets", "question": "a quick one"})
            assert full.status_code == 503 and "busy: 1 requests in progress" in full.json()["detail"]
            assert full.headers["retry-after"] == "5"
            assert slow.result().status_code == 200
        assert client.post("/ask", json={"db": "pets", "question": "a quick one"}).status_code == 200
    app = _scripted_app(dbs, tiny_tokenizer, timeout=3.0, sql_lanes=1, max_pending=4, request_timeout=1.0)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        start = time.perf_counter()
        late = client.post("/ask", json={"db": "pets", "question": "a slow one"})
        assert late.status_code == 503 and "request deadline (1 s)" in late.json()["detail"]
        assert time.perf_counter() - start < 2.5
        with ThreadPoolExecutor(1) as pool:
            pool.submit(client.post, "/ask", json={"db": "pets", "question": "a slow one"})
            time.sleep(0.3)
            waiting = client.post("/ask", json={"db": "pets", "question": "a quick one"})  # no lane free in 1 s
        assert waiting.status_code == 503 and "sandbox lanes stayed busy" in waiting.json()["detail"]


def test_infinite_values_come_back_as_valid_json(dbs, tiny_tokenizer):
    """Review defect 3: SELECT 1e999 made a bare 500 (Starlette's JSON refuses inf)."""
    app = _scripted_app(dbs, tiny_tokenizer)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        reply = client.post("/ask", json={"db": "pets", "question": "something huge"})
    assert reply.status_code == 200 and reply.json()["rows"] == [["Infinity", "-Infinity"]]


def test_evidence_is_capped_like_the_question(dbs, tiny_tokenizer):
    app = _scripted_app(dbs, tiny_tokenizer)
    with running(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        reply = client.post("/ask", json={"db": "pets", "question": "Hi?", "evidence": "e" * 5000})
        assert reply.status_code == 422 and "evidence of 5000 characters" in reply.json()["detail"]
        assert client.post("/ask", json={"db": "pets", "question": "Hi?", "evidence": "e" * 100}).status_code == 200


def test_db_dir_stays_inside_its_folder_names_clashes_and_skips_non_sqlite_db_files(tmp_path, dbs):
    """Review defect 10."""
    folder = tmp_path / "served"
    make_db(folder / "a" / "shop.sqlite", SHOP_SQL)
    (folder / "notes.db").write_bytes(b"not a database at all")
    (folder / "escape.sqlite").symlink_to(dbs["pets"])  # a file linking out of the folder
    with pytest.warns(UserWarning) as caught:
        found = database_map([], [str(folder)])
    assert set(found) == {"shop"}
    messages = " ".join(str(w.message) for w in caught)
    assert "notes.db" in messages and "bad header" in messages and "links out of the folder" in messages
    with pytest.warns(UserWarning):  # a --db NAME=FILE takes the place of the folder's database of that name
        assert database_map([f"shop={dbs['pets']}"], [str(folder)])["shop"] == dbs["pets"]
    make_db(folder / "b" / "shop.db", SHOP_SQL)
    with pytest.raises(ConfigError, match="two databases named 'shop'"):
        database_map([], [str(folder)])


def test_serve_refuses_bad_settings_before_loading_the_model(dbs, tmp_path, capsys):
    from kaggle_t2sql.cli import main

    missing = str(tmp_path / "no-adapter")
    for flags, message in ((["--timeout", "0"], "--timeout 0.0"), (["--timeout", "-2"], "--timeout -2.0"),
                           (["--max-rows", "0"], "--max-rows 0"), (["--max-new-tokens", "-1"], "--max-new-tokens -1"),
                           (["--sql-lanes", "0"], "--sql-lanes 0"), (["--max-pending", "-1"], "--max-pending -1"),
                           (["--request-timeout", "0"], "--request-timeout 0"), (["--port", "70000"], "--port 70000")):
        assert main(["serve", "--db", str(dbs["pets"]), "--adapter", missing, *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "adapter_config.json" not in err, (flags, err)
