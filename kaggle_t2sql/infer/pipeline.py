"""Questions in, chosen SQL and its result out: prompt -> generate -> execute -> vote -> correct.

The path `eval`, `ask` and `serve` share. Prompts come from the run config's data section
(the same builder as training); candidates run in the sandbox; the vote picks one
(`voting`); with `fix_rounds` > 0, a failing or empty choice is corrected (`correction`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

from ..config import DataConfig
from ..errors import ConfigError
from ..data.examples import Example
from ..sql.execute import DEFAULT_ROW_CAP, DEFAULT_TIMEOUT, ExecResult
from ..data.prompts import extract_sql, render_prompt
from ..data.tokenization import prompt_messages
from .correction import FixState, correct
from .engine import Generator
from .sandbox import run_sql
from .voting import VOTE_MODES, vote


@dataclass
class InferenceSettings:
    samples: int = 1  # > 1: self-consistency, one SQL chosen by `vote`
    temperature: float = 0.8  # used when samples > 1 (Arctic: n=8, T=0.8)
    vote: str = "soft"  # soft (Arctic's default) | exact (OmniSQL)
    fix_rounds: int = 0  # execution-guided correction rounds (0 = off, as the official recipe)
    timeout: float = DEFAULT_TIMEOUT  # per query, seconds (Arctic/OmniSQL: 10)
    row_cap: int = DEFAULT_ROW_CAP

    def __post_init__(self):
        if not self.timeout > 0:  # also refuses NaN
            raise ConfigError(f"--timeout {self.timeout}: need more than 0 seconds per query (Arctic/OmniSQL use 10)")
        if self.row_cap < 1:
            raise ConfigError(f"row cap {self.row_cap}: need at least 1 row")
        if self.samples < 1:
            raise ConfigError(f"--samples {self.samples}: need at least 1")
        if self.samples > 1 and self.temperature <= 0:
            raise ConfigError(f"--samples {self.samples} with --temperature {self.temperature}: sampling needs a "
                              "temperature > 0 (Arctic uses 0.8), or use --samples 1 for greedy")
        if self.vote not in VOTE_MODES:
            raise ConfigError(f"--vote {self.vote!r}: use one of {', '.join(VOTE_MODES)}")
        if self.fix_rounds < 0:
            raise ConfigError(f"--fix-rounds {self.fix_rounds}: need 0 or more")


@dataclass
class Outcome:
    """What happened to one question."""

    sql: str  # the final SQL (after any correction)
    result: ExecResult
    candidates: list[str]  # extracted SQL of every sample
    support: float  # vote support of the chosen candidate (exact: votes; soft: similarity total)
    chosen_sql: str  # the voted SQL, before correction
    chosen_result: ExecResult
    fix_rounds: int = 0  # correction rounds run
    generation: str = ""  # the chosen sample's text
    new_tokens: int = 0
    timings: dict = field(default_factory=dict)  # seconds: prompt, generation, execution, correction
    hit_token_cap: bool = False  # the chosen sample stopped at max_new_tokens (cut, not finished)
    samples_hit_token_cap: int = 0  # of all its samples


def answer(generator: Generator, tokenizer, examples: list[Example], data: DataConfig, s: InferenceSettings) -> list[Outcome]:
    """Run the whole path for a batch of questions (generation batched across them)."""
    t0 = time.perf_counter()
    messages = [prompt_messages(ex, data.prompt_style, data.value_limit, data.value_retrieval) for ex in examples]
    prompts = [render_prompt(tokenizer, m, data.prompt_style) for m in messages]
    prompt_share = (time.perf_counter() - t0) / max(1, len(examples))
    generations = generator.generate(prompts, s.samples, s.temperature if s.samples > 1 else 0.0)

    outcomes, states = [], []
    for ex, msgs, gen in zip(examples, messages, generations):
        t1 = time.perf_counter()
        execute = partial(run_sql, ex.db_path, timeout=s.timeout, row_cap=s.row_cap)
        candidates = [extract_sql(t) for t in gen.texts]
        results = [execute(sql) for sql in candidates]
        choice = vote(results, s.vote)
        sql, result = candidates[choice.index], results[choice.index]
        outcomes.append(Outcome(sql, result, candidates, choice.support, sql, result,
                                generation=gen.texts[choice.index], new_tokens=gen.new_tokens,
                                timings={"prompt": prompt_share, "generation": gen.seconds,
                                         "execution": time.perf_counter() - t1, "correction": 0.0},
                                hit_token_cap=bool(gen.capped and gen.capped[choice.index]),
                                samples_hit_token_cap=sum(gen.capped)))
        states.append(FixState(msgs, sql, result, execute))

    if s.fix_rounds:
        correct(generator, tokenizer, data.prompt_style, states, s.fix_rounds)
        for out, state in zip(outcomes, states):
            out.sql, out.result, out.fix_rounds = state.best_sql, state.best_result, state.rounds
            out.timings["correction"] = state.seconds
    return outcomes
