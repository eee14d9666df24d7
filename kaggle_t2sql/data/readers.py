"""Readers: every source becomes a stream of `Example`s with SynSQL-2.5M's fields.

SynSQL-2.5M's data.json is a ~9 GB JSON array, so it is streamed object by object
with bounded memory; the others are small enough to load.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from ..config import COMPLEXITY_LEVELS
from ..errors import DataError
from .examples import Example, estimate_complexity

BIRD_LEVELS = {"simple": "Simple", "moderate": "Moderate", "challenging": "Complex"}


# ---------------------------------------------------------------- files


def iter_json_array(path: str | Path, chunk_chars: int = 1 << 20) -> Iterator[dict]:
    """Yield the objects of a top-level JSON array without loading the whole file."""
    decoder = json.JSONDecoder()
    path = Path(path)
    with open(path, encoding="utf-8") as f:
        buf = f.read(chunk_chars).lstrip()
        if not buf.startswith("["):
            raise DataError(f"{path}: expected a JSON array (file should start with '['); is this data.json?")
        buf, pos, index, eof = buf[1:], 0, 0, False
        while True:
            while pos < len(buf) and buf[pos] in " \t\r\n,":
                pos += 1
            if pos < len(buf) and buf[pos] == "]":
                return
            try:
                obj, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                if eof:
                    raise DataError(f"{path}: malformed JSON in item {index}: {exc.msg}; re-download the file") from None
                more = f.read(chunk_chars)
                eof = not more
                buf, pos = buf[pos:] + more, 0
                continue
            if end == len(buf) and not eof:  # a number or string may continue in the next chunk
                more = f.read(chunk_chars)
                eof = not more
                if more:
                    buf, pos = buf[pos:] + more, 0
                    continue
            yield obj
            index += 1
            pos = end
            if pos > chunk_chars:  # drop what was consumed: memory stays bounded by one object + a chunk
                buf, pos = buf[pos:], 0


def _load_json(path: Path) -> list | dict:
    if not path.is_file():
        raise DataError(f"{path} not found: check the dataset path")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from None


@lru_cache(maxsize=65536)
def resolve_db(db_root: str, db_id: str) -> str | None:
    """The SQLite file of `db_id`: <root>/<db_id>/<db_id>.sqlite, or <root>/<db_id>.sqlite/.db."""
    root = Path(db_root)
    for candidate in (root / db_id / f"{db_id}.sqlite", root / f"{db_id}.sqlite", root / f"{db_id}.db"):
        if candidate.is_file():
            return str(candidate)
    return None


def find_tables_json(*candidates: Path) -> str:
    """The first tables.json among `candidates` that exists ("" when none: the schema is derived from the file)."""
    return next((str(p) for p in candidates if p.is_file()), "")


def _require_db(db_root: str | Path, db_id: str, where: str) -> str:
    found = resolve_db(str(db_root), db_id)
    if found is None:
        raise DataError(
            f"{where}: database {db_id!r} not found under {db_root} "
            f"(looked for {db_id}/{db_id}.sqlite and {db_id}.sqlite): add it or fix db_id / db_root"
        )
    return found


# ---------------------------------------------------------------- SynSQL-2.5M


def _synsql_example(obj: dict, index: int, db_root: Path, where: str, tables_json: str = "") -> Example:
    missing = [k for k in ("db_id", "question", "sql") if not obj.get(k)]
    if missing:
        raise DataError(f"{where}: item {index} lacks {', '.join(missing)}; is this SynSQL-2.5M data.json?")
    return Example(
        id=f"synsql-{index}",
        db_id=obj["db_id"],
        db_path=_require_db(db_root, obj["db_id"], f"{where} item {index}"),
        question=obj["question"],
        sql=obj["sql"],
        sql_complexity=obj.get("sql_complexity") or estimate_complexity(obj["sql"]),
        question_style=obj.get("question_style") or "",
        external_knowledge=obj.get("external_knowledge") or "",
        cot=obj.get("cot") or "",
        tables_json=tables_json,
        synthetic=True,
    )


def read_synsql(root: str | Path, per_complexity: int = 0, seed: int = 42, data_file: str = "data.json") -> Iterator[Example]:
    """Stream SynSQL-2.5M; with `per_complexity` N, a seeded uniform sample of N per level.

    Sampling is reservoir sampling per sql_complexity: one pass, memory O(4 N), and the
    kept examples come out in file order so the result does not depend on chunk sizes.
    """
    root = Path(root)
    data_path = root / data_file
    db_root = root / "databases"
    tables_json = find_tables_json(root / "tables.json")
    if not data_path.is_file():
        raise DataError(f"{data_path} not found: point the synsql stage's path at the SynSQL-2.5M folder")
    if not per_complexity:
        for index, obj in enumerate(iter_json_array(data_path)):
            yield _synsql_example(obj, index, db_root, str(data_path), tables_json)
        return
    rng = random.Random(seed)
    reservoirs: dict[str, list[tuple[int, dict]]] = {level: [] for level in COMPLEXITY_LEVELS}
    seen = dict.fromkeys(COMPLEXITY_LEVELS, 0)
    for index, obj in enumerate(iter_json_array(data_path)):
        level = obj.get("sql_complexity") or estimate_complexity(obj.get("sql", ""))
        if level not in reservoirs:
            reservoirs[level], seen[level] = [], 0
        seen[level] += 1
        bucket = reservoirs[level]
        if len(bucket) < per_complexity:
            bucket.append((index, obj))
        else:
            j = rng.randrange(seen[level])
            if j < per_complexity:
                bucket[j] = (index, obj)
    kept = sorted((item for bucket in reservoirs.values() for item in bucket), key=lambda item: item[0])
    for index, obj in kept:
        yield _synsql_example(obj, index, db_root, str(data_path), tables_json)


# ---------------------------------------------------------------- Spider and BIRD


def read_spider(root: str | Path, split: str = "dev") -> list[Example]:
    """Spider 1.0: dev.json or train_spider.json, tables.json, database/<db>/<db>.sqlite."""
    root = Path(root)
    files = {"dev": ["dev.json"], "train": ["train_spider.json"], "train_others": ["train_others.json"]}
    names = files.get(split, [split if split.endswith(".json") else f"{split}.json"])
    db_root = root / "database"
    tables_json = find_tables_json(root / "tables.json")
    known = {t["db_id"] for t in _load_json(root / "tables.json")} if tables_json else None
    out: list[Example] = []
    for name in names:
        path = root / name
        for i, item in enumerate(_load_json(path)):
            where = f"{path} item {i}"
            if known is not None and item["db_id"] not in known:
                raise DataError(f"{where}: db_id {item['db_id']!r} is not in tables.json: use the matching tables.json")
            sql = item.get("query") or item.get("sql_query") or ""
            out.append(
                Example(
                    id=f"spider-{split}-{i}",
                    db_id=item["db_id"],
                    db_path=_require_db(db_root, item["db_id"], where),
                    question=item["question"],
                    sql=sql,
                    sql_complexity=estimate_complexity(sql),
                    cot=item.get("cot") or "",
                    tables_json=tables_json,
                )
            )
    return out


def read_bird(root: str | Path, split: str = "dev") -> list[Example]:
    """BIRD: <split>.json (or mini_dev_sqlite.json), <split>_databases/<db>/<db>.sqlite; evidence -> external knowledge."""
    root = Path(root)
    candidates = [root / f"{split}.json", root / "mini_dev_sqlite.json", root / f"mini_{split}_sqlite.json"]
    path = next((p for p in candidates if p.is_file()), None)
    if path is None:
        raise DataError(f"no BIRD questions under {root}: expected {split}.json or mini_dev_sqlite.json")
    db_root = next(
        (d for d in (root / f"{split}_databases", root / "dev_databases", root / "databases") if d.is_dir()),
        root / f"{split}_databases",
    )
    tables_json = find_tables_json(root / f"{split}_tables.json", root / "dev_tables.json", root / "tables.json")
    out: list[Example] = []
    for i, item in enumerate(_load_json(path)):
        where = f"{path} item {i}"
        difficulty = item.get("difficulty", "")
        sql = item.get("SQL") or item.get("sql") or ""
        out.append(
            Example(
                id=f"bird-{item.get('question_id', i)}",
                db_id=item["db_id"],
                db_path=_require_db(db_root, item["db_id"], where),
                question=item["question"],
                sql=sql,
                sql_complexity=BIRD_LEVELS.get(difficulty, estimate_complexity(sql)),
                external_knowledge=item.get("evidence") or "",
                cot=item.get("cot") or "",
                difficulty=difficulty,
                tables_json=tables_json,
            )
        )
    return out


# ---------------------------------------------------------------- your own pairs


def read_jsonl(path: str | Path, db_root: str | Path | None = None) -> list[Example]:
    """Your own {db_id, question, sql[, external_knowledge, sql_complexity, cot, id]} lines."""
    path = Path(path)
    if not db_root:  # a prepared subset keeps its databases in databases/ beside the JSONL
        db_root = path.parent / "databases" if (path.parent / "databases").is_dir() else path.parent
    db_root = Path(db_root)
    if not path.is_file():
        raise DataError(f"{path} not found: give the JSONL file of your question/SQL pairs")
    tables_json = find_tables_json(db_root / "tables.json", path.parent / "tables.json")
    out: list[Example] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{where}: malformed JSON ({exc.msg}); each line must be one JSON object") from None
            if not isinstance(item, dict):
                raise DataError(f"{where}: expected a JSON object with db_id, question and sql")
            missing = [k for k in ("db_id", "question", "sql") if not str(item.get(k) or "").strip()]
            if missing:
                raise DataError(f"{where}: missing {', '.join(missing)}; each line needs db_id, question and sql")
            out.append(
                Example(
                    id=str(item.get("id") or f"{path.stem}-{lineno}"),
                    db_id=item["db_id"],
                    db_path=_require_db(db_root, item["db_id"], where),
                    question=item["question"],
                    sql=item["sql"],
                    sql_complexity=item.get("sql_complexity") or estimate_complexity(item["sql"]),
                    question_style=item.get("question_style") or "",
                    external_knowledge=item.get("external_knowledge") or "",
                    cot=item.get("cot") or "",
                    difficulty=item.get("difficulty") or "",
                    tables_json=tables_json,
                )
            )
    return out
