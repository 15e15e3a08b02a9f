"""Evaluate a TCN embedding the way the papers did, on the validation episodes.

Writes metrics.json (triplet_accuracy and triplet_accuracy_margin: 1000 triplets,
paper protocol; joint_probe_r2; alignment_error for multi-view data; definitions in
ARCHITECTURE.md) and the pictures: tsne.png (one validation trajectory, coloured by
frame), distance_matrix.png and, for a run, training_curves.png. Uses the dataset's
validation split, or every episode when the directory has no split.

On a reach dataset (tcn record --task reach) metrics.json also holds the classification
error: each validation frame of every view takes its nearest neighbour among all frames
of the training episodes, and the error is the share whose target (frames past half the
path) or phase (path done < 0.25, 0.25-0.75, > 0.75) differs, averaged over the two. It
is reported beside its floors, computed the same way: classification_error_floor (the
exact joint positions as the embedding) and classification_error_random (a random
embedding of the same dimension, seeded), each with its *_per_attribute values. Other
datasets have no such labels: those keys are absent and the log says why.

examples:
  tcn evaluate-embedding --model runs/tcn_cpu --data data/paper --out runs/tcn_cpu/eval
  tcn evaluate-embedding --model runs/mv/checkpoints/best.pt --data data/mv --out eval_mv
  # with the classification error and its floors
  tcn evaluate-embedding --model runs/reach --data data/reach --out runs/reach/eval
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tcn.commands import add_threads_argument, set_threads

HELP = "metrics.json and pictures for a trained embedding"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=Path, required=True, help="run directory or checkpoint")
    parser.add_argument("--data", type=Path, required=True, help="dataset directory or bag")
    parser.add_argument("--out", type=Path, required=True, help="directory for metrics and PNGs")
    parser.add_argument("--image-topic", action="append", default=None, help="image topic(s)")
    parser.add_argument(
        "--probe-episodes",
        type=int,
        default=50,
        help="training episodes the joint probe is fit on (default 50)",
    )
    parser.add_argument(
        "--margin", type=float, default=None, help="triplet margin (default: the run's, else 2.0)"
    )
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    from tcn.embedding_run import evaluate_embedding

    set_threads(args.threads)
    metrics = evaluate_embedding(
        args.model,
        args.data,
        args.out,
        image_topics=args.image_topic,
        probe_episodes=args.probe_episodes,
        margin=args.margin,
    )
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, dict)}, indent=2))
    print(f"wrote {args.out}/metrics.json and pictures")
    return 0
