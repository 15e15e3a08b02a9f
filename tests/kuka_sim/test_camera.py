"""Cameras moved off their calibration (kuka_sim.camera)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from kuka_sim import (
    CameraConfig,
    KukaSim,
    Lighting,
    make_cameras,
    perturbed_camera,
    perturbed_lighting,
)


@pytest.fixture(scope="module")
def sim():
    sim = KukaSim()
    yield sim
    sim.close()


def test_an_explicit_camera_from_the_pose_renders_the_same_frame(sim):
    camera = replace(make_cameras(1, 48)[0], distance=1.9, pitch=-30.0)
    assert camera.moved(np.zeros(3), np.zeros(3)) is camera
    moved = camera.moved(np.array([1e-9, 0.0, 0.0]), np.zeros(3))
    assert moved.eye is not None and moved.up is not None
    np.testing.assert_allclose(moved.view_matrix, camera.view_matrix, atol=1e-6)
    assert np.mean(sim.render(moved) != sim.render(camera)) < 0.01


def test_moved_offsets_the_position_and_turns_the_view_by_the_angle_asked():
    camera = make_cameras(1, 48)[0]
    eye, forward, up = camera.pose()
    assert np.isclose(forward @ up, 0.0, atol=1e-6)  # float32 matrices
    moved = camera.moved(np.array([0.03, 0.0, -0.04]), np.array([0.0, 0.0, math.radians(2.0)]))
    eye2, forward2, up2 = moved.pose()
    np.testing.assert_allclose(eye2 - eye, [0.03, 0.0, -0.04], atol=1e-6)
    assert math.degrees(math.acos(forward @ forward2)) <= 2.0 + 1e-4
    assert moved.fov == camera.fov and camera.moved(np.zeros(3), np.zeros(3), fov=40.0).fov == 40.0


def test_a_perturbed_camera_is_off_by_the_sizes_asked_and_round_trips(sim):
    camera = make_cameras(1, 48)[0]
    off = perturbed_camera(camera, 0.05, 3.0, np.random.default_rng(0))
    (eye, forward, _), (eye2, forward2, _) = camera.pose(), off.pose()
    assert np.linalg.norm(eye2 - eye) == pytest.approx(0.05, abs=1e-6)
    assert math.degrees(math.acos(np.clip(forward @ forward2, -1, 1))) <= 3.0 + 1e-4
    assert CameraConfig.from_dict(off.to_dict()) == off
    assert np.any(sim.render(off) != sim.render(camera))


def test_up_needs_an_explicit_eye():
    with pytest.raises(ValueError, match="up needs an explicit eye"):
        CameraConfig(up=(0.0, 0.0, 1.0))


def test_the_default_lighting_is_the_renderers_and_a_turned_light_changes_the_frame(sim):
    camera = make_cameras(1, 48)[0]
    np.testing.assert_array_equal(sim.render(camera, Lighting()), sim.render(camera))
    light = perturbed_lighting(40.0, 0.3, np.random.default_rng(0))
    base = np.asarray(Lighting().direction) / np.linalg.norm(Lighting().direction)
    turned = np.asarray(light.direction)
    assert math.degrees(math.acos(np.clip(base @ turned, -1, 1))) == pytest.approx(40.0)
    assert all(0.7 <= c <= 1.0 for c in light.color)
    lit = sim.render(camera, light)
    assert np.any(lit != sim.render(camera))  # no light left behind for the next frame
    np.testing.assert_array_equal(sim.render(camera, light), lit)
    with pytest.raises(ValueError, match="light color"):
        Lighting(color=(1.5, 1.0, 1.0))
