"""kaggle_t2sql: fine-tune and evaluate Arctic-Text2SQL-R1-7B with 4-bit QLoRA on Kaggle, session after session.

The subpackages are the stages of a run, in the order imports may point (a stage imports only earlier
ones; docs/layout.md, tests/test_layout.py): data/ -> sql/ -> kaggle/ -> train/ -> infer/ -> eval/. The
modules at this level are either shared by every stage (config, errors, atomic, inputs, and the run
folder's format: plan, checkpoints, runlock, gpu) or the entry points on top (cli, demo, notebook).
"""

__version__ = "0.1.0"


def _drop_bitsandbytes_cpu_kernel_notice() -> None:
    """bitsandbytes logs at import, on CPUs with AVX512-BF16, that an optional package of faster
    bf16 CPU kernels is missing; it falls back to its own kernels, and nothing here needs them.
    That one record is dropped (peft imports bitsandbytes, so this has to come first)."""
    import logging

    notice = "Failed to load CPU gemm_4bit_forward from kernels-community"
    logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: not str(record.msg).startswith(notice))


_drop_bitsandbytes_cpu_kernel_notice()
