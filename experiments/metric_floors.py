"""What the embedding metrics of ARCHITECTURE.md give for reference embeddings built from the
simulator's ground truth, on a dataset's validation episodes: the floor a perfect pose code
would reach, next to which a trained embedding's numbers can be read.

Reference embeddings of each frame (one per view; identical across views unless noise is
added, drawn independently per view):

- ``joints``: the seven joint positions (rad), a pose code with no error;
- ``joints + N(0, s)``: the same read with independent error ``s`` rad per joint and view;
- ``band joints``: only A1, A2 and A4, the joints whose bands are the labels;
- ``keypoints``: the arm's keypoints in the world (m, :meth:`KukaSim.keypoints`), the pose
  as a camera sees it;
- ``random``: i.i.d. Gaussian vectors (chance).

For each: classification error (A1 / A2 / A4 bands, nearest neighbour among other
episodes) and, on multi-view data, alignment error. Then the classification error of the
true joints and of the band joints against the number of episodes it is measured on
(drawn from the training split; the validation split's size is a recording choice)::

    python experiments/metric_floors.py --data data/mv3s --out runs/metric_floors_mv3s.json

Prints a markdown table and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from kuka_sim import KukaSim
from tcn.dataset import dataset_sim_config
from tcn.frames import load_split
from tcn_embedding import BAND_JOINTS, joint_classification_error, mean_alignment_error

Reference = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def keypoint_embedding(data: Path) -> Reference:
    """World keypoints ``(T, 3K)`` of joint positions ``(T, 7)`` in ``data``'s simulator."""
    sim = KukaSim(dataset_sim_config(data))

    def embed(q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        rows = []
        for pose in q:
            sim.reset(pose)
            rows.append(sim.keypoints().ravel())
        return np.array(rows)

    return embed


def references(data: Path, noises: list[float]) -> dict[str, Reference]:
    refs: dict[str, Reference] = {"joints": lambda q, rng: q}
    for s in noises:
        refs[f"joints + N(0, {s})"] = lambda q, rng, s=s: q + rng.normal(0.0, s, q.shape)
    refs["band joints (A1, A2, A4)"] = lambda q, rng: q[:, list(BAND_JOINTS)]
    refs["keypoints (world)"] = keypoint_embedding(data)
    refs["random"] = lambda q, rng: rng.normal(size=(len(q), 32))
    return refs


def score(
    joints: list[np.ndarray], views: int, embed: Reference, rng: np.random.Generator
) -> dict[str, object]:
    """Classification error (view 0) and, with several views, alignment error of ``embed``."""
    per_view = [[embed(q, rng) for _ in range(views)] for q in joints]
    error, errors = joint_classification_error([e[0] for e in per_view], joints)
    out: dict[str, object] = {
        "classification_error": round(error, 4),
        "per_band": {k: round(v, 4) for k, v in errors.items() if k.endswith("_band")},
    }
    if views >= 2:
        out["alignment_error"] = round(mean_alignment_error(per_view), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    parser.add_argument("--noise", type=float, nargs="*", default=[0.05, 0.1, 0.2, 0.4])
    parser.add_argument("--episodes", type=int, nargs="*", default=[10, 20, 50, 100, 200])
    parser.add_argument("--draws", type=int, default=3, help="draws per episode count")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    val = load_split(args.data, "val")
    views = len(val.frames[0])
    joints = [np.asarray(q, dtype=np.float64) for q in val.joints]
    table = {
        name: score(joints, views, embed, rng)
        for name, embed in references(args.data, args.noise).items()
    }
    train = [np.asarray(q, dtype=np.float64) for q in load_split(args.data, "train").joints]
    by_count: dict[str, dict[int, float]] = {"joints": {}, "band joints (A1, A2, A4)": {}}
    for n in [n for n in args.episodes if n <= len(train)]:
        for name, columns in (
            ("joints", slice(None)),
            ("band joints (A1, A2, A4)", [*BAND_JOINTS]),
        ):
            draws = []
            for _ in range(args.draws):
                picked = [train[i] for i in rng.choice(len(train), size=n, replace=False)]
                draws.append(
                    joint_classification_error([q[:, columns] for q in picked], picked)[0]
                )
            by_count[name][n] = round(float(np.mean(draws)), 4)

    print(f"{args.data}: {len(joints)} validation episodes, {views} view(s)\n")
    print("| reference embedding | classification error (A1 / A2 / A4) | alignment error |")
    print("|---|---|---|")
    for name, row in table.items():
        bands = " / ".join(f"{100 * v:.1f}" for v in row["per_band"].values())
        align = f"{100 * row['alignment_error']:.1f}%" if "alignment_error" in row else "—"
        print(f"| {name} | {100 * row['classification_error']:.1f}% ({bands}) | {align} |")
    counts = sorted(by_count["joints"])
    print(f"\nclassification error on n training episodes ({args.draws} draws each)\n")
    print("| reference | " + " | ".join(f"n={n}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    for name, row in by_count.items():
        print(f"| {name} | " + " | ".join(f"{100 * row[n]:.1f}%" for n in counts) + " |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {"data": str(args.data), "views": views, "validation_episodes": len(joints)}
        record.update(references=table, classification_by_episodes=by_count)
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
