"""Can searching the TCN reward from near a demonstration's pose find that pose?

The agent's frames are rendered by the demonstration's renderer with its stored camera, so
at the demonstration's own pose the agent's frame is the demonstration's frame and
``d = ||w - v||^2`` is exactly 0: the reward's maximum is in the right place. What PPO
needs besides is a basin around it: from a pose a few tenths of a radian away, moves that
raise the reward must lead there. This script starts a sampling search (the cross-entropy
method: Gaussian moves around a mean, the best few kept, the mean and spread refitted; the
kind of local exploration a policy-gradient learner does, but on one pose and without
learning) at a held-out pose moved by ``N(0, sigma)`` rad per joint, minimises ``d``, and
reports how often it ends within the success radius of the demonstration's pose.

Readers, each searched with the same start poses and draws:

* ``embedding``: the TCN embedding, ``d`` as in the reward;
* ``pose head``: the embedding's self-regression reading, when it has one;
* ``pixels``: the frame itself (the reference: what the camera shows, no learning).

The agent's frames are rendered through the demonstration's stored camera in the
renderer's light (``--agent-view stored``), or, for demonstrations that ``tcn perturb``
filmed again, through the camera and light they were filmed with, with sensor noise and
JPEG of the same size (``--agent-view filming``): the case of a real arm, whose camera
films both the demonstration and the agent.

Usage::

    python experiments/reward_basin.py --embedding runs/tcn_posebatch --demos data/tool
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from imitation_agent.env import SUCCESS_THRESHOLD
from imitation_agent.imagine import cross_entropy_search, render_poses, search_limits
from kuka_sim import CameraConfig, KukaSim, Lighting
from tcn.bags import read_episode
from tcn.dataset import dataset_sim_config, episode_paths
from tcn.demonstrations import embedder_of
from tcn.embedding_run import load_embedding_model
from tcn.perturb import degrade_frames

SUCCESS = SUCCESS_THRESHOLD  # rad, L2 over the seven joints: the agent's success radius


def load_scene(embedding: Path, demos: Path) -> tuple[Any, KukaSim, np.ndarray, np.ndarray]:
    """The embedding network (one thread), a simulator built as ``demos`` were recorded, and
    the joint limits a search stays within."""
    torch.set_num_threads(1)
    model = load_embedding_model(embedding)
    sim = KukaSim(dataset_sim_config(demos))
    return model, sim, *search_limits(sim)


def frame_readers(model: Any) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Frames ``(N, H, W, 3)`` -> vectors ``(N, D)``, each a space to compare frames in:
    ``embedding`` (the TCN reward's), ``pixels`` and, when the network has one, ``pose head``."""

    embed_float32 = embedder_of(model)

    def embed(frames: np.ndarray) -> np.ndarray:
        return embed_float32(frames).astype(np.float64)

    readers = {
        "embedding": embed,
        "pixels": lambda f: f.reshape(len(f), -1).astype(np.float64) / 255.0,
    }
    if model.pose_head is not None:

        def read_pose(frames: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model.pose(torch.from_numpy(embed(frames)).float()).numpy()

        readers["pose head"] = read_pose
    return readers


def agent_filming(episode: Any, view: str, rng: np.random.Generator) -> Callable:
    """(sim, poses) -> the agent's frames there: through ``episode``'s stored camera in the
    renderer's light (``stored``), or through the camera and light it was filmed with, with
    fresh sensor noise and JPEG of its perturbation's size (``filming``)."""
    camera = episode.cameras[0]
    if view == "stored":
        return lambda sim, poses: render_poses(sim, poses, camera)
    if "perturbation" not in episode.info:
        raise SystemExit(f"{episode.info.get('path')}: not filmed again by tcn perturb")
    filmed = episode.info["perturbation"]
    camera = CameraConfig.from_dict(filmed["cameras"][0])
    light = Lighting(**filmed["light"])

    def film(sim: KukaSim, poses: np.ndarray) -> np.ndarray:
        frames = render_poses(sim, poses, camera, light)
        return degrade_frames(frames, filmed["noise"], filmed["jpeg"], rng)

    return film


def write_results(path: Path, args: argparse.Namespace, results: Any) -> None:
    """``{"settings": the command line, "results": ...}`` as JSON at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    path.write_text(json.dumps({"settings": settings, "results": results}, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN run or checkpoint")
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=6, help="validation episodes")
    parser.add_argument("--poses", type=int, default=2, help="poses per episode")
    parser.add_argument("--sigma", type=float, default=0.1, help="rad per joint of the start")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--population", type=int, default=24)
    parser.add_argument("--elites", type=int, default=6)
    parser.add_argument("--smoothing", type=float, default=0.0, help="of mean and spread")
    parser.add_argument("--readers", nargs="+", help="only these (embedding, pixels, pose head)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    parser.add_argument(
        "--agent-view",
        choices=("stored", "filming"),
        default="stored",
        help="the agent's frames through the stored camera, or as the demonstration was filmed",
    )
    args = parser.parse_args()
    model, sim, lower, upper = load_scene(args.embedding, args.demos)
    readers = frame_readers(model)
    if args.readers:
        readers = {name: readers[name] for name in args.readers}
    results: dict[str, list[dict[str, float | list[float]]]] = {name: [] for name in readers}
    rng = np.random.default_rng(args.seed)
    noise_rng = np.random.default_rng([args.seed, 1])  # the start poses stay those of "stored"
    for path in episode_paths(args.demos, "val")[: args.episodes]:
        episode = read_episode(path)
        frames = episode.frames[0]
        film = agent_filming(episode, args.agent_view, noise_rng)
        steps = np.linspace(len(frames) // 3, len(frames) - 1, args.poses).astype(int)
        for t in steps:
            target = episode.joint_positions[t]
            start = np.clip(target + rng.normal(0.0, args.sigma, target.shape), lower, upper)
            search_seed = int(rng.integers(2**31))

            for name, read in readers.items():
                goal = read(frames[t : t + 1])[0]

                def distance(poses: np.ndarray, read=read, goal=goal, film=film) -> np.ndarray:
                    return np.sum((read(film(sim, poses)) - goal) ** 2, axis=1)

                found, d_end, d_start = cross_entropy_search(
                    distance,
                    start,
                    args.sigma,
                    np.random.default_rng(search_seed),
                    iterations=args.iterations,
                    population=args.population,
                    elites=args.elites,
                    lower=lower,
                    upper=upper,
                    smoothing=args.smoothing,
                )
                results[name].append(
                    {
                        "episode": path.name,
                        "t": int(t),
                        "start_error": float(np.linalg.norm(start - target)),
                        "end_error": float(np.linalg.norm(found - target)),
                        "d_ratio": d_end / d_start if d_start > 0 else 0.0,
                        "joint_error": np.abs(found - target).round(4).tolist(),
                    }
                )
    n = len(next(iter(results.values())))
    print(
        f"\n{n} held-out poses of {args.demos}, started N(0, {args.sigma}) rad per joint away; "
        f"search: {args.iterations} x {args.population} frames; embedding {args.embedding}; "
        f"the agent's frames: {args.agent_view}\n"
    )
    print(
        f"| reader | ends within {SUCCESS} rad | L2 error, median start -> end (rad) | "
        "final |error| A1..A7, median (rad) | d at the end / at the start, median |"
    )
    print("|---|---|---|---|---|")
    summary = {}
    for name, rows in results.items():
        end = np.array([r["end_error"] for r in rows])
        start = np.array([r["start_error"] for r in rows])
        joints = np.median(np.array([r["joint_error"] for r in rows]), axis=0)
        ratio = float(np.median([r["d_ratio"] for r in rows]))
        success = float(np.mean(end < SUCCESS))
        summary[name] = {"success": success, "rows": rows}
        print(
            f"| {name} | {success:.0%} | {np.median(start):.2f} -> "
            f"{np.median(end):.2f} | {' '.join(f'{x:.2f}' for x in joints)} | {ratio:.3f} |"
        )
    if args.out is not None:
        write_results(args.out, args, summary)


if __name__ == "__main__":
    main()
