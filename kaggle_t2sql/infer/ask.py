"""`ask`: one question about one SQLite file -> SQL, the first rows of its result, timings.

The same path as `eval` (`pipeline.answer`: the training prompt builder with value
retrieval, generation, sandboxed read-only execution, vote), with self-correction on by
default. A plain function, so other code (the demo, `serve`) calls it with a model it
already loaded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import DataConfig
from ..config_presets import ARCTIC_MAX_NEW_TOKENS
from ..errors import ConfigError, DataError
from ..data.examples import Example
from .engine import Generator, ModelGenerator
from .pipeline import InferenceSettings, answer

MAX_QUESTION_CHARS = 4000


@dataclass
class AskSettings:
    samples: int = 1
    temperature: float = 0.8  # when samples > 1
    vote: str = "soft"
    fix_rounds: int = 2  # correction on: a user wants an answer, not a comparable score
    max_new_tokens: int = ARCTIC_MAX_NEW_TOKENS
    timeout: float = 10.0
    max_rows: int = 20  # rows kept in the answer (the count says how many there were)
    data: DataConfig = field(default_factory=DataConfig)  # prompt style, value limit, value retrieval

    def __post_init__(self):
        for name in ("max_new_tokens", "max_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)}: need 1 or more")
        self.inference()  # --timeout, --samples, ...: refused before a model is loaded

    def inference(self) -> InferenceSettings:
        return InferenceSettings(samples=self.samples, temperature=self.temperature, vote=self.vote,
                                 fix_rounds=self.fix_rounds, timeout=self.timeout)


@dataclass
class Answer:
    question: str
    db: str
    sql: str
    columns: list[str]
    rows: list[list]  # the first `max_rows` rows
    row_count: int  # rows the query returned
    error: str | None
    timings: dict  # seconds: prompt, generation, execution, correction, total
    fix_rounds: int = 0
    candidates: list[str] = field(default_factory=list)
    hit_token_cap: bool = False  # the generation stopped at max_new_tokens, unfinished

    def to_dict(self) -> dict:
        """Plain JSON types: blobs as hex; ±inf (SQLite's 1e999) as "Infinity"/"-Infinity", which JSON lacks."""
        d = dict(self.__dict__)
        d["rows"] = [[json_value(v) for v in row] for row in self.rows]
        return d

    def table(self) -> str:
        """The rows as a plain text table."""
        if self.error:
            return f"error: {self.error}"
        header = [str(c) for c in self.columns]
        body = [["NULL" if v is None else str(v) for v in row] for row in self.rows]
        widths = [max(len(x) for x in col) for col in zip(header, *body)] if header else []
        line = lambda cells: " | ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        out = [line(header), "-+-".join("-" * w for w in widths)] + [line(r) for r in body]
        more = self.row_count - len(self.rows)
        out.append(f"({self.row_count} row{'s' if self.row_count != 1 else ''}"
                   + (f", first {len(self.rows)} shown)" if more else ")"))
        return "\n".join(out)


def json_value(value):
    """A result value as strict JSON can carry it (`json.dumps(..., allow_nan=False)` accepts the output)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def check_question(question: str) -> str:
    question = (question or "").strip()
    if not question:
        raise DataError("empty question: ask something about the database, e.g. \"How many singers are there?\"")
    if len(question) > MAX_QUESTION_CHARS:
        raise DataError(f"question of {len(question)} characters: keep it under {MAX_QUESTION_CHARS}")
    return question


def check_database(db_path: str | Path) -> Path:
    path = Path(db_path)
    if not path.is_file():
        raise DataError(f"database {path} not found: give the path of a SQLite file")
    with open(path, "rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise DataError(f"{path} is not a SQLite database file (bad header): give a .sqlite/.db file")
    return path


def ask(model, tokenizer, db_path: str | Path, question: str, settings: AskSettings | None = None, *,
        evidence: str = "", generator: Generator | None = None) -> Answer:
    """Answer `question` on the SQLite file `db_path` with an already loaded model (or any `generator`)."""
    start = time.perf_counter()
    settings = settings or AskSettings()
    question, path = check_question(question), check_database(db_path)
    generator = generator or ModelGenerator(model, tokenizer, settings.max_new_tokens, batch_size=1)
    example = Example(id="ask", db_id=path.stem, db_path=str(path), question=question, sql="",
                      external_knowledge=evidence.strip())
    (out,) = answer(generator, tokenizer, [example], settings.data, settings.inference())
    rows = out.result.rows or []
    timings = {**out.timings, "total": time.perf_counter() - start}
    return Answer(question=question, db=str(path), sql=out.sql, columns=list(out.result.columns),
                  rows=[list(r) for r in rows[:settings.max_rows]], row_count=len(rows), error=out.result.error,
                  timings={k: round(v, 4) for k, v in timings.items()}, fix_rounds=out.fix_rounds,
                  candidates=out.candidates, hit_token_cap=out.hit_token_cap)
