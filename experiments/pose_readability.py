"""How well does an embedding see the arm's pose *locally*? The limit of any policy reading it.

A policy that imitates a new demonstration must turn ``v_{t+1} - w_t`` (demonstration
embedding minus its own) into a joint-space move. Around a validation pose ``q`` this
script measures the embedding's Jacobian ``J = de/dq`` (central differences of rendered,
embedded frames, the demonstration's own camera) and reports:

* the singular values of ``J`` (median over poses): directions of joint space the
  embedding barely sees have small ones, and the joints that make up the weakest direction;
* the relative error of the best local reading, ``||J^+ (v - w) + dq|| / ||dq||`` for the
  frame ``w`` at ``q + dq`` (random ``dq`` of scale sigma): 0 is a perfect reading, 1 is no
  better than reading nothing. A policy reading the embedding cannot beat this linear
  reading by much near the demonstration;
* how well the squared distance ``d = ||w - v||^2`` (what the TCN reward is made of) orders
  the moved frames by how far they moved: Spearman's rank correlation of ``d`` with
  ``||dq||`` over every moved frame (1: the reward always prefers the closer pose).

The same is measured on raw pixels as the reference in the same run (the frame itself).

Usage::

    python experiments/pose_readability.py --embedding runs/tcn_pose --demos data/tool
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from kuka_sim import KukaSim, SimConfig
from tcn.bags import read_episode
from tcn.dataset import episode_paths
from tcn.embedding_run import load_embedding_model

SIGMAS = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
STEP = 0.03  # rad, central-difference step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN run or checkpoint")
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=6, help="validation episodes")
    parser.add_argument("--poses", type=int, default=8, help="poses per episode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_embedding_model(args.embedding)
    sim = KukaSim(SimConfig())
    rng = np.random.default_rng(args.seed)
    lo, hi = sim.lower_limits, sim.upper_limits

    def frame(q, camera):
        sim.reset(np.clip(q, lo, hi))
        return sim.render(camera)

    readers = {
        "embedding": lambda f: model.embed(f[None]).numpy()[0].astype(np.float64),
        "pixels": lambda f: f.astype(np.float64).ravel() / 255.0,
    }
    singular = {k: [] for k in readers}
    weakest = {k: [] for k in readers}
    errors = {k: {s: [] for s in SIGMAS} for k in readers}
    ordering = {k: ([], []) for k in readers}  # (||dq||, d) of every moved frame
    for path in episode_paths(args.demos, "val")[: args.episodes]:
        episode = read_episode(path)
        camera = episode.cameras[0]
        for t in np.linspace(0, len(episode.joint_positions) - 1, args.poses).astype(int):
            q = episode.joint_positions[t]
            moves = [rng.normal(0.0, s, 7) for s in SIGMAS]
            frames = {
                "centre": frame(q, camera),
                "plus": [frame(q + STEP * e, camera) for e in np.eye(7)],
                "minus": [frame(q - STEP * e, camera) for e in np.eye(7)],
                "moved": [frame(q + dq, camera) for dq in moves],
            }
            for name, read in readers.items():
                v = read(frames["centre"])
                jac = np.stack(
                    [
                        (read(p) - read(m)) / (2 * STEP)
                        for p, m in zip(frames["plus"], frames["minus"], strict=True)
                    ],
                    axis=1,
                )
                _, s, vt = np.linalg.svd(jac, full_matrices=False)
                singular[name].append(s)
                weakest[name].append(np.abs(vt[-1]))
                for sigma, dq, moved in zip(SIGMAS, moves, frames["moved"], strict=True):
                    w = read(moved)
                    estimate = np.linalg.lstsq(jac, v - w, rcond=None)[0]
                    errors[name][sigma].append(np.linalg.norm(estimate + dq) / np.linalg.norm(dq))
                    ordering[name][0].append(np.linalg.norm(dq))
                    ordering[name][1].append(float(np.sum((w - v) ** 2)))
    poses = len(singular["embedding"])
    print(f"\n{poses} validation poses of {args.demos}, embedding {args.embedding}\n")
    print(
        "| reader | singular values of de/dq (median) | weakest direction (|components|, A1..A7) |"
    )
    print("|---|---|---|")
    for name in readers:
        s = np.median(np.array(singular[name]), axis=0)
        w = np.mean(np.array(weakest[name]), axis=0)
        print(
            f"| {name} | {' '.join(f'{x:.2f}' for x in s)} | {' '.join(f'{x:.2f}' for x in w)} |"
        )
    print(
        "\n| reader | "
        + " | ".join(f"relative error of J^+ (v - w), sigma {s} rad" for s in SIGMAS)
        + " | rank correlation of d with ||dq|| |"
    )
    print("|---|" + "---|" * (len(SIGMAS) + 1))
    for name in readers:
        cells = " | ".join(f"{np.median(errors[name][s]):.2f}" for s in SIGMAS)
        rho = spearmanr(*ordering[name]).statistic
        print(f"| {name} | {cells} | {rho:.2f} |")


if __name__ == "__main__":
    main()
