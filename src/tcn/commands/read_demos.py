"""Read every demonstration of a dataset from its frames, cache the readings, score them.

A reader gives a demonstration's joint trajectory: render-compare (the default:
render-and-compare in the simulator, with the demonstration's own stored camera and
scene; searched in the embedding, refined in the frame), pose-head (the embedding's pose
head, frame by frame; needs self-regression) or recorded (the bag's joints: privileged, a
reference). Readings are cached in the embedding run's readings/<reader>/, so an
interrupted run resumes where it stopped and train-agent / evaluate-agent reuse them.
Prints, and writes to readings/<reader>/report-<split>.json, how well each was read against
the recorded joints, which the reader never sees: the share of final poses within 0.2 rad
(imitation's success threshold), the median and mean final error and the mean error over
each trajectory.

examples:
  tcn read-demos --embedding runs/tcn --demos data/demos --workers 2
  tcn read-demos --embedding runs/tcn --demos data/demos --reader pose-head
  tcn read-demos --embedding runs/tcn --demos data/demos --split train --workers 2
  tcn read-demos --embedding runs/tcn --demos data/demos --read.every 5 --read.refine-iterations 20
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "read each demonstration's joint trajectory from its frames (cached) and score it"


def add_reader_arguments(parser: argparse.ArgumentParser, reader_help: str) -> None:
    """``--reader`` and :func:`add_read_settings`, for the verbs that read demonstrations."""
    from imitation_agent.readers import READERS

    parser.add_argument("--reader", choices=READERS, default=READERS[0], help=reader_help)
    add_read_settings(parser)


def add_read_settings(parser: argparse.ArgumentParser) -> None:
    """``--read.SETTING VALUE`` (render-compare's settings,
    :class:`imitation_agent.imagine.ImagineConfig`) and ``--workers``."""
    from imitation_agent.imagine import ImagineConfig
    from tcn.presets import add_flags

    add_flags(
        parser,
        ImagineConfig,
        title="render-compare's settings (each overrides its default)",
        prefix="read.",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes reading demonstrations (default 1)"
    )


def reader_settings(args: argparse.Namespace) -> dict | None:
    """The ``--read.*`` settings given, validated together; None for none given."""
    from imitation_agent.imagine import ImagineConfig
    from tcn.presets import given

    values = given(args, ImagineConfig, prefix="read.")
    if not values:
        return None
    try:
        ImagineConfig.from_dict(values)  # validates the values together
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--read settings {values}: {exc}") from exc
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--embedding", type=Path, required=True, help="TCN run directory or checkpoint"
    )
    parser.add_argument("--demos", type=Path, required=True, help="dataset directory")
    parser.add_argument(
        "--split",
        choices=["val", "train", "all"],
        default="val",
        help="which demonstrations (default val: the held-out ones)",
    )
    parser.add_argument("--episodes", type=int, default=None, help="at most this many demos")
    add_reader_arguments(parser, "what reads them (default render-compare)")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from tcn.atomic import write_json_atomic
    from tcn.demonstrations import load_demonstrations
    from tcn.embedding_run import load_embedding_model
    from tcn.reading import read_demonstrations, reading_cache_dir, reading_report
    from tcn.runs import resolve_checkpoint

    if args.workers < 1:
        raise ValueError(f"--workers must be at least 1, got {args.workers}")
    checkpoint = resolve_checkpoint(args.embedding)
    model = load_embedding_model(checkpoint)
    split = None if args.split == "all" else args.split
    demos = load_demonstrations(
        args.demos,
        split,
        model,
        keep_frames=args.reader == "render-compare",
        limit=args.episodes,
    )
    demos = read_demonstrations(
        demos,
        args.reader,
        model,
        checkpoint,
        settings=reader_settings(args),
        workers=args.workers,
        progress=not args.no_progress,
    )
    report = reading_report(demos)
    out = reading_cache_dir(checkpoint, args.reader) / f"report-{args.split}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(
        out, {"reader": args.reader, "data": str(args.demos), "split": args.split, **report}
    )
    print(json.dumps({k: v for k, v in report.items() if k != "per_demo"}, indent=2))
    print(f"per demonstration: {out}")
    return 0
