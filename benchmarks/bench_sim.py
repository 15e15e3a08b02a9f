"""Simulator render path against raw PyBullet, and `tcn record` throughput.

Reference, in the same run: ``pybullet.getCameraImage`` called directly on a
client holding the same scene (plane and arm), at the same size and camera, with the
matrices computed once: the whole scene drawn in one pass. Ours is ``KukaSim.render``,
which draws the arm alone and composites it by depth over the plane's frame (rendered once
per camera and light), and converts to an ``(H, W, 3)`` uint8 array; the pixels are the
same (tests/kuka_sim/test_sim.py). The two are measured in alternating blocks so drift in
machine load hits both alike.

Usage::

    python benchmarks/bench_sim.py                    # render 64/96/128 px, record 1/2 workers
    python benchmarks/bench_sim.py --skip-record --sizes 64 128 256
    python benchmarks/bench_sim.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pybullet
import pybullet_data

from kuka_sim import DemoConfig, KukaSim, make_cameras
from tcn.record import record_dataset

POSE = np.array([0.3, 0.6, -0.2, -1.1, 0.4, 0.7, 0.1])


def raw_client(camera):
    client = pybullet.connect(pybullet.DIRECT)
    pybullet.setAdditionalSearchPath(pybullet_data.getDataPath(), physicsClientId=client)
    pybullet.loadURDF("plane.urdf", physicsClientId=client)
    robot = pybullet.loadURDF("kuka_iiwa/model.urdf", useFixedBase=True, physicsClientId=client)
    for j, q in enumerate(POSE):
        pybullet.resetJointState(robot, j, q, physicsClientId=client)
    view, proj = list(camera.view_matrix), list(camera.projection_matrix)

    def render():
        return pybullet.getCameraImage(
            camera.width,
            camera.height,
            view,
            proj,
            renderer=pybullet.ER_TINY_RENDERER,
            flags=pybullet.ER_NO_SEGMENTATION_MASK,
            physicsClientId=client,
        )

    return client, render


def bench_render(size: int, frames: int, blocks: int) -> dict:
    camera = make_cameras(1, size)[0]
    sim = KukaSim(cameras=[camera])
    sim.reset(POSE)
    client, raw = raw_client(camera)
    ours_s = raw_s = 0.0
    for fn in (raw, sim.render):  # warm up
        fn()
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(frames):
            raw()
        t1 = time.perf_counter()
        for _ in range(frames):
            sim.render()
        t2 = time.perf_counter()
        raw_s += t1 - t0
        ours_s += t2 - t1
    sim.close()
    pybullet.disconnect(client)
    n = frames * blocks
    return {
        "size": size,
        "raw_fps": n / raw_s,
        "ours_fps": n / ours_s,
        "overhead": ours_s / raw_s - 1.0,
    }


def bench_record(workers: int, episodes: int, frames: int, size: int) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench_record_"))
    try:
        t0 = time.perf_counter()
        record_dataset(
            out / "d",
            episodes,
            make_cameras(1, size),
            demo=DemoConfig(frames=frames),
            workers=workers,
        )
        seconds = time.perf_counter() - t0
    finally:
        shutil.rmtree(out)
    return {
        "workers": workers,
        "episodes": episodes,
        "frames": frames,
        "size": size,
        "seconds": seconds,
        "episodes_per_min": episodes / seconds * 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128])
    parser.add_argument("--frames", type=int, default=100, help="frames per timing block")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--skip-record", action="store_true")
    parser.add_argument("--record-episodes", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    results: dict = {"render": [], "record": []}
    print("| image | raw getCameraImage, one pass (fps) | KukaSim.render (fps) | time / raw |")
    print("|---|---|---|---|")
    for size in args.sizes:
        r = bench_render(size, args.frames, args.blocks)
        results["render"].append(r)
        ratio = 1.0 + r["overhead"]
        print(f"| {size} px | {r['raw_fps']:.0f} | {r['ours_fps']:.0f} | {ratio:.2f} |")
    if not args.skip_record:
        print("\n| workers | episodes | frames x px | seconds | episodes/min |")
        print("|---|---|---|---|---|")
        for workers in (1, 2):
            r = bench_record(workers, args.record_episodes, 100, 128)
            results["record"].append(r)
            print(
                f"| {workers} | {r['episodes']} | {r['frames']} x {r['size']} | "
                f"{r['seconds']:.1f} | {r['episodes_per_min']:.1f} |"
            )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
