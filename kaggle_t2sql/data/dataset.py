"""Configured stages -> the tokenized, prompt-masked, packed training dataset (map-style, so a
resumed Trainer skips to its position instantly instead of re-reading)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from ..config import DataConfig
from .curriculum import StagePlan, training_stream
from .packing import PackedCollator, pack_encoded, padded_collator, real_token_share
from .tokenization import EncodeStats, encode_examples

MODEL_INPUTS = ("input_ids", "labels", "position_ids", "attention_mask")


@dataclass
class DataReport:
    stages: list[StagePlan]
    examples: int
    by_complexity: dict[str, int]
    encode: EncodeStats
    rows: int
    tokens: int
    real_token_share: float  # at the configured batch size
    notes: list[str] = field(default_factory=list)
    max_seq_length: int = 0

    def lines(self) -> list[str]:
        out = [f"stage {s.name}: {s.count} examples" for s in self.stages]
        out.append("by complexity: " + ", ".join(f"{k} {v}" for k, v in self.by_complexity.items()))
        out.append(f"tokenized: {self.encode.summary()}")
        out.append("shrunk (fewer schema values) and dropped (too long) per complexity, "
                   f"at max_seq_length {self.max_seq_length}:")
        out.extend(self.encode.level_table())
        out.append(f"{self.rows} training rows, {self.tokens} tokens, real-token share {self.real_token_share:.3f}")
        return out + self.notes


def build_rows(data: DataConfig, tokenizer, batch_size: int, progress: bool = True) -> tuple[list[dict], DataReport]:
    stream, plans = training_stream(data)
    encoded, stats = encode_examples(
        stream, tokenizer, data.max_seq_length, data.prompt_style, data.value_limit, progress=progress,
        value_retrieval=data.value_retrieval, augment_seed=data.seed if data.schema_augmentation else None,
    )
    if data.packing:
        rows = pack_encoded(encoded, data.max_seq_length)
    else:
        rows = [{"input_ids": e["input_ids"], "labels": e["labels"]} for e in encoded]  # the collator adds the mask
    report = DataReport(
        stages=plans,
        examples=len(stream),
        by_complexity=dict(Counter(ex.sql_complexity for ex in stream)),
        encode=stats,
        rows=len(rows),
        tokens=sum(len(r["input_ids"]) for r in rows),
        real_token_share=real_token_share(rows, batch_size),
        max_seq_length=data.max_seq_length,
    )
    return rows, report


RNG_KEY = "rng_key"  # a batch's position in the planned stream: the trainer seeds its randomness with it


class RowsDataset:
    """Map-style dataset over the planned stream: the rows in order, repeated or cut to `length`
    (a torch Dataset by protocol). Each item carries its position in that stream.

    Rows of repeated examples (epochs, stages) share their token lists, so a
    100k-example stream costs memory for its unique examples only; indexing is O(1),
    which is what lets a resumed Trainer skip thousands of batches instantly.
    """

    def __init__(self, rows: list[dict], length: int | None = None):
        self.rows = rows
        self.length = len(rows) if length is None else length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.length:
            raise IndexError(i)
        row = self.rows[i % len(self.rows)]
        return {**{k: row[k] for k in MODEL_INPUTS if k in row}, RNG_KEY: i}


@dataclass
class KeyedCollator:
    """Collates with `collate` and adds the batch's first position as RNG_KEY (a plain int)."""

    collate: Callable[[list[dict]], dict]

    def __call__(self, features: list[dict]) -> dict:
        batch = self.collate([{k: v for k, v in f.items() if k != RNG_KEY} for f in features])
        batch[RNG_KEY] = features[0][RNG_KEY]
        return batch


def collator_for(data: DataConfig, tokenizer) -> KeyedCollator:
    return KeyedCollator(PackedCollator(tokenizer.pad_token_id) if data.packing else padded_collator(tokenizer))
