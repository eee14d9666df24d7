import os
import sys
from pathlib import Path

import pytest

# Tests sit in folders by stage (data/, sql/, kaggle/, train/, infer/, eval/) and the emulated Kaggle in
# emulator/. Modules are imported by their file name (pytest's default "prepend" mode; every name is unique,
# tests/test_layout.py checks it), so helpers shared across folders (the emulators, test_trainer's run
# helpers) are found from any folder: every folder is on sys.path.
TESTS = Path(__file__).resolve().parent
for folder in sorted(p for p in TESTS.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

SHARED_DATA = Path(os.environ.get("T2SQL_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared")) / "data"
SPIDER = SHARED_DATA / "spider_dev"
BIRD = SHARED_DATA / "bird_minidev"

needs_spider = pytest.mark.skipif(not SPIDER.is_dir(), reason="../shared/data/spider_dev not present")
needs_bird = pytest.mark.skipif(not BIRD.is_dir(), reason="../shared/data/bird_minidev not present")


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory):
    """Built artefacts (demo databases, tiny model) go to a per-run cache, never the user's home."""
    if not os.environ.get("T2SQL_CACHE_DIR"):
        os.environ["T2SQL_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield


@pytest.fixture
def emu(tmp_path, monkeypatch):
    """The local Kaggle API emulator, with the real kaggle client of this process (and its subprocesses,
    through `emu.subprocess_env`) pointed at it."""
    from kaggle_emulator import KaggleEmulator

    with KaggleEmulator(tmp_path / "kaggle-server", port=0) as server:
        server.install(monkeypatch, tmp_path / "client")
        yield server


@pytest.fixture(scope="session")
def tiny_tokenizer(_cache_dir):
    from kaggle_t2sql.config import ModelConfig
    from kaggle_t2sql.train.model import load_tokenizer

    return load_tokenizer(ModelConfig(name_or_path="tiny"))


@pytest.fixture(scope="session")
def tiny_model(_cache_dir):
    """The tiny model and tokenizer loaded for inference once per test run (eval mode, never trained here)."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.infer.engine import load_for_inference

    return load_for_inference(build_config("tiny"), None)


def make_db(path: Path, script: str) -> Path:
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def change_db(path: Path, sql: str, *params) -> None:
    """Run one write on a test database and move its mtime on (so caches keyed by mtime see the change too)."""
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute(sql, params)
    conn.commit()
    conn.close()
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))


SHOP_SQL = """
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, "group" TEXT, city TEXT);
CREATE TABLE orders (
    order_id INTEGER, customer_id INTEGER, total REAL, note TEXT,
    PRIMARY KEY (order_id),
    FOREIGN KEY (customer_id) REFERENCES customers (id)
);
INSERT INTO customers VALUES (1, 'Ada', 'gold', 'London'), (2, 'Bob', NULL, ''), (3, 'Cyd', 'silver', 'Paris');
INSERT INTO orders VALUES (10, 1, 9.5, 'a very long note that goes well past forty characters in length'),
                          (11, 1, 20.0, NULL), (12, 3, 5.25, 'short');
"""


@pytest.fixture
def shop_db(tmp_path) -> Path:
    return make_db(tmp_path / "dbs" / "shop" / "shop.sqlite", SHOP_SQL)


class ScriptedGenerator:
    """Stands in for the model behind the same `generate` interface: replies from a script, prompts recorded.

    `script` is a list of replies, one per call and prompt (a str, or a list of str for samples);
    a callable gets the prompt and returns the reply.
    """

    def __init__(self, script):
        self.script = script if callable(script) else list(script)
        self.prompts: list[str] = []
        self.calls = 0

    def generate(self, prompts, samples=1, temperature=0.0):
        from kaggle_t2sql.infer.engine import Generation

        self.calls += 1
        out = []
        for prompt in prompts:
            self.prompts.append(prompt)
            reply = self.script(prompt) if callable(self.script) else self.script.pop(0)
            texts = [reply] * samples if isinstance(reply, str) else list(reply)
            assert len(texts) == samples, f"script gave {len(texts)} texts for {samples} samples"
            out.append(Generation(texts, new_tokens=sum(len(t.split()) for t in texts), seconds=0.001))
        return out


def sql_reply(sql: str) -> str:
    """A reply in Arctic's output format."""
    return f" thinking </think>\n<answer>\n```sql\n{sql}\n```\n</answer>"


@pytest.fixture(scope="session")
def demo_adapter(_cache_dir):
    """A short demo-preset run's adapter (the pre-trained tiny base + LoRA after a few steps), trained once per
    cache: the start point of the learning-from-execution tests (`sample`, dpo, grpo)."""
    from kaggle_t2sql.config_overrides import build_config
    from kaggle_t2sql.data.bundled import cache_root
    from kaggle_t2sql.train.trainer import ResumableTrainer

    run_dir = cache_root() / "demo-adapter-run"
    checkpoint = run_dir / "checkpoints" / "checkpoint-8"
    if not (checkpoint / "adapter_model.safetensors").is_file():
        cfg = build_config("demo", set_args=["training.max_steps=8", "training.save_steps=8"])
        ResumableTrainer(cfg, run_dir, progress=False).run()
    return checkpoint
