"""Shared fixtures: small demonstrations made by the tests themselves."""

from __future__ import annotations

import os

import pytest

# DDS must only ever talk on this machine (tests that start ROS nodes also pick a domain id).
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


@pytest.fixture(scope="session")
def small_demo():
    """A 2-view, 40-frame, 48 px demonstration (seconds to make, shared by many tests)."""
    from kuka_sim import DemoConfig, episode_seed, make_cameras, record_demonstration

    return record_demonstration(
        episode_seed(7, 0), make_cameras(2, 48), demo_config=DemoConfig(frames=40)
    )
