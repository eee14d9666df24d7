"""`eval`: generate SQL with the 4-bit base + adapter, then score it by execution.

Greedy (one sample, temperature 0) or self-consistency: n samples at temperature T, one
SQL chosen by a vote over their execution results (`--vote soft`, Arctic's default, or
`exact`, OmniSQL's). SQL is the last ```sql block of each generation. The path from
question to SQL is `infer.pipeline`'s, shared with `ask` and `serve`; correction
(`--fix-rounds`) is off by default so scores stay comparable with the official recipe.
Scoring is `scoring.py`'s (the judging: `sql/judge.py`), on the SQL as generated (comments, line breaks and string
literals untouched). `pred.sql` and `gold.sql` are written in the official line formats,
comments stripped as OmniSQL does, so a run can be re-scored by `kaggle-t2sql score` or
the official test-suite script (`sql.compare.pred_file_line`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm.auto import tqdm

from .. import atomic
from ..config import RunConfig
from ..config_presets import ARCTIC_MAX_NEW_TOKENS
from ..errors import ConfigError
from ..data.examples import Example
from ..infer.engine import Generator, ModelGenerator, load_for_inference
from ..infer.pipeline import InferenceSettings, answer


@dataclass
class EvalSettings:
    data: str = "bundled"  # bundled | spider | bird | jsonl
    data_path: str = ""
    split: str = "dev"
    limit: int = 0
    samples: int = 1
    temperature: float = 0.8  # used when samples > 1
    vote: str = "soft"  # soft (Arctic) | exact (OmniSQL), when samples > 1
    fix_rounds: int = 0  # execution-guided correction; 0 keeps scores comparable with the official recipe
    max_new_tokens: int = ARCTIC_MAX_NEW_TOKENS  # Arctic's; the tiny presets pass a small value
    batch_size: int = 4
    semantics: str = "test-suite"  # bird data defaults to "bird"
    timeout: float = 10.0
    workers: int = 0  # 0 = one per CPU

    def __post_init__(self):
        from ..sql.compare import SEMANTICS

        for name, least in (("limit", 0), ("max_new_tokens", 1), ("batch_size", 1), ("workers", 0)):
            if getattr(self, name) < least:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: need {least} or more")
        if self.semantics not in SEMANTICS:
            raise ConfigError(f"--semantics {self.semantics!r}: use one of {', '.join(SEMANTICS)}")
        self.inference()  # --timeout, --samples, --vote, ...: refused here, before a model is loaded

    @property
    def scoring_semantics(self) -> str:
        return "bird" if self.data == "bird" and self.semantics == "test-suite" else self.semantics

    def inference(self) -> InferenceSettings:
        return InferenceSettings(samples=self.samples, temperature=self.temperature, vote=self.vote,
                                 fix_rounds=self.fix_rounds, timeout=self.timeout)


def load_eval_examples(s: EvalSettings) -> list[Example]:
    from ..data import bundled
    from ..data.readers import read_bird, read_jsonl, read_spider

    if s.data == "bundled":
        examples = bundled.load_examples(s.split)
    elif not s.data_path:
        raise ConfigError(f"--data {s.data} needs --data-path (the dataset folder or JSONL file)")
    elif s.data == "spider":
        examples = read_spider(s.data_path, s.split)
    elif s.data == "bird":
        examples = read_bird(s.data_path, s.split)
    elif s.data == "jsonl":
        examples = read_jsonl(s.data_path)
    else:
        raise ConfigError(f"unknown --data {s.data!r}: use bundled, spider, bird or jsonl")
    return examples[: s.limit] if s.limit else examples


def _db_links(examples: list[Example], root: Path) -> Path:
    """A db_root in the official <db_id>/<db_id>.sqlite layout, whatever the source layout.

    Links left by an earlier run into the same folder are replaced when they point
    elsewhere or nowhere; two different files under one db_id are refused (which one a
    question meant would be a guess).
    """
    sources: dict[str, Path] = {}
    for ex in examples:
        source = Path(ex.db_path).resolve()
        first = sources.setdefault(ex.db_id, source)
        if first != source:
            raise ConfigError(f"two database files for db_id {ex.db_id!r}: {first} and {source}; give each database "
                              "its own db_id (scoring finds databases by <db_id>/<db_id>.sqlite)")
    for db_id, source in sources.items():
        link = root / db_id / f"{db_id}.sqlite"
        if link.is_symlink():
            if Path(os.readlink(link)) == source and link.exists():
                continue
            link.unlink()  # stale (another file) or dangling (the file is gone)
        elif link.exists():
            if link.resolve() == source:
                continue
            raise ConfigError(f"{link} is a file, not this run's link to {source}: use another --out-dir, or "
                              f"remove {root}")
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(source)
    return root


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_eval(cfg: RunConfig, s: EvalSettings, adapter: str | Path | None, out_dir: str | Path, progress: bool = True,
             generator: Generator | None = None, tokenizer=None) -> dict:
    """Answer and score every question; `generator` + `tokenizer` replace the model (e.g. a scripted one)."""
    from .gold_files import GoldItem
    from .scoring import score_predictions
    from ..sql.compare import pred_file_line

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = load_eval_examples(s)
    if not examples:
        raise ConfigError("no evaluation examples: check --data / --split / --limit")
    inference = s.inference()
    db_root = _db_links(examples, out_dir / "databases")  # before the model: a clash stops the run at once
    if generator is None:
        model, tokenizer = load_for_inference(cfg, adapter)
        generator = ModelGenerator(model, tokenizer, s.max_new_tokens, s.batch_size)
    outcomes = []
    for start in tqdm(range(0, len(examples), s.batch_size), desc="answering", unit="batch", disable=not progress):
        outcomes += answer(generator, tokenizer, examples[start:start + s.batch_size], cfg.data, inference)

    semantics = s.scoring_semantics
    gold_path, pred_path = out_dir / "gold.sql", out_dir / "pred.sql"
    atomic.write_text(gold_path, "".join(f"{gold_line(ex.sql)}\t{ex.db_id}\n" for ex in examples))
    atomic.write_text(pred_path, "".join(pred_file_line(o.sql, semantics) + "\n" for o in outcomes))
    gold_items = [GoldItem(i + 1, ex.sql, ex.db_id) for i, ex in enumerate(examples)]
    # The SQL as generated, not as written to pred.sql: comments, line breaks and literals stay as they are.
    score = partial(score_predictions, gold_items, db_root=db_root, semantics=semantics, timeout=s.timeout,
                    workers=s.workers or None, labels=[ex.difficulty or ex.sql_complexity for ex in examples],
                    progress=progress, gold_path=gold_path)
    report = score([o.sql for o in outcomes], pred_path=pred_path)
    if s.fix_rounds:
        report["summary"]["correction"] = _correction_summary(outcomes, report, score, out_dir, semantics)

    gen_seconds = [o.timings["generation"] for o in outcomes]
    exec_seconds = [e.get("pred_seconds") or 0.0 for e in report["examples"]]
    total_tokens = sum(o.new_tokens for o in outcomes)
    report["summary"]["latency"] = {
        "generation_p50_s": percentile(gen_seconds, 0.5),
        "generation_p95_s": percentile(gen_seconds, 0.95),
        "execution_p50_s": percentile(exec_seconds, 0.5),
        "execution_p95_s": percentile(exec_seconds, 0.95),
        "tokens_per_second": total_tokens / sum(gen_seconds) if sum(gen_seconds) else 0.0,
    }
    # Answers whose chosen sample ran into max_new_tokens: cut before they finished (often before the SQL).
    report["summary"]["max_new_tokens"] = s.max_new_tokens
    report["summary"]["hit_token_cap"] = sum(o.hit_token_cap for o in outcomes)
    report["summary"]["samples_hit_token_cap"] = sum(o.samples_hit_token_cap for o in outcomes)
    report["summary"].update({"model": cfg.model.name_or_path, "adapter": str(adapter or ""), "data": s.data,
                              "samples": s.samples, "temperature": s.temperature if s.samples > 1 else 0.0,
                              "vote": s.vote if s.samples > 1 else "", "fix_rounds": s.fix_rounds,
                              "value_retrieval": cfg.data.value_retrieval})
    for ex, item, o in zip(examples, report["examples"], outcomes):
        item.update({"id": ex.id, "question": ex.question, "gold": ex.sql, "prediction": o.sql, "support": o.support,
                     "voted": o.chosen_sql, "fix_rounds": o.fix_rounds, "generation": o.generation,
                     "generation_seconds": o.timings["generation"], "hit_token_cap": o.hit_token_cap})
    write_eval_outputs(report, out_dir)
    return report


def gold_line(sql: str) -> str:
    """The gold SQL on one GOLD-file line: line breaks and tabs become spaces (literals keep their spacing)."""
    return sql.replace("\r", " ").replace("\n", " ").replace("\t", " ").strip()


def _correction_summary(outcomes, report: dict, score, out_dir: Path, semantics: str) -> dict:
    """How many questions went to correction, and how many of those changed verdict (scored before and after)."""
    from ..sql.compare import pred_file_line

    fixed = [i for i, o in enumerate(outcomes) if o.fix_rounds]
    before_path = out_dir / "pred_before_fix.sql"
    atomic.write_text(before_path, "".join(pred_file_line(o.chosen_sql, semantics) + "\n" for o in outcomes))
    before = score([o.chosen_sql for o in outcomes], pred_path=before_path)["examples"]
    after = report["examples"]
    gained = sum(1 for i in fixed if after[i]["correct"] and not before[i]["correct"])
    lost = sum(1 for i in fixed if before[i]["correct"] and not after[i]["correct"])
    return {"attempted": len(fixed), "rounds": sum(o.fix_rounds for o in outcomes), "changed_verdict": gained + lost,
            "gained": gained, "lost": lost,
            "execution_accuracy_before": sum(e["correct"] for e in before) / len(before) if before else 0.0}


def markdown_report(report: dict) -> str:
    s = report["summary"]
    lat = s.get("latency", {})
    lines = [
        "| metric | value |", "|---|---|",
        f"| questions | {s['n']} |",
        f"| execution accuracy | {s['execution_accuracy']:.3f} |",
        f"| exact match | {s['exact_match']:.3f} |",
        f"| prediction errors | {s.get('errors', 0)} |",
        f"| timeouts | {s.get('timeouts', 0)} |",
        f"| answers cut at max_new_tokens ({s.get('max_new_tokens', '-')}) | {s.get('hit_token_cap', 0)} |",
    ]
    fix = s.get("correction")
    if fix:
        lines += [f"| fixes attempted / changed verdict | {fix['attempted']} / {fix['changed_verdict']} "
                  f"(+{fix['gained']} -{fix['lost']}) |"]
    if lat:
        lines += [
            f"| generation latency p50 / p95 (s) | {lat['generation_p50_s']:.2f} / {lat['generation_p95_s']:.2f} |",
            f"| execution latency p50 / p95 (s) | {lat['execution_p50_s']:.3f} / {lat['execution_p95_s']:.3f} |",
            f"| tokens per second | {lat['tokens_per_second']:.1f} |",
        ]
    by = s.get("by_difficulty") or {}
    if by:
        lines += ["", "| difficulty | n | execution accuracy |", "|---|---|---|"]
        lines += [f"| {k} | {v['n']} | {v['execution_accuracy']:.3f} |" for k, v in by.items()]
    return "\n".join(lines)


def chart(report: dict, path: Path) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["summary"]
    labels = ["all"] + list((s.get("by_difficulty") or {}).keys())
    values = [s["execution_accuracy"]] + [v["execution_accuracy"] for v in (s.get("by_difficulty") or {}).values()]
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    ax.bar(labels, values, color=["tab:blue"] + ["tab:gray"] * (len(labels) - 1))
    ax.set_ylim(0, 1)
    ax.set_ylabel("execution accuracy")
    ax.set_title(f"{s.get('model', '')} on {s.get('data', '')}: EX {s['execution_accuracy']:.3f}, EM {s['exact_match']:.3f}")
    for x, v in enumerate(values):
        ax.text(x, v + 0.02, f"{v:.2f}", ha="center")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return path


def write_eval_outputs(report: dict, out_dir: Path) -> None:
    """report.json, report.md, report.png and examples.jsonl (one line per question, for error analysis)."""
    atomic.write_json(out_dir / "report.json", report)
    atomic.write_text(out_dir / "report.md", markdown_report(report) + "\n")
    atomic.write_text(out_dir / "examples.jsonl", "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in report["examples"]))
    chart(report, out_dir / "report.png")
