"""Stage 2, SQL: running untrusted SQL read-only under limits (execute.py), in supervised worker processes
(pool.py), and judging a result against the gold one like the official evaluators (compare.py, judge.py).
Used by training (the GRPO reward), inference (ask, serve, voting, self-correction) and evaluation."""
