"""How much of a joint-space move does the camera see? Rendering only, no network.

The success criterion is in joint space (final L2 error under 0.2 rad), so every joint-space
direction must change the frame, or no reader of the frame (an embedding, a reward, a
policy) can tell it apart. The iiwa has three places where it nearly does not: with A2 at
0 the axes of A1 and A3 line up, and turning A1 one way and A3 the other moves nothing but
the shoulder housing between them; the same holds for A3 and A5 around A4 = 0 and for A5
and A7 (the wrist) around A6 = 0. Only the sum of such a pair moves the rest of the arm.

For ``--poses`` validation frames of ``--data`` (held-out demonstrations, their own camera
and scene), this renders the arm moved by ``--delta`` rad (L2) along each single joint and
along each coupled pair's sum and difference, both signs, and reports the mean number of
pixels that change by more than ``--threshold`` grey levels, for poses with the middle joint
within ``--near`` rad of 0 and for the others. ``--image-size`` renders the same poses with the
same camera at another size (what a larger input would show)::

    python benchmarks/pose_visibility.py --data data/tool
    python benchmarks/pose_visibility.py --data data/tool --image-size 299

Writes the table to stdout (markdown) and, with ``--out JSON``, the numbers.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from kuka_sim import CameraConfig, KukaSim, SimConfig
from kuka_sim.sim import IIWA_COUPLED_JOINTS
from tcn.dataset import load_index
from tcn.frames import load_split

COUPLED = IIWA_COUPLED_JOINTS


def directions() -> dict[str, tuple[np.ndarray, int | None]]:
    """Unit joint-space directions, each with the middle joint of its coupled pair (None for
    a single joint): each joint, then each coupled pair's sum and difference."""
    eye = np.eye(7)
    out: dict[str, tuple[np.ndarray, int | None]] = {f"A{j + 1}": (eye[j], None) for j in range(7)}
    for middle, a, b in COUPLED:
        out[f"A{a + 1}+A{b + 1}"] = ((eye[a] + eye[b]) / np.sqrt(2), middle)
        out[f"A{a + 1}-A{b + 1}"] = ((eye[a] - eye[b]) / np.sqrt(2), middle)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--poses", type=int, default=400, help="validation frames")
    parser.add_argument("--delta", type=float, default=0.1, help="size of each move (rad)")
    parser.add_argument("--threshold", type=int, default=30, help="grey levels that count")
    parser.add_argument("--near", type=float, default=0.3, help="rad from 0 of the middle joint")
    parser.add_argument("--image-size", type=int, default=None, help="render at this size")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    index = load_index(args.data)
    sim_config = SimConfig.from_dict(index.settings["sim"]) if index else SimConfig()
    val = load_split(args.data, "val")
    poses = [
        (q, cams[0]) for joints, cams in zip(val.joints, val.cameras, strict=True) for q in joints
    ]
    pick = rng.choice(len(poses), size=min(args.poses, len(poses)), replace=False)
    moves = directions()
    changed: dict[str, list[float]] = {name: [] for name in moves}
    with KukaSim(sim_config) as sim:
        lo, hi = sim.lower_limits, sim.upper_limits

        def frame(q: np.ndarray, camera: CameraConfig) -> np.ndarray:
            sim.reset(np.clip(q, lo, hi))
            return sim.render(camera).astype(np.int16)

        for i in pick:
            q, camera = poses[i]
            camera = camera if args.image_size is None else camera.with_size(args.image_size)
            centre = frame(q, camera)
            for name, (u, _) in moves.items():
                counts = [
                    int(
                        (
                            np.abs(frame(q + sign * args.delta * u, camera) - centre)
                            > args.threshold
                        )
                        .any(axis=2)
                        .sum()
                    )
                    for sign in (1.0, -1.0)
                ]
                changed[name].append(float(np.mean(counts)))
    joints = np.array([poses[i][0] for i in pick])
    size = args.image_size or poses[0][1].width
    print(
        f"\n{len(pick)} validation frames of {args.data} at {size} px, moves of {args.delta} rad: "
        f"pixels changing by more than {args.threshold} grey levels (mean)\n"
    )
    print("| direction | all frames | middle joint near 0 | middle joint away from 0 |")
    print("|---|---|---|---|")
    table: dict[str, dict[str, float]] = {}
    for name, (_, middle) in moves.items():
        v = np.array(changed[name])
        row = {"all": float(v.mean())}
        if middle is not None:
            close = np.abs(joints[:, middle]) < args.near
            row[f"|A{middle + 1}|<{args.near}"] = float(v[close].mean())
            row[f"|A{middle + 1}|>={args.near}"] = float(v[~close].mean())
        table[name] = row
        cells = [f"{c:.1f}" for c in row.values()] + [""] * (3 - len(row))
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.out is not None:
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
