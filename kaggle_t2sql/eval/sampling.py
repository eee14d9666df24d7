"""`sample`: the model's own candidates, judged by execution, turned into training data.

For each question, N candidates are generated with the training prompt and judged against the gold
result in the sandbox (`reward.ExecutionJudge`: the `score` harness, BIRD semantics). Three files
(the last two derived by `sample_pairs.py`):

    samples.jsonl  one line per question: every candidate's completion, SQL, verdict and reward
    rft.jsonl      rejection-sampling fine-tuning rows (a `jsonl` source): each distinct correct
                   candidate, with its reasoning as `cot` and its SQL as `sql`
    pairs.jsonl    ExCoT preference pairs (a `pairs` source): each correct candidate against the
                   wrong one whose SQL is nearest by edit distance; with `gold_as_chosen`, a question
                   with no correct candidate pairs the gold answer against its nearest wrong candidate

Resumable: every `save_every` questions the new lines are appended to samples.jsonl and
progress.json records how many questions and bytes are done (atomically). A rerun after a cut
truncates samples.jsonl to the recorded bytes and carries on at the next question. Each question's
sampling is seeded from its index, so a cut and rerun writes the same bytes as an uninterrupted run.
rft.jsonl, pairs.jsonl and report.json are pure functions of samples.jsonl, written when sampling ends.

Through a checkpoint store (`store`, `name`): a sample run is one run of the store, in its own folder
(samples.jsonl up to the last save, progress.json, a sync manifest of kind "sample" whose global_step is
the questions done), pushed by the store's own commit after every save and at the end. A run started in a
fresh folder pulls the store's copy first when it is further along, so sessions on different machines
chain with no duplicate and no lost question. A failed push is warned about and retried at the next save:
the local progress is never lost, and the store keeps its last good version.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import atomic
from ..config import RunConfig
from ..errors import ConfigError, DataError
from ..data.examples import Example
from ..data.prompts import extract_sql
from .sample_pairs import pair_rows, rft_rows, summarize

PROGRESS = "progress.json"
SAMPLES, RFT, PAIRS, REPORT = "samples.jsonl", "rft.jsonl", "pairs.jsonl", "report.json"


@dataclass
class SampleSettings:
    data: str = "bundled"  # bundled | spider | bird | jsonl
    data_path: str = ""
    split: str = "train"
    limit: int = 0
    samples: int = 8
    temperature: float = 0.8  # Arctic's RL and self-consistency temperature
    max_new_tokens: int = 1024
    seed: int = 0
    timeout: float = 10.0  # per query (Arctic/OmniSQL: 10 s)
    workers: int = 1  # sandbox workers judging the candidates
    save_every: int = 4  # questions between progress saves
    gold_as_chosen: bool = False

    def __post_init__(self):
        if self.samples < 1:
            raise ConfigError(f"--samples {self.samples}: need at least 1")
        if self.samples > 1 and self.temperature <= 0:
            raise ConfigError(f"--samples {self.samples} with --temperature {self.temperature}: sampling several "
                              "candidates needs a temperature > 0 (Arctic uses 0.8)")
        if self.save_every < 1:
            raise ConfigError(f"--save-every {self.save_every}: need at least 1")


SAMPLE_SOURCES = ("bundled", "spider", "bird", "jsonl")


def session_settings(cfg: RunConfig, sample: dict, resolve: bool = True) -> SampleSettings:
    """The SampleSettings of a notebook's sample session: the questions are the config's first data stage
    (source, path, split, limit), the rest comes from `sample` (kaggle-init's --samples, --temperature, ...).
    `resolve`: find a `kaggle:` data path among the mounted inputs (only in the session itself)."""
    from ..config_presets import default_max_new_tokens
    from ..kaggle.env import resolve_input
    from ..kaggle.kernel import SAMPLE_KEYS

    unknown = sorted(set(sample) - set(SAMPLE_KEYS))
    if unknown:
        raise ConfigError(f"unknown sample setting(s) {', '.join(unknown)} (allowed: {', '.join(SAMPLE_KEYS)})")
    stage = cfg.data.stages[0]
    if stage.source not in SAMPLE_SOURCES or stage.per_complexity:
        raise ConfigError(f"a sample session reads its questions from data_source {stage.source!r}"
                          f"{' with per_complexity' if stage.per_complexity else ''}: use one of "
                          f"{', '.join(SAMPLE_SOURCES)} with --limit (subsets: `kaggle-t2sql prepare`), no per_complexity")
    if cfg.training.method != "sft":
        raise ConfigError(f"training.method={cfg.training.method} with a sample session: sampling trains nothing; "
                          "leave the method out (the adapter to sample from is training.init_adapter)")
    settings = {"max_new_tokens": default_max_new_tokens(cfg), **sample}
    return SampleSettings(data=stage.source, data_path=resolve_input(stage.path) if resolve and stage.path else stage.path,
                          split=stage.split, limit=stage.limit, **settings)


# ---------------------------------------------------------------- the command


def settings_key(cfg: RunConfig, s: SampleSettings, adapter: str | Path | None, examples: list[Example]) -> dict:
    """What must not change between a cut and its rerun: the settings, the adapter by content, and the questions
    by content (not where the data lies: each Kaggle session mounts it under another path)."""
    keep = {k: v for k, v in asdict(s).items() if k not in ("workers", "save_every", "data_path")}
    digest = ""
    if adapter:
        files = sorted(Path(adapter).glob("adapter_model.*"))
        digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    questions = hashlib.sha256(json.dumps([[ex.id, ex.db_id, ex.question, ex.external_knowledge, ex.sql]
                                           for ex in examples]).encode()).hexdigest()[:16]
    return {"settings": keep, "model": cfg.model.name_or_path, "adapter": digest, "config": cfg.fingerprint(),
            "questions": questions}


def _read_progress(out: Path, key: dict) -> tuple[int, int]:
    """(questions done, bytes of samples.jsonl they fill) of an earlier cut run in `out`; (0, 0) if none."""
    path = out / PROGRESS
    if not path.is_file():
        if (out / SAMPLES).exists() and (out / SAMPLES).stat().st_size:  # empty: cut before its first save
            raise DataError(f"{out / SAMPLES} exists but {path} does not: it was not written by this command "
                            "(or its progress file was lost); choose another --out")
        return 0, 0
    progress = json.loads(path.read_text())
    if progress["key"] != key:
        changed = sorted(k for k in set(progress["key"]) | set(key) if progress["key"].get(k) != key.get(k))
        raise ConfigError(f"{out} holds a sample run with other settings ({', '.join(changed)} differ): rerun with "
                          "the same settings to carry on, or choose another --out")
    size = (out / SAMPLES).stat().st_size if (out / SAMPLES).exists() else 0
    if size < progress["bytes"]:
        raise DataError(f"{out / SAMPLES} is shorter ({size} bytes) than its progress file records "
                        f"({progress['bytes']}): it was cut or edited; choose another --out")
    return int(progress["done"]), int(progress["bytes"])


def read_records(path: Path, size: int | None = None) -> list[dict]:
    data = path.read_bytes() if path.exists() else b""
    data = data if size is None else data[:size]
    return [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]


def _write_derived(out: Path, records: list[dict], s: SampleSettings, style: str, stats: dict) -> dict:
    atomic.write_text(out / RFT, "".join(json.dumps(row, ensure_ascii=False) + "\n"
                                         for r in records for row in rft_rows(r, style)))
    atomic.write_text(out / PAIRS, "".join(json.dumps(row, ensure_ascii=False) + "\n"
                                           for r in records for row in pair_rows(r, s.gold_as_chosen, style)))
    report = {**summarize(records), **stats}
    atomic.write_json(out / REPORT, report)
    return report


def _link_databases(examples: list[Example], out: Path) -> None:
    """databases/<db_id>/<db_id>.sqlite beside rft.jsonl, so it reads as a `jsonl` source as it is."""
    for ex in examples:
        link = out / "databases" / ex.db_id / f"{ex.db_id}.sqlite"
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(Path(ex.db_path).resolve())


SAMPLE_KIND = "sample"


def sample_bundle(out: Path, dest: Path, name: str, total: int) -> dict:
    """The store folder of the sample run in `out` at its last save: samples.jsonl cut at the recorded bytes,
    progress.json, and its sync manifest (written last)."""
    from ..checkpoints import file_digests
    from ..kaggle.bundle import SYNC_MANIFEST

    progress = json.loads((out / PROGRESS).read_text())
    dest.mkdir(parents=True, exist_ok=True)
    with open(out / SAMPLES, "rb") as f:
        atomic.write_bytes(dest / SAMPLES, f.read(progress["bytes"]))
    atomic.write_json(dest / PROGRESS, progress)
    manifest = {"format": 2, "kind": SAMPLE_KIND, "run_name": name, "config": {"run_name": name, "sample": progress["key"]},
                "plan": None, "global_step": progress["done"], "max_steps": total, "finished": progress["done"] >= total,
                "sessions": int(progress.get("sessions", 0)), "checkpoint": None, "created": time.time(),
                "files": file_digests(dest)}
    atomic.write_json(dest / SYNC_MANIFEST, manifest)
    return manifest


def push_sample(store, out: Path, name: str, total: int) -> str:
    """One store version holding this sample run at its last save (the store's commit merges every other run)."""
    import tempfile

    from ..kaggle.bundle import seal_version

    with tempfile.TemporaryDirectory(prefix="t2sql-sample-push-") as tmp:
        manifest = sample_bundle(out, Path(tmp) / name, name, total)
        seal_version(tmp)
        return store.commit(tmp, note=f"sample {name}: {manifest['global_step']} of {total} questions", run_name=name).id


def pull_sample(store, out: Path, name: str, key: dict) -> int:
    """Install the store's copy of sample run `name` in `out` when it is further along; returns its questions done."""
    import tempfile

    from ..kaggle.bundle import read_manifest

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="t2sql-sample-pull-") as tmp:
        folder = store.collect(tmp, only={name}).get(name)
        if folder is None:
            return 0
        manifest = read_manifest(folder)
        if manifest.get("kind") != SAMPLE_KIND:
            raise ConfigError(f"{store.uri} holds a training run named {name!r}: give the sample run another name")
        stored = json.loads((folder / PROGRESS).read_text())
        if stored["key"] != key:
            changed = sorted(k for k in set(stored["key"]) | set(key) if stored["key"].get(k) != key.get(k))
            raise ConfigError(f"{store.uri} holds sample run {name!r} with other settings ({', '.join(changed)} differ): "
                              "rerun with its settings to carry on, or give a new run name")
        local = json.loads((out / PROGRESS).read_text())["done"] if (out / PROGRESS).is_file() else 0
        if stored["done"] > local:
            atomic.write_bytes(out / SAMPLES, (folder / SAMPLES).read_bytes())
            atomic.write_json(out / PROGRESS, stored)  # last: samples.jsonl already holds what it records
        return int(stored["done"])


def pull_sample_run(store, out: str | Path, name: str) -> dict:
    """`sync pull` of a sample run: the store's copy of run `name` in `out` (when further along than out's), and
    its rft.jsonl, pairs.jsonl and report.json derived from it, as the sessions wrote them. Returns the report."""
    from ..runlock import run_lock

    out = Path(out)
    with run_lock(out, "sync pull"):
        return _pull_sample_run(store, out, name)


def _pull_sample_run(store, out: Path, name: str) -> dict:
    if (out / PROGRESS).is_file():
        key = json.loads((out / PROGRESS).read_text())["key"]
    else:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="t2sql-sample-pull-") as tmp:
            folder = store.collect(tmp, only={name}).get(name)
            if folder is None:
                raise ConfigError(f"{store.uri} holds no intact copy of sample run {name!r}")
            key = json.loads((folder / PROGRESS).read_text())["key"]
    pull_sample(store, out, name, key)
    progress = json.loads((out / PROGRESS).read_text())
    records = read_records(out / SAMPLES, progress["bytes"])
    settings = SampleSettings(**{k: v for k, v in key["settings"].items() if k in SampleSettings.__dataclass_fields__})
    total = (store.latest(name) or {}).get("max_steps", progress["done"])
    return _write_derived(out, records, settings, progress.get("style", "arctic"),
                          {"done": progress["done"], "total": total, "finished": progress["done"] >= total})


def run_sample(cfg: RunConfig, s: SampleSettings, adapter: str | Path | None, out_dir: str | Path,
               generator=None, tokenizer=None, echo=print, store=None, name: str = "", deadline: float = 0.0,
               session_questions: int = 0) -> dict:
    """Sample, judge and write the three files, carrying on from an earlier cut run in `out_dir`, or in
    `store` (a CheckpointStore: sample run `name`, pulled first and pushed after every save).

    A session (a Kaggle notebook's) ends early at a question boundary, saved and pushed like any save: before a
    question the longest one so far would not finish by `deadline` (epoch seconds), or after `session_questions`
    questions. The report then says `finished: false` and `stop_reason: "budget"`; a rerun carries on."""
    from ..runlock import run_lock

    with run_lock(out_dir, "sample"):  # one writer per sample folder, as per run folder (runlock.py)
        return _sample(cfg, s, adapter, Path(out_dir), generator, tokenizer, echo, store, name, deadline,
                       session_questions)


def _sample(cfg, s, adapter, out, generator, tokenizer, echo, store, name, deadline, session_questions) -> dict:
    import torch

    from .evaluate import EvalSettings, load_eval_examples
    from ..train.reward import ExecutionJudge
    from ..data.tokenization import prompt_text
    from ..plan import batch_seed

    out.mkdir(parents=True, exist_ok=True)
    examples = load_eval_examples(EvalSettings(data=s.data, data_path=s.data_path, split=s.split, limit=s.limit))
    if not examples:
        raise ConfigError("no questions to sample: check --data / --split / --limit")
    key = settings_key(cfg, s, adapter, examples)
    if store is not None:
        if not name:
            raise ConfigError("a sample run in a checkpoint store needs a name (--run-name)")
        store.check_access()  # before any sampling: a session that cannot push must not sample for hours
        pulled = pull_sample(store, out, name, key)
        if pulled:
            echo(f"sample: {store.uri} holds {pulled} of {len(examples)} questions of {name}", flush=True)
    done, size = _read_progress(out, key)
    start_done, sessions = done, _sessions_of(out) + 1
    with open(out / SAMPLES, "ab") as f:
        f.truncate(size)  # drop lines written after the last recorded save
    _link_databases(examples, out)
    style = cfg.data.prompt_style
    if done:
        echo(f"sample: carrying on after {done} of {len(examples)} questions in {out}", flush=True)
    if done < len(examples) and generator is None:
        from ..infer.engine import ModelGenerator, load_for_inference

        model, tokenizer = load_for_inference(cfg, adapter)
        generator = ModelGenerator(model, tokenizer, s.max_new_tokens, batch_size=1)
    start, generated, longest, stop_reason = time.perf_counter(), 0, 0.0, "finished"
    pending: list[dict] = []
    push_errors: list[str] = []
    with ExecutionJudge(s.workers, s.timeout) as judge:
        for index in range(done, len(examples)):
            if (session_questions and index - start_done >= session_questions) or (
                    deadline and time.time() + 1.5 * longest >= deadline):
                stop_reason = "budget"
                break
            began = time.perf_counter()
            ex = examples[index]
            prompt = prompt_text(ex, tokenizer, style, cfg.data.value_limit, cfg.data.value_retrieval)
            torch.manual_seed(batch_seed(s.seed, index))  # the same candidates whichever session samples them
            generation = generator.generate([prompt], s.samples, s.temperature if s.samples > 1 else 0.0)[0]
            texts, capped = generation.texts, generation.capped or [False] * len(generation.texts)
            sqls = [extract_sql(t) for t in texts]
            verdicts = judge.judge([(ex.db_id, ex.db_path, ex.sql, sql) for sql in sqls])
            generated += len(texts)
            pending.append({
                "index": index, "id": ex.id, "db_id": ex.db_id, "question": ex.question,
                "external_knowledge": ex.external_knowledge, "gold_sql": ex.sql, "sql_complexity": ex.sql_complexity,
                "prompt": prompt,
                "candidates": [{"completion": t, "sql": q, "verdict": v.verdict, "reward": v.reward, "error": v.error,
                                "hit_token_cap": bool(c)} for t, q, v, c in zip(texts, sqls, verdicts, capped)],
            })
            longest = max(longest, time.perf_counter() - began)
            if len(pending) >= s.save_every or index == len(examples) - 1:
                size = _save(out, pending, key, index + 1, sessions, style)
                pending = []
                if store is not None:
                    _push_or_warn(store, out, name, len(examples), echo, push_errors)
        if pending:  # the session's end: what it sampled is saved and pushed like any save
            _save(out, pending, key, pending[-1]["index"] + 1, sessions, style)
            if store is not None:
                _push_or_warn(store, out, name, len(examples), echo, push_errors)
    if store is not None and not generated and start_done >= len(examples):  # finished before this call (its last
        # push may have failed): push again
        _push_or_warn(store, out, name, len(examples), echo, push_errors)
    seconds = time.perf_counter() - start
    done = _read_progress(out, key)[0]
    if stop_reason == "budget":
        echo(f"sample: session budget reached after {done - start_done} question(s); {done} of {len(examples)} done, "
             "a rerun carries on", flush=True)
    stats = {"candidates_per_second_this_session": generated / seconds if generated and seconds else 0.0,
             "sampled_this_session": generated, "seconds_this_session": round(seconds, 3),
             "done": done, "total": len(examples), "start_done": start_done, "finished": done >= len(examples),
             "stop_reason": stop_reason if done < len(examples) else "finished", "push_errors": push_errors}
    return _write_derived(out, read_records(out / SAMPLES), s, style, stats)


def _push_or_warn(store, out: Path, name: str, total: int, echo, errors: list[str]) -> None:
    """A failed push loses nothing: the progress is saved here, and the next save pushes it all again."""
    import warnings

    try:
        echo(f"sample: pushed to {store.uri} as {push_sample(store, out, name, total)}", flush=True)
    except Exception as exc:  # noqa: BLE001 - network, quota, a partial version: the next save retries
        errors.append(f"{type(exc).__name__}: {exc}")
        warnings.warn(f"sample: the push to {store.uri} failed ({exc}); the next save pushes again", stacklevel=2)


def _sessions_of(out: Path) -> int:
    """Sessions that saved progress in `out` (a chain's cap counts them, as a training run's ledger does)."""
    path = out / PROGRESS
    return int(json.loads(path.read_text()).get("sessions", 0)) if path.is_file() else 0


def _save(out: Path, records: list[dict], key: dict, done: int, sessions: int, style: str) -> int:
    """Append `records` to samples.jsonl (flushed to disk), then record the progress atomically."""
    with open(out / SAMPLES, "ab") as f:
        f.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
        size = f.tell()
    atomic.write_json(out / PROGRESS, {"key": key, "done": done, "bytes": size, "sessions": sessions, "style": style})
    return size
