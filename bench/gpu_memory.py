"""Peak GPU memory and seconds per step of the real job's shape (needs a CUDA GPU).

Builds a randomly initialised model with Arctic-Text2SQL-R1-7B's exact architecture
(Qwen2: hidden 3584, 28 layers, 28 heads, 4 KV heads, intermediate 18944, vocab
152064), loads it in 4-bit NF4 with double quantization, adds LoRA r=16 on all
projections, and trains with fp16 autocast, seq 2048, batch 1 and non-reentrant
gradient checkpointing, through the same `build_model` the trainer uses.
Target: peak <= 12 GiB so a 16 GB T4 fits.
Run: ./dev python bench/gpu_memory.py [--steps 6] [--seq 2048]

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


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seq", type=int, default=2048)
    args = parser.parse_args()

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from kaggle_t2sql import gpu
    from kaggle_t2sql.config import build_config
    from kaggle_t2sql.model import build_model

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
        times = []
        for step in range(args.steps):
            torch.cuda.synchronize()
            start = time.time()
            with torch.autocast("cuda", dtype=torch.float16):
                loss = model(input_ids=ids, labels=ids, use_cache=False).loss
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
        print(f"\npeak allocated {peak:.2f} GiB (reserved {reserved:.2f} GiB) vs 12 GiB target -> {peak / 12:.2f}x")
        print(f"seconds per step (median after the first): {steady:.2f} s at seq {args.seq}, batch 1")
    return 0


if __name__ == "__main__":
    sys.exit(main())
