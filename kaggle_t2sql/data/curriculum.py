"""Curriculum: the order examples are seen in, stage after stage.

Within a stage, "complexity" orders Simple -> Moderate -> Complex -> Highly Complex
(stable, so the source order holds inside a level); "none" keeps the source order.
Stages follow each other (e.g. general SynSQL data, then your own database) in one
deterministic stream, so each stage continues from the previous stage's adapter and
a resumed run sees exactly the same sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import DataConfig
from .examples import Example, complexity_rank
from .stages import read_stage


def order_examples(examples: list[Example], curriculum: str) -> list[Example]:
    if curriculum == "complexity":
        return sorted(examples, key=lambda ex: complexity_rank(ex.sql_complexity))
    return list(examples)


@dataclass(frozen=True)
class StagePlan:
    name: str
    start: int  # index of the stage's first example in the stream
    count: int


def training_stream(data: DataConfig) -> tuple[list[Example], list[StagePlan]]:
    """All stages read, ordered and repeated for their epochs, concatenated in stage order."""
    stream: list[Example] = []
    plans: list[StagePlan] = []
    for stage in data.stages:
        ordered = order_examples(read_stage(stage, seed=data.seed), data.curriculum)
        start = len(stream)
        for _ in range(stage.epochs):
            stream.extend(ordered)
        plans.append(StagePlan(stage.name, start, len(stream) - start))
    return stream, plans
