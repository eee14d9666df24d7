"""kaggle_t2sql: fine-tune and evaluate Arctic-Text2SQL-R1-7B with 4-bit QLoRA on Kaggle, session after session."""

__version__ = "0.1.0"
