"""`prompts`: the exact text the model is given for each question of a dataset, as JSONL.

One builder serves training, eval, ask and this command (`tokenization.prompt_text`), so
what is written here is what the model sees; `schema` is the `db_details` part of it and
`matched_values` the values retrieval put there.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm.auto import tqdm

from .. import atomic
from ..config import DataConfig
from ..data.examples import Example
from ..data.prompts import build_messages, render_prompt
from ..data.tokenization import db_details


def prompt_record(example: Example, tokenizer, data: DataConfig) -> dict:
    details = db_details(example, data.value_limit, data.value_retrieval)
    messages = build_messages(details, example.question, example.external_knowledge, data.prompt_style)
    return {"id": example.id, "db_id": example.db_id, "question": example.question,
            "external_knowledge": example.external_knowledge, "gold_sql": example.sql,
            "prompt": render_prompt(tokenizer, messages, data.prompt_style), "schema": details}


def write_prompts(examples: list[Example], tokenizer, data: DataConfig, out: str | Path, progress: bool = True) -> int:
    """Write one JSON object per question to `out` (atomically); returns how many."""
    lines = [json.dumps(prompt_record(ex, tokenizer, data), ensure_ascii=False)
             for ex in tqdm(examples, desc="building prompts", unit="q", disable=not progress)]
    atomic.write_text(out, "".join(line + "\n" for line in lines))
    return len(lines)
