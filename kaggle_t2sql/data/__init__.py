"""Stage 1, data: question/SQL pairs in (Spider, BIRD, SynSQL, your JSONL, the bundled demo), schemas,
Arctic prompts, value retrieval, tokenization, curriculum and packing. Imports only the shared modules
at the top of the package (config, errors, atomic, inputs)."""
