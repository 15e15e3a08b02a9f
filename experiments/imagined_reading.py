"""Reading a held-out demonstration by imagining oneself: which own pose matches each frame?

The agent starts every episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's camera. So it can read where a demonstration
goes without a pose reader: the ``render-compare`` reader (:mod:`imitation_agent.readers`;
from the known start, at every ``--every``-th frame and the last, a search for the pose
whose frame is closest to the demonstration's frame in the reader's space, the distance
``d`` of the TCN reward for ``embedding``; each searched pose then refined in the frame
itself, ``--refine-iterations``, the last from restarts, ``--refine-turns``,
``--refine-pairs``, and held while the frames stay still). ``--reader embedding`` reads
through :func:`tcn.reading.read_demonstrations`, the cached reading ``tcn read-demos`` and
``tcn evaluate-agent`` use; ``--reader pixels`` or ``pose head`` searches in those spaces
instead, as references.

Reported against the recorded joints: the error at every searched frame, how often the
last one ends within the success radius (0.2 rad; :func:`tcn.reading.reading_report`), and
what the ``servo`` baseline reaches following these readings, rolled out by the agent's
evaluation (:func:`imitation_agent.evaluate.evaluate`, as ``tcn evaluate-agent --baseline
servo`` does).

Usage::

    python experiments/imagined_reading.py --embedding runs/pose_c2000_c19t2/model.pt \
        --demos data/tool_c19t2
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from imitation_agent import EnvConfig, ImitationEnv
from imitation_agent.evaluate import ServoPolicy, evaluate
from imitation_agent.imagine import ImagineConfig, searched_frames, still_frames
from imitation_agent.readers import RenderAndCompare
from reward_basin import SUCCESS, frame_readers, write_results
from tcn.demonstrations import embedder_of, load_demonstrations
from tcn.embedding_run import load_embedding_model
from tcn.reading import read_demonstrations, reading_report


def read_in_space(
    demos: list, space: Callable[[np.ndarray], np.ndarray], config: ImagineConfig
) -> list:
    """``demos`` with their ``reading`` by render-and-compare searched in ``space`` (frames
    ``(N, H, W, 3)`` -> ``(N, D)``) instead of the TCN embedding: the search's goals are the
    demonstrations' frames in that space."""
    reader = RenderAndCompare(space, config)
    try:
        return [
            dataclasses.replace(
                demo, reading=reader.read(dataclasses.replace(demo, embeddings=space(demo.frames)))
            )
            for demo in demos
        ]
    finally:
        reader.close()


def main() -> None:
    defaults = ImagineConfig()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedding", type=Path, required=True, help="TCN checkpoint")
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
    parser.add_argument(
        "--workers", type=int, default=1, help="processes reading (--reader embedding)"
    )
    parser.add_argument("--out", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    if args.reader == "embedding" and not args.embedding.is_file():
        parser.error(
            f"--embedding {args.embedding}: give the checkpoint file (its readings are cached "
            "under its digest)"
        )
    torch.set_num_threads(1)
    model = load_embedding_model(args.embedding)
    spaces = frame_readers(model)
    if args.reader not in spaces:
        parser.error(f"--reader {args.reader}: this network has only {', '.join(spaces)}")
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

    began = time.perf_counter()
    demos = load_demonstrations(
        args.demos, "val", model, keep_frames=True, limit=args.first + args.episodes
    )[args.first :]
    if args.reader == "embedding":
        demos = read_demonstrations(
            demos,
            "render-compare",
            model,
            args.embedding,
            settings=config.to_dict(),
            workers=args.workers,
            progress=True,
        )
    else:
        demos = read_in_space(demos, spaces[args.reader], config)
    print(f"read {len(demos)} demonstrations in {time.perf_counter() - began:.0f} s", flush=True)
    env = ImitationEnv(
        demos, EnvConfig(pose_features=True, pose_source="reading"), embedder=embedder_of(model)
    )
    servo, results = evaluate(env, ServoPolicy(env))
    env.close()

    rows = []
    for demo, result in zip(demos, results, strict=True):
        searched = searched_frames(len(demo), config.every, still_frames(demo.frames))
        errors = np.linalg.norm(demo.reading[searched] - demo.joint_positions[searched], axis=1)
        final = np.abs(demo.reading[-1] - demo.joint_positions[-1])
        rows.append(
            {
                "episode": demo.name,
                "frames": searched,
                "errors": errors.round(4).tolist(),
                "final_joint_error": final.round(4).tolist(),
                "servo_final_joint_error": round(result.final_joint_error, 4),
            }
        )
        print(
            f"{demo.name}: L2 error at frames {searched[0]}..{searched[-1]}: "
            f"{' '.join(f'{e:.2f}' for e in errors)}; the servo ends "
            f"{result.final_joint_error:.2f} rad away"
        )
    reading = {k: v for k, v in reading_report(demos).items() if k != "per_demo"}
    worst = np.median([max(r["errors"]) for r in rows])
    print(
        f"\n{len(rows)} held-out demonstrations of {args.demos}, reader {args.reader} "
        f"({args.embedding}); a search every {args.every} frames\n"
    )
    print(
        f"| last frame within {SUCCESS} rad | final L2 error, median | worst on the way | "
        "the servo on the readings: success, final joint error (mean) |"
    )
    print("|---|---|---|---|")
    print(
        f"| {reading['final_success_rate']:.0%} | {reading['final_error_median']:.2f} | "
        f"{worst:.2f} | {servo['success_rate']:.0%}, {servo['final_joint_error']:.2f} rad |"
    )
    if args.out is not None:
        write_results(args.out, args, {"reading": reading, "servo": servo, "per_demo": rows})


if __name__ == "__main__":
    main()
