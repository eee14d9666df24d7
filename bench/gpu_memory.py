"""Peak GPU memory and seconds per step of the real job's shape (needs a CUDA GPU), and the paper
estimate the GPU preset's `data.max_seq_length` is sized from (no GPU needed: `--estimate`).

Builds a randomly initialised model with Arctic-Text2SQL-R1-7B's exact architecture
(Qwen2: hidden 3584, 28 layers, 28 heads, 4 KV heads, intermediate 18944, vocab
152064), loads it in 4-bit NF4 with double quantization, adds LoRA r=16 on all
projections, and trains with fp16 autocast, batch 1 and non-reentrant gradient
checkpointing, through the same `build_model` and loss (`loss.labelled_token_loss`:
logits at labelled positions only) the trainer uses; 40% of each row is labelled.
Run: ./dev python bench/gpu_memory.py [--steps 6] [--seq N] [--estimate]

Paper estimate of the peak on a T4 (target <= 13 GiB of its 15 GiB), S = tokens per row,
T = labelled tokens in it (the answers of the packed examples), MiB = 2**20 bytes:

- fixed, 6.3 GiB: the 4-bit base 5.2 GiB (6.53 B linear weights at ~0.516 byte with double
  quantization = 3.1 GiB; embeddings and lm_head stay fp16, 2 x 545 M x 2 bytes = 2.0 GiB;
  HF loads a 7B model in 4-bit in ~5.4 GB), LoRA r=16 on all 7 projections (40.4 M
  parameters in fp32: weights, gradients and two AdamW moments, 0.6 GiB), CUDA context and
  allocator slack 0.5 GiB;
- checkpointed layer inputs: 28 layers x 3584 x 2 bytes = 0.19 MiB per token;
- the one layer being recomputed and back-propagated: q/k/v/o, rotary copies, the LoRA
  dropout copies of each projection's input, the MLP's gate/up/act/product (4 x 18944 x 2
  bytes) and their gradients, with SDPA's memory-efficient kernel (memory linear in S):
  ~0.31 MiB per token live in the forward, ~0.5 MiB per token at the backward's peak;
- logits: T x 152064 x (2 fp16 + 4 fp32 upcast + 4 log-softmax + 4 its gradient) bytes
  = 2.03 MiB per labelled token. Computed at every position (T = S, transformers' own loss)
  this is the largest term; at labelled positions only, T is the packed answers' share of
  the row. T <= 0.6 S is budgeted: an assumption (a CoT answer of a few hundred tokens
  against a prompt of one to two thousand, BIRD's being ~1.3-2.1k Qwen tokens per issue 18)
  to check against the measured figure below.

peak(S, T) = 6.3 GiB + S x (0.19 + 0.5) MiB + T x 2.03 MiB:

| S | logits everywhere (T = S) | labelled only (T = 0.6 S) |
|---|---|---|
| 2048 | 11.7 GiB | 10.1 GiB |
| 2560 | 13.1 GiB | 11.1 GiB |
| 3072 | 14.5 GiB (does not fit) | 12.0 GiB |
| 3584 | 15.8 GiB | 13.0 GiB (no margin) |

So the GPU preset trains at S = 3072: ~12 GiB, 1 GiB under the target, where it was 2048
with logits everywhere (`estimate_gib` below computes the table; tests/test_config.py holds
the preset to it). To be replaced by the measured figure (`main`) once a T4 run is made.

GRPO on a T4: a paper estimate (not measured) for the arctic-7b-t4 preset's GRPO settings
(`training.method=grpo`: grpo.num_generations G=8, grpo.max_completion_length 1024, batch 1 x
accumulation 8 = one group per step, steps_per_generation = 8, generation by HF `generate` in fp16):
  - base weights, 4-bit NF4 + double quant: ~5.4 GB (HF's 4-bit load of a 7B, the anchor above);
  - LoRA r=16 on all projections: ~40M params in fp32 = 0.16 GB, + gradients 0.16 GB + two Adam
    moments 0.32 GB = ~0.65 GB;
  - generation of one group (8 sequences of prompt <= 2048 + 1024 new tokens): KV cache per token =
    28 layers x 2 (K, V) x 4 KV heads x 128 dims x 2 bytes = 56 KiB; 8 x 3072 tokens = 24,576 tokens
    -> ~1.35 GiB; prefill of 8 x 2048 tokens adds transient activations of ~0.6 GB (the MLP's
    8 x 2048 x 18944 fp16 intermediate), logits only for the last position;
  - loss micro-batch (1 completion, 3072 tokens, gradient checkpointing): 28 saved hidden states of
    3072 x 3584 fp16 = ~0.6 GB, one layer recomputed ~0.4 GB, logits kept for the 1024 completion
    tokens only (TRL's logits_to_keep): 1024 x 152064 in fp16 + fp32 log-softmax = ~0.9 GB; the
    reference forward (grpo.beta > 0: adapter disabled, no grad) reuses the same room.
  Peak ~= 5.4 + 0.65 + max(1.35 + 0.6, 0.6 + 0.4 + 0.9) + ~1 GB CUDA context/allocator slack ~= 9 GB,
  under the T4's 15 GB usable. Anchor: Unsloth's public Kaggle T4 notebook fits 8B 4-bit GRPO at G=6,
  1024 tokens, in 14.7 GB (with vLLM's reserved pool). G=16 (Arctic's) doubles the KV cache (~2.7 GiB)
  and still fits by this estimate; longer prompts (BIRD schemas with values) grow it linearly.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

ARCTIC_SHAPE = dict(
    hidden_size=3584,
    num_hidden_layers=28,
    num_attention_heads=28,
    num_key_value_heads=4,
    intermediate_size=18944,
    vocab_size=152064,
    rope_theta=1_000_000.0,
    max_position_embeddings=32768,
    eos_token_id=151645,
    pad_token_id=151643,
    tie_word_embeddings=False,
)


FIXED_GIB = 6.3  # 4-bit base, LoRA + optimizer, CUDA context (see the docstring)
CHECKPOINT_MIB_PER_TOKEN = 28 * 3584 * 2 / 2**20  # 0.19: one fp16 hidden state per layer
LAYER_MIB_PER_TOKEN = 0.5  # the layer being recomputed and back-propagated
LOGIT_MIB_PER_TOKEN = 152064 * (2 + 4 + 4 + 4) / 2**20  # 2.03 per labelled token
LABELLED_SHARE = 0.6  # budgeted share of a row's tokens that carry a label


def estimate_gib(seq: int, labelled: float = LABELLED_SHARE) -> float:
    """Paper estimate of the T4 peak (GiB) at `seq` tokens per row, `labelled` of them with logits."""
    per_token = CHECKPOINT_MIB_PER_TOKEN + LAYER_MIB_PER_TOKEN + labelled * LOGIT_MIB_PER_TOKEN
    return FIXED_GIB + seq * per_token / 1024


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seq", type=int, default=0, help="tokens per row (default: the GPU preset's)")
    parser.add_argument("--estimate", action="store_true", help="print the paper estimate only")
    args = parser.parse_args()
    from kaggle_t2sql.config_overrides import build_config

    args.seq = args.seq or build_config("arctic-7b-t4").data.max_seq_length
    if args.estimate:
        print("| S | logits everywhere (T = S) | labelled only (T = 0.6 S) |\n|---|---|---|")
        for seq in (2048, 2560, 3072, 3584, 4096):
            print(f"| {seq} | {estimate_gib(seq, 1.0):.1f} GiB | {estimate_gib(seq):.1f} GiB |")
        print(f"GPU preset: S = {args.seq}, estimate {estimate_gib(args.seq):.1f} GiB (target <= 13 GiB)")
        return 0

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from kaggle_t2sql import gpu
    from kaggle_t2sql.train.loss import labelled_token_loss
    from kaggle_t2sql.train.model import build_model

    if not torch.cuda.is_available():
        print("no CUDA GPU: this benchmark needs one (run it on Kaggle or a GPU machine)")
        return 0
    print(gpu.describe(gpu.check()))
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.time()
        config = Qwen2Config(**ARCTIC_SHAPE)
        torch.manual_seed(0)
        with torch.device("cpu"):
            model = Qwen2ForCausalLM(config).to(torch.float16)
        model.save_pretrained(tmp)
        del model
        print(f"random Arctic-7B-shaped model written in {time.time() - t0:.0f} s")

        cfg = build_config("arctic-7b-t4", set_args=[f"model.name_or_path={tmp}", "quantization.compute_dtype=float16",
                                                     "lora.r=16", "lora.alpha=32"])
        torch.cuda.reset_peak_memory_stats()
        model = build_model(cfg)
        loaded = torch.cuda.memory_allocated() / 2**30
        print(f"4-bit base + LoRA loaded: {loaded:.2f} GiB")
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=1e-4)
        scaler = torch.amp.GradScaler("cuda")
        ids = torch.randint(0, 150000, (1, args.seq), device="cuda")
        labels = ids.clone()
        labels[:, : int(args.seq * 0.6)] = -100  # the prompt: 40% of the row is labelled
        times = []
        for step in range(args.steps):
            torch.cuda.synchronize()
            start = time.time()
            with torch.autocast("cuda", dtype=torch.float16):
                loss = labelled_token_loss(model, {"input_ids": ids, "labels": labels, "use_cache": False})
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            torch.cuda.synchronize()
            times.append(time.time() - start)
            print(f"step {step + 1}: {times[-1]:.2f} s, loss {loss.item():.3f}")
        peak = torch.cuda.max_memory_allocated() / 2**30
        reserved = torch.cuda.max_memory_reserved() / 2**30
        steady = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
        print(f"\npeak allocated {peak:.2f} GiB (reserved {reserved:.2f} GiB) vs 13 GiB target -> {peak / 13:.2f}x; "
              f"paper estimate {estimate_gib(args.seq, 0.4):.2f} GiB at this labelled share")
        print(f"seconds per step (median after the first): {steady:.2f} s at seq {args.seq}, batch 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
