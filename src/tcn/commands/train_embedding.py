"""Train the Time-Contrastive Network embedding on recorded demonstrations.

Starts from a preset (`config/presets/embedding_<name>.yaml`, or a YAML path); every
setting can be overridden with its own flag, `--section.setting` in the sections `model`
(the network), `objectives` (what it minimises) and `schedule` (the pose stage, the epochs,
the optimiser, validation), plain `--setting` for the rest: `--schedule.lr 0.01`,
`--model.no-freeze-backbone`, `--model.head-channels 128 32`, `--model.pretrained none`,
`--device cpu`. The run directory gets config.yaml, checkpoints/last.pt and best.pt
(atomic), history.jsonl, TensorBoard logs (logs/) and training_curves.png. --resume
continues an interrupted run exactly where its last checkpoint left it. Uses CUDA when
available (bfloat16 autocast, channels_last).

The default preset is the working recipe: a pose-reader stage (--schedule.pose-steps steps
of self-regression alone on --pose-data, the robot's own frames from tcn record --motion
babble), then --schedule.epochs epochs of triplets plus self-regression. --preset paper is
the paper's configuration (Inception-v3, ImageNet weights, 299 px; for a GPU).

examples:
  tcn train-embedding --data data/demos --pose-data data/self --out runs/tcn
  tcn train-embedding --data data/demos --pose-data data/self --out runs/tcn --resume
  tcn train-embedding --data data/demos --pose-data data/self --out /tmp/t \\
      --schedule.pose-steps 400 --schedule.epochs 20
  tcn train-embedding --data data/paper --out runs/tcn_triplets \\
      --objectives.self-regression 0 --schedule.pose-steps 0 --schedule.augment \\
      --schedule.lr 0.001 --schedule.lr-decay-every 25
  tcn train-embedding --data data/mv --out runs/mv --objectives.loss npairs \\
      --objectives.self-regression 0 --schedule.pose-steps 0
  tcn train-embedding --data data/mv --out runs/smak --objectives.loss npairs \\
      --objectives.self-regression 0 --schedule.pose-steps 0 --model.architecture smak \\
      --model.attention att123
  tcn train-embedding --data data/paper --out runs/paper --preset paper \\
      --model.pretrained ~/.cache/torch/hub/checkpoints/inception_v3_google-0cc3c7bd.pth
  tensorboard --logdir runs/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tcn.commands import add_threads_argument, set_threads

HELP = "train the TCN embedding (presets: default, paper)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="dataset directory (tcn record)")
    parser.add_argument("--out", type=Path, required=True, help="run directory")
    parser.add_argument(
        "--preset", default="default", help="preset name or YAML file (default: default)"
    )
    parser.add_argument("--resume", action="store_true", help="continue the run in --out")
    parser.add_argument(
        "--image-topic",
        action="append",
        default=None,
        help="image topic(s) to train on (default: the recorded views)",
    )
    parser.add_argument(
        "--pose-data",
        type=Path,
        default=None,
        help="self-regression frames, for both stages, from this dataset (tcn record --motion "
        "babble, same scene and cameras) instead of --data's",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from this embedding checkpoint's weights (a run, its .pt, or a saved "
        "network with the same settings): fine-tuning",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=1, help="epochs between checkpoints"
    )
    add_threads_argument(parser)
    parser.add_argument("--no-progress", action="store_true")
    from tcn.presets import add_flags
    from tcn_embedding.model import TCNConfig
    from tcn_embedding.smak import SMAKConfig
    from tcn_embedding.train import TrainConfig

    add_flags(parser, TrainConfig, TCNConfig, SMAKConfig)


def run(args: argparse.Namespace) -> int:
    from tcn.embedding_run import train_embedding_run
    from tcn.presets import config_from_args
    from tcn.runs import stored_settings
    from tcn_embedding.train import TrainConfig

    set_threads(args.threads)
    stored = stored_settings(args.out, "train", args.resume)
    config = config_from_args("embedding", args, TrainConfig, stored)
    last = train_embedding_run(
        args.data,
        args.out,
        config,
        resume=args.resume,
        image_topics=args.image_topic,
        checkpoint_every=args.checkpoint_every,
        progress=not args.no_progress,
        pose_data=args.pose_data,
        init_from=args.init_from,
    )
    shown = {k: round(v, 4) for k, v in last.items() if isinstance(v, float)}
    print(f"trained {args.out} to epoch {last.get('epoch', 0)}: {shown}")
    return 0
