"""Training loss with the output layer run only where a label is.

At Qwen2's 152k vocabulary the fp32 logits of a full row are the largest memory term of a
training step (2048 positions x 152,064 x 4 bytes = 1.2 GiB, and as much again for their
gradient), yet the loss reads only the answer's positions: the prompt is masked. The model is
asked for the logits of the positions where any row of the batch has a label
(`logits_to_keep`, a 1-D index tensor), and the cross-entropy is the one transformers computes
(`ForCausalLMLoss`: sum over labelled tokens divided by `num_items_in_batch`, or the mean),
so the value and its gradient are the full computation's, without the masked rows' logits.
"""

from __future__ import annotations

IGNORE_INDEX = -100


def labelled_positions(labels):
    """Positions whose next token is labelled in any row: the logits the loss needs."""
    import torch.nn.functional as F

    targets = F.pad(labels, (0, 1), value=IGNORE_INDEX)[..., 1:]
    keep = (targets != IGNORE_INDEX).any(dim=0).nonzero().squeeze(-1)
    if keep.numel() == 0:  # nothing labelled: one position keeps the graph (its loss is 0 / NaN as upstream)
        keep = labels.new_tensor([labels.shape[-1] - 1])
    return keep, targets[:, keep]


def labelled_token_loss(model, inputs: dict, num_items_in_batch=None):
    """Cross-entropy of the next labelled tokens, as the model's own loss, from the kept logits only."""
    import torch.nn.functional as F

    labels = inputs["labels"]
    keep, targets = labelled_positions(labels)
    outputs = model(**{k: v for k, v in inputs.items() if k != "labels"}, logits_to_keep=keep)
    logits = outputs.logits.float()
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1).to(logits.device),
                           ignore_index=IGNORE_INDEX, reduction=reduction)
    if reduction == "sum":
        if hasattr(num_items_in_batch, "to"):
            num_items_in_batch = num_items_in_batch.to(loss.device)
        loss = loss / num_items_in_batch
    return loss


def trainer_loss(trainer, model, inputs: dict, num_items_in_batch=None):
    """What `Trainer.compute_loss` returns for a causal LM, computed with `labelled_token_loss`:
    normalised by `num_items_in_batch` when the model takes loss kwargs, scaled across devices as
    transformers does."""
    accepts = trainer.model_accepts_loss_kwargs
    loss = labelled_token_loss(model, inputs, num_items_in_batch if accepts else None)
    if trainer.args.average_tokens_across_devices and accepts and num_items_in_batch is not None:
        loss = loss * (trainer.accelerator.num_processes if trainer.args.n_gpu <= 1 else trainer.args.n_gpu)
    return loss
