"""Reading a held-out demonstration by imagining oneself: which own pose matches each frame?

The agent starts every episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's camera. So it can read where a demonstration
goes without a pose reader: from the known start, at every ``--every``-th frame (and the
last), search (``reward_basin.cross_entropy_search``, starting from the last estimate moved
on at half its last step) for the pose whose frame is closest to the demonstration's frame
in the reader's space, the distance ``d`` of the TCN reward for ``embedding``. The last frame
gets a second, longer search. Reported against the recorded joints: the error at every
searched frame and how often the last one ends within the success radius (0.2 rad), an
estimate of what a policy that follows these readings could reach.

Usage::

    python benchmarks/imagined_reading.py --embedding runs/pose_c2000_c19t2/model.pt \
        --demos data/tool_c19t2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from kuka_sim import CameraConfig
from reward_basin import (
    SUCCESS,
    cross_entropy_search,
    frame_readers,
    load_scene,
    render,
    write_results,
)
from tcn.bags import read_episode
from tcn.dataset import episode_paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN run or checkpoint")
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=20, help="validation episodes")
    parser.add_argument(
        "--reader", choices=("embedding", "pixels", "pose head"), default="embedding"
    )
    parser.add_argument("--every", type=int, default=10, help="frames between searches")
    parser.add_argument("--sigma", type=float, default=0.15, help="rad, spread of a search")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--final-iterations", type=int, default=40, help="more on the last")
    parser.add_argument("--population", type=int, default=24)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    model, sim, lower, upper = load_scene(args.embedding, args.demos)
    readers = frame_readers(model)
    if args.reader not in readers:
        parser.error(f"--reader {args.reader}: this network has only {', '.join(readers)}")
    read = readers[args.reader]

    def search(
        goal: np.ndarray,
        camera: CameraConfig,
        start: np.ndarray,
        sigma: float,
        iterations: int,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """The pose near ``start`` whose frame through ``camera`` reads closest to ``goal``."""

        def distance(poses: np.ndarray) -> np.ndarray:
            return np.sum((read(render(sim, poses, camera)) - goal) ** 2, axis=1)

        found, _, _ = cross_entropy_search(
            distance,
            start,
            sigma,
            rng,
            iterations=iterations,
            population=args.population,
            elites=args.population // 4,
            lower=lower,
            upper=upper,
            smoothing=0.5,
        )
        return found

    rng = np.random.default_rng(args.seed)
    rows = []
    began = time.perf_counter()
    for path in episode_paths(args.demos, "val")[: args.episodes]:
        episode = read_episode(path)
        camera, frames, joints = episode.cameras[0], episode.frames[0], episode.joint_positions
        searched = [*range(args.every, len(frames) - 1, args.every), len(frames) - 1]
        estimate, previous = joints[0].copy(), joints[0].copy()
        errors = []
        for t in searched:
            goal = read(frames[t : t + 1])[0]
            start = np.clip(estimate + 0.5 * (estimate - previous), lower, upper)
            found = search(goal, camera, start, args.sigma, args.iterations, rng)
            if t == searched[-1]:
                found = search(goal, camera, found, args.sigma / 1.5, args.final_iterations, rng)
            previous, estimate = estimate, found
            errors.append(float(np.linalg.norm(estimate - joints[t])))
        rows.append(
            {
                "episode": path.name,
                "frames": searched,
                "errors": [round(e, 4) for e in errors],
                "final_joint_error": np.abs(estimate - joints[-1]).round(4).tolist(),
            }
        )
        print(
            f"{path.name}: L2 error at frames {searched[0]}..{searched[-1]}: "
            f"{' '.join(f'{e:.2f}' for e in errors)} ({time.perf_counter() - began:.0f} s)",
            flush=True,
        )
    finals = np.array([r["errors"][-1] for r in rows])
    peaks = np.array([max(r["errors"]) for r in rows])
    print(
        f"\n{len(rows)} held-out demonstrations of {args.demos}, reader {args.reader} "
        f"({args.embedding}); a search every {args.every} frames\n"
    )
    success, final, worst = np.mean(finals < SUCCESS), np.median(finals), np.median(peaks)
    print(f"| last frame within {SUCCESS} rad | final L2 error, median | worst on the way |")
    print("|---|---|---|")
    print(f"| {success:.0%} | {final:.2f} | {worst:.2f} |")
    if args.out is not None:
        write_results(args.out, args, rows)


if __name__ == "__main__":
    main()
