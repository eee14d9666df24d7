"""Examples -> token ids with prompt-masked labels, under a truncation policy that never cuts the target.

The prompt is built here for training, eval, ask and `prompts` alike: schema text with
sampled example values and (with `value_retrieval`) the database values that match the
question. Too long? First shrink the schema's sampled values (value_limit, then fewer,
then none); still too long, drop the example and count it. Labels are -100 on the
prompt, so the loss is on the answer (and its end-of-turn token) only.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from ..errors import DataError
from .examples import Example
from .prompts import build_messages, question_with_evidence, render_prompt, training_target
from .schema import schema_text

IGNORE_INDEX = -100
END_OF_TURN = "<|im_end|>"


@dataclass
class EncodeStats:
    kept: int = 0
    shrunk: int = 0  # kept, with fewer example values in the schema
    dropped: int = 0  # could not fit even with no example values
    dropped_ids: list[str] = field(default_factory=list)
    by_level: dict[str, dict[str, int]] = field(default_factory=dict)  # sql_complexity -> examples/shrunk/dropped

    def summary(self) -> str:
        return f"{self.kept} kept ({self.shrunk} with shrunk schema values), {self.dropped} dropped as too long"

    def count(self, level: str, outcome: str) -> None:
        counts = self.by_level.setdefault(level, {"examples": 0, "shrunk": 0, "dropped": 0})
        counts["examples"] += 1
        if outcome != "kept":
            counts[outcome] += 1

    def level_table(self) -> list[str]:
        """Markdown rows: the share of each complexity level's examples shrunk and dropped."""
        from .examples import complexity_rank

        rows = ["| complexity | examples | shrunk | dropped |", "|---|---|---|---|"]
        for level in sorted(self.by_level, key=lambda lv: (complexity_rank(lv), lv)):
            c = self.by_level[level]
            n = c["examples"]
            rows.append(f"| {level} | {n} | {c['shrunk'] / n:.1%} | {c['dropped'] / n:.1%} |")
        return rows


def end_of_turn_id(tokenizer) -> int:
    """`<|im_end|>` ends every assistant turn in ChatML (151645 for Qwen2.5/Arctic)."""
    token_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        token_id = tokenizer.eos_token_id
    if token_id is None:
        raise DataError("the tokenizer has neither <|im_end|> nor an eos token: use a ChatML (Qwen2) tokenizer")
    return int(token_id)


def augmentation_rng(example: Example, seed: int) -> random.Random:
    """The example's own generator for train-mode schema augmentation: the same draws in every
    session and at every value limit, whatever else was encoded before (so resume stays exact)."""
    return random.Random(f"{seed}:{example.id}:{example.db_id}")


def db_details(example: Example, value_limit: int = 2, value_retrieval: bool = True,
               augment_seed: int | None = None) -> str:
    """The schema text of the example's database, with the values matching its question when asked;
    with `augment_seed`, OmniSQL's train-mode augmentation (seeded per example)."""
    matched = None
    if value_retrieval:
        from .retrieval import matched_values

        matched = matched_values(example.db_path, question_with_evidence(example.question, example.external_knowledge))
    rng = augmentation_rng(example, augment_seed) if augment_seed is not None else None
    return schema_text(example.db_path, value_limit, matched, example.tables_json or None, example.db_id,
                       augment_rng=rng, output_seq=example.cot or example.sql, synthetic=example.synthetic)


def prompt_messages(example: Example, style: str = "arctic", value_limit: int = 2,
                    value_retrieval: bool = True, augment_seed: int | None = None) -> list[dict]:
    details = db_details(example, value_limit, value_retrieval, augment_seed)
    return build_messages(details, example.question, example.external_knowledge, style)


def prompt_text(example: Example, tokenizer, style: str = "arctic", value_limit: int = 2,
                value_retrieval: bool = True, augment_seed: int | None = None) -> str:
    """The exact generation prompt for one example (used for training and inference alike)."""
    return render_prompt(tokenizer, prompt_messages(example, style, value_limit, value_retrieval, augment_seed), style)


def encode_example(
    example: Example, tokenizer, max_seq_length: int, style: str = "arctic", value_limit: int = 2,
    value_retrieval: bool = True, augment_seed: int | None = None,
) -> dict | None:
    """input_ids/labels for one example, or None when it cannot fit without cutting the target."""
    target_ids = tokenizer(training_target(example, style), add_special_tokens=False)["input_ids"]
    target_ids = list(target_ids) + [end_of_turn_id(tokenizer)]
    for limit in range(value_limit, -1, -1):
        text = prompt_text(example, tokenizer, style, limit, value_retrieval, augment_seed)
        prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(prompt_ids) + len(target_ids) <= max_seq_length:
            return {
                "input_ids": list(prompt_ids) + target_ids,
                "labels": [IGNORE_INDEX] * len(prompt_ids) + target_ids,
                "value_limit": limit,
            }
    return None


def encode_examples(
    examples: list[Example],
    tokenizer,
    max_seq_length: int,
    style: str = "arctic",
    value_limit: int = 2,
    progress: bool = True,
    value_retrieval: bool = True,
    augment_seed: int | None = None,
) -> tuple[list[dict], EncodeStats]:
    """Encode in order; report how many were shrunk or dropped. Raises when nothing fits."""
    stats = EncodeStats()
    encoded = []
    memo: dict[Example, dict | None] = {}  # epochs and repeated stages encode each example once
    for ex in tqdm(examples, desc="tokenizing", unit="ex", disable=not progress, leave=False, delay=2):
        if ex not in memo:
            memo[ex] = encode_example(ex, tokenizer, max_seq_length, style, value_limit, value_retrieval, augment_seed)
        item = memo[ex]
        if item is None:
            stats.dropped += 1
            stats.dropped_ids.append(ex.id)
            stats.count(ex.sql_complexity, "dropped")
            continue
        stats.kept += 1
        stats.shrunk += item["value_limit"] < value_limit
        stats.count(ex.sql_complexity, "shrunk" if item["value_limit"] < value_limit else "kept")
        encoded.append({**item, "id": ex.id})
    if not encoded:
        raise DataError(
            f"all {len(examples)} examples are longer than data.max_seq_length={max_seq_length} tokens "
            "even without example values: raise data.max_seq_length"
        )
    return encoded, stats
