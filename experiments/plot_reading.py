"""A picture of one held-out demonstration read from its frames, joint by joint.

Reads the demonstration twice with the ``render-compare`` reader of
``tcn.reading.read_demonstrations`` (so both readings are cached beside the embedding, as
the agent's are): by the search in the embedding alone (``refine_iterations=0``) and with
the default refinement in the frame itself, and plots both against the recorded joints,
which neither reading saw.

Usage::

    python experiments/plot_reading.py --embedding runs/tcn_from_c6000/model.pt \
        --demos data/tool_c19t2 --episode episode_0295 --out docs/images/reading_refined.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from imitation_agent.env import SUCCESS_THRESHOLD
from tcn.dataset import episode_paths
from tcn.demonstrations import load_demonstrations
from tcn.embedding_run import load_embedding_model
from tcn.plots import plt
from tcn.reading import read_demonstrations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN checkpoint")
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--episode", required=True, help="a validation episode's name")
    parser.add_argument("--out", type=Path, required=True, help="the picture (.png)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.episode not in [path.name for path in episode_paths(args.demos, "val")]:
        parser.error(f"--episode {args.episode}: not a validation episode of {args.demos}")
    model = load_embedding_model(args.embedding)
    # That episode's bag alone: its frames embedded once, not the whole split's.
    demos = load_demonstrations(args.demos / args.episode, None, model, keep_frames=True)
    readings = {  # settings of the render-compare reader (imitation_agent.imagine.ImagineConfig)
        "embedding search only": {"refine_iterations": 0},
        "refined in the frame (default)": {},
    }
    read = {
        label: read_demonstrations(
            demos, "render-compare", model, args.embedding, settings=settings
        )[0].reading
        for label, settings in readings.items()
    }
    truth = demos[0].joint_positions
    fig, axes = plt.subplots(1, 7, figsize=(17, 3.3), sharex=True)
    for j, ax in enumerate(axes):
        ax.plot(truth[:, j], color="black", lw=2, label="recorded (not seen)")
        for (label, joints), style in zip(read.items(), ("--", ":"), strict=True):
            ax.plot(joints[:, j], style, lw=2, label=label)
        ax.set_title(f"A{j + 1}")
        ax.set_xlabel("frame")
    axes[0].set_ylabel("rad")
    finals = ", ".join(
        f"{label}: {np.linalg.norm(joints[-1] - truth[-1]):.2f} rad"
        for label, joints in read.items()
    )
    fig.suptitle(
        f"{args.episode}: final pose error (success below {SUCCESS_THRESHOLD} rad) {finals}"
    )
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=90)
    print(f"wrote {args.out} ({finals})")


if __name__ == "__main__":
    main()
