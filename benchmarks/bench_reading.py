"""Reading a held-out demonstration from its frames: seconds per demonstration and accuracy.

Two settings of :func:`imitation_agent.imagine.imagine_demonstration`, in the same run:

- ``reference``: ``ImagineConfig()``'s defaults with neither the wide restarts of a last
  pose that does not match its frame (``final_rms=None``) nor the retrace from the end
  (``retrace=False``): the reading as it was until 2026-12-07, but for the restarts of
  unmatched searched frames (``track_restarts``, reading version 12), which it keeps;
- ``default``: ``ImagineConfig()``'s defaults, as ``tcn read-demos`` reads: the embedding's
  search at every 10th frame where the pose the motion predicts, refined in the frame
  first, does not match (``match_rms``), each searched pose refined by Levenberg-Marquardt
  with central differences, the last frame's restarts screened in the coarsest stage before
  the best 3 are refined (``restarts_kept``), a searched frame that still does not match
  restarted (``track_restarts``), then the wide restarts where the last pose still does
  not match and the retrace;
- ``candidate`` (with ``--candidate N``): the defaults with ``--candidate-settings``
  changed, to weigh a change against them in one run.

Both are rendered and threaded as ``tcn read-demos`` reads (the arm composited over the
plane's cached frame, BLAS held to one thread). The first stage's embedding is the TCN of
``--embedding`` (what ``tcn read-demos`` uses), or raw pixels (``[0, 1]`` intensities)
without it. In one process (the default), the settings are run demonstration by
demonstration in turn, so that load on the machine hits them alike; each demonstration's
wall-clock and process (CPU) seconds are reported.

``--workers N`` measures instead what ``tcn read-demos --workers N`` takes: each setting
reads all the held-out demonstrations with :func:`tcn.reading.read_demonstrations`
(render-and-compare with self-calibration, N processes, a fresh cache), the reference
first, and the wall time per demonstration, process start-up included, is reported.

Accuracy is against the recorded joints: the L2 error over the 7 joints at the last frame
(within 0.2 rad counts as read) and averaged over all frames.

Usage (after ``benchmarks/reproduce/headline.sh``, on its 20 held-out demonstrations)::

    python benchmarks/bench_reading.py --demos runs/reproduce/headline/seed_0/demos \
        --embedding runs/reproduce/headline/seed_0/embedding --workers 2 \
        --json runs/bench_reading_workers.json
    python benchmarks/bench_reading.py --demos runs/reproduce/headline/seed_0/demos \
        --embedding runs/reproduce/headline/seed_0/embedding --reference 4 --default 4
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from imitation_agent.imagine import ImagineConfig, imagine_demonstration
from kuka_sim import KukaSim
from tcn.bags import read_episode
from tcn.dataset import dataset_sim_config, episode_paths

SUCCESS = 0.2
"""rad, L2 over the joints: a final pose this close to the recorded one is read."""

SETTINGS = {"reference": ImagineConfig(final_rms=None, retrace=False), "default": ImagineConfig()}
"""The settings compared (the module docstring)."""


def pixels(frames: np.ndarray) -> np.ndarray:
    """Frames ``(N, H, W, 3)`` uint8 -> ``(N, H * W * 3)`` intensities in [0, 1]."""
    return frames.reshape(len(frames), -1).astype(np.float64) / 255.0


def read_one(sim: KukaSim, path: Path, config: ImagineConfig, embed=pixels) -> dict:
    """One demonstration read with ``config`` in ``embed``'s space, BLAS held to one thread
    as a reader holds it: its errors and seconds."""
    episode = read_episode(path)
    camera, frames, joints = episode.cameras[0], episode.frames[0], episode.joint_positions
    wall, cpu = time.perf_counter(), time.process_time()
    with threadpool_limits(limits=1, user_api="blas"):
        imagined = imagine_demonstration(sim, camera, frames, joints[0], embed, config)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    errors = np.linalg.norm(imagined - joints, axis=1)
    return {
        "episode": path.name,
        "seconds": round(wall, 2),
        "cpu_seconds": round(cpu, 2),
        "final_error": round(float(errors[-1]), 4),
        "mean_error": round(float(errors.mean()), 4),
    }


def read_in_workers(demos: Path, embedding: Path, workers: int) -> dict:
    """Every held-out demonstration of ``demos`` read as ``tcn read-demos --workers``
    reads, for each setting in turn, into a fresh cache: seconds per demonstration and the
    reading's report."""
    import tempfile

    from tcn.demonstrations import load_demonstrations
    from tcn.embedding_run import load_embedding_model
    from tcn.reading import read_demonstrations, reading_report
    from tcn.runs import resolve_checkpoint

    checkpoint = resolve_checkpoint(embedding)
    model = load_embedding_model(checkpoint)
    held_out = load_demonstrations(demos, "val", model, keep_frames=True)
    results = {}
    for name, config in SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="bench_reading_") as cache:
            start = time.perf_counter()
            read = read_demonstrations(
                held_out,
                "render-compare",
                model,
                checkpoint,
                settings=config.to_dict(),
                cache=Path(cache),
                workers=workers,
            )
            seconds = time.perf_counter() - start
        report = reading_report(read)
        results[name] = {
            "demonstrations": len(read),
            "workers": workers,
            "seconds": round(seconds, 1),
            "seconds_per_demo": round(seconds / len(read), 2),
            "read_within_0.2": report["final_success_rate"],
            "final_error_median": report["final_error_median"],
        }
        print(f"{name:9s} {json.dumps(results[name])}", flush=True)
    return results


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
    parser.add_argument("--embedding", type=Path, help="TCN run or checkpoint (default: pixels)")
    parser.add_argument("--reference", type=int, default=4, help="demonstrations, reference")
    parser.add_argument("--default", type=int, default=4, help="demonstrations, defaults")
    parser.add_argument(
        "--default-settings",
        type=json.loads,
        default={},
        help="JSON of ImagineConfig fields to change in the defaults, e.g. '{\"iterations\": 6}'",
    )
    parser.add_argument("--candidate", type=int, default=0, help="demonstrations, candidate")
    parser.add_argument(
        "--candidate-settings",
        type=json.loads,
        default={},
        help="JSON of ImagineConfig fields a third setting, `candidate`, changes in the defaults",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="instead: every held-out demonstration, as tcn read-demos --workers N reads them",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.workers:
        if args.embedding is None:
            parser.error("--workers reads as tcn read-demos does: give --embedding")
        results = read_in_workers(args.demos, args.embedding, args.workers)
        if args.json is not None:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=1))
        return
    default = replace(SETTINGS["default"], **args.default_settings)
    settings = {**SETTINGS, "default": default}
    if args.candidate:
        settings["candidate"] = replace(default, **args.candidate_settings)
    embed = pixels
    if args.embedding is not None:
        import torch

        from tcn.demonstrations import embedder_of
        from tcn.embedding_run import load_embedding_model
        from tcn.runs import resolve_checkpoint

        torch.set_num_threads(1)
        embed = embedder_of(load_embedding_model(resolve_checkpoint(args.embedding)))
    paths = episode_paths(args.demos, "val")
    counts = {"reference": args.reference, "default": args.default, "candidate": args.candidate}
    if max(counts.values()) > len(paths):
        parser.error(f"{args.demos} has {len(paths)} validation episodes; ask for fewer")
    sim = KukaSim(dataset_sim_config(args.demos))
    rows: dict[str, list[dict]] = {name: [] for name in settings}
    for index, path in enumerate(paths[: max(counts.values())]):
        for name, config in settings.items():
            if index < counts[name]:
                row = read_one(sim, path, config, embed)
                rows[name].append(row)
                print(f"{name:9s} {json.dumps(row)}", flush=True)
    sim.close()
    shared = min(count for count in counts.values() if count)
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
        record = {"demos": str(args.demos), "embedding": str(args.embedding), "results": results}
        args.json.write_text(json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
