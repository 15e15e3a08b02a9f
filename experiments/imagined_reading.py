"""Reading a held-out demonstration by imagining oneself: which own pose matches each frame?

The agent starts every episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's camera. So it can read where a demonstration
goes without a pose reader (:func:`imitation_agent.imagine.imagine_trajectory`: from the
known start, at every ``--every``-th frame and the last, a search for the pose whose frame is
closest to the demonstration's frame in the reader's space, the distance ``d`` of the TCN
reward for ``embedding``; each searched pose then refined in the frame itself,
``--refine-iterations``, the last from restarts, ``--refine-turns``, ``--refine-pairs``, and
held while the frames stay still).
Reported against the recorded joints: the error at every searched
frame and how often the last one ends within the success radius (0.2 rad), an estimate of
what a policy that follows these readings could reach (``tcn evaluate-agent --baseline servo
--pose-source imagined`` measures that). ``--reader pixels`` or ``pose head`` searches in
those spaces instead, as references.

Usage::

    python benchmarks/imagined_reading.py --embedding runs/pose_c2000_c19t2/model.pt \
        --demos data/tool_c19t2
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from imitation_agent.imagine import (
    ImagineConfig,
    imagine_demonstration,
    searched_frames,
    still_frames,
)
from reward_basin import SUCCESS, frame_readers, load_scene, write_results
from tcn.bags import read_episode
from tcn.dataset import episode_paths


def main() -> None:
    defaults = ImagineConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN run or checkpoint")
    parser.add_argument("--demos", type=Path, required=True)
    parser.add_argument("--episodes", type=int, default=20, help="validation episodes")
    parser.add_argument("--first", type=int, default=0, help="skip this many of them")
    parser.add_argument(
        "--reader", choices=("embedding", "pixels", "pose head"), default="embedding"
    )
    parser.add_argument(
        "--every", type=int, default=defaults.every, help="frames between searches"
    )
    parser.add_argument(
        "--sigma", type=float, default=defaults.sigma, help="rad, a search's spread"
    )
    parser.add_argument("--iterations", type=int, default=defaults.iterations)
    parser.add_argument(
        "--final-iterations", type=int, default=defaults.final_iterations, help="more on the last"
    )
    parser.add_argument("--population", type=int, default=defaults.population)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument(
        "--refine-iterations",
        type=int,
        default=defaults.refine_iterations,
        help="steps per stage refining each searched pose in the frame itself (0: none)",
    )
    parser.add_argument(
        "--refine-turns",
        type=int,
        default=defaults.refine_turns,
        help="more refinements of the last pose from turns of the flange joint",
    )
    parser.add_argument(
        "--refine-pairs",
        type=int,
        default=defaults.refine_pairs,
        help="more refinements of the last pose from coupled joints moved apart",
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    model, sim, _, _ = load_scene(args.embedding, args.demos)
    readers = frame_readers(model)
    if args.reader not in readers:
        parser.error(f"--reader {args.reader}: this network has only {', '.join(readers)}")
    read = readers[args.reader]
    config = ImagineConfig(
        every=args.every,
        sigma=args.sigma,
        iterations=args.iterations,
        final_iterations=args.final_iterations,
        population=args.population,
        elites=args.population // 4,
        seed=args.seed,
        refine_iterations=args.refine_iterations,
        refine_turns=args.refine_turns,
        refine_pairs=args.refine_pairs,
    )

    rows = []
    began = time.perf_counter()
    for path in episode_paths(args.demos, "val")[args.first : args.first + args.episodes]:
        episode = read_episode(path)
        camera, frames, joints = episode.cameras[0], episode.frames[0], episode.joint_positions
        imagined = imagine_demonstration(sim, camera, frames, joints[0], read, config)
        searched = searched_frames(len(frames), config.every, still_frames(frames))
        errors = np.linalg.norm(imagined[searched] - joints[searched], axis=1)
        rows.append(
            {
                "episode": path.name,
                "frames": searched,
                "errors": errors.round(4).tolist(),
                "final_joint_error": np.abs(imagined[-1] - joints[-1]).round(4).tolist(),
            }
        )
        print(
            f"{path.name}: L2 error at frames {searched[0]}..{searched[-1]}: "
            f"{' '.join(f'{e:.2f}' for e in errors)} ({time.perf_counter() - began:.0f} s)",
            flush=True,
        )
    finals = np.array([np.linalg.norm(r["final_joint_error"]) for r in rows])
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
