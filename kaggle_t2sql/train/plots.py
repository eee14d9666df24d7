"""Pictures: the loss curve over all sessions, with session boundaries marked."""

from __future__ import annotations

import io
from pathlib import Path

from .. import atomic


def plot_loss_curve(log_history: list[dict], boundaries: list[int], path: str | Path) -> Path:
    """Per-step training loss; a dashed line where each later session resumed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = [(e["step"], e["loss"]) for e in log_history if "loss" in e]
    rewards = [(e["step"], e["reward"]) for e in log_history if isinstance(e.get("reward"), (int, float))]
    if rewards:  # a GRPO run: the mean execution reward per step under the loss
        fig, (ax, reward_ax) = plt.subplots(2, 1, figsize=(8, 6), dpi=100, sharex=True)
        reward_ax.plot(*zip(*rewards), lw=1.2, color="tab:green", label="mean reward")
        for step in boundaries:
            reward_ax.axvline(step, color="tab:red", ls="--", lw=0.8)
        reward_ax.set_ylabel("reward (1 right, 0.1 runs)")
        reward_ax.set_xlabel("optimizer step")
        reward_ax.grid(alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    if points:
        steps, losses = zip(*points)
        ax.plot(steps, losses, lw=1.2, label="training loss")
    for i, step in enumerate(boundaries):
        ax.axvline(step, color="tab:red", ls="--", lw=0.8, label="session boundary" if i == 0 else None)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_title(f"Training loss over {len(boundaries) + 1} session(s)")
    ax.grid(alpha=0.3)
    if points or boundaries:
        ax.legend(loc="upper right")
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic.write_bytes(path, buf.getvalue())
    return Path(path)
