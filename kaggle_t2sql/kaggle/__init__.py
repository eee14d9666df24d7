"""Stage 3, Kaggle: credentials, the emulatable session environment, the checkpoint stores and their
sync, the training kernel (spec, setup, pushes, chaining), data subsets published as datasets, and wheels
for offline installs. Imports data/ and the shared modules, never training, evaluation or the notebook helpers."""
