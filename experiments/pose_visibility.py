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
within ``--near`` rad of 0 and for the others. It also reports how often each keypoint of the
arm (:meth:`KukaSim.keypoints`: link origins, tool parts) falls outside the image, over every
validation frame and over the episodes' final frames (the pose success is judged on).
``--image-size`` renders the same poses at another size (what a larger input would show),
``--distance`` and ``--pitch`` from another orbit of the same camera::

    python experiments/pose_visibility.py --data data/tool
    python experiments/pose_visibility.py --data data/tool --image-size 299
    python experiments/pose_visibility.py --data data/tool --distance 1.9 --pitch -30

Writes the table to stdout (markdown) and, with ``--out JSON``, the numbers.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from kuka_sim import IIWA_COUPLED_JOINTS, CameraConfig, KukaSim
from tcn.dataset import dataset_sim_config
from tcn.frames import load_split


def directions() -> dict[str, tuple[np.ndarray, int | None]]:
    """Unit joint-space directions, each with the middle joint of its coupled pair (None for
    a single joint): each joint, then each coupled pair's sum and difference."""
    eye = np.eye(7)
    out: dict[str, tuple[np.ndarray, int | None]] = {f"A{j + 1}": (eye[j], None) for j in range(7)}
    for middle, a, b in IIWA_COUPLED_JOINTS:
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
    parser.add_argument("--distance", type=float, default=None, help="camera distance (m)")
    parser.add_argument("--pitch", type=float, default=None, help="camera pitch (degrees)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    val = load_split(args.data, "val")

    def camera_of(recorded: CameraConfig) -> CameraConfig:
        changes = {"distance": args.distance, "pitch": args.pitch}
        camera = replace(recorded, **{k: v for k, v in changes.items() if v is not None})
        return camera if args.image_size is None else camera.with_size(args.image_size)

    poses = [
        (q, camera_of(cams[0]))
        for joints, cams in zip(val.joints, val.cameras, strict=True)
        for q in joints
    ]
    finals = np.cumsum([len(joints) for joints in val.joints]) - 1  # each episode's last frame
    pick = rng.choice(len(poses), size=min(args.poses, len(poses)), replace=False)
    moves = directions()
    changed: dict[str, list[float]] = {name: [] for name in moves}
    with KukaSim(dataset_sim_config(args.data)) as sim:
        lo, hi = sim.lower_limits, sim.upper_limits

        def frame(q: np.ndarray, camera: CameraConfig) -> np.ndarray:
            sim.reset(np.clip(q, lo, hi))
            return sim.render(camera).astype(np.int16)

        for i in pick:
            q, camera = poses[i]
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
        outside = np.concatenate(
            [
                np.abs(sim.keypoint_images(joints, camera_of(cams[0]))).max(axis=2) > 1.0
                for joints, cams in zip(val.joints, val.cameras, strict=True)
            ]
        )
    final = outside[finals]
    joints = np.array([poses[i][0] for i in pick])
    size = poses[0][1].width
    print(
        f"\n{len(pick)} validation frames of {args.data} at {size} px, moves of {args.delta} rad: "
        f"pixels changing by more than {args.threshold} grey levels (mean)\n"
    )
    print("| direction | all frames | middle joint near 0 | middle joint away from 0 |")
    print("|---|---|---|---|")
    table: dict[str, dict[str, object]] = {}
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
    names = [f"link {j + 1}" for j in range(7)] + ["palm", "red finger", "green finger"]
    names = names[: outside.shape[1]]
    print(
        f"\nkeypoints outside the image: {outside.any(axis=1).mean():.1%} of {len(outside)} "
        f"validation frames, {int(final.any(axis=1).sum())} of {len(final)} final frames"
    )
    print("| keypoint | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    print("| share of frames | " + " | ".join(f"{x:.1%}" for x in outside.mean(axis=0)) + " |")
    table["outside"] = {
        "frames": float(outside.any(axis=1).mean()),
        "final_frames": int(final.any(axis=1).sum()),
        "episodes": len(final),
        "per_keypoint": dict(zip(names, outside.mean(axis=0).tolist(), strict=True)),
    }
    if args.out is not None:
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
