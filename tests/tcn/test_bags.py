"""Episodes as rosbag2 bags: round trips, foreign bags, and every error case."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from rosbags.rosbag2 import StoragePlugin, Writer

from tcn.bags import TYPESTORE, bag_topics, read_episode, write_episode
from tcn.errors import BagError
from tcn.images import ImageFormatError, image_to_rgb

T = TYPESTORE.types


def assert_same_episode(a, b):
    assert a.num_views == b.num_views
    for x, y in zip(a.frames, b.frames, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a.joint_positions, b.joint_positions)
    np.testing.assert_array_equal(a.joint_velocities, b.joint_velocities)
    np.testing.assert_array_equal(a.joint_efforts, b.joint_efforts)
    np.testing.assert_allclose(a.timestamps, b.timestamps, atol=1e-9)
    assert a.joint_names == b.joint_names
    assert a.cameras == b.cameras


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_write_then_read_gives_identical_arrays(tmp_path, small_demo, storage):
    path = write_episode(tmp_path / "episode", small_demo, storage=storage)
    episode = read_episode(path)
    assert_same_episode(small_demo, episode)
    assert episode.info["start"] == small_demo.info["start"]
    assert not list(tmp_path.glob(".*"))  # nothing staged is left behind


def test_written_bag_is_rosbag2_v9_mcap_with_type_hashes(tmp_path, small_demo):
    path = write_episode(tmp_path / "episode", small_demo)
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9 and meta["storage_identifier"] == "mcap"
    assert meta["relative_file_paths"] == ["episode_0.mcap"] or all(
        (path / f).is_file() for f in meta["relative_file_paths"]
    )
    by_topic = {
        t["topic_metadata"]["name"]: t["topic_metadata"] for t in meta["topics_with_message_count"]
    }
    assert by_topic["/camera/image_raw"]["type"] == "sensor_msgs/msg/Image"
    assert by_topic["/camera/camera_info"]["type"] == "sensor_msgs/msg/CameraInfo"
    assert by_topic["/joint_states"]["type"] == "sensor_msgs/msg/JointState"
    assert by_topic["/camera_1/image_raw"]["type"] == "sensor_msgs/msg/Image"
    for topic in by_topic.values():
        assert topic["type_description_hash"].startswith("RIHS01_")
    counts = {name: t.count for name, t in bag_topics(path).items()}
    assert counts["/camera/image_raw"] == counts["/joint_states"] == len(small_demo)


def test_refuses_to_overwrite(tmp_path, small_demo):
    write_episode(tmp_path / "e", small_demo)
    with pytest.raises(FileExistsError):
        write_episode(tmp_path / "e", small_demo)


# ----------------------------------------------------------------------------- foreign bags
ROBOT_JOINTS = [f"lbr_A{i}" for i in range(1, 8)]


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_reads_a_robot_bag_with_other_topics_bgr8_and_joint_order(
    tmp_path, small_demo, storage, robot_bag
):
    frames = small_demo.frames[0][:12]
    expected_q = robot_bag(tmp_path / "robot", frames, storage=storage)
    episode = read_episode(
        tmp_path / "robot",
        image_topics="/wrist_cam/color/image_raw",
        joint_topic="/lbr/joint_states",
        joint_names=ROBOT_JOINTS,
    )
    np.testing.assert_array_equal(episode.frames[0], frames)
    np.testing.assert_allclose(episode.joint_positions, expected_q, atol=1e-9)
    np.testing.assert_allclose(episode.joint_velocities[:, 2], 0.3, atol=1e-9)
    np.testing.assert_allclose(episode.timestamps, np.arange(12) * 0.1, atol=1e-9)
    assert episode.cameras == [None] and episode.joint_names == ROBOT_JOINTS


def test_default_joint_names_come_from_the_first_message(tmp_path, small_demo, robot_bag):
    robot_bag(tmp_path / "robot", small_demo.frames[0][:3])
    episode = read_episode(tmp_path / "robot", "/wrist_cam/color/image_raw", "/lbr/joint_states")
    assert episode.joint_names[:2] == ["lbr_A4", "lbr_A1"] and len(episode.joint_names) == 8


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_image_encodings_convert_to_rgb(encoding, small_demo):
    rgb = small_demo.frames[0][5]
    h, w, _ = rgb.shape
    pixels = {
        "rgb8": rgb,
        "bgr8": rgb[..., ::-1],
        "mono8": rgb[..., :1],
        "rgba8": np.dstack([rgb, np.zeros((h, w), np.uint8)]),
        "bgra8": np.dstack([rgb[..., ::-1], np.zeros((h, w), np.uint8)]),
    }[encoding]
    channels = pixels.shape[2]
    msg = SimpleNamespace(
        encoding=encoding,
        height=h,
        width=w,
        step=w * channels,
        data=np.ascontiguousarray(pixels).tobytes(),
    )
    out = image_to_rgb(msg)
    expected = np.repeat(rgb[..., :1], 3, axis=2) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(out, expected)


def test_malformed_images_raise_a_clear_error():
    good = dict(encoding="rgb8", height=2, width=2, step=6, data=bytes(12))
    image_to_rgb(SimpleNamespace(**good))
    for bad, match in [
        ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422'"),
        ({"step": 4}, "step 4 is less than"),
        ({"data": bytes(11)}, "needs 12 bytes, got 11"),
        ({"height": 0}, "no pixels"),
    ]:
        with pytest.raises(ImageFormatError, match=match):
            image_to_rgb(SimpleNamespace(**{**good, **bad}))


# ----------------------------------------------------------------------------- errors
def test_missing_topic_lists_the_topics_present(tmp_path, small_demo):
    path = write_episode(tmp_path / "e", small_demo)
    with pytest.raises(BagError) as info:
        read_episode(path, image_topics="/front/image_raw")
    message = str(info.value)
    assert str(path) in message and "/front/image_raw" in message
    assert "/camera/image_raw (sensor_msgs/msg/Image, 40 msgs)" in message
    assert "/joint_states" in message


def test_missing_default_camera_lists_image_topics(tmp_path, small_demo, robot_bag):
    robot_bag(tmp_path / "robot", small_demo.frames[0][:2])
    with pytest.raises(BagError, match=r"image topics in this bag: /wrist_cam/color/image_raw"):
        read_episode(tmp_path / "robot", joint_topic="/lbr/joint_states")


def test_unsupported_encoding_is_named(tmp_path):
    path2 = tmp_path / "yuv2"
    with Writer(path2, version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        conn = writer.add_connection(
            "/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE
        )
        msg = T["sensor_msgs/msg/Image"](
            header=T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id=""
            ),
            height=2,
            width=2,
            encoding="yuv422",
            is_bigendian=0,
            step=4,
            data=np.zeros(8, np.uint8),
        )
        writer.write(conn, 1, TYPESTORE.serialize_cdr(msg, conn.msgtype))
    with pytest.raises(BagError, match=r"yuv2.*unsupported image encoding 'yuv422'"):
        read_episode(path2, joint_topic=None)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_or_truncated_bag_names_the_file(tmp_path, small_demo, damage):
    path = write_episode(tmp_path / "e", small_demo)
    data_file = next(path.glob("*.mcap"))
    raw = data_file.read_bytes()
    if damage == "garbage":
        data_file.write_bytes(raw[:100] + b"\x13" * 5000 + raw[5100:])
    else:
        data_file.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(BagError) as info:
        read_episode(path)
    assert str(path) in str(info.value)


def test_empty_bag_says_so(tmp_path):
    with Writer(tmp_path / "empty", version=9, storage_plugin=StoragePlugin.MCAP) as writer:
        writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=TYPESTORE)
    with pytest.raises(BagError, match="empty"):
        read_episode(tmp_path / "empty")


def test_not_a_bag(tmp_path):
    with pytest.raises(BagError, match="no such bag"):
        read_episode(tmp_path / "nothing")
    (tmp_path / "dir").mkdir()
    with pytest.raises(BagError, match="not a rosbag2 bag.*reindex"):
        read_episode(tmp_path / "dir")


def test_a_played_frame_is_found_by_its_header_stamp(tmp_path, small_demo, robot_bag):
    from tcn.bags import frame_at_stamp, frame_stamps_ns

    robot_bag(tmp_path / "robot", small_demo.frames[0][:12])
    episode = read_episode(tmp_path / "robot", "/wrist_cam/color/image_raw", joint_topic=None)
    stamps = frame_stamps_ns(episode)
    np.testing.assert_array_equal(stamps, 5_000_000_000 + np.arange(12) * 100_000_000)
    assert [frame_at_stamp(stamps, int(s)) for s in stamps] == list(range(12))
    assert frame_at_stamp(stamps, int(stamps[4]) + 20_000_000) == 4  # within a quarter period
    assert frame_at_stamp(stamps, int(stamps[4]) + 50_000_000) is None  # between frames
    assert frame_at_stamp(stamps, 1_800_000_000_000_000_000) is None  # a live clock's stamp
    assert frame_at_stamp(stamps, int(stamps[0]) - 10**9) is None
