"""Stage 4, training: the model (4-bit base + LoRA, the tiny model), the resumable session (trainer,
callbacks, console, loss curve), and the learning methods (SFT, DPO/ORPO, GRPO with its execution reward).
The run folder's format (plan, checkpoints, lock) sits at the top of the package, shared with kaggle/."""
