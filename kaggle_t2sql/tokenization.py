"""Examples -> token ids with prompt-masked labels, under a truncation policy that never cuts the target.

The prompt is built here for training, eval, ask and `prompts` alike: schema text with
sampled example values and (with `value_retrieval`) the database values that match the
question. Too long? First shrink the schema's sampled values (value_limit, then fewer,
then none); still too long, drop the example and count it. Labels are -100 on the
prompt, so the loss is on the answer (and its end-of-turn token) only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .errors import DataError
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

    def summary(self) -> str:
        return f"{self.kept} kept ({self.shrunk} with shrunk schema values), {self.dropped} dropped as too long"


def end_of_turn_id(tokenizer) -> int:
    """`<|im_end|>` ends every assistant turn in ChatML (151645 for Qwen2.5/Arctic)."""
    token_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
    if token_id is None or token_id == tokenizer.unk_token_id:
        token_id = tokenizer.eos_token_id
    if token_id is None:
        raise DataError("the tokenizer has neither <|im_end|> nor an eos token: use a ChatML (Qwen2) tokenizer")
    return int(token_id)


def db_details(example: Example, value_limit: int = 2, value_retrieval: bool = True) -> str:
    """The schema text of the example's database, with the values matching its question when asked."""
    matched = None
    if value_retrieval:
        from .infer.retrieval import matched_values

        matched = matched_values(example.db_path, question_with_evidence(example.question, example.external_knowledge))
    return schema_text(example.db_path, value_limit, matched)


def prompt_messages(example: Example, style: str = "arctic", value_limit: int = 2,
                    value_retrieval: bool = True) -> list[dict]:
    details = db_details(example, value_limit, value_retrieval)
    return build_messages(details, example.question, example.external_knowledge, style)


def prompt_text(example: Example, tokenizer, style: str = "arctic", value_limit: int = 2,
                value_retrieval: bool = True) -> str:
    """The exact generation prompt for one example (used for training and inference alike)."""
    return render_prompt(tokenizer, prompt_messages(example, style, value_limit, value_retrieval), style)


def encode_example(
    example: Example, tokenizer, max_seq_length: int, style: str = "arctic", value_limit: int = 2,
    value_retrieval: bool = True,
) -> dict | None:
    """input_ids/labels for one example, or None when it cannot fit without cutting the target."""
    target_ids = tokenizer(training_target(example, style), add_special_tokens=False)["input_ids"]
    target_ids = list(target_ids) + [end_of_turn_id(tokenizer)]
    for limit in range(value_limit, -1, -1):
        prompt_ids = tokenizer(prompt_text(example, tokenizer, style, limit, value_retrieval), add_special_tokens=False)["input_ids"]
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
) -> tuple[list[dict], EncodeStats]:
    """Encode in order; report how many were shrunk or dropped. Raises when nothing fits."""
    stats = EncodeStats()
    encoded = []
    memo: dict[Example, dict | None] = {}  # epochs and repeated stages encode each example once
    for ex in tqdm(examples, desc="tokenizing", unit="ex", disable=not progress, leave=False, delay=2):
        if ex not in memo:
            memo[ex] = encode_example(ex, tokenizer, max_seq_length, style, value_limit, value_retrieval)
        item = memo[ex]
        if item is None:
            stats.dropped += 1
            stats.dropped_ids.append(ex.id)
            continue
        stats.kept += 1
        stats.shrunk += item["value_limit"] < value_limit
        encoded.append({**item, "id": ex.id})
    if not encoded:
        raise DataError(
            f"all {len(examples)} examples are longer than data.max_seq_length={max_seq_length} tokens "
            "even without example values: raise data.max_seq_length"
        )
    return encoded, stats
