"""`eval`: generate SQL with the 4-bit base + adapter, then score it by execution.

Greedy (one sample, temperature 0) or self-consistency: n samples at temperature T, the
answer is the SQL whose execution result most samples agree on (Arctic/OmniSQL's
voting). SQL is the last ```sql block of each generation. Scoring is `scoring.py`'s,
on files in the official gold/pred formats, so a run can be re-scored by
`kaggle-t2sql score` or the official evaluators.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from . import atomic
from .config import RunConfig
from .errors import ConfigError
from .examples import Example
from .prompts import extract_sql
from .tokenization import end_of_turn_id, prompt_text


@dataclass
class EvalSettings:
    data: str = "bundled"  # bundled | spider | bird | jsonl
    data_path: str = ""
    split: str = "dev"
    limit: int = 0
    samples: int = 1
    temperature: float = 0.8  # used when samples > 1
    max_new_tokens: int = 1024
    batch_size: int = 4
    semantics: str = "test-suite"  # bird data defaults to "bird"
    timeout: float = 10.0
    workers: int = 0  # 0 = one per CPU


def load_eval_examples(s: EvalSettings) -> list[Example]:
    from . import bundled
    from .readers import read_bird, read_jsonl, read_spider

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


def load_for_inference(cfg: RunConfig, adapter: str | Path | None):
    """4-bit base (+ the adapter of a checkpoint folder), eval mode, left padding for batching."""
    from .model import load_base_model, load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    tokenizer.padding_side = "left"
    model = load_base_model(cfg)
    if adapter:
        from peft import PeftModel

        from .console import peft_deprecation_quiet

        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ConfigError(f"--adapter {adapter} holds no adapter_config.json: give a checkpoint-N folder")
        with peft_deprecation_quiet():
            model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tokenizer


def generate(model, tokenizer, prompts: list[str], s: EvalSettings, progress: bool = True) -> list[dict]:
    """Per prompt: `texts` (samples), `seconds` (its share of the batch time), `new_tokens`."""
    import torch

    out = []
    sampling = s.samples > 1
    stop = [end_of_turn_id(tokenizer)]
    for start in tqdm(range(0, len(prompts), s.batch_size), desc="generating", disable=not progress, leave=False):
        batch = prompts[start : start + s.batch_size]
        enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            generated = model.generate(
                **enc,
                max_new_tokens=s.max_new_tokens,
                do_sample=sampling,
                temperature=s.temperature if sampling else None,
                top_p=None,
                top_k=None,
                num_return_sequences=s.samples,
                eos_token_id=stop,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
            )
        seconds = time.perf_counter() - t0
        new = generated[:, enc["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new, skip_special_tokens=True)
        counts = (new != tokenizer.pad_token_id).sum(dim=1).tolist()
        for i in range(len(batch)):
            rows = range(i * s.samples, (i + 1) * s.samples)
            out.append({"texts": [texts[r] for r in rows], "new_tokens": sum(counts[r] for r in rows),
                        "seconds": seconds / len(batch)})
    return out


def vote(db_path: str, candidates: list[str], timeout: float) -> tuple[str, int]:
    """The candidate whose execution result the most candidates share (failed runs do not vote)."""
    from .execution import execute_sql

    if len(candidates) == 1:
        return candidates[0], 1
    keys = []
    for sql in candidates:
        result = execute_sql(db_path, sql, timeout=timeout) if sql.strip() else None
        keys.append(None if result is None or not result.ok else tuple(sorted(map(repr, result.rows))))
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return candidates[0], 0
    best, votes = counts.most_common(1)[0]
    return candidates[keys.index(best)], votes


def _db_links(examples: list[Example], root: Path) -> Path:
    """A db_root in the official <db_id>/<db_id>.sqlite layout, whatever the source layout."""
    for ex in examples:
        link = root / ex.db_id / f"{ex.db_id}.sqlite"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(ex.db_path).resolve())
    return root


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q * (len(values) - 1))))]


def run_eval(cfg: RunConfig, s: EvalSettings, adapter: str | Path | None, out_dir: str | Path, progress: bool = True) -> dict:
    from .scoring import score_files

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    examples = load_eval_examples(s)
    if not examples:
        raise ConfigError("no evaluation examples: check --data / --split / --limit")
    model, tokenizer = load_for_inference(cfg, adapter)
    prompts = [prompt_text(ex, tokenizer, cfg.data.prompt_style, cfg.data.value_limit) for ex in examples]
    generations = generate(model, tokenizer, prompts, s, progress)

    predictions, votes = [], []
    for ex, gen in zip(examples, generations):
        sql, n_votes = vote(ex.db_path, [extract_sql(t) for t in gen["texts"]], s.timeout)
        predictions.append(sql)
        votes.append(n_votes)

    gold_path, pred_path = out_dir / "gold.sql", out_dir / "pred.sql"
    atomic.write_text(gold_path, "".join(f"{' '.join(ex.sql.split())}\t{ex.db_id}\n" for ex in examples))
    atomic.write_text(pred_path, "".join(f"{' '.join(sql.split())}\n" for sql in predictions))
    semantics = "bird" if s.data == "bird" and s.semantics == "test-suite" else s.semantics
    report = score_files(gold_path, pred_path, _db_links(examples, out_dir / "databases"), semantics=semantics,
                         timeout=s.timeout, workers=s.workers or None, difficulties=[ex.difficulty or ex.sql_complexity for ex in examples],
                         progress=progress)

    gen_seconds = [g["seconds"] for g in generations]
    exec_seconds = [e.get("pred_seconds") or 0.0 for e in report["examples"]]
    total_tokens = sum(g["new_tokens"] for g in generations)
    report["summary"]["latency"] = {
        "generation_p50_s": percentile(gen_seconds, 0.5),
        "generation_p95_s": percentile(gen_seconds, 0.95),
        "execution_p50_s": percentile(exec_seconds, 0.5),
        "execution_p95_s": percentile(exec_seconds, 0.95),
        "tokens_per_second": total_tokens / sum(gen_seconds) if sum(gen_seconds) else 0.0,
    }
    report["summary"].update({"model": cfg.model.name_or_path, "adapter": str(adapter or ""), "data": s.data,
                              "samples": s.samples, "temperature": s.temperature if s.samples > 1 else 0.0})
    for ex, item, gen, sql, n_votes in zip(examples, report["examples"], generations, predictions, votes):
        item.update({"id": ex.id, "question": ex.question, "gold": ex.sql, "prediction": sql, "votes": n_votes,
                     "generation": gen["texts"][0], "generation_seconds": gen["seconds"]})
    write_eval_outputs(report, out_dir)
    return report


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
    ]
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
