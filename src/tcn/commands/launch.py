"""Start the imitation graph (sim, demo player, embedding node) without ros2 launch.

The same nodes, parameter file and arguments as `ros2 launch tcn imitation.launch.py`
(both read tcn.graph.NODES and tcn.graph.LAUNCH_ARGUMENTS), one process per node; a node
marked respawn (demo_player, tcn_embedding_node) is restarted when it dies and rejoins the
graph. robot_state_publisher and rviz2 need a ROS 2 installation and are not started here.
DDS discovery stays on this machine unless ROS_AUTOMATIC_DISCOVERY_RANGE says otherwise.

examples:
  tcn launch --embedding runs/tcn_cpu --demo data/demos/episode_0000
  tcn launch --embedding runs/tcn_cpu/checkpoints/best.pt --demo data/demos/episode_0000 \\
      --namespace robot1 --config my_params.yaml --duration 60
  tcn launch --embedding runs/tcn_cpu --demo data/demos/episode_0000 --use-sim false
"""

from __future__ import annotations

import argparse
import logging

HELP = "run the ROS 2 imitation graph (sim + demo player + TCN embedding node)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from tcn.graph import LAUNCH_ARGUMENTS

    for argument in LAUNCH_ARGUMENTS:
        parser.add_argument(
            argument.option,
            dest=argument.name,
            default=None,
            metavar=argument.name.upper(),
            help=f"{argument.description} (launch argument {argument.name}:=, "
            f"default {argument.default!r})",
        )
    parser.add_argument(
        "--duration", type=float, default=None, help="stop after S seconds (default: Ctrl-C)"
    )


def run(args: argparse.Namespace) -> int:
    from tcn.graph import LAUNCH_ARGUMENTS, GraphRunner, argument_values, is_true

    values = argument_values({a.name: getattr(args, a.name) for a in LAUNCH_ARGUMENTS})
    if is_true(values["rviz"]):
        log.warning("rviz2 needs a ROS 2 installation: use ros2 launch tcn imitation.launch.py")
    runner = GraphRunner(values)
    log.info("parameters from %s", runner.params)
    runner.start()
    try:
        status = runner.spin(args.duration)
    finally:
        runner.stop()
    if status:
        from tcn.errors import TcnError

        raise TcnError(f"{runner.failed}; see its log above")
    return 0
