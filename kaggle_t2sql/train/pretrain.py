"""Pre-training the embedded tiny model once, so the demo's LoRA has a base worth adapting.

LoRA alone cannot teach a randomly initialised base: its frozen embeddings and output layer
mean nothing, so the adapter barely moves the loss. Here the tiny model's full weights are
trained on the bundled *train* split only (the dev split stays unseen), in two stages:

1. reading: each train question followed by its SQL in a code block, every bundled schema and
   the prompt's fixed texts, as plain language modelling;
2. answering: each train question inside Arctic's user message with the schema left out
   (which keeps this stage cheap), followed by its SQL block, loss on the SQL only. A model
   this small does not learn by itself to look back across the ~250 tokens of instructions
   between the question and the answer; this stage teaches it.

The demo's LoRA then learns what is left: the full prompt with the schema in front, and
Arctic's <think>/<answer> output format. The data order is fixed by the seed, so on one thread
(`tiny.one_thread`) the same bytes come out on every run with the same torch build.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from tqdm.auto import tqdm

from ..data.examples import Example
from ..data.prompts import (
    ARCTIC_ASSISTANT_PREFIX,
    ARCTIC_OUTPUT_FORMAT,
    INSTRUCTIONS,
    OMNISQL_OUTPUT_FORMAT,
    SCHEMA_NOTE,
    SYSTEM_PROMPT,
    question_with_evidence,
    user_text,
)
from ..data.tokenization import IGNORE_INDEX


@dataclass(frozen=True)
class PretrainSettings:
    reading_steps: int = 500
    reading_batch: int = 4
    reading_seq: int = 256
    answering_steps: int = 900
    answering_batch: int = 4
    learning_rate: float = 3e-3
    warmup_steps: int = 20
    seed: int = 0


def sql_block(sql: str) -> str:
    return f"```sql\n{sql.strip()}\n```"


def reading_texts(examples: list[Example], schemas: list[str]) -> list[str]:
    """Stage 1 documents: question + SQL block per example, each schema, the prompt's fixed texts."""
    pairs = [f"{question_with_evidence(ex.question, ex.external_knowledge)}\n{sql_block(ex.sql)}" for ex in examples]
    fixed = [SYSTEM_PROMPT, SCHEMA_NOTE, INSTRUCTIONS, ARCTIC_OUTPUT_FORMAT, OMNISQL_OUTPUT_FORMAT, ARCTIC_ASSISTANT_PREFIX]
    return pairs + list(schemas) + fixed


def answering_pairs(examples: list[Example]) -> list[tuple[str, str]]:
    """Stage 2 (prompt, answer): Arctic's user message without the schema, then the SQL block."""
    return [
        (user_text("", question_with_evidence(ex.question, ex.external_knowledge)) + "\n\n", sql_block(ex.sql))
        for ex in examples
    ]


def reading_batches(docs: list[list[int]], seq: int, batch: int, rng: random.Random) -> Iterator[list[list[int]]]:
    """Endless batches of `seq`-token rows cut from the documents, shuffled once per pass."""
    while True:
        order = list(range(len(docs)))
        rng.shuffle(order)
        stream = [t for i in order for t in docs[i]]
        for start in range(0, len(stream) - seq * batch + 1, seq * batch):
            chunk = stream[start : start + seq * batch]
            yield [chunk[r * seq : (r + 1) * seq] for r in range(batch)]


def answering_batches(items: list[tuple[list[int], list[int]]], batch: int, rng: random.Random) -> Iterator[list[tuple[list[int], list[int]]]]:
    """Endless batches of (input_ids, labels) examples, shuffled once per pass."""
    while True:
        order = list(range(len(items)))
        rng.shuffle(order)
        for start in range(0, len(order) - batch + 1, batch):
            yield [items[i] for i in order[start : start + batch]]


def right_padded(rows: list[tuple[list[int], list[int]]], pad_id: int):
    """Tensors padded at the end; padding is never a label, and causal attention never looks ahead to it."""
    import torch

    longest = max(len(ids) for ids, _ in rows)
    ids = [list(i) + [pad_id] * (longest - len(i)) for i, _ in rows]
    labels = [list(lab) + [IGNORE_INDEX] * (longest - len(lab)) for _, lab in rows]
    return torch.tensor(ids), torch.tensor(labels)


def next_token_loss(model, input_ids, labels):
    """Mean cross-entropy over the labelled next tokens. The output layer runs on those positions
    only: in the answering stage that is ~1/6 of them, and it halves the step time."""
    import torch.nn.functional as F

    hidden = model.model(input_ids=input_ids).last_hidden_state[:, :-1]
    targets = labels[:, 1:]
    keep = targets != IGNORE_INDEX
    return F.cross_entropy(model.lm_head(hidden[keep]), targets[keep])


def train_stage(model, batches: Iterator, steps: int, settings: PretrainSettings, bar, name: str) -> list[float]:
    """`steps` AdamW steps over (input_ids, labels) batches: warm-up, then linear decay to 5%."""
    import torch

    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / settings.warmup_steps) * max(0.05, 1 - s / steps))
    losses = []
    for _ in range(steps):
        input_ids, labels = next(batches)
        loss = next_token_loss(model, input_ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.update(1)
        bar.set_postfix(stage=name, loss=f"{losses[-1]:.3f}")
    return losses


def pretrain(model, tokenizer, examples: list[Example], schemas: list[str], settings: PretrainSettings,
             progress: bool = True) -> list[float]:
    """Train all of `model`'s weights in place (reading, then answering); returns the per-step losses."""
    import torch

    eos = tokenizer.eos_token_id
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    docs = [encode(t) + [eos] for t in reading_texts(examples, schemas)]
    items = []
    for prompt, answer in answering_pairs(examples):
        prompt_ids, answer_ids = encode(prompt), encode(answer) + [eos]
        items.append((prompt_ids + answer_ids, [IGNORE_INDEX] * len(prompt_ids) + answer_ids))

    rng = random.Random(settings.seed)
    reading = ((t, t) for t in map(torch.tensor, reading_batches(docs, settings.reading_seq, settings.reading_batch, rng)))
    answering = (right_padded(b, tokenizer.pad_token_id) for b in answering_batches(items, settings.answering_batch, rng))
    total = settings.reading_steps + settings.answering_steps
    model.train()
    with tqdm(total=total, desc="pre-training the tiny base (once)", unit="step", disable=not progress) as bar:
        losses = train_stage(model, reading, settings.reading_steps, settings, bar, "reading")
        losses += train_stage(model, answering, settings.answering_steps, settings, bar, "answering")
    model.eval()
    return losses
