"""The training loss runs the output layer on labelled positions only, and equals the model's own loss."""

import pytest
import torch

from kaggle_t2sql.train.loss import labelled_positions, labelled_token_loss

IGNORE = -100


@pytest.fixture(scope="module")
def model(_cache_dir):
    from transformers import AutoModelForCausalLM

    from kaggle_t2sql.train.tiny import tiny_model_dir

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir(), dtype=torch.float32)


def packed_batch(vocab: int, seed: int = 0):
    """Two rows, each two packed samples (positions restart, no attention mask), prompts masked."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, vocab, (2, 40), generator=g)
    labels = ids.clone()
    labels[:, :12] = IGNORE  # sample 1 prompt
    labels[:, 20:33] = IGNORE  # sample 2 prompt
    labels[1, 36:] = IGNORE  # padding of the second row
    positions = torch.cat([torch.arange(20), torch.arange(20)]).repeat(2, 1)
    return {"input_ids": ids, "labels": labels, "position_ids": positions}


def lm_head_rows(model):
    seen = []
    handle = model.lm_head.register_forward_hook(lambda _m, args, _out: seen.append(args[0].reshape(-1, args[0].shape[-1]).shape[0]))
    return seen, handle


@pytest.mark.parametrize("normalised", [True, False])
def test_equals_the_models_own_loss_and_gradient(model, normalised):
    batch = packed_batch(model.config.vocab_size)
    n = torch.tensor(int((batch["labels"][:, 1:] != IGNORE).sum())) if normalised else None
    model.zero_grad()
    ref = model(**batch, num_items_in_batch=n).loss if normalised else model(**batch).loss
    ref.backward()
    ref_grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    seen, handle = lm_head_rows(model)
    try:
        ours = labelled_token_loss(model, batch, n)
    finally:
        handle.remove()
    ours.backward()
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-6)
    for k, p in model.named_parameters():
        assert torch.allclose(p.grad, ref_grads[k], rtol=1e-5, atol=1e-7), k
    keep, _ = labelled_positions(batch["labels"])
    assert seen == [2 * len(keep)] and len(keep) < batch["input_ids"].shape[1] / 2  # logits for ~40% of positions


def test_positions_are_those_whose_next_token_is_labelled():
    labels = torch.tensor([[IGNORE, IGNORE, 5, 6, IGNORE], [IGNORE, IGNORE, IGNORE, 7, IGNORE]])
    keep, targets = labelled_positions(labels)
    assert keep.tolist() == [1, 2]  # position p predicts token p + 1
    assert targets.tolist() == [[5, 6], [IGNORE, 7]]


def test_the_trainer_computes_its_loss_so(model, tmp_path):
    """The project's Trainer subclass routes its loss through labelled_token_loss: same value as
    transformers' Trainer, with the output layer on the labelled positions only."""
    from transformers import Trainer, TrainingArguments

    from kaggle_t2sql.train.hf_trainer import hf_trainer_class

    args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
    batch = packed_batch(model.config.vocab_size, seed=1)
    n = torch.tensor(int((batch["labels"][:, 1:] != IGNORE).sum()))
    ref = Trainer(model=model, args=args).compute_loss(model, dict(batch), num_items_in_batch=n)
    ours_trainer = hf_trainer_class()(model=model, args=args)
    seen, handle = lm_head_rows(model)
    try:
        ours = ours_trainer.compute_loss(model, dict(batch), num_items_in_batch=n)
    finally:
        handle.remove()
    keep, _ = labelled_positions(batch["labels"])
    assert torch.allclose(ours, ref, rtol=1e-6, atol=1e-6) and seen == [2 * len(keep)]
