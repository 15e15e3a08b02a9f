"""Imitation on the live ROS 2 graph against offline evaluation, on the same demonstrations.

    python benchmarks/graph_imitation.py --run runs/reproduce/demo/seed_0
    python benchmarks/graph_imitation.py --run runs/quickstart --count 5 --seed 1000

``--run`` is a ``tcn quickstart`` output (its ``embedding/`` and ``agent/``: the default
recipe's agent, which observes the demonstration's reading). The script

1. records ``--count`` new held-out demonstrations in the recipe's scene (``tcn record``,
   seed ``--seed``, so none was seen in training);
2. reads them from their frames once (``tcn read-demos``, render-and-compare, cached);
3. the reference: ``tcn evaluate-agent`` on them (offline, the gym env);
4. for each, runs the graph exactly as ``tcn launch --embedding --demo --agent`` does
   (:class:`tcn.graph.GraphRunner`, one process per node, the package's
   config/imitation.yaml) except that ``demo_player`` starts paused and plays once
   (``start_paused``, ``loop: false``), and a probe node restarts it when the agent node
   has loaded (subscribed to ``demo/frame_index``) and embeddings flow, so the agent sees
   the demonstration from frame 0 as the offline episode does. The agent node reads the
   demonstration itself at start, from the step-2 cache. The final joints are the last
   ``joint_states`` one control period after the last frame's index arrived (the offline
   episode's last step); the error is the L2 norm against the demonstration's recorded final
   joints (the agent never sees them), success below 0.2 rad as offline.

Prints a table and writes ``<run>/graph_imitation.json``.
"""

from __future__ import annotations

import os

os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml
from sensor_msgs.msg import JointState
from std_msgs.msg import Float32MultiArray, Int32
from std_srvs.srv import Trigger

from imitation_agent.env import SUCCESS_THRESHOLD
from tcn.bags import read_episode
from tcn.cli import main as tcn
from tcn.dataset import episode_paths
from tcn.graph import PARAMS_FILE, GraphRunner, argument_values
from tcn.hardware import reorder
from tcn.nodes.ros_env import DEFAULT_JOINT_NAMES, reserved_domain_id
from tcn.nodes.testing import RosGraph, wait_for
from tcn.paths import share_path

READY_TIMEOUT = 180.0  # s: the agent node embeds and (from the cache) reads the demo at start


def paused_params(params: dict, directory: Path) -> Path:
    """``params`` (the package's parameter file) written to ``directory`` with demo_player
    paused at start and playing once."""
    params["/**/demo_player"]["ros__parameters"].update(start_paused=True, loop=False)
    path = directory / "imitation_paused.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def agent_subscribed(graph: RosGraph) -> bool:
    infos = graph.probe.get_subscriptions_info_by_topic("/demo/frame_index")
    return any(info.node_name == "imitation_agent_node" for info in infos)


def run_on_graph(run: Path, demo: Path, params: Path, control_rate: float) -> dict:
    """One demonstration on the graph: the final joint error and how the run went."""
    episode = read_episode(demo)
    frames = len(episode.joint_positions)
    values = argument_values(
        {
            "embedding": str(run / "embedding"),
            "demo": str(demo),
            "agent": str(run / "agent"),
            "params_file": str(params),
        }
    )
    with reserved_domain_id() as domain, RosGraph(domain) as graph:
        joints = graph.collect(JointState, "joint_states", stamped=True)
        indices = graph.collect(Int32, "demo/frame_index", stamped=True)
        embeddings = graph.collect(Float32MultiArray, "tcn/embedding")
        runner = GraphRunner(values, env={"ROS_DOMAIN_ID": str(domain)})
        started = time.monotonic()
        try:
            runner.start()

            def ready() -> bool:
                if not runner.poll():
                    raise RuntimeError(f"the graph stopped: {runner.failed}")
                return agent_subscribed(graph) and len(embeddings) > 0

            wait_for(ready, "the agent node and embeddings", READY_TIMEOUT)
            load_s = time.monotonic() - started
            reply = graph.call(Trigger, "/demo_player/restart", Trigger.Request(), 30.0)
            assert reply.success, reply.message
            wait_for(
                lambda: runner.poll() and any(m.data == frames - 1 for _, m in indices),
                "the demonstration's last frame",
                frames / control_rate + 30.0,
            )
            last = next(t for t, m in indices if m.data == frames - 1)
            time.sleep(1.5 / control_rate)
        finally:
            runner.stop()
    at_end = [m for t, m in joints if t <= last + 1.0 / control_rate]
    q = reorder(at_end[-1].name, at_end[-1].position, DEFAULT_JOINT_NAMES)
    error = float(np.linalg.norm(q - episode.joint_positions[-1]))
    played = sorted({m.data for _, m in indices})
    return {
        "demo": demo.name,
        "final_joint_error": error,
        "success": error < SUCCESS_THRESHOLD,
        "frames_played": len(played),
        "frames": frames,
        "load_s": load_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, required=True, help="a tcn quickstart output")
    parser.add_argument("--count", type=int, default=5, help="held-out demonstrations")
    parser.add_argument("--seed", type=int, default=1000, help="seed of their recording")
    parser.add_argument("--frames", type=int, default=100, help="frames per demonstration")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    run, data = args.run, args.run / "graph_demos"
    flags = ["--no-progress", "--workers", str(args.workers)]
    # A dataset keeps one training episode; the held-out ones are its validation split.
    record = ["record", "--out", str(data), "--episodes", str(args.count + 1)]
    record += ["--val-episodes", str(args.count), "--frames", str(args.frames)]
    assert tcn([*record, "--seed", str(args.seed), *flags]) == 0
    read = ["read-demos", "--embedding", str(run / "embedding"), "--demos", str(data)]
    assert tcn([*read, *flags]) == 0
    offline_dir = run / "graph_imitation_offline"
    evaluate = ["evaluate-agent", "--agent", str(run / "agent"), "--demos", str(data)]
    assert tcn([*evaluate, "--out", str(offline_dir), "--no-video", *flags]) == 0
    offline = json.loads((offline_dir / "metrics.json").read_text())
    offline_by_demo = {e["demo"]: e for e in offline["per_episode"]}

    package_params = yaml.safe_load(share_path(PARAMS_FILE).read_text())
    control_rate = package_params["/**/imitation_agent_node"]["ros__parameters"]["control_rate"]
    demos = episode_paths(data, "val")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        params = paused_params(package_params, Path(tmp))
        for demo in demos:
            row = run_on_graph(run, demo, params, control_rate)
            row["offline_final_joint_error"] = offline_by_demo[demo.name]["final_joint_error"]
            row["offline_success"] = offline_by_demo[demo.name]["success"]
            row["reading_final_error"] = offline_by_demo[demo.name]["reading_final_error"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "run": str(run),
        "demos": str(data),
        "graph_success_rate": float(np.mean([r["success"] for r in rows])),
        "offline_success_rate": float(np.mean([r["offline_success"] for r in rows])),
        "per_demo": rows,
    }
    (run / "graph_imitation.json").write_text(json.dumps(result, indent=2))
    print(
        "| demonstration | graph: final joint error (rad) | offline (rad) | the reading's "
        "final error (rad) | frames played |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['demo']} | {r['final_joint_error']:.3f} | "
            f"{r['offline_final_joint_error']:.3f} | {r['reading_final_error']:.3f} | "
            f"{r['frames_played']} / {r['frames']} |"
        )
    print(
        f"| success (< {SUCCESS_THRESHOLD} rad) | {result['graph_success_rate']:.0%} | "
        f"{result['offline_success_rate']:.0%} | | |"
    )


if __name__ == "__main__":
    main()
