"""Value retrieval on the Spider dev and BIRD mini-dev fixtures: what it adds to the prompt, and what it costs.

- gold-literal recall: of the gold SQL's string literals that name a value stored in the
  database, the share whose stored form (the exact cell text, found case-insensitively,
  LIKE wildcards stripped) is listed in the schema part of the prompt, retrieval on vs off;
- prompt length: mean characters of the prompt with retrieval on / off;
- index build time and size per database (fresh cache);
- retrieval latency per question, p50 / p95 (index already built);
- wall time of `prompts` for both sets with retrieval on, index builds included;
- a synthetic BIRD-size table (1M rows x 3 text columns, 3M cells, 200k distinct values):
  build time, index size, and peak Python memory while building vs the cells' size.

Run: ./dev python bench/retrieval.py   (uses its own fresh cache folder; targets: recall >= 0.90, length <= 1.25x,
prompts <= 180 s on 2 cores)
"""

from __future__ import annotations

import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(os.environ.get("T2SQL_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SPIDER = SHARED / "data" / "spider_dev"
BIRD = SHARED / "data" / "bird_minidev"


def string_literals(sql: str, identifiers: set[str]) -> list[str]:
    """'single-quoted' strings, and "double-quoted" ones that name no table or column (Spider writes strings so)."""
    import sqlparse
    from sqlparse import tokens as T

    out = []
    for tok in sqlparse.parse(sql)[0].flatten() if sql.strip() else []:
        text = tok.value
        if tok.ttype in T.String.Single and len(text) >= 2:
            out.append(text[1:-1].replace("''", "'"))
        elif tok.ttype in T.String.Symbol and text.startswith('"') and text[1:-1].lower() not in identifiers:
            out.append(text[1:-1].replace('""', '"'))
    return out


class StoredValues:
    """Finds the stored form of a literal in a database: an exact cell text, else a case-insensitive one."""

    def __init__(self, db_path: str):
        conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        conn.text_factory = lambda b: b.decode("utf-8", errors="ignore")
        tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        self.identifiers = {t.lower() for t in tables}
        self.values: dict[str, str] = {}  # lower-case text -> first stored text
        self.exact: set[str] = set()
        for t in tables:
            for row in conn.execute(f'PRAGMA table_info("{t}")'):
                self.identifiers.add(row[1].lower())
                for (v,) in conn.execute(f'SELECT DISTINCT "{row[1]}" FROM "{t}" WHERE typeof("{row[1]}") = \'text\''):
                    self.exact.add(v)
                    self.values.setdefault(v.lower(), v)
        conn.close()

    def stored_form(self, literal: str) -> str | None:
        if literal in self.exact:
            return literal
        return self.values.get(literal.strip("%").lower())


def literal_recall(records: list[dict], db_paths: dict[str, str]) -> tuple[int, int]:
    """(literals found in the schema text, literals that name a stored value)."""
    stores: dict[str, StoredValues] = {}
    found = total = 0
    for rec in records:
        store = stores.setdefault(rec["db_id"], StoredValues(db_paths[rec["db_id"]]))
        for literal in string_literals(rec["gold_sql"], store.identifiers):
            stored = store.stored_form(literal)
            if stored is None:
                continue
            total += 1
            found += repr(stored[:40]) in rec["schema"]
    return found, total


def large_table_build(folder: Path) -> str:
    """Index a 3M-cell table and report the peak memory traced while building it."""
    import random
    import tracemalloc

    from kaggle_t2sql.data import retrieval

    db = folder / "large.sqlite"
    rng = random.Random(0)
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE visits (person TEXT, city TEXT, status TEXT, amount REAL)")
    cities = [f"City {i}" for i in range(500)]
    conn.executemany("INSERT INTO visits VALUES (?, ?, ?, ?)", (
        (f"person {rng.randrange(200_000)}", rng.choice(cities),
         rng.choice(["open", "closed", "pending"]), rng.random()) for _ in range(1_000_000)))
    conn.commit()
    cells_bytes = conn.execute("SELECT sum(length(person) + length(city) + length(status)) FROM visits").fetchone()[0]
    conn.close()
    tracemalloc.start()
    start = time.perf_counter()
    meta = retrieval.build_index(db, folder / "large-index", progress=False)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    size = sum(p.stat().st_size for p in (folder / "large-index").rglob("*") if p.is_file())
    return (f"synthetic table, 1,000,000 rows x 3 text columns ({cells_bytes / 2**20:.0f} MiB of text in 3M cells): "
            f"{meta['values']} distinct values indexed in {seconds:.1f} s (traced), index {size / 2**20:.1f} MiB, "
            f"peak Python memory while building {peak / 2**20:.0f} MiB")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def main() -> int:
    if not (SPIDER.is_dir() and BIRD.is_dir()):
        print(f"skipped: {SPIDER} / {BIRD} not found (the fixtures live in ../shared/data, absent in a clean clone)")
        return 0
    os.environ["T2SQL_CACHE_DIR"] = tempfile.mkdtemp(prefix="t2sql-bench-retrieval-")  # cold: builds every index

    from kaggle_t2sql.config import DataConfig, ModelConfig
    from kaggle_t2sql.data import retrieval
    from kaggle_t2sql.infer.prompt_file import write_prompts
    from kaggle_t2sql.train.model import load_tokenizer
    from kaggle_t2sql.data.prompts import question_with_evidence
    from kaggle_t2sql.data.readers import read_bird, read_spider

    tokenizer = load_tokenizer(ModelConfig(name_or_path="tiny"))
    sets = {"spider dev": read_spider(str(SPIDER), "dev"), "bird mini-dev": read_bird(str(BIRD), "dev")}
    out = Path(os.environ["T2SQL_CACHE_DIR"])

    start = time.perf_counter()
    for name, examples in sets.items():
        write_prompts(examples, tokenizer, DataConfig(value_retrieval=True), out / f"{name}-on.jsonl", progress=False)
    prompts_seconds = time.perf_counter() - start
    for name, examples in sets.items():
        write_prompts(examples, tokenizer, DataConfig(value_retrieval=False), out / f"{name}-off.jsonl", progress=False)

    print(f"prompts, retrieval on, both sets ({sum(map(len, sets.values()))} questions, index builds included): "
          f"{prompts_seconds:.1f} s on {os.cpu_count()} cores (target <= 180 s on 2)")
    print("\n| set | literals | recall off | recall on | prompt chars off | on | ratio |")
    print("|---|---|---|---|---|---|---|")
    for name, examples in sets.items():
        db_paths = {ex.db_id: ex.db_path for ex in examples}
        row = [name]
        lengths = []
        for mode in ("off", "on"):
            records = [json.loads(line) for line in (out / f"{name}-{mode}.jsonl").read_text().splitlines()]
            found, total = literal_recall(records, db_paths)
            row.append(f"{found / total:.3f}")
            lengths.append(statistics.mean(len(r["prompt"]) for r in records))
        print(f"| {name} | {total} | {row[1]} | {row[2]} | {lengths[0]:.0f} | {lengths[1]:.0f} | {lengths[1] / lengths[0]:.3f}x |")

    print("\n| database | values | build s | index KB | retrieval p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for examples in sets.values():
        by_db: dict[str, list] = {}
        for ex in examples:
            by_db.setdefault(ex.db_path, []).append(ex)
        for db_path, group in by_db.items():
            folder = retrieval.index_dir(db_path)
            meta = json.loads((folder / "meta.json").read_text())
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            index = retrieval.ValueIndex(folder)
            latencies = []
            for ex in group:
                t0 = time.perf_counter()
                index.match(question_with_evidence(ex.question, ex.external_knowledge))
                latencies.append((time.perf_counter() - t0) * 1000)
            print(f"| {group[0].db_id} | {meta['values']} | {meta['build_seconds']:.2f} | {size / 1024:.0f} | "
                  f"{percentile(latencies, 0.5):.1f} | {percentile(latencies, 0.95):.1f} |")
    print("\n" + large_table_build(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
