import pytest
import torch

from kaggle_t2sql.data import bundled
from kaggle_t2sql.data.packing import PackedCollator, pack_encoded, pack_indices, padded_collator, real_token_share
from kaggle_t2sql.data.tokenization import IGNORE_INDEX, encode_examples


def test_pack_indices_respects_max_len_and_keeps_every_example_once():
    lengths = [5, 9, 3, 7, 2, 8, 1, 6, 4, 10]
    packs = pack_indices(lengths, 10, open_packs=2)
    assert sorted(i for p in packs for i in p) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 10 for p in packs)
    assert packs[0][0] == 0  # order is kept: the first example opens the first pack
    with pytest.raises(ValueError, match="more than max_len"):
        pack_indices([11], 10)


def test_packed_rows_restart_positions_and_collator_pads_as_its_own_block():
    encoded = [{"input_ids": [1, 2, 3], "labels": [IGNORE_INDEX, 2, 3]}, {"input_ids": [4, 5], "labels": [IGNORE_INDEX, 5]},
               {"input_ids": [6, 7, 8, 9], "labels": [IGNORE_INDEX, IGNORE_INDEX, 8, 9]}]
    rows = pack_encoded(encoded, max_len=5)
    assert rows[0]["input_ids"] == [1, 2, 3, 4, 5] and rows[0]["position_ids"] == [0, 1, 2, 0, 1]
    batch = PackedCollator(pad_token_id=0)(rows)
    assert "attention_mask" not in batch  # a mask would switch off the block-diagonal masking
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 0, 1], [0, 1, 2, 3, 0]]
    assert batch["labels"].tolist()[1] == [IGNORE_INDEX, IGNORE_INDEX, 8, 9, IGNORE_INDEX]
    assert real_token_share(rows, 2) == pytest.approx(9 / 10)


def _per_example_losses(model, input_ids, labels, position_ids=None, attention_mask=None, segments=None):
    """Summed token loss of each segment (start, end) of row 0."""
    with torch.no_grad():
        # use_cache=False as in training: with a KV cache transformers skips packed-sequence masking
        logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask, use_cache=False).logits
    token_loss = torch.nn.functional.cross_entropy(
        logits[0, :-1].float(), labels[0, 1:], ignore_index=IGNORE_INDEX, reduction="none")
    return [token_loss[s : e - 1].sum().item() for s, e in segments]


@pytest.fixture(scope="module")
def tiny_model_and_examples(tiny_tokenizer):
    from transformers import AutoModelForCausalLM

    from kaggle_t2sql.train.tiny import tiny_model_dir

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir(), attn_implementation="sdpa", dtype=torch.float32)
    model.eval()
    encoded, _ = encode_examples(bundled.load_examples("train")[:3], tiny_tokenizer, 4096, progress=False)
    return model, encoded


def test_per_example_losses_are_the_same_packed_and_unpacked(tiny_model_and_examples, tiny_tokenizer):
    model, encoded = tiny_model_and_examples
    alone = []
    for e in encoded:
        ids = torch.tensor([e["input_ids"]])
        alone += _per_example_losses(model, ids, torch.tensor([e["labels"]]), segments=[(0, len(e["input_ids"]))])

    (row,) = pack_encoded(encoded, max_len=sum(len(e["input_ids"]) for e in encoded))
    batch = PackedCollator(tiny_tokenizer.pad_token_id)([row])
    bounds, start = [], 0
    for e in encoded:
        bounds.append((start, start + len(e["input_ids"])))
        start += len(e["input_ids"])
    # per-segment loss of the packed row: the first target token of segment k is predicted inside segment k only
    packed = _per_example_losses(model, batch["input_ids"], batch["labels"], position_ids=batch["position_ids"], segments=bounds)
    assert packed == pytest.approx(alone, rel=1e-5)

    # the control: an all-ones mask lets later examples see earlier ones, and the losses change
    leaky = _per_example_losses(model, batch["input_ids"], batch["labels"], position_ids=batch["position_ids"],
                                attention_mask=torch.ones_like(batch["input_ids"]), segments=bounds)
    assert leaky[1:] != pytest.approx(alone[1:], rel=1e-5)


def test_no_packing_mode_pads_with_a_mask_and_gives_the_same_losses(tiny_model_and_examples, tiny_tokenizer):
    model, encoded = tiny_model_and_examples
    batch = padded_collator(tiny_tokenizer)([{"input_ids": e["input_ids"], "labels": e["labels"]} for e in encoded])
    assert batch["attention_mask"].sum().item() == sum(len(e["input_ids"]) for e in encoded)
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    for i, e in enumerate(encoded):
        n = len(e["input_ids"])
        padded = torch.nn.functional.cross_entropy(logits[i, : n - 1], batch["labels"][i, 1:n], ignore_index=IGNORE_INDEX, reduction="sum")
        alone = _per_example_losses(model, torch.tensor([e["input_ids"]]), torch.tensor([e["labels"]]), segments=[(0, n)])[0]
        assert padded.item() == pytest.approx(alone, rel=1e-4)
