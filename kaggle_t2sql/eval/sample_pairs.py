"""What `sample` derives from its judged candidates, as pure functions of samples.jsonl's records: rejection-
sampling fine-tuning rows (rft.jsonl), ExCoT preference pairs (pairs.jsonl), and the report's figures (pass@k)."""

from __future__ import annotations

from math import comb

from ..data.examples import Example
from ..data.prompts import training_target

THINK_END = "</think>"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two strings (characters)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def reasoning_of(completion: str, style: str) -> str:
    """The `cot` of a completion: under Arctic's prompt (which opens `<think>`), the text before `</think>`,
    so `training_target` rebuilds the completion's shape around the SQL; under OmniSQL's, all of it."""
    if style != "arctic":
        return completion.strip()
    return completion.split(THINK_END, 1)[0].strip() if THINK_END in completion else ""


def rft_rows(record: dict, style: str) -> list[dict]:
    """The `jsonl`-source rows of one question's correct candidates (one per distinct SQL)."""
    out, seen = [], set()
    for cand in record["candidates"]:
        if cand["verdict"] != "correct" or cand["sql"] in seen:
            continue
        seen.add(cand["sql"])
        out.append({"id": f"{record['id']}-rft{len(out)}", "db_id": record["db_id"], "question": record["question"],
                    "external_knowledge": record["external_knowledge"], "sql": cand["sql"],
                    "cot": reasoning_of(cand["completion"], style), "sql_complexity": record["sql_complexity"]})
    return out


def pair_rows(record: dict, gold_as_chosen: bool, style: str) -> list[dict]:
    """ExCoT pairs of one question: each correct candidate (distinct completion) against the wrong candidate
    whose SQL is nearest by edit distance (ties: the earlier one)."""
    correct = _distinct([c for c in record["candidates"] if c["verdict"] == "correct"])
    wrong = _distinct([c for c in record["candidates"] if c["verdict"] != "correct"])
    if not wrong:
        return []
    if not correct and gold_as_chosen:
        gold = Example(id=record["id"], db_id=record["db_id"], db_path="", question=record["question"],
                       sql=record["gold_sql"])
        correct = [{"completion": training_target(gold, style), "sql": record["gold_sql"]}]
    base = {k: record[k] for k in ("db_id", "question", "external_knowledge", "gold_sql", "prompt")}
    pairs = []
    for chosen in correct:
        rejected = min(wrong, key=lambda c: edit_distance(chosen["sql"], c["sql"]))
        pairs.append({**base, "chosen": chosen["completion"], "rejected": rejected["completion"],
                      "chosen_sql": chosen["sql"], "rejected_sql": rejected["sql"]})
    return pairs


def _distinct(candidates: list[dict]) -> list[dict]:
    seen, out = set(), []
    for c in candidates:
        if c["completion"] not in seen:
            seen.add(c["completion"])
            out.append(c)
    return out


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples with c correct (Chen et al. 2021)."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def summarize(records: list[dict]) -> dict:
    """Share with at least one correct candidate, pass@1 and pass@k (k = samples), mean reward, verdict counts."""
    if not records:
        return {"questions": 0}
    n = len(records[0]["candidates"])
    correct = [sum(c["verdict"] == "correct" for c in r["candidates"]) for r in records]
    rewards = [c["reward"] for r in records for c in r["candidates"]]
    verdicts = [c["verdict"] for r in records for c in r["candidates"]]
    return {
        "questions": len(records),
        "candidates": len(rewards),
        "share_with_correct": sum(c > 0 for c in correct) / len(records),
        "pass@1": sum(pass_at_k(n, c, 1) for c in correct) / len(records),
        f"pass@{n}": sum(pass_at_k(n, c, n) for c in correct) / len(records),
        "mean_reward": sum(rewards) / len(rewards),
        "verdicts": {v: verdicts.count(v) for v in ("correct", "ran", "error")},
        # candidates cut at max_new_tokens (their SQL block may be missing): raise --max-new-tokens if many are
        "hit_token_cap": sum(bool(c.get("hit_token_cap")) for r in records for c in r["candidates"]),
    }
