"""Stage 6, evaluation: the `eval` run (the inference path over a benchmark, then scored), the scoring run over
prediction files (`score`), and sampling for learning from execution (`sample`: N candidates each, judged)."""
