"""What the embedding metrics of ARCHITECTURE.md give for reference embeddings built from the
simulator's ground truth: the floors a trained embedding's numbers are read against. On a
reach dataset (``tcn record --task reach``) the classification error's two floors, as
``tcn evaluate-embedding`` reports them; on multi-view data also the alignment error.

Reference embeddings of each frame (one per view; identical across views unless noise is
added, drawn independently per view):

- ``joints``: the seven joint positions (rad), a pose code with no error: the
  classification error's floor (``classification_error_floor``);
- ``joints + N(0, s)``: the same read with independent error ``s`` rad per joint and view;
- ``keypoints``: the arm's keypoints in the world (m, :meth:`KukaSim.keypoints`), the pose
  as a camera sees it;
- ``random``: i.i.d. standard normal vectors of ``--dim`` dimensions, chance
  (``classification_error_random``).

The classification error is the mean of ``target`` and ``phase``, each validation frame of
every view against every frame of every view of the training episodes; the two floors come
from :func:`tcn_embedding.reach_classification_floors`, the call ``evaluate-embedding``
makes::

    tcn record --out runs/reach --episodes 200 --val-episodes 10 --task reach --workers 2
    python experiments/metric_floors.py --data runs/reach --out runs/metric_floors_reach.json
    # alignment error only (random start-to-goal demonstrations, 3 views)
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
from tcn.bags import read_episode
from tcn.dataset import dataset_sim_config, episode_paths, episode_targets
from tcn_embedding import (
    mean_alignment_error,
    reach_classification_error,
    reach_classification_floors,
)

Reference = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def split_joints(data: Path, split: str) -> tuple[list[np.ndarray], list[int] | None, int]:
    """Joint positions of a split's episodes, their reach targets (``None`` unless ``data`` is
    a reach dataset) and the number of views."""
    paths = episode_paths(data, split)
    episodes = [read_episode(p) for p in paths]
    targets = episode_targets(data, [p.name for p in paths])
    return [e.joint_positions for e in episodes], targets, episodes[0].num_views


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


def references(data: Path, noises: list[float], dim: int) -> dict[str, Reference]:
    refs: dict[str, Reference] = {"joints": lambda q, rng: q}
    for s in noises:
        refs[f"joints + N(0, {s})"] = lambda q, rng, s=s: q + rng.normal(0.0, s, q.shape)
    refs["keypoints (world)"] = keypoint_embedding(data)
    refs[f"random ({dim}-D)"] = lambda q, rng: rng.normal(size=(len(q), dim))
    return refs


def rounded(error: float, per_attribute: dict[str, float]) -> dict[str, object]:
    return {
        "classification_error": round(error, 4),
        "per_attribute": {k: round(v, 4) for k, v in per_attribute.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="dataset (reach, or any)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the numbers")
    parser.add_argument("--noise", type=float, nargs="*", default=[0.05, 0.1, 0.2, 0.4])
    parser.add_argument("--dim", type=int, default=32, help="random embedding's dimension")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    val_q, val_t, views = split_joints(args.data, "val")
    train_q, train_t, _ = split_joints(args.data, "train")
    reach = val_t is not None and train_t is not None
    if not reach:
        print(
            f"{args.data} is no reach dataset: no classification error (tcn record --task reach)"
        )
    refs = references(args.data, args.noise, args.dim)
    floors = {"joints": "joints", "random": f"random ({args.dim}-D)"}  # floor -> reference
    rng = np.random.default_rng(args.seed)
    table: dict[str, dict[str, object]] = {name: {} for name in refs}
    for name, embed in refs.items():
        val_emb = [[embed(q, rng) for _ in range(views)] for q in val_q]
        if views >= 2:
            table[name]["alignment_error"] = round(mean_alignment_error(val_emb), 4)
        if reach and name not in floors.values():
            train_emb = [[embed(q, rng) for _ in range(views)] for q in train_q]
            errors = reach_classification_error(train_emb, train_q, train_t, val_emb, val_q, val_t)
            table[name].update(rounded(*errors))
    if reach:  # the floors exactly as evaluate-embedding computes them
        scores = reach_classification_floors(
            train_q, train_t, val_q, val_t, views=views, dim=args.dim, seed=args.seed
        )
        for floor, name in floors.items():
            table[name].update(rounded(*scores[floor]))

    print(
        f"{args.data}: {len(train_q)} training and {len(val_q)} validation episodes, "
        f"{views} view(s)\n"
    )
    print("| reference embedding | classification error (target / phase) | alignment error |")
    print("|---|---|---|")
    for name, row in table.items():
        if "classification_error" in row:
            parts = " / ".join(f"{100 * v:.1f}" for v in row["per_attribute"].values())
            classification = f"{100 * row['classification_error']:.1f}% ({parts})"
        else:
            classification = "—"
        align = f"{100 * row['alignment_error']:.1f}%" if "alignment_error" in row else "—"
        print(f"| {name} | {classification} | {align} |")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "data": str(args.data),
            "views": views,
            "reach": reach,
            "train_episodes": len(train_q),
            "validation_episodes": len(val_q),
            "references": table,
        }
        args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
