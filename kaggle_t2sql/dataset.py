"""Configured stages -> the tokenized, prompt-masked, packed training dataset (map-style, so a
resumed Trainer skips to its position instantly instead of re-reading)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from .config import DataConfig
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

    def lines(self) -> list[str]:
        out = [f"stage {s.name}: {s.count} examples" for s in self.stages]
        out.append("by complexity: " + ", ".join(f"{k} {v}" for k, v in self.by_complexity.items()))
        out.append(f"tokenized: {self.encode.summary()}")
        out.append(f"{self.rows} training rows, {self.tokens} tokens, real-token share {self.real_token_share:.3f}")
        return out + self.notes


def build_rows(data: DataConfig, tokenizer, batch_size: int, progress: bool = True) -> tuple[list[dict], DataReport]:
    stream, plans = training_stream(data)
    encoded, stats = encode_examples(
        stream, tokenizer, data.max_seq_length, data.prompt_style, data.value_limit, progress=progress,
        value_retrieval=data.value_retrieval,
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
    )
    return rows, report


class RowsDataset:
    """Map-style dataset over in-memory rows (a torch Dataset by protocol).

    Rows of repeated examples (epochs, stages) share their token lists, so a
    100k-example stream costs memory for its unique examples only; indexing is O(1),
    which is what lets a resumed Trainer skip thousands of batches instantly.
    """

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict:
        row = self.rows[i]
        return {k: row[k] for k in MODEL_INPUTS if k in row}


def collator_for(data: DataConfig, tokenizer):
    return PackedCollator(tokenizer.pad_token_id) if data.packing else padded_collator(tokenizer)
