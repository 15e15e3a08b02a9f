"""Self-calibration against what it compares: how near the estimated camera lands.

In the recipe's scene and camera (``tcn record``'s default preset, 96 px), ``--poses``
random poses each filmed by a camera ``--offset`` m and ``--degrees`` off its stored
calibration, once as rendered and once in turned, tinted light with sensor noise and JPEG
(:data:`DEGRADED`). Each first frame is calibrated
(:func:`imitation_agent.calibrate.calibrate_camera`) comparing blurred pixels, edge
magnitudes and local contrast; prints the median and largest position (cm) and direction
(degree) errors of the estimated camera, and writes ``--out`` as JSON.

    python experiments/calibration.py --out runs/calibration.json
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from imitation_agent.calibrate import CalibrationConfig, calibrate_camera
from imitation_agent.imagine import REPRESENTATIONS
from kuka_sim import KukaSim, perturbed_camera, perturbed_lighting
from tcn.perturb import degrade_frames
from tcn.record import RecordConfig

DEGRADED = {"light_degrees": 30.0, "light_color": 0.2, "noise": 5.0, "jpeg": 75}
"""The light turned and tinted, sensor noise (8-bit sigma) and JPEG quality."""


def camera_errors(a, b) -> tuple[float, float]:
    """Position (m) and viewing-direction (degrees) differences of two cameras."""
    (eye, forward, _), (eye2, forward2, _) = a.pose(), b.pose()
    angle = math.degrees(math.acos(float(np.clip(forward @ forward2, -1.0, 1.0))))
    return float(np.linalg.norm(eye - eye2)), angle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--poses", type=int, default=6)
    parser.add_argument("--offset", type=float, default=0.05, help="m")
    parser.add_argument("--degrees", type=float, default=3.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compare", nargs="+", default=sorted(REPRESENTATIONS))
    args = parser.parse_args()
    recipe = RecordConfig()
    nominal, sim = recipe.cameras()[0], KukaSim(recipe.sim())
    rng = np.random.default_rng(args.seed)
    rows = []
    try:
        for index in range(args.poses):
            pose = rng.uniform(sim.lower_limits * 0.5, sim.upper_limits * 0.5)
            true = perturbed_camera(nominal, args.offset, args.degrees, rng)
            sim.reset(pose)
            light = perturbed_lighting(DEGRADED["light_degrees"], DEGRADED["light_color"], rng)
            lit = sim.render(true, light)
            frames = {
                "as rendered": sim.render(true),
                "light, noise, JPEG": degrade_frames(
                    lit[None], DEGRADED["noise"], DEGRADED["jpeg"], rng
                )[0],
            }
            for condition, frame in frames.items():
                for compare in args.compare:
                    config = CalibrationConfig(compare=compare)
                    estimate, info = calibrate_camera(sim, nominal, frame, pose, config)
                    position, angle = camera_errors(estimate, true)
                    row = {
                        "pose": index,
                        "condition": condition,
                        "compare": compare,
                        "position_cm": 100 * position,
                        "degrees": angle,
                        "frames": info["frames"],
                    }
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    finally:
        sim.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)}, "rows": rows}))
    print("\n| first frame | compared as | position error, median (max) | direction error |")
    print("|---|---|---|---|")
    for condition in frames:
        for compare in args.compare:
            mine = [r for r in rows if r["condition"] == condition and r["compare"] == compare]
            cm = np.array([r["position_cm"] for r in mine])
            deg = np.array([r["degrees"] for r in mine])
            print(
                f"| {condition} | {compare} | {np.median(cm):.1f} cm ({cm.max():.1f}) | "
                f"{np.median(deg):.2f} deg ({deg.max():.2f}) |"
            )


if __name__ == "__main__":
    main()
