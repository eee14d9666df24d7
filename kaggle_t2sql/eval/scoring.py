"""The scoring run: execution accuracy of a predictions file against a gold file, the way the official
evaluators judge it (the semantics: sql/compare.py; one example: sql/judge.py), with reports and the
`score` command.

Inputs. GOLD: one ``SQL<TAB>db_id`` line per question (the official format). PRED: one SQL
per physical line, same order; an empty line is an empty (wrong) prediction. Nothing is
unescaped: a backslash-n in a line stays two characters, so SQL that spanned several
lines must be written with its newlines turned into spaces (``prediction_line`` does
it). A trailing ``<TAB>db_id`` equal to the gold line's db_id is tolerated and dropped.
Databases: ``DB_ROOT/<db_id>/<db_id>.sqlite``. Difficulty labels come from the dataset
JSON next to the gold file (BIRD ``difficulty``; Spider hardness computed from the
``sql`` field with the official rules), or are passed in. Reading the inputs: gold_files.py; the
labels: difficulty.py.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path

from .. import atomic
from ..errors import DataError
from ..sql.compare import SEMANTICS
from ..sql.execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT
from ..sql.judge import GOLD_TIMEOUT, ExampleResult, ScoreTask, score_example, unfinished_example
from ..sql.parallel import parallel_map, resolve_workers
from ..sql.pool import GRACE_SECONDS
from .difficulty import difficulties_from_json, find_difficulties
from .gold_files import GoldItem, read_gold, read_predictions, resolve_databases

DIFFICULTY_ORDER = ("easy", "medium", "hard", "extra", "simple", "moderate", "challenging")


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _accuracy(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def _difficulty_key(label: str) -> tuple:
    return (DIFFICULTY_ORDER.index(label), "") if label in DIFFICULTY_ORDER else (len(DIFFICULTY_ORDER), label)


def summarize(examples: Sequence[ExampleResult], semantics: str, keep_distinct: bool) -> dict:
    """The `summary` block of a report."""
    by_label: dict[str, list[ExampleResult]] = {}
    for ex in examples:
        if ex.difficulty:
            by_label.setdefault(ex.difficulty, []).append(ex)
    pred_times = [ex.pred_seconds for ex in examples if ex.error != "empty prediction"]
    gold_times = [ex.gold_seconds for ex in examples]
    return {
        "n": len(examples),
        "correct": sum(ex.correct for ex in examples),
        "execution_accuracy": _accuracy([ex.correct for ex in examples]),
        "exact_match": _accuracy([ex.exact_match for ex in examples]),
        "errors": sum(ex.error is not None for ex in examples),
        "empty_predictions": sum(ex.error == "empty prediction" for ex in examples),
        "timeouts": sum(ex.timed_out for ex in examples),
        "workers_killed": sum(ex.worker_killed for ex in examples),
        "stopped_early": sum(ex.early_verdict is not None for ex in examples),
        "gold_errors": sum(ex.gold_error is not None for ex in examples),
        "by_difficulty": {
            label: {
                "n": len(group),
                "execution_accuracy": _accuracy([ex.correct for ex in group]),
                "exact_match": _accuracy([ex.exact_match for ex in group]),
            }
            for label, group in sorted(by_label.items(), key=lambda kv: _difficulty_key(kv[0]))
        },
        "timing": {
            "pred_p50": percentile(pred_times, 50),
            "pred_p95": percentile(pred_times, 95),
            "gold_p50": percentile(gold_times, 50),
            "gold_p95": percentile(gold_times, 95),
        },
        "semantics": semantics,
        "keep_distinct": keep_distinct,
        "distinct_stripped": semantics == "test-suite" and not keep_distinct,
    }


def _check_options(semantics: str, timeout: float, row_cap: int) -> None:
    if semantics not in SEMANTICS:
        raise DataError(f"unknown semantics {semantics!r}: use one of {', '.join(SEMANTICS)}")
    if not timeout > 0:
        raise DataError(f"timeout must be > 0 seconds, got {timeout}")
    if row_cap < 1:
        raise DataError(f"row cap must be >= 1, got {row_cap}")


def _difficulty_labels(difficulties, gold_path: Path, gold: Sequence[GoldItem]) -> list[str | None]:
    if difficulties is None:
        return [None] * len(gold)
    if isinstance(difficulties, str) and difficulties == "auto":
        return find_difficulties(gold_path, gold) or [None] * len(gold)
    if isinstance(difficulties, (str, Path)):
        labels = difficulties_from_json(difficulties, gold)
        if labels is None:
            raise DataError(f"{difficulties}: not a JSON list of {len(gold)} questions with the gold file's db_ids "
                            "in order and a difficulty/hardness/sql field; pass the dataset's question file")
        return labels
    labels = list(difficulties)
    if len(labels) != len(gold):
        raise DataError(f"{len(labels)} difficulty labels given for {len(gold)} gold lines in {gold_path}: "
                        "pass one label (or None) per question")
    return labels


def score_files(gold: str | Path, pred: str | Path, db_root: str | Path, semantics: str = "test-suite",
                keep_distinct: bool = False, timeout: float = DEFAULT_TIMEOUT, workers: int | None = None,
                row_cap: int = DEFAULT_ROW_CAP, progress: bool = True,
                difficulties: Sequence[str | None] | str | Path | None = "auto", early_verdicts: bool = True,
                gold_timeout: float = 0.0) -> dict:
    """Score a PRED file against a GOLD file; returns the report (`summary` + per-`examples`).

    `difficulties`: "auto" (the dataset JSON beside the gold file, if any), a JSON path, a
    list of labels, or None. `workers`: supervised processes (None = one per CPU); a query
    still running `GRACE_SECONDS` past `timeout` has its worker killed and replaced, and
    its example is judged wrong. `early_verdicts`: stop a prediction once its rows cannot
    match (verdicts are the same either way; off, every prediction runs to its end).
    `gold_timeout`: seconds for each gold query (0: the official evaluator's, `GOLD_TIMEOUT`).
    """
    _check_options(semantics, timeout, row_cap)
    gold_path, pred_path = Path(gold), Path(pred)
    gold_items = read_gold(gold_path)
    preds = read_predictions(pred_path, gold_items, gold_path)
    labels = _difficulty_labels(difficulties, gold_path, gold_items)
    return score_predictions(gold_items, preds, db_root, semantics, keep_distinct, timeout, workers, row_cap,
                             progress, labels, early_verdicts, gold_timeout, gold_path=gold_path, pred_path=pred_path)


def score_predictions(gold_items: Sequence[GoldItem], preds: Sequence[str], db_root: str | Path,
                      semantics: str = "test-suite", keep_distinct: bool = False, timeout: float = DEFAULT_TIMEOUT,
                      workers: int | None = None, row_cap: int = DEFAULT_ROW_CAP, progress: bool = True,
                      labels: Sequence[str | None] | None = None, early_verdicts: bool = True,
                      gold_timeout: float = 0.0, gold_path: str | Path = "gold", pred_path: str | Path = "") -> dict:
    """`score_files` on predictions in memory, run as given (`eval` scores the SQL as generated)."""
    _check_options(semantics, timeout, row_cap)
    if gold_timeout < 0:
        raise DataError(f"gold timeout must be > 0 seconds (or 0 for the official one), got {gold_timeout}")
    db_paths = resolve_databases(gold_items, db_root, gold_path)
    labels = list(labels) if labels is not None else [None] * len(gold_items)
    tasks = [
        ScoreTask(i, g.db_id, db_paths[g.db_id], g.sql, p, semantics, keep_distinct, timeout, row_cap, label,
                  early_verdicts, gold_timeout)
        for i, (g, p, label) in enumerate(zip(gold_items, preds, labels))
    ]
    n_workers = resolve_workers(workers, len(tasks))
    start = time.perf_counter()
    # The prediction's limit; the gold query's step asks for its own (`score_example`).
    gold_limit = gold_timeout or max(GOLD_TIMEOUT[semantics], timeout)
    examples = parallel_map(score_example, tasks, workers=n_workers, progress=progress, desc="scoring",
                            limit=timeout + GRACE_SECONDS, on_failure=unfinished_example)
    summary = summarize(examples, semantics, keep_distinct)
    summary.update(timeout=timeout, gold_timeout=gold_limit, row_cap=row_cap, workers=n_workers,
                   early_verdicts=early_verdicts, wall_seconds=round(time.perf_counter() - start, 3),
                   gold=str(gold_path), pred=str(pred_path), db_root=str(db_root))
    return {"summary": summary, "examples": [ex.to_dict() for ex in examples]}


# ---------------------------------------------------------------- reports


def _fmt_seconds(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


def render_markdown(report: dict) -> str:
    """The summary as a Markdown table (one row per difficulty, then all), plus a counts line."""
    s = report["summary"]
    lines = ["| difficulty | n | execution accuracy | exact match |", "| --- | ---: | ---: | ---: |"]
    for label, group in s["by_difficulty"].items():
        lines.append(f"| {label} | {group['n']} | {group['execution_accuracy']:.3f} | {group['exact_match']:.3f} |")
    lines.append(f"| **all** | {s['n']} | **{s['execution_accuracy']:.3f}** | {s['exact_match']:.3f} |")
    distinct = "DISTINCT stripped" if s.get("distinct_stripped") else "DISTINCT kept"
    t = s["timing"]
    lines += [
        "",
        f"semantics: {s['semantics']} ({distinct}); prediction errors: {s['errors']} "
        f"(empty {s['empty_predictions']}, timeouts {s['timeouts']}, of which {s['workers_killed']} killed); "
        f"gold errors: {s['gold_errors']}; stopped early as wrong: {s['stopped_early']}",
        f"query time p50/p95: predictions {_fmt_seconds(t['pred_p50'])} / {_fmt_seconds(t['pred_p95'])}, "
        f"gold {_fmt_seconds(t['gold_p50'])} / {_fmt_seconds(t['gold_p95'])}",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_path: str | Path) -> None:
    """The whole report as JSON, atomically (temp file in the same folder, fsync, rename)."""
    atomic.write_text(out_path, json.dumps(report, indent=2) + "\n")


def write_jsonl(report: dict, out_path: str | Path) -> None:
    """One JSON object per example, in order, atomically."""
    atomic.write_text(out_path, "".join(json.dumps(ex) + "\n" for ex in report["examples"]))


def write_markdown(report: dict, out_path: str | Path) -> None:
    atomic.write_text(out_path, render_markdown(report))


# ---------------------------------------------------------------- command line


def add_score_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The `score` subcommand's options."""
    parser.add_argument("--gold", required=True, help="gold file: one 'SQL<TAB>db_id' line per question")
    parser.add_argument("--pred", required=True,
                        help="predictions: one SQL per line, same order (empty line = no answer)")
    parser.add_argument("--db-root", required=True, help="folder holding <db_id>/<db_id>.sqlite")
    parser.add_argument("--semantics", choices=SEMANTICS, default="test-suite",
                        help="test-suite: Spider test-suite exec match (default); bird: set(rows) equality")
    parser.add_argument("--keep-distinct", action="store_true", help="test-suite: do not strip DISTINCT before running")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                        help=f"seconds per query (default 10); a query still running {GRACE_SECONDS:g} s later has "
                             "its worker killed")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: one per CPU)")
    parser.add_argument("--row-cap", type=int, default=DEFAULT_ROW_CAP, help="most rows a prediction may return")
    parser.add_argument("--gold-timeout", type=float, default=0.0,
                        help="seconds per gold query (default 0: the official evaluator's, bird 30, test-suite 60)")
    parser.add_argument("--no-early-verdicts", action="store_true",
                        help="run every prediction to its end, even once its rows cannot match (same verdicts)")
    parser.add_argument("--difficulty", default="auto", metavar="auto|none|JSON",
                        help="difficulty labels: the dataset JSON beside --gold (auto), none, or a JSON file")
    parser.add_argument("--out", required=True, help="report JSON (summary + one entry per example)")
    parser.add_argument("--markdown", help="also write the summary table here")
    parser.add_argument("--jsonl", help="also write one JSON line per example here")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def run_score_command(args: argparse.Namespace) -> int:
    """Score, write the report(s), print the summary table. DataError propagates to the CLI."""
    difficulty = None if args.difficulty == "none" else args.difficulty
    report = score_files(args.gold, args.pred, args.db_root, semantics=args.semantics,
                         keep_distinct=args.keep_distinct, timeout=args.timeout, workers=args.workers,
                         row_cap=args.row_cap, progress=not args.no_progress, difficulties=difficulty,
                         early_verdicts=not args.no_early_verdicts, gold_timeout=args.gold_timeout)
    write_report(report, args.out)
    if args.markdown:
        write_markdown(report, args.markdown)
    if args.jsonl:
        write_jsonl(report, args.jsonl)
    print(render_markdown(report), end="")
    if report["summary"]["gold_errors"]:
        print(f"warning: {report['summary']['gold_errors']} gold queries failed (counted wrong); "
              f"see gold_error in {args.out}")
    return 0
