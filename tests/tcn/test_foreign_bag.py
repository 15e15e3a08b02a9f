"""A real robot's bag: no stored camera, no scene, only camera_info beside its images."""

from __future__ import annotations

import numpy as np
import torch

from imitation_agent import ImagineConfig, RenderAndCompare
from kuka_sim import DemoConfig, episode_seed, perturbed_camera, record_demonstration
from tcn.bags import (
    CAMERA_INFO,
    IMAGE,
    JOINT_STATE,
    TYPESTORE,
    camera_info_fields,
    read_episode,
    rgb_image_fields,
)
from tcn.demonstrations import load_demonstrations
from tcn.record import RecordConfig

CHEAP = ImagineConfig(
    every=6,
    iterations=2,
    final_iterations=2,
    population=4,
    elites=2,
    refine_iterations=3,
    refine_turns=1,
    refine_pairs=0,
)


class Pixels:
    """A stand-in embedding: downsampled pixels."""

    def embed(self, frames):
        small = np.asarray(frames)[:, ::4, ::4].reshape(len(frames), -1) / 255.0
        return torch.as_tensor(small, dtype=torch.float32)


def pixels(frames):
    return Pixels().embed(frames).numpy()


def write_ros2_bag_record(path, frames, joints, camera):
    """What `ros2 bag record` keeps of a camera driver (remapped to /camera) and a joint state
    broadcaster: images, camera_info and joint states, no episode info."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    T = TYPESTORE.types
    with Writer(path, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        image = writer.add_connection("/camera/image_raw", IMAGE, typestore=TYPESTORE)
        info = writer.add_connection("/camera/camera_info", CAMERA_INFO, typestore=TYPESTORE)
        states = writer.add_connection("/joint_states", JOINT_STATE, typestore=TYPESTORE)
        for t, (frame, q) in enumerate(zip(frames, joints, strict=True)):
            ns = 1_000_000_000 + t * 50_000_000
            stamp = T["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)
            header = T["std_msgs/msg/Header"](stamp=stamp, frame_id="cam_optical")
            roi = T["sensor_msgs/msg/RegionOfInterest"](
                x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
            )
            messages = (
                (image, T[IMAGE](header=header, **rgb_image_fields(frame))),
                (info, T[CAMERA_INFO](header=header, roi=roi, **camera_info_fields(camera))),
                (
                    states,
                    T[JOINT_STATE](
                        header=header,
                        name=[f"lbr_A{j}" for j in range(1, 8)],
                        position=np.asarray(q, np.float64),
                        velocity=np.zeros(7),
                        effort=np.zeros(0),
                    ),
                ),
            )
            for connection, msg in messages:
                writer.write(connection, ns, TYPESTORE.serialize_cdr(msg, connection.msgtype))


def test_a_bag_with_camera_info_and_no_stored_camera_is_read_after_self_calibration(tmp_path):
    recipe = RecordConfig(image_size=48)
    nominal = recipe.cameras()[0]
    true = perturbed_camera(nominal, 0.03, 2.0, np.random.default_rng(2))
    episode = record_demonstration(episode_seed(9, 0), [true], recipe.sim(), DemoConfig(frames=18))
    bag = tmp_path / "robot_bag"
    write_ros2_bag_record(bag, episode.frames[0], episode.joint_positions, true)
    assert read_episode(bag).cameras == [None]

    (demo,) = load_demonstrations(bag, None, Pixels(), keep_frames=True)
    # camera_info gives the intrinsics; the pose is the recipe's, not the true one.
    assert (demo.camera.width, demo.camera.height) == (48, 48)
    assert abs(demo.camera.fov - true.fov) < 1e-6 and demo.camera.eye is None
    assert demo.sim.tool_scale == recipe.tool_scale
    reader = RenderAndCompare(pixels, CHEAP)
    try:
        estimate = reader.camera(demo)
        before = np.linalg.norm(nominal.pose()[0] - true.pose()[0])
        after = np.linalg.norm(estimate.pose()[0] - true.pose()[0])
        assert before > 0.029 and after < before / 2
        reading = reader.read(demo)
    finally:
        reader.close()
    assert reading.shape == (len(demo), 7)
    np.testing.assert_allclose(reading[0], episode.joint_positions[0], atol=1e-6)
