"""The embedded default models: a tiny Qwen2-architecture model and a ChatML tokenizer built
locally (no download), cached after first use, so the real 4-bit + LoRA + Trainer path runs
on a CPU in seconds.

Two of them: `tiny` is randomly initialised (instant to build; what the mechanics tests
train), `tiny-pretrained` is the same model pre-trained once on the bundled train split
(`pretrain.py`, about a minute on one core), which the demo fine-tunes."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from .. import atomic
from ..data.bundled import cache_root, corpus_texts
from .pretrain import PretrainSettings, answering_pairs, reading_texts
from ..data.prompts import (
    ARCTIC_ASSISTANT_PREFIX,
    ARCTIC_OUTPUT_FORMAT,
    INSTRUCTIONS,
    OMNISQL_OUTPUT_FORMAT,
    SCHEMA_NOTE,
    SYSTEM_PROMPT,
)

# Qwen2.5's ChatML (without its default system prompt, which the tiny model does not need).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
VOCAB_SIZE = 4096
MODEL_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=4096,
    rope_theta=1_000_000.0,
    tie_word_embeddings=False,
)
SEED = 0
PRETRAIN = PretrainSettings()


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the tiny models on one CPU thread. Their matrices are too small for a second thread to pay:
    one is as fast on an idle machine and far faster on a busy one (threads wait for each other),
    and float rounding no longer depends on how many cores the machine has."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _build_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHATML_TEMPLATE,
        model_max_length=MODEL_SHAPE["max_position_embeddings"],
    )


def _texts() -> list[str]:
    fixed = [SYSTEM_PROMPT, SCHEMA_NOTE, INSTRUCTIONS, ARCTIC_OUTPUT_FORMAT, OMNISQL_OUTPUT_FORMAT, ARCTIC_ASSISTANT_PREFIX]
    return fixed * 20 + corpus_texts()


@lru_cache(maxsize=1)
def tiny_model_dir() -> Path:
    """Build (once) and return the folder holding the tiny model and tokenizer."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    texts = _texts()
    key = json.dumps({"texts": texts, "shape": MODEL_SHAPE, "vocab": VOCAB_SIZE, "seed": SEED}, sort_keys=True)
    target = cache_root() / "tiny-model" / hashlib.sha256(key.encode()).hexdigest()[:12]
    if (target / "config.json").is_file():
        return target
    with atomic.staged_dir(target) as tmp:
        tokenizer = _build_tokenizer(texts)
        tokenizer.save_pretrained(tmp)
        config = Qwen2Config(
            vocab_size=len(tokenizer),
            bos_token_id=None,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            **MODEL_SHAPE,
        )
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(SEED)
        model = Qwen2ForCausalLM(config)
        torch.random.set_rng_state(generator_state)
        model.save_pretrained(tmp)
    return target


def _pretraining_corpus():
    """The bundled train split and every bundled schema: all the pre-training reads (never the dev split)."""
    from ..data import bundled
    from ..data.schema import schema_text

    examples = bundled.load_examples("train")
    schemas = [schema_text(bundled.db_root() / db / f"{db}.sqlite") for db in bundled.sql_scripts()]
    return examples, schemas


@lru_cache(maxsize=1)
def pretrained_model_dir() -> Path:
    """Build (once: pre-train the tiny model, with a progress bar) and return its folder.

    The folder name hashes everything that shapes the weights: the random base, the
    pre-training code and settings, and the exact texts it reads.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from . import pretrain as pretrain_module
    from .console import hf_progress_bars_off

    base = tiny_model_dir()
    examples, schemas = _pretraining_corpus()
    code = hashlib.sha256(Path(pretrain_module.__file__).read_bytes()).hexdigest()
    key = json.dumps({"base": base.name, "code": code, "settings": PRETRAIN.__dict__,
                      "reading": reading_texts(examples, schemas), "answering": answering_pairs(examples)}, sort_keys=True)
    target = cache_root() / "tiny-pretrained" / hashlib.sha256(key.encode()).hexdigest()[:12]
    if (target / "config.json").is_file():
        return target
    with atomic.staged_dir(target) as tmp, hf_progress_bars_off(), one_thread():
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        pretrain_module.pretrain(model, tokenizer, examples, schemas, PRETRAIN)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return target
