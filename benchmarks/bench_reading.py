"""Reading a held-out demonstration from its frames: seconds per demonstration and accuracy.

Two settings of :func:`imitation_agent.imagine.imagine_demonstration`, in the same run:

- ``reference``: ``ImagineConfig()``'s defaults, the accuracy-proven reading: the
  embedding's search at every 10th frame (20 rounds of 24), each searched pose refined by
  Levenberg-Marquardt with central differences, the last from 16 restarts;
- ``fast``: fewer search rounds (10 of 16), the pose the motion predicts refined in the frame
  first (Broyden updates, early stop), searched only where its frame does not match, and
  the last frame's restarts screened before the best 3 are refined.

The first stage's embedding is raw pixels (``[0, 1]`` intensities, the ``--reader pixels`` of
``imagined_reading.py``), so no network is needed. The two are run demonstration by
demonstration in turn, so that load on the machine hits both alike; each demonstration's
wall-clock and process (CPU) seconds are reported, one process (numpy's BLAS may use a
second thread for the refinement's small products: CPU seconds then exceed wall). Accuracy is
against the recorded joints: the L2 error over the 7 joints at the last frame (within 0.2 rad
counts as read) and averaged over all frames.

Usage::

    tcn record --out /tmp/read/demos --episodes 12 --val-episodes 10 --image-size 96 \\
        --tool-scale 2 --camera-distance 1.9 --camera-pitch -30 --workers 1
    python benchmarks/bench_reading.py --demos /tmp/read/demos --reference 5 --fast 10 \\
        --json /tmp/read/bench_reading.json
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from imitation_agent.imagine import ImagineConfig, imagine_demonstration
from kuka_sim import KukaSim
from tcn.bags import read_episode
from tcn.dataset import dataset_sim_config, episode_paths

SUCCESS = 0.2
"""rad, L2 over the joints: a final pose this close to the recorded one is read."""

SETTINGS = {
    "reference": ImagineConfig(),
    "fast": ImagineConfig(
        iterations=10,
        population=16,
        elites=4,
        refine_broyden=True,
        refine_tolerance=0.01,
        match_rms=0.005,
        restarts_kept=3,
    ),
}


def pixels(frames: np.ndarray) -> np.ndarray:
    """Frames ``(N, H, W, 3)`` uint8 -> ``(N, H * W * 3)`` intensities in [0, 1]."""
    return frames.reshape(len(frames), -1).astype(np.float64) / 255.0


def read_one(sim: KukaSim, path: Path, config: ImagineConfig) -> dict:
    """One demonstration read with ``config``: its errors and seconds."""
    episode = read_episode(path)
    camera, frames, joints = episode.cameras[0], episode.frames[0], episode.joint_positions
    wall, cpu = time.perf_counter(), time.process_time()
    imagined = imagine_demonstration(sim, camera, frames, joints[0], pixels, config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = np.linalg.norm(imagined - joints, axis=1)
    return {
        "episode": path.name,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "final_error": round(float(errors[-1]), 4),
        "mean_error": round(float(errors.mean()), 4),
    }


def summary(rows: list[dict]) -> dict:
    finals = np.array([r["final_error"] for r in rows])
    return {
        "demonstrations": len(rows),
        "seconds_per_demo": round(float(np.mean([r["seconds"] for r in rows])), 2),
        "cpu_seconds_per_demo": round(float(np.mean([r["cpu_seconds"] for r in rows])), 2),
        "read_within_0.2": round(float(np.mean(finals < SUCCESS)), 3),
        "final_error_median": round(float(np.median(finals)), 4),
        "final_error_mean": round(float(finals.mean()), 4),
        "trajectory_error_mean": round(float(np.mean([r["mean_error"] for r in rows])), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demos", type=Path, required=True, help="a `tcn record` dataset")
    parser.add_argument("--reference", type=int, default=5, help="demonstrations, reference")
    parser.add_argument("--fast", type=int, default=10, help="demonstrations, fast path")
    parser.add_argument(
        "--fast-settings",
        type=json.loads,
        default={},
        help="JSON of ImagineConfig fields the fast path changes, e.g. '{\"iterations\": 6}'",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    settings = {**SETTINGS, "fast": replace(SETTINGS["fast"], **args.fast_settings)}
    paths = episode_paths(args.demos, "val")
    counts = {"reference": args.reference, "fast": args.fast}
    if max(counts.values()) > len(paths):
        parser.error(f"{args.demos} has {len(paths)} validation episodes; ask for fewer")
    sim = KukaSim(dataset_sim_config(args.demos))
    rows: dict[str, list[dict]] = {name: [] for name in settings}
    for index, path in enumerate(paths[: max(counts.values())]):
        for name, config in settings.items():
            if index < counts[name]:
                row = read_one(sim, path, config)
                rows[name].append(row)
                print(f"{name:9s} {json.dumps(row)}", flush=True)
    sim.close()
    shared = min(counts.values())
    results = {
        name: {
            "settings": config.to_dict(),
            "all": summary(rows[name]),
            f"first_{shared}": summary(rows[name][:shared]),
            "rows": rows[name],
        }
        for name, config in settings.items()
        if rows[name]
    }
    print(
        "\n| settings | demos | s / demo | CPU s / demo | final within 0.2 rad "
        "| final error median | mean | trajectory error mean |\n|---|---|---|---|---|---|---|---|"
    )
    for name, result in results.items():
        for subset in ("all", f"first_{shared}"):
            s = result[subset]
            print(
                f"| {name} ({subset.replace('_', ' ')}) | {s['demonstrations']} "
                f"| {s['seconds_per_demo']:.1f} | {s['cpu_seconds_per_demo']:.1f} "
                f"| {s['read_within_0.2']:.0%} | {s['final_error_median']:.3f} "
                f"| {s['final_error_mean']:.3f} | {s['trajectory_error_mean']:.3f} |"
            )
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"demos": str(args.demos), "results": results}, indent=1))


if __name__ == "__main__":
    main()
