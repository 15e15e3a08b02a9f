"""The paper's pictures as PNG files: t-SNE, distance matrix, training curves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_tsne(embeddings: np.ndarray, path: Path, title: str = "", seed: int = 0) -> None:
    """t-SNE of one trajectory ``(T, D)`` coloured by frame index.

    The paper's settings: perplexity 30, learning rate 200, 1000 iterations
    (perplexity is lowered for trajectories shorter than 91 frames, as t-SNE needs
    ``perplexity < T / 3``).
    """
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(embeddings) - 1) / 3))
    points = TSNE(
        n_components=2,
        perplexity=perplexity,
        learning_rate=200.0,
        max_iter=1000,
        init="pca",
        random_state=seed,
    ).fit_transform(np.asarray(embeddings, dtype=np.float64))
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    sc = ax.scatter(points[:, 0], points[:, 1], c=np.arange(len(points)), cmap="viridis", s=14)
    ax.plot(points[:, 0], points[:, 1], color="0.7", lw=0.6, zorder=0)
    fig.colorbar(sc, ax=ax, label="frame")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_distance_matrix(embeddings: np.ndarray, path: Path, title: str = "") -> None:
    """Squared-L2 distances between every pair of frames of one trajectory."""
    e = np.asarray(embeddings, dtype=np.float64)
    d = ((e[:, None, :] - e[None, :, :]) ** 2).sum(-1)
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    im = ax.imshow(d, cmap="magma")
    fig.colorbar(im, ax=ax, label="squared L2 distance")
    ax.set_xlabel("frame")
    ax.set_ylabel("frame")
    ax.set_title(f"embedding distances {title}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_training_curves(history: list[dict[str, Any]], path: Path) -> None:
    """Loss per epoch and validation triplet accuracies, from a run's history."""
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5), dpi=120)
    ax_loss.plot(epochs, [r.get("train/loss", np.nan) for r in history], lw=1)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss")
    ax_loss.set_yscale("log")
    evals = [r for r in history if "val/triplet_accuracy" in r]
    if evals:
        x = [r["epoch"] for r in evals]
        ax_acc.plot(x, [r["val/triplet_accuracy"] for r in evals], "o-", ms=3, label="no margin")
        ax_acc.plot(
            x, [r["val/triplet_accuracy_margin"] for r in evals], "s-", ms=3, label="with margin"
        )
        ax_acc.axhline(0.930, color="0.6", ls=":", lw=1)
        ax_acc.axhline(0.736, color="0.6", ls="--", lw=1)
        ax_acc.set_ylim(0, 1.01)
        ax_acc.legend(loc="lower right", fontsize=8)
    ax_acc.set_xlabel("epoch")
    ax_acc.set_ylabel("validation triplet accuracy")
    ax_acc.set_title("paper: 0.930 (dotted), 0.736 with margin (dashed)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_rollout(result: Any, path: Path) -> None:
    """Reward and joint-space error to the demonstration over one episode."""
    fig, (ax_r, ax_e) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=120)
    ax_r.plot(np.arange(1, len(result.rewards) + 1), result.rewards, lw=1)
    ax_r.set_xlabel("step")
    ax_r.set_ylabel("reward")
    ax_e.plot(result.joint_errors, lw=1)
    ax_e.axhline(0.2, color="0.6", ls="--", lw=1, label="success threshold (final)")
    ax_e.set_xlabel("step")
    ax_e.set_ylabel("||q - q_demo|| (rad)")
    ax_e.legend(fontsize=8)
    fig.suptitle(
        f"{result.demo}: final joint error {result.final_joint_error:.3f} rad", fontsize=9
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_side_by_side(
    demo_frames: np.ndarray, agent_frames: list[np.ndarray], path: Path, fps: int = 10
) -> None:
    """An animated GIF: demonstration | agent, frame by frame."""
    import imageio.v3 as iio

    n = min(len(demo_frames), len(agent_frames))
    gap = np.full((demo_frames.shape[1], 4, 3), 255, np.uint8)
    frames = [np.concatenate([demo_frames[t], gap, agent_frames[t]], axis=1) for t in range(n)]
    iio.imwrite(path, np.stack(frames), duration=1000 / fps, loop=0)


def plot_attention(
    frames: np.ndarray, maps: Any, path: Path, labels: list[str] | None = None
) -> None:
    """Attention maps overlaid on the input frames (SMAK-Net).

    ``frames`` are uint8 RGB ``(N, H, W, 3)``; ``maps`` is one array or tensor per attention
    level, ``(N, H_i, W_i)``. One row per frame: the frame, then each level's map stretched
    over it (bilinear), scaled to its own maximum per frame so coarse and fine levels and
    sigmoid and softmax weights are all visible; each title gives the map's size and range.
    ``labels`` name the levels (e.g. the trunk layers); default ``level 1, 2, ...``.
    """
    frames = np.asarray(frames)
    levels = [np.asarray(m, dtype=np.float64) for m in maps]
    for i, m in enumerate(levels):
        if m.ndim != 3 or len(m) != len(frames):
            raise ValueError(
                f"attention map {i} must be shaped ({len(frames)}, H, W), got {m.shape}"
            )
    labels = labels or [f"level {i}" for i in range(1, len(levels) + 1)]
    rows, cols = len(frames), 1 + len(levels)
    fig, axes = plt.subplots(rows, cols, figsize=(1.8 * cols, 1.8 * rows), dpi=120, squeeze=False)
    height, width = frames.shape[1:3]
    for r in range(rows):
        axes[r, 0].imshow(frames[r])
        axes[r, 0].set_ylabel(f"frame {r}", fontsize=7)
        for c, m in enumerate(levels, start=1):
            peak = m[r].max()
            axes[r, c].imshow(frames[r])
            axes[r, c].imshow(
                m[r] / peak if peak > 0 else m[r],
                cmap="jet",
                alpha=0.5,
                vmin=0.0,
                vmax=1.0,
                interpolation="bilinear",
                extent=(-0.5, width - 0.5, height - 0.5, -0.5),
            )
            axes[r, c].set_title(
                f"{labels[c - 1]} {m.shape[1]}x{m.shape[2]}\n[{m[r].min():.2g}, {peak:.2g}]",
                fontsize=6,
            )
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
