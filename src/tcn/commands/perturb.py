"""Film a dataset's demonstrations again as a real camera would: a camera off its stored
calibration, other light, sensor noise, JPEG. The new dataset keeps the stored (nominal)
cameras, so reading it measures how a reading copes (tcn.perturb).

examples:
  tcn perturb --demos data/demos --out data/off_5cm --camera-offset 0.05 --camera-degrees 3
  tcn perturb --demos data/demos --out data/noisy --noise 5 --jpeg 75 --light-degrees 30 \\
      --light-color 0.2
  tcn read-demos --embedding runs/tcn --demos data/off_5cm --workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "film a dataset's demonstrations again off calibration, in other light, with noise"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tcn.perturb import Perturbation
    from tcn.presets import add_flags

    parser.add_argument("--demos", type=Path, required=True, help="a `tcn record` dataset")
    parser.add_argument("--out", type=Path, required=True, help="the new dataset's directory")
    parser.add_argument(
        "--split", choices=("val", "train", "all"), default="val", help="episodes (default val)"
    )
    add_flags(parser, Perturbation, title="the perturbation (all zero: the frames as recorded)")


def run(args: argparse.Namespace) -> int:
    from tcn.perturb import Perturbation, perturb_dataset
    from tcn.presets import given

    perturbation = Perturbation(**given(args, Perturbation))
    names = perturb_dataset(
        args.demos, args.out, perturbation, None if args.split == "all" else args.split
    )
    print(f"filmed {len(names)} episodes of {args.demos} again into {args.out}")
    return 0
