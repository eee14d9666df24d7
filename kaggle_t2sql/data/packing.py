"""Sequence packing without cross-contamination, and the collators for both modes.

Packed rows carry `position_ids` that restart at 0 for every example and NO
attention mask: transformers then derives a block-diagonal causal mask from the
position resets (SDPA/eager), so no example attends to another. An all-ones mask
would silently let them see each other. Padding at the end of a row is its own
block with labels -100.

Without packing, rows are single examples padded with a regular attention mask
(transformers' DataCollatorForSeq2Seq).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .tokenization import IGNORE_INDEX


def pack_indices(lengths: list[int], max_len: int, open_packs: int = 32) -> list[list[int]]:
    """Group example indices into packs of total length <= max_len.

    First fit over a small window of open packs: close to the fill of first-fit
    decreasing, while keeping the curriculum order (a pack is emitted when it is the
    oldest of more than `open_packs` open ones). Deterministic.
    """
    packs: list[tuple[list[int], int]] = []  # open packs: (indices, used length)
    done: list[list[int]] = []
    for i, n in enumerate(lengths):
        if n > max_len:
            raise ValueError(f"example {i} has {n} tokens, more than max_len={max_len}")
        for k, (idx, used) in enumerate(packs):
            if used + n <= max_len:
                idx.append(i)
                packs[k] = (idx, used + n)
                break
        else:
            packs.append(([i], n))
            if len(packs) > open_packs:
                done.append(packs.pop(0)[0])
    done.extend(idx for idx, _ in packs)
    return done


def pack_encoded(encoded: list[dict], max_len: int, open_packs: int = 32) -> list[dict]:
    """Concatenate encoded examples into packed rows with per-example position_ids."""
    rows = []
    for group in pack_indices([len(e["input_ids"]) for e in encoded], max_len, open_packs):
        row = {"input_ids": [], "labels": [], "position_ids": [], "n_examples": len(group)}
        for i in group:
            ids = encoded[i]["input_ids"]
            row["input_ids"].extend(ids)
            row["labels"].extend(encoded[i]["labels"])
            row["position_ids"].extend(range(len(ids)))
        rows.append(row)
    return rows


@dataclass
class PackedCollator:
    """Pads packed rows to the longest in the batch; the padding is a separate position block."""

    pad_token_id: int

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        longest = max(len(f["input_ids"]) for f in features)
        batch = {"input_ids": [], "labels": [], "position_ids": []}
        for f in features:
            pad = longest - len(f["input_ids"])
            batch["input_ids"].append(list(f["input_ids"]) + [self.pad_token_id] * pad)
            batch["labels"].append(list(f["labels"]) + [IGNORE_INDEX] * pad)
            batch["position_ids"].append(list(f["position_ids"]) + list(range(pad)))
        return {k: torch.tensor(v, dtype=torch.long) for k, v in batch.items()}


def padded_collator(tokenizer):
    """No-packing mode: one example per row, right padding, attention mask, labels -100 on padding."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, padding="longest", label_pad_token_id=IGNORE_INDEX, return_tensors="pt")


def real_token_share(rows: list[dict], batch_size: int) -> float:
    """Share of non-pad tokens when rows are batched in order and padded to each batch's longest."""
    real = total = 0
    for start in range(0, len(rows), batch_size):
        batch = [len(r["input_ids"]) for r in rows[start : start + batch_size]]
        real += sum(batch)
        total += max(batch) * len(batch)
    return real / total if total else 0.0
