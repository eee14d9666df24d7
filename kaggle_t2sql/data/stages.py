"""A configured data stage -> its examples: the reader its source names, then sampling and the cap.

Apart from the readers (readers.py) so that the bundled demo data, itself read with
`read_jsonl`, is one more source here without an import circle.
"""

from __future__ import annotations

import random

from ..config import StageConfig
from ..errors import DataError
from ..inputs import resolve_input
from . import bundled
from .examples import Example
from .readers import read_bird, read_jsonl, read_spider, read_synsql


def read_stage(stage: StageConfig, seed: int = 42) -> list[Example]:
    """All examples of one configured stage (sampled and capped); never empty."""
    path, db_root = resolve_input(stage.path), resolve_input(stage.db_root)  # kaggle: refs -> wherever mounted
    if stage.source == "bundled":
        examples = bundled.load_examples(stage.split)
    elif not path:
        raise DataError(f"stage {stage.name!r}: source {stage.source!r} needs a path (set data.stages.N.path)")
    elif stage.source == "synsql":
        examples = list(read_synsql(path, per_complexity=stage.per_complexity, seed=seed))
    elif stage.source == "spider":
        examples = read_spider(path, stage.split)
    elif stage.source == "bird":
        examples = read_bird(path, stage.split)
    else:
        examples = read_jsonl(path, db_root or None)
    if stage.per_complexity and stage.source != "synsql":
        examples = sample_per_complexity(examples, stage.per_complexity, seed)
    if stage.limit:
        examples = examples[: stage.limit]
    if not examples:
        raise DataError(f"stage {stage.name!r} ({stage.source}, {stage.path or stage.split}) has no examples: check the path and split")
    return examples


def sample_per_complexity(examples: list[Example], n: int, seed: int) -> list[Example]:
    """A seeded sample of at most n per sql_complexity level, kept in input order."""
    rng = random.Random(seed)
    by_level: dict[str, list[int]] = {}
    for i, ex in enumerate(examples):
        by_level.setdefault(ex.sql_complexity, []).append(i)
    keep = sorted(i for idx in by_level.values() for i in (idx if len(idx) <= n else rng.sample(idx, n)))
    return [examples[i] for i in keep]
