"""A run's plan: what is fixed when a run starts and holds in every later session.

    global_batch  rows per optimizer step, over all processes (batch_size x accumulation x processes)
    max_steps     optimizer steps of the whole run
    world_size    processes when the run started
    data          fingerprint of the training stream: its rows in order, the tokenizer, and the
                  versions of the libraries that turn examples into tokens
    fingerprint   the configuration's training-math fingerprint (RunConfig.fingerprint)

Data order: the stream is repeated or cut to exactly max_steps x global_batch rows, read in
order, so optimizer step k trains rows [k*G, (k+1)*G) whatever the number of processes. Another
process count keeps global_batch by changing gradient accumulation; a count that cannot split it
is refused. Pure and importable without torch: the pull code checks a stored run with it.
"""

from __future__ import annotations

import hashlib
import json
import math
from array import array
from importlib import metadata
from typing import Any

from .config import diff_keys, training_math
from .errors import ConfigError

TOKENIZATION_LIBRARIES = ("transformers", "tokenizers", "jinja2")  # jinja2 renders the chat template
ROW_KEYS = ("input_ids", "labels", "position_ids")


def rows_digest(rows: list[dict]) -> str:
    """sha256 of the rows in order (token ids, labels, positions): what training actually reads."""
    h = hashlib.sha256()
    for row in rows:
        for key in ROW_KEYS:
            values = row.get(key)
            h.update(key.encode() + len(values or ()).to_bytes(8, "little"))
            if values:
                h.update(array("q", values).tobytes())
    return h.hexdigest()


def tokenizer_digest(tokenizer) -> str:
    """sha256 of what the tokenizer does: its full backend (vocab, merges, normalizer, added tokens),
    chat template and special tokens."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    parts = {
        "backend": backend.to_str() if backend is not None else sorted(tokenizer.get_vocab().items()),
        "chat_template": getattr(tokenizer, "chat_template", None),
        "special": {"pad": tokenizer.pad_token_id, "eos": tokenizer.eos_token_id, "bos": tokenizer.bos_token_id},
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def library_versions() -> dict[str, str | None]:
    out = {}
    for name in TOKENIZATION_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def data_fingerprint(rows: list[dict], tokenizer) -> dict[str, Any]:
    return {"rows": rows_digest(rows), "row_count": len(rows), "tokenizer": tokenizer_digest(tokenizer),
            "versions": library_versions()}


def make_plan(training, rows: int, data: dict, world_size: int, fingerprint: str) -> dict[str, Any]:
    """This session's plan for a fresh run (`training`: a TrainingConfig). A stored run's plan wins."""
    if rows < 1:
        raise ConfigError("the data stages produced no training rows: check data.stages and data.max_seq_length")
    global_batch = training.batch_size * training.gradient_accumulation_steps * world_size
    return {
        "global_batch": global_batch,
        "max_steps": training.max_steps or math.ceil(rows / global_batch),  # 0 = one pass over the stream
        "world_size": world_size,
        "data": data,
        "fingerprint": fingerprint,
    }


def split_problem(global_batch: int, batch_size: int, world_size: int) -> str | None:
    """Why `world_size` processes of `batch_size` rows cannot make up `global_batch` (None = they can)."""
    if global_batch % (batch_size * world_size) == 0:
        return None
    hint = f" (the process count must divide {global_batch // batch_size})" if global_batch % batch_size == 0 else ""
    return f"global batch {global_batch} does not split into {world_size} process(es) x batch {batch_size}{hint}"


def accumulation(plan: dict, batch_size: int, world_size: int) -> int:
    """Gradient accumulation that keeps the plan's global batch with `world_size` processes."""
    problem = split_problem(plan["global_batch"], batch_size, world_size)
    if problem:
        raise ConfigError(f"this run's {problem}")
    return plan["global_batch"] // (batch_size * world_size)


def plan_changes(stored_manifest: dict, config: dict, plan: dict) -> list[str]:
    """What stops this session from resuming a stored run ([] = it may resume).

    `stored_manifest`: the stored run.json (or any dict with its "config" and "plan");
    `config`: this session's RunConfig.to_dict(); `plan`: this session's make_plan(...).
    Names settings by dotted key (e.g. "training.learning_rate"); data as "data rows", with the
    likely cause beside it ("tokenizer", "transformers version"); and a process count that cannot
    keep the global batch. A process count that can keep it is not a change.
    """
    stored_config = stored_manifest.get("config")
    changes = sorted(diff_keys(training_math(stored_config), training_math(config))) if stored_config else []
    stored_plan = stored_manifest.get("plan")
    if not stored_plan or not plan:
        return changes  # written before plans existed, or nothing to compare against
    old, new = stored_plan.get("data") or {}, plan.get("data") or {}
    if old.get("rows") != new.get("rows"):
        changes.append("data rows")
        if old.get("tokenizer") != new.get("tokenizer"):
            changes.append("tokenizer")
        old_versions, new_versions = old.get("versions") or {}, new.get("versions") or {}
        changes += [f"{lib} version" for lib in sorted(set(old_versions) | set(new_versions))
                    if old_versions.get(lib) != new_versions.get(lib)]
    batch_size = (config.get("training") or {}).get("batch_size")
    if batch_size and plan.get("world_size"):
        problem = split_problem(stored_plan["global_batch"], batch_size, plan["world_size"])
        if problem:
            changes.append(f"process count ({stored_plan.get('world_size')} -> {plan['world_size']}: {problem})")
    return changes


def batch_seed(seed: int, position: int) -> int:
    """The RNG seed of the micro-batch starting at `position` of the planned stream."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{position}".encode()).digest()[:8], "little") >> 1
