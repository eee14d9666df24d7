"""Pre-training the tiny base: what it reads (the train split only), the loss it trains, that the same
bytes come out twice, and that the built model is cached by everything that shapes it."""

import dataclasses

import pytest
import torch
from transformers import AutoModelForCausalLM

from kaggle_t2sql.data import bundled
from kaggle_t2sql.train import tiny
from kaggle_t2sql.config import ModelConfig
from kaggle_t2sql.train.model import load_tokenizer
from kaggle_t2sql.train.pretrain import PretrainSettings, answering_pairs, next_token_loss, pretrain, reading_texts
from kaggle_t2sql.data.tokenization import IGNORE_INDEX

FEW_STEPS = PretrainSettings(reading_steps=4, reading_batch=2, reading_seq=64, answering_steps=4, answering_batch=2, warmup_steps=2)


def test_pretraining_reads_the_train_split_and_never_the_dev_split():
    train, dev = bundled.load_examples("train"), bundled.load_examples("dev")
    schemas = ["CREATE TABLE t (\n  a INTEGER\n);"]
    texts = reading_texts(train, schemas) + [p + a for p, a in answering_pairs(train)]
    corpus = "\n".join(texts)
    assert all(ex.question in corpus and ex.sql.strip() in corpus for ex in train)
    assert not any(ex.question in corpus for ex in dev)
    prompt, answer = answering_pairs(train)[0]
    assert f"Question:\n{train[0].question}\n" in prompt and "CREATE TABLE" not in prompt  # the schema is left out
    assert prompt.rstrip().endswith("</answer>") and answer == f"```sql\n{train[0].sql.strip()}\n```"


def test_next_token_loss_is_the_models_own_loss_on_labelled_tokens():
    model = AutoModelForCausalLM.from_pretrained(tiny.tiny_model_dir(), dtype=torch.float32)
    ids = torch.randint(3, 200, (2, 12))
    labels = ids.clone()
    labels[:, :7] = IGNORE_INDEX
    assert next_token_loss(model, ids, labels).item() == pytest.approx(model(input_ids=ids, labels=labels).loss.item(), rel=1e-5)


def _pretrained_state():
    model = AutoModelForCausalLM.from_pretrained(tiny.tiny_model_dir(), dtype=torch.float32)
    examples = bundled.load_examples("train")[:12]
    with tiny.one_thread():
        losses = pretrain(model, load_tokenizer(ModelConfig(name_or_path="tiny")), examples, ["CREATE TABLE t (a INT);"],
                          FEW_STEPS, progress=False)
    return model.state_dict(), losses


def test_pretraining_on_one_thread_gives_the_same_weights_twice():
    (first, losses), (second, again) = _pretrained_state(), _pretrained_state()
    assert losses == again and len(losses) == FEW_STEPS.reading_steps + FEW_STEPS.answering_steps
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert losses[FEW_STEPS.reading_steps - 1] < losses[0]  # it learns


def test_pretrained_model_is_built_once_and_keyed_by_its_settings(monkeypatch):
    monkeypatch.setattr(tiny, "PRETRAIN", FEW_STEPS)
    tiny.pretrained_model_dir.cache_clear()
    try:
        first = tiny.pretrained_model_dir()
        weights = first / "model.safetensors"
        built = weights.stat().st_mtime_ns
        tiny.pretrained_model_dir.cache_clear()
        assert tiny.pretrained_model_dir() == first and weights.stat().st_mtime_ns == built  # cached, not rebuilt
        assert not [p for p in first.parent.iterdir() if p.name.startswith(".")]  # no staging folder left behind
        monkeypatch.setattr(tiny, "PRETRAIN", dataclasses.replace(FEW_STEPS, answering_steps=5))
        tiny.pretrained_model_dir.cache_clear()
        assert tiny.pretrained_model_dir() != first
    finally:
        tiny.pretrained_model_dir.cache_clear()
