"""Imitation graph: sim, demo player, TCN embedding node, robot_state_publisher, rviz2.

The node list, executables, argument -> parameter mapping and launch arguments come from
``tcn.graph`` (NODES, LAUNCH_ARGUMENTS), the same definition ``tcn launch`` runs, so the two
cannot drift. Parameters come from ``config/imitation.yaml`` in the package share directory
(or params_file:=...).

    ros2 launch tcn imitation.launch.py embedding:=runs/tcn_cpu demo:=data/demos/episode_0000
    ros2 launch tcn imitation.launch.py namespace:=robot1 use_sim:=false rviz:=true \\
        embedding:=runs/tcn_cpu demo:=data/demos/episode_0000
"""

from __future__ import annotations

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue

from tcn.graph import (
    LAUNCH_ARGUMENTS,
    NODES,
    PACKAGE,
    PARAMS_FILE,
    RVIZ_FILE,
    URDF_FILE,
    active_nodes,
    check_arguments,
    is_true,
    node_parameters,
    node_remappings,
    robot_description,
    stack_namespace,
)


def _launch_setup(context, *args, **kwargs):
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in LAUNCH_ARGUMENTS}
    check_arguments(values)
    share = get_package_share_directory(PACKAGE)
    params = values["params_file"] or os.path.join(share, PARAMS_FILE)
    namespace = stack_namespace(values)
    active = {spec.name for spec in active_nodes(values)}
    actions = []
    for spec in NODES:
        if spec.name not in active:
            continue
        actions.append(
            Node(
                package=PACKAGE,
                executable=spec.executable,
                name=spec.name,
                namespace=namespace,
                parameters=[params, node_parameters(spec, values)],
                remappings=node_remappings(spec, values),
                output="screen",
                respawn=spec.respawn,
                respawn_delay=spec.respawn_delay,
                on_exit=None if spec.respawn else Shutdown(reason=f"{spec.name} exited"),
            )
        )
    # A real driver publishes its own robot_description and TF; the simulator's URDF
    # (lbr_iiwa_joint_*) would clash with it in the driver's namespace.
    if values["driver"] == "sim":
        urdf = robot_description(os.path.join(share, URDF_FILE))  # meshes as package:// URIs
        actions.append(
            Node(
                package="robot_state_publisher",
                executable="robot_state_publisher",
                namespace=namespace,
                parameters=[{"robot_description": ParameterValue(urdf, value_type=str)}],
                output="screen",
            )
        )
    if is_true(values["rviz"]):
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                namespace=namespace,
                arguments=["-d", os.path.join(share, RVIZ_FILE)],
                output="screen",
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    arguments = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
        for a in LAUNCH_ARGUMENTS
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_launch_setup)])
