"""The bundled demo data: SQLite databases built from SQL scripts in the package, and
question/SQL pairs for them (train/dev), so everything runs with no download."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .. import atomic
from ..errors import DataError
from .examples import Example
from .readers import read_jsonl

SPLITS = ("train", "dev")


def cache_root() -> Path:
    """Where built artefacts (demo databases, tiny model) live: $T2SQL_CACHE_DIR or ~/.cache/kaggle_t2sql."""
    return Path(os.environ.get("T2SQL_CACHE_DIR") or Path.home() / ".cache" / "kaggle_t2sql")


def data_dir() -> Path:
    return Path(str(resources.files("kaggle_t2sql.data") / "demo_data"))


def sql_scripts() -> dict[str, Path]:
    return {p.stem: p for p in sorted((data_dir() / "databases").glob("*.sql"))}


def _build_db(script: Path, target: Path) -> None:
    """Run the script into a temp file, then rename: a crash never leaves a half-built database."""

    def build(tmp_dir: Path) -> None:
        tmp = tmp_dir / target.name
        conn = sqlite3.connect(tmp)
        try:
            conn.executescript(script.read_text(encoding="utf-8"))
            conn.commit()
        except sqlite3.Error as exc:
            raise DataError(f"{script}: SQL script failed ({exc}); fix the script") from None
        finally:
            conn.close()

    with atomic.staged_dir(target.parent) as tmp_dir:
        build(tmp_dir)


@lru_cache(maxsize=1)
def db_root() -> Path:
    """Folder holding <db_id>/<db_id>.sqlite for every bundled database, built on first use.

    The folder name is a hash of the scripts, so editing a script builds a fresh copy.
    """
    scripts = sql_scripts()
    if not scripts:
        raise DataError(f"no SQL scripts in {data_dir() / 'databases'}: the package install is incomplete")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in scripts.values())).hexdigest()[:12]
    root = cache_root() / "demo_dbs" / digest
    for db_id, script in scripts.items():
        target = root / db_id / f"{db_id}.sqlite"
        if not target.is_file():
            _build_db(script, target)
    return root


def check_executes(examples: list[Example]) -> None:
    """Every gold SQL must run on its database; the error names the example to fix."""
    for ex in examples:
        conn = sqlite3.connect(f"{Path(ex.db_path).resolve().as_uri()}?mode=ro", uri=True)
        try:
            conn.execute(ex.sql).fetchmany(1)
        except sqlite3.Error as exc:
            raise DataError(f"bundled example {ex.id!r} ({ex.db_id}): gold SQL fails: {exc}; fix its sql") from None
        finally:
            conn.close()


@lru_cache(maxsize=4)
def _load(split: str) -> tuple[Example, ...]:
    if split not in SPLITS:
        raise DataError(f"unknown bundled split {split!r}: use one of {', '.join(SPLITS)}")
    examples = read_jsonl(data_dir() / f"{split}.jsonl", db_root())
    check_executes(examples)
    return tuple(examples)


def load_examples(split: str = "train") -> list[Example]:
    """Bundled examples of one split, every gold SQL checked to execute."""
    return list(_load(split))


def corpus_texts() -> list[str]:
    """Text the tiny tokenizer is trained on: questions, SQL and every bundled schema."""
    from .schema import schema_text

    texts = []
    for split in SPLITS:
        for line in (data_dir() / f"{split}.jsonl").read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                texts.extend([item["question"], item["sql"], item.get("external_knowledge") or ""])
    for db_id in sql_scripts():
        texts.append(schema_text(db_root() / db_id / f"{db_id}.sqlite"))
    return [t for t in texts if t]
