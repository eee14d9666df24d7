"""Scoring throughput: the 972 Spider dev gold queries scored as predictions, N workers vs 1.

Prints the best wall time of 3 runs each (every run starts its own pool), the speed-up,
and how much of the summed query time the slowest 1% of examples take (gold + prediction
run, timed in the 1-worker run, so no contention between workers skews it).
N = os.cpu_count().
Run: ./dev python bench/score.py
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
import time
from pathlib import Path

from kaggle_t2sql.scoring import read_gold, score_files

SHARED = Path(os.environ.get("T2SQL_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))
SPIDER = SHARED / "data" / "spider_dev"


def timed_run(gold: Path, pred: Path, workers: int, repeats: int = 3) -> tuple[float, dict]:
    """Best wall time of `repeats` full runs (each starts its own worker pool), and the last report."""
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        report = score_files(gold, pred, SPIDER / "database", workers=workers, progress=False)
        best = min(best, time.perf_counter() - start)
    return best, report


def slowest_share(examples: list[dict], fraction: float = 0.01) -> tuple[float, list[dict]]:
    """Share of the summed per-example query time taken by the slowest `fraction` of examples."""
    ranked = sorted(examples, key=lambda e: e["pred_seconds"] + e["gold_seconds"], reverse=True)
    top = ranked[:max(1, math.ceil(len(ranked) * fraction))]
    total = sum(e["pred_seconds"] + e["gold_seconds"] for e in ranked)
    return sum(e["pred_seconds"] + e["gold_seconds"] for e in top) / total, top


def main() -> int:
    gold = SPIDER / "dev_gold.sql"
    if not gold.is_file():
        print(f"skipped: {gold} not found (the Spider dev fixture lives in ../shared/data, absent in a clean clone)")
        return 0
    n_workers = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        pred = Path(tmp) / "pred.sql"
        pred.write_text("".join(g.sql + "\n" for g in read_gold(gold)))
        timed_run(gold, pred, 1, repeats=1)  # warm the page cache so neither timed run pays for the first read
        serial_s, serial = timed_run(gold, pred, 1)
        parallel_s, parallel = timed_run(gold, pred, n_workers)
    s = serial["summary"]
    assert s["execution_accuracy"] == 1.0 == parallel["summary"]["execution_accuracy"], "gold must score 1.000"
    share, top = slowest_share(serial["examples"])
    query_total = sum(e["pred_seconds"] + e["gold_seconds"] for e in serial["examples"])
    print(f"Spider dev: {s['n']} gold queries as predictions, test-suite semantics, "
          f"accuracy {s['execution_accuracy']:.3f}")
    print(f"  1 worker : {serial_s:6.2f} s wall (best of 3)")
    print(f"  {n_workers} workers: {parallel_s:6.2f} s wall "
          f"(best of 3, os.cpu_count() = {n_workers}, pool start included)")
    print(f"  speed-up : {serial_s / parallel_s:6.2f}x")
    print(f"  summed query time {query_total:.2f} s ({query_total / serial_s:.0%} of the 1-worker wall time); "
          f"slowest 1% ({len(top)} examples) take {share:.1%} of it")
    for e in top[:5]:
        print(f"    #{e['index']:<4} {e['db_id']:<24} gold {e['gold_seconds'] * 1000:7.1f} ms  "
              f"pred {e['pred_seconds'] * 1000:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
