import sqlite3
from collections import Counter

import pytest

from kaggle_t2sql.data import bundled
from kaggle_t2sql.config import COMPLEXITY_LEVELS
from kaggle_t2sql.errors import DataError
from kaggle_t2sql.data.examples import Example


def test_splits_cover_every_level_and_database():
    train, dev = bundled.load_examples("train"), bundled.load_examples("dev")
    assert len(train) + len(dev) >= 300 and len(dev) >= 50
    for split in (train, dev):
        assert set(Counter(e.sql_complexity for e in split)) == set(COMPLEXITY_LEVELS)
        assert {e.db_id for e in split} == set(bundled.sql_scripts())
    assert not {e.question for e in train} & {e.question for e in dev}
    assert len({e.id for e in train + dev}) == len(train) + len(dev)


def test_every_gold_sql_executes_and_returns_rows():
    for ex in bundled.load_examples("train") + bundled.load_examples("dev"):
        conn = sqlite3.connect(f"file:{ex.db_path}?mode=ro", uri=True)
        rows = conn.execute(ex.sql).fetchall()
        conn.close()
        assert rows, ex.id


def test_databases_are_built_from_the_scripts():
    root = bundled.db_root()
    for db_id in bundled.sql_scripts():
        conn = sqlite3.connect(f"file:{root / db_id / (db_id + '.sqlite')}?mode=ro", uri=True)
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE type='table'").fetchone()[0] >= 3
        conn.close()
    assert not [p for p in root.rglob("*") if p.name.startswith(".")]  # no leftover temp files


def test_broken_gold_sql_names_the_example():
    db = next(iter(bundled.load_examples("dev")))
    bad = Example(id="bad-1", db_id=db.db_id, db_path=db.db_path, question="q", sql="SELECT nope FROM nowhere")
    with pytest.raises(DataError, match=r"bundled example 'bad-1' .*gold SQL fails: no such table"):
        bundled.check_executes([bad])


def test_broken_script_leaves_no_database(tmp_path):
    script = tmp_path / "broken.sql"
    script.write_text("CREATE TABLE t (a INT); INSERT INTO nowhere VALUES (1);")
    target = tmp_path / "out" / "broken" / "broken.sqlite"
    with pytest.raises(DataError, match="SQL script failed"):
        bundled._build_db(script, target)
    assert not target.exists() and not list((tmp_path / "out").glob("*broken*"))


def test_unknown_split():
    with pytest.raises(DataError, match="unknown bundled split 'test'"):
        bundled.load_examples("test")
