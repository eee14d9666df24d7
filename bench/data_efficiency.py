"""Share of real (non-pad) tokens per batch: packing vs padding every example.

Baselines: pad every example to the longest example of the dataset (what a fixed
max_length padding does; the seed notebooks padded to 512 and cut what was longer,
which this project never does: the count that 512 would cut is printed), and pad
each batch to its own longest example (dynamic padding, no packing).
Run: ./dev python bench/data_efficiency.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from kaggle_t2sql.data import bundled
from kaggle_t2sql.config import ModelConfig
from kaggle_t2sql.train.model import load_tokenizer
from kaggle_t2sql.data.packing import pack_encoded, real_token_share
from kaggle_t2sql.data.readers import read_spider
from kaggle_t2sql.data.tokenization import encode_examples

SPIDER = Path(__file__).resolve().parents[2] / "shared" / "data" / "spider_dev"


def fixed_pad_share(lengths: list[int], width: int) -> float:
    return sum(min(n, width) for n in lengths) / (width * len(lengths))


def report(name: str, examples, tokenizer, max_len: int, batch_sizes=(1, 2, 4, 8)) -> None:
    encoded, stats = encode_examples(examples, tokenizer, max_len, progress=False)
    singles = [{"input_ids": e["input_ids"]} for e in encoded]
    packed = pack_encoded(encoded, max_len)
    lengths = [len(e["input_ids"]) for e in encoded]
    print(f"\n{name}: {stats.summary()}; {len(encoded)} examples -> {len(packed)} packed rows of <= {max_len} tokens")
    longest = max(lengths)
    print(f"  pad to 512 (seed notebooks): {sum(n > 512 for n in lengths)} of {len(lengths)} examples would be cut")
    print(f"  {'batch':>5}  {'pad to longest (' + str(longest) + ')':>24}  {'dynamic pad':>11}  {'packed':>7}  {'packed/pad-longest':>18}")
    for bs in batch_sizes:
        fixed, dyn, pack = fixed_pad_share(lengths, longest), real_token_share(singles, bs), real_token_share(packed, bs)
        print(f"  {bs:>5}  {fixed:>24.3f}  {dyn:>11.3f}  {pack:>7.3f}  {pack / fixed:>17.2f}x")


def main() -> int:
    tokenizer = load_tokenizer(ModelConfig(name_or_path="tiny"))
    report("bundled train (tiny tokenizer)", bundled.load_examples("train"), tokenizer, 4096)
    if SPIDER.is_dir():
        report("Spider dev fixture, 972 questions (tiny tokenizer)", read_spider(SPIDER, "dev"), tokenizer, 8192)
    else:
        print("\nSpider fixture not found beside the repo (../shared/data/spider_dev): skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
