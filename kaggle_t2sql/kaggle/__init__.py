"""The Kaggle stage: credentials, the emulatable session environment, the checkpoint store and its
sync, the training kernel (spec, setup, pushes, chaining), and wheels for offline installs."""
