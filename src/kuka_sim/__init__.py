"""Simulated KUKA LBR iiwa: physics, cameras, controllers and demonstrations (numpy + pybullet)."""

from kuka_sim.camera import (
    CameraConfig,
    Lighting,
    ViewLayout,
    make_cameras,
    perturbed_camera,
    perturbed_lighting,
)
from kuka_sim.demo import DemoConfig, episode_seed, plan_trajectory, record_demonstration
from kuka_sim.episode import Episode
from kuka_sim.sim import IIWA_COUPLED_JOINTS, ControlMode, KukaSim, SimConfig, joint_limits

__all__ = [
    "IIWA_COUPLED_JOINTS",
    "CameraConfig",
    "ControlMode",
    "DemoConfig",
    "Episode",
    "KukaSim",
    "Lighting",
    "SimConfig",
    "ViewLayout",
    "episode_seed",
    "joint_limits",
    "make_cameras",
    "perturbed_camera",
    "perturbed_lighting",
    "plan_trajectory",
    "record_demonstration",
]
