"""Reading and imitation when the camera is not the renderer: success against perturbation size.

For a ``tcn quickstart`` run (its embedding and agent), records ``--count`` new held-out
demonstrations in the recipe's scene, films them again with each perturbation of
:data:`LEVELS` (``tcn perturb``: the camera off its stored calibration, other light, sensor
noise, JPEG; the stored camera stays the nominal one), and for each set reads every
demonstration from its frames and rolls the agent out on the readings
(``tcn.agent_eval.evaluate_agent_run``, the path of ``tcn evaluate-agent``). Each camera
perturbation is also read with self-calibration off (``--read.no-calibrate``), the reading
before calibration. Writes ``robust_reading.json`` and prints a markdown table: the share of
final poses read within 0.2 rad, the median final error, and the agent's success.

    python experiments/robust_reading.py --run runs/reproduce/headline/seed_0 --out runs/robust \
        --count 10 --workers 2

``--set KEY=VALUE`` reads with other render-and-compare settings (``--set compare=pixels``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from tcn.agent_eval import evaluate_agent_run
from tcn.cli import main as tcn
from tcn.perturb import Perturbation, perturb_dataset

LEVELS: dict[str, dict] = {
    "exact camera": {},
    "2 cm, 1 deg": {"camera_offset": 0.02, "camera_degrees": 1.0},
    "5 cm, 3 deg": {"camera_offset": 0.05, "camera_degrees": 3.0},
    "5 cm, 3 deg, light, noise 5, JPEG 75": {
        "camera_offset": 0.05,
        "camera_degrees": 3.0,
        "light_degrees": 30.0,
        "light_color": 0.2,
        "noise": 5.0,
        "jpeg": 75,
    },
}
"""Perturbations (:class:`tcn.perturb.Perturbation` settings) by name."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a tcn quickstart output")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--count", type=int, default=5, help="held-out demonstrations")
    parser.add_argument("--seed", type=int, default=2000, help="seed of their recording")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-uncalibrated", action="store_true", help="skip calibrate=False")
    parser.add_argument(
        "--levels", type=int, nargs="+", help="indices into LEVELS to run (default: all)"
    )
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        nargs="+",
        default=[],
        help="render-and-compare settings for every reading (ImagineConfig fields, values as "
        "YAML), e.g. --set compare=contrast match_rms=0.003",
    )
    args = parser.parse_args()
    reader = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set takes KEY=VALUE, got {item!r}")
        reader[key] = yaml.safe_load(value)
    clean = args.out / "demos"
    # One training episode keeps the dataset valid; the held-out ones are its validation split.
    record = ["record", "--out", str(clean), "--episodes", str(args.count + 1)]
    record += ["--val-episodes", str(args.count), "--seed", str(args.seed), "--no-progress"]
    assert tcn(record) == 0
    rows = []
    for index, (name, settings) in enumerate(LEVELS.items()):
        if args.levels is not None and index not in args.levels:
            continue
        data = clean
        if settings:
            data = args.out / f"level_{index}"
            perturb_dataset(clean, data, Perturbation(**settings, seed=args.seed))
        calibrations = [True]
        if settings.get("camera_offset") and not args.no_uncalibrated:
            calibrations.append(False)
        for calibrate in calibrations:
            tag = f"level_{index}" + ("" if calibrate else "_uncalibrated")
            metrics = evaluate_agent_run(
                args.run / "agent",
                data,
                args.out / "eval" / tag,
                video=False,
                reader_settings={**reader, "calibrate": calibrate},
                workers=args.workers,
            )
            reading = metrics["reading"]
            row = {
                "perturbation": name,
                "settings": settings,
                "calibrate": calibrate,
                "reader": reader,
                "demos": reading["demos"],
                "read_within_0.2": reading["final_success_rate"],
                "final_error_median": reading["final_error_median"],
                "agent_success_rate": metrics["success_rate"],
                "agent_final_joint_error": metrics["final_joint_error"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    (args.out / "robust_reading.json").write_text(json.dumps({"run": str(args.run), "rows": rows}))
    print(
        "\n| perturbation | self-calibration | final poses read within 0.2 rad | median final "
        "error (rad) | agent success |\n|---|---|---|---|---|"
    )
    for r in rows:
        print(
            f"| {r['perturbation']} | {'on' if r['calibrate'] else 'off'} | "
            f"{r['read_within_0.2']:.0%} of {r['demos']} | {r['final_error_median']:.3f} | "
            f"{r['agent_success_rate']:.0%} |"
        )


if __name__ == "__main__":
    main()
