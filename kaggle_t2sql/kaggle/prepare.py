"""Prepare a small training subset (e.g. a curriculum sample of SynSQL-2.5M) as a folder that
can become a Kaggle Dataset, so training sessions do not stream 9 GB each time.

Folder: pairs.jsonl (SynSQL fields, one example per line) + databases/<db_id>/<db_id>.sqlite
for just the databases the sample uses. Read it back with a `jsonl` stage.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

from .. import atomic
from ..config import StageConfig
from ..data.stages import read_stage


def write_subset(stage: StageConfig, out_dir: str | Path, seed: int = 42) -> dict:
    """Sample the stage, copy its databases, write pairs.jsonl; the folder appears whole or not at all."""
    examples = read_stage(stage, seed=seed)
    out_dir = Path(out_dir)
    with atomic.staged_dir(out_dir) as tmp:
        for db_id, db_path in sorted({(e.db_id, e.db_path) for e in examples}):
            target = tmp / "databases" / db_id / f"{db_id}.sqlite"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(db_path, target)
        lines = [
            json.dumps({"id": e.id, "db_id": e.db_id, "question": e.question, "sql": e.sql,
                        "sql_complexity": e.sql_complexity, "question_style": e.question_style,
                        "external_knowledge": e.external_knowledge, "cot": e.cot}, ensure_ascii=False)
            for e in examples
        ]
        (tmp / "pairs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {
        "examples": len(examples),
        "databases": len({e.db_id for e in examples}),
        "by_complexity": dict(Counter(e.sql_complexity for e in examples)),
        "path": str(out_dir / "pairs.jsonl"),
    }
    atomic.write_json(out_dir / "subset.json", summary)
    return summary


def publish_folder(ref: str, folder: str | Path, note: str = "update", api=None) -> int:
    """Create the private dataset `ref` from folder, or add a version; returns the version number."""
    from .kaggle_store import KaggleStore

    store = KaggleStore(ref, api=api)
    return store.publish(Path(folder), note)
