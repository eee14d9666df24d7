"""The model behind a small generator interface: prompts in, sampled texts out.

`ModelGenerator` runs a transformers model (4-bit base + adapter, batched, left-padded,
stopping at `<|im_end|>`, as Arctic's vLLM setup stops); anything with the same
`generate` method (a scripted generator in tests, another runtime) can stand in for it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from tqdm.auto import tqdm

from ..config import RunConfig
from ..errors import ConfigError
from ..data.tokenization import end_of_turn_id


@dataclass
class Generation:
    texts: list[str]  # one per sample
    new_tokens: int = 0  # over all samples
    seconds: float = 0.0  # this prompt's share of the generation time
    capped: list[bool] = field(default_factory=list)  # per sample: stopped by max_new_tokens, not by <|im_end|>


class Generator(Protocol):
    def generate(self, prompts: list[str], samples: int = 1, temperature: float = 0.0) -> list[Generation]:
        """`samples` texts per prompt; temperature 0 (or one sample) means greedy."""
        ...


def load_for_inference(cfg: RunConfig, adapter: str | Path | None):
    """4-bit base (+ the adapter of a checkpoint folder), eval mode, left padding for batching."""
    from ..train.model import load_base_model, load_tokenizer

    tokenizer = load_tokenizer(cfg.model)
    tokenizer.padding_side = "left"
    model = load_base_model(cfg)
    if adapter:
        from peft import PeftModel

        from ..train.console import peft_deprecation_quiet

        adapter = Path(adapter)
        if not (adapter / "adapter_config.json").is_file():
            raise ConfigError(f"--adapter {adapter} holds no adapter_config.json: give a checkpoint-N folder")
        with peft_deprecation_quiet():
            model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tokenizer


class ModelGenerator:
    """`Generator` over a loaded transformers model and its tokenizer."""

    def __init__(self, model, tokenizer, max_new_tokens: int = 8192, batch_size: int = 4, progress: bool = False):
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.batch_size, self.progress = max_new_tokens, batch_size, progress

    def generate(self, prompts: list[str], samples: int = 1, temperature: float = 0.0) -> list[Generation]:
        import torch

        tokenizer = self.tokenizer
        sampling = samples > 1 and temperature > 0
        eos = end_of_turn_id(tokenizer)
        out = []
        for start in tqdm(range(0, len(prompts), self.batch_size), desc="generating", disable=not self.progress,
                          leave=False):
            batch = prompts[start:start + self.batch_size]
            enc = tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
            t0 = time.perf_counter()
            with torch.no_grad():
                generated = self.model.generate(
                    **enc,
                    max_new_tokens=self.max_new_tokens,
                    do_sample=sampling,
                    temperature=temperature if sampling else None,
                    top_p=None,
                    top_k=None,
                    num_return_sequences=samples,
                    eos_token_id=[eos],
                    pad_token_id=tokenizer.pad_token_id,
                    use_cache=True,
                )
            seconds = time.perf_counter() - t0
            new = generated[:, enc["input_ids"].shape[1]:]
            texts = tokenizer.batch_decode(new, skip_special_tokens=True)
            counts = (new != tokenizer.pad_token_id).sum(dim=1).tolist()
            # A row without <|im_end|> ran to max_new_tokens: its reasoning was cut, maybe before the SQL.
            capped = [new.shape[1] >= self.max_new_tokens and not bool((row == eos).any()) for row in new]
            for i in range(len(batch)):
                rows = range(i * samples, (i + 1) * samples)
                out.append(Generation([texts[r] for r in rows], sum(counts[r] for r in rows), seconds / len(batch),
                                      [capped[r] for r in rows]))
        return out
