"""Does a frame depend on the frames rendered before it? PyBullet's TinyRenderer, measured.

Renders each pose three times in a row in one simulator and counts the poses whose repeated
frames differ, and by how much; then renders the first such pose in a fresh simulator. The
first pose is one where it was found: a central-difference step of the reading of seed 1,
episode 57 of the headline run (docs/journal.md, session 22), in the recipe's scene
and camera (``tcn.record.RecordConfig``'s defaults) at 96 px. The rest are drawn
uniformly within the joint limits.

Why it matters: the reader (imitation_agent.RenderAndCompare) compares rendered frames with
the demonstration's, and a search amplifies a one-level difference where the frame barely
tells two poses apart. So each reading runs in a simulator of its own.

Usage::

    python experiments/renderer_state.py --poses 500 --out runs/renderer_state.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kuka_sim import KukaSim
from tcn.record import RecordConfig

FOUND = (
    0.22447458661573177,
    -1.081336136011356,
    0.4597154789744247,
    1.0093689432626027,
    -0.4024917686057329,
    0.0380162622009485,
    0.13778276956529714,
)
"""The pose where a repeated frame was first seen to differ (module docstring)."""


def repeated_frames(sim: KukaSim, pose: np.ndarray, camera, repeats: int = 3) -> list[np.ndarray]:
    """``pose``'s frame rendered ``repeats`` times in a row by ``sim``."""
    sim.reset(pose)
    return [sim.render(camera) for _ in range(repeats)]


def differences(frames: list[np.ndarray]) -> tuple[int, int]:
    """Pixels where any later frame differs from the first, and the largest difference."""
    first = frames[0].astype(int)
    pixels = max(int((f != frames[0]).any(-1).sum()) for f in frames[1:])
    largest = max(int(np.abs(f.astype(int) - first).max()) for f in frames[1:])
    return pixels, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--poses", type=int, default=500, help="random poses besides FOUND")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--tool-scale", type=float, default=2.0, help="the recipe's: 2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON summary")
    args = parser.parse_args()

    scene = RecordConfig(image_size=args.image_size, tool_scale=args.tool_scale)
    config, camera = scene.sim(), scene.cameras()[0]
    rng = np.random.default_rng(args.seed)
    with KukaSim(config) as sim:
        lower, upper = sim.lower_limits, sim.upper_limits
        poses = [np.clip(np.array(FOUND), lower, upper)]
        poses += list(rng.uniform(lower, upper, size=(args.poses, 7)))
        rows = [differences(repeated_frames(sim, pose, camera)) for pose in poses]
    changed = [i for i, (pixels, _) in enumerate(rows) if pixels]
    summary = {
        "image_size": args.image_size,
        "tool_scale": args.tool_scale,
        "poses": len(poses),
        "found_pose": {"pixels": rows[0][0], "largest": rows[0][1]},
        "random_poses_changed": sum(1 for i in changed if i > 0),
        "pixels_changed": [rows[i][0] for i in changed],
        "largest_difference": max((rows[i][1] for i in changed), default=0),
    }
    if changed:  # the first frame of a changed pose, from a simulator that rendered nothing
        pose = poses[changed[0]]
        with KukaSim(config) as sim:
            sim.reset(pose)
            fresh = sim.render(camera)
        with KukaSim(config) as sim:
            repeated = repeated_frames(sim, pose, camera)
        summary["fresh_equals_first_of_a_fresh_repeat"] = bool(np.array_equal(fresh, repeated[0]))
    print(json.dumps(summary, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
