"""Episodes as rosbag2 bags: written as MCAP (metadata version 9), read from MCAP or sqlite3.

Written bags hold, per episode::

    /camera/image_raw          sensor_msgs/msg/Image (rgb8)      view 0
    /camera/camera_info        sensor_msgs/msg/CameraInfo
    /camera_<i>/image_raw      sensor_msgs/msg/Image (rgb8)      view i >= 1
    /camera_<i>/camera_info    sensor_msgs/msg/CameraInfo
    /joint_states              sensor_msgs/msg/JointState        positions, velocities, efforts
    /tcn/episode_info          std_msgs/msg/String               JSON: cameras, seed, start, goal

Type hashes and definitions come from the ROS 2 Kilted typestore, so ``ros2 bag info``
and ``ros2 bag play`` read them. :func:`read_episode` reads any rosbag2 bag, including
those ``ros2 bag record`` writes on a real robot with other topic names and encodings.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

from kuka_sim import CameraConfig, Episode
from tcn.errors import BagError
from tcn.images import ImageFormatError, image_to_rgb, rgb_image_fields

TYPESTORE = get_typestore(Stores.ROS2_KILTED)
IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
JOINT_STATE = "sensor_msgs/msg/JointState"
STRING = "std_msgs/msg/String"

JOINT_TOPIC = "/joint_states"
EPISODE_INFO_TOPIC = "/tcn/episode_info"
# A fixed, plausible epoch for recorded episodes (2023-11-14T22:13:20Z): bags look like
# real recordings and the same seed gives byte-identical bags.
DEFAULT_START_NS = 1_700_000_000 * 10**9


def camera_namespace(view: int) -> str:
    return "/camera" if view == 0 else f"/camera_{view}"


def image_topic(view: int) -> str:
    return f"{camera_namespace(view)}/image_raw"


def camera_info_topic(view: int) -> str:
    return f"{camera_namespace(view)}/camera_info"


def info_topic_of(image_topic: str) -> str:
    """The CameraInfo topic beside an image topic (``/cam/color/image_raw`` ->
    ``/cam/color/camera_info``), as ROS 2 camera drivers publish them."""
    return image_topic.rsplit("/", 1)[0] + "/camera_info"


def optical_frame(view: int) -> str:
    return f"{camera_namespace(view).lstrip('/')}_optical_frame"


# --------------------------------------------------------------------------- writing
def _stamp(ns: int) -> Any:
    return TYPESTORE.types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9)


def _header(ns: int, frame_id: str) -> Any:
    return TYPESTORE.types["std_msgs/msg/Header"](stamp=_stamp(ns), frame_id=frame_id)


def camera_info_fields(camera: CameraConfig) -> dict[str, Any]:
    """CameraInfo fields (plumb-bob, no distortion) of a modelled camera."""
    k = camera.intrinsics()
    p = np.zeros((3, 4))
    p[:, :3] = k
    return {
        "height": camera.height,
        "width": camera.width,
        "distortion_model": "plumb_bob",
        "d": np.zeros(5),
        "k": k.reshape(-1),
        "r": np.eye(3).reshape(-1),
        "p": p.reshape(-1),
        "binning_x": 0,
        "binning_y": 0,
    }


def write_episode(
    path: Path,
    episode: Episode,
    *,
    storage: str = "mcap",
    start_ns: int = DEFAULT_START_NS,
) -> Path:
    """Write ``episode`` as a rosbag2 bag directory at ``path``, atomically.

    The bag is written to a hidden sibling directory and renamed into place
    when complete, so an interruption never leaves a half-written bag at
    ``path``. Fails if ``path`` exists.
    """
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} exists; refusing to overwrite a recorded episode")
    plugin = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}.get(storage)
    if plugin is None:
        raise ValueError(f"unknown bag storage {storage!r}; expected 'mcap' or 'sqlite3'")
    # Staged as <parent>/.<name>.partial/<name> so the storage file keeps the episode's name.
    staging = path.with_name(f".{path.name}.partial")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    partial = staging / path.name
    types = TYPESTORE.types
    stamps = [start_ns + int(round(t * 1e9)) for t in episode.timestamps]
    with Writer(partial, version=9, storage_plugin=plugin) as writer:

        def connect(topic: str, msgtype: str) -> Any:
            return writer.add_connection(topic, msgtype, typestore=TYPESTORE)

        def put(connection: Any, ns: int, msg: Any) -> None:
            writer.write(connection, ns, TYPESTORE.serialize_cdr(msg, connection.msgtype))

        info_conn = connect(EPISODE_INFO_TOPIC, STRING)
        info = dict(episode.info)
        info["cameras"] = [None if c is None else c.to_dict() for c in episode.cameras]
        info["joint_names"] = list(episode.joint_names)
        put(info_conn, stamps[0], types[STRING](data=json.dumps(info)))

        joint_conn = connect(JOINT_TOPIC, JOINT_STATE)
        views = []
        for view, camera in enumerate(episode.cameras):
            info_c = connect(camera_info_topic(view), CAMERA_INFO) if camera else None
            views.append((connect(image_topic(view), IMAGE), info_c, camera))
        efforts = episode.joint_efforts
        for t, ns in enumerate(stamps):
            put(
                joint_conn,
                ns,
                types[JOINT_STATE](
                    header=_header(ns, ""),
                    name=list(episode.joint_names),
                    position=np.asarray(episode.joint_positions[t], dtype=np.float64),
                    velocity=np.asarray(episode.joint_velocities[t], dtype=np.float64),
                    effort=np.zeros(0) if efforts is None else np.asarray(efforts[t], np.float64),
                ),
            )
            for view, (image_conn, info_c, camera) in enumerate(views):
                header = _header(ns, optical_frame(view))
                put(
                    image_conn,
                    ns,
                    types[IMAGE](header=header, **rgb_image_fields(episode.frames[view][t])),
                )
                if info_c is not None:
                    roi = types["sensor_msgs/msg/RegionOfInterest"](
                        x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
                    )
                    put(
                        info_c,
                        ns,
                        types[CAMERA_INFO](header=header, roi=roi, **camera_info_fields(camera)),
                    )
    os.rename(partial, path)
    staging.rmdir()
    return path


# --------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class TopicInfo:
    name: str
    msgtype: str
    count: int


@contextmanager
def open_bag(path: Path | str) -> Iterator[AnyReader]:
    """Open a rosbag2 bag (MCAP or sqlite3); every failure names the file."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"{path}: no such bag")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        raise BagError(
            f"{path}: not a rosbag2 bag (no metadata.yaml); if recording was interrupted, "
            f"`ros2 bag reindex {path}` rebuilds it"
        )
    try:
        reader = AnyReader([path], default_typestore=TYPESTORE)
        reader.open()
    except Exception as exc:  # rosbags raises many types for corrupt files
        raise BagError(f"{path}: cannot open bag, it may be corrupt or truncated ({exc})") from exc
    try:
        yield reader
    except BagError:
        raise
    except (ImageFormatError, KeyError, ValueError) as exc:
        raise BagError(f"{path}: {exc}") from exc
    except Exception as exc:
        raise BagError(f"{path}: cannot read bag, it may be corrupt or truncated ({exc})") from exc
    finally:
        try:
            reader.close()
        except Exception:  # noqa: BLE001 - closing a broken bag must not hide the real error
            pass


def bag_topics(path: Path | str) -> dict[str, TopicInfo]:
    """Topics of a bag with their message types and counts (from the bag's metadata)."""
    with open_bag(path) as reader:
        return _topics(reader)


def _topics(reader: AnyReader) -> dict[str, TopicInfo]:
    topics: dict[str, TopicInfo] = {}
    for conn in reader.connections:
        prev = topics.get(conn.topic)
        count = conn.msgcount + (prev.count if prev else 0)
        topics[conn.topic] = TopicInfo(conn.topic, conn.msgtype, count)
    return topics


def _describe(topics: dict[str, TopicInfo]) -> str:
    return ", ".join(f"{t.name} ({t.msgtype}, {t.count} msgs)" for t in topics.values()) or "none"


def _require_topic(path: Path, topics: dict[str, TopicInfo], topic: str, msgtype: str) -> None:
    if topic not in topics:
        raise BagError(f"{path}: no topic {topic!r}; topics in this bag: {_describe(topics)}")
    if topics[topic].msgtype != msgtype:
        raise BagError(
            f"{path}: topic {topic!r} carries {topics[topic].msgtype}, expected {msgtype}"
        )
    if topics[topic].count == 0:
        raise BagError(f"{path}: topic {topic!r} has no messages")


def _header_ns(msg: Any, fallback: int) -> int:
    stamp = getattr(getattr(msg, "header", None), "stamp", None)
    if stamp is None:
        return fallback
    ns = int(stamp.sec) * 10**9 + int(stamp.nanosec)
    return ns if ns > 0 else fallback


def default_image_topics(topics: dict[str, TopicInfo]) -> list[str]:
    """The primary camera and any extra views this stack records, in view order."""
    found = []
    view = 0
    while image_topic(view) in topics:
        found.append(image_topic(view))
        view += 1
    return found


def read_episode(
    path: Path | str,
    image_topics: str | Sequence[str] | None = None,
    joint_topic: str | None = JOINT_TOPIC,
    joint_names: Sequence[str] | None = None,
) -> Episode:
    """Load a rosbag2 bag into an :class:`Episode`.

    Args:
        path: the bag directory (``metadata.yaml`` plus ``.mcap`` or ``.db3``).
        image_topics: the image topic(s) to read, one view each. By default the
            views this stack records (``/camera/image_raw``, ``/camera_1/...``).
            Other views are aligned to the first by nearest timestamp.
        joint_topic: the JointState topic; ``None`` reads frames only.
        joint_names: the joints to keep, in this order (matched by name); by
            default those of the first JointState message.

    Joint states are interpolated linearly to the frames' header timestamps.

    Raises:
        BagError: naming the file, for a missing, corrupt, truncated or empty
            bag, a missing topic (listing those present) or an unsupported encoding.
    """
    path = Path(path)
    with open_bag(path) as reader:
        topics = _topics(reader)
        if not topics or all(t.count == 0 for t in topics.values()):
            raise BagError(f"{path}: the bag is empty (no messages)")
        if image_topics is None:
            image_topics = default_image_topics(topics)
            if not image_topics:
                images = [t.name for t in topics.values() if t.msgtype == IMAGE]
                raise BagError(
                    f"{path}: no topic {image_topic(0)!r}; image topics in this bag: "
                    f"{', '.join(images) or 'none'} (choose one with --image-topic); "
                    f"all topics: {_describe(topics)}"
                )
        elif isinstance(image_topics, str):
            image_topics = [image_topics]
        image_topics = list(image_topics)
        for topic in image_topics:
            _require_topic(path, topics, topic, IMAGE)
        if joint_topic is not None:
            _require_topic(path, topics, joint_topic, JOINT_STATE)

        infos = {
            t: info_topic_of(t)
            for t in image_topics
            if info_topic_of(t) in topics and topics[info_topic_of(t)].msgtype == CAMERA_INFO
        }
        wanted = set(image_topics) | set(infos.values()) | {joint_topic, EPISODE_INFO_TOPIC}
        connections = [c for c in reader.connections if c.topic in wanted]
        frames: dict[str, list[tuple[int, np.ndarray]]] = {t: [] for t in image_topics}
        joints: list[tuple[int, list[str], Any, Any, Any]] = []
        info: dict[str, Any] = {}
        intrinsics: dict[str, dict[str, Any]] = {}
        for conn, ns, raw in reader.messages(connections=connections):
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.msgtype == CAMERA_INFO:
                if conn.topic not in intrinsics:
                    intrinsics[conn.topic] = {
                        "width": int(msg.width),
                        "height": int(msg.height),
                        "k": [float(v) for v in msg.k],
                    }
            elif conn.topic in frames:
                try:
                    rgb = image_to_rgb(msg)
                except ImageFormatError as exc:
                    raise BagError(f"{path}: topic {conn.topic!r}: {exc}") from exc
                frames[conn.topic].append((_header_ns(msg, ns), rgb))
            elif conn.topic == joint_topic:
                joints.append(
                    (_header_ns(msg, ns), list(msg.name), msg.position, msg.velocity, msg.effort)
                )
            elif conn.topic == EPISODE_INFO_TOPIC and not info:
                info = json.loads(msg.data)

    for topic, items in frames.items():
        items.sort(key=lambda item: item[0])
        shapes = {item[1].shape for item in items}
        if len(shapes) != 1:
            raise BagError(f"{path}: topic {topic!r} changes image size: {sorted(shapes)}")
    primary = frames[image_topics[0]]
    stamps = np.array([ns for ns, _ in primary], dtype=np.int64)
    views = [np.stack([img for _, img in primary])]
    for topic in image_topics[1:]:
        other = np.array([ns for ns, _ in frames[topic]], dtype=np.int64)
        nearest = _nearest(other, stamps)
        views.append(np.stack([frames[topic][i][1] for i in nearest]))

    names, positions, velocities, efforts = _align_joints(path, joints, stamps, joint_names)
    cameras = _cameras_from_info(info, image_topics)
    info["camera_info"] = [intrinsics.get(infos.get(t, "")) for t in image_topics]
    info["path"] = str(path)
    return Episode(
        frames=views,
        joint_positions=positions,
        joint_velocities=velocities,
        timestamps=(stamps - stamps[0]) / 1e9,
        cameras=cameras,
        joint_names=names,
        joint_efforts=efforts,
        info=info,
        start_stamp_ns=int(stamps[0]),
    )


def frame_stamps_ns(episode: Episode) -> np.ndarray:
    """Each frame's header stamp (ns, int64) of an episode read from a bag."""
    return episode.start_stamp_ns + np.round(episode.timestamps * 1e9).astype(np.int64)


def frame_period_ns(stamps_ns: np.ndarray) -> float:
    """The median period between frame stamps (ns; 0 for a single frame)."""
    return float(np.median(np.diff(stamps_ns))) if len(stamps_ns) > 1 else 0.0


def frame_at_stamp(
    stamps_ns: np.ndarray, stamp_ns: int, tolerance: float = 0.25, period: float | None = None
) -> int | None:
    """The index of the frame whose stamp is ``stamp_ns``: the nearest of ``stamps_ns``
    (sorted), if within ``tolerance`` of the frame period (``period``, default
    :func:`frame_period_ns`), else None (a stamp that belongs to no frame of this bag, e.g. a
    live camera's)."""
    stamps_ns = np.asarray(stamps_ns, dtype=np.int64)
    i = int(_nearest(stamps_ns, np.array([stamp_ns], dtype=np.int64))[0])
    period = frame_period_ns(stamps_ns) if period is None else period
    return i if abs(int(stamps_ns[i]) - stamp_ns) <= tolerance * period else None


def _nearest(source: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Index into sorted ``source`` of the element nearest to each of ``query``."""
    right = (
        np.clip(np.searchsorted(source, query), 1, len(source) - 1)
        if len(source) > 1
        else (np.zeros(len(query), dtype=np.int64))
    )
    if len(source) == 1:
        return right
    left = right - 1
    return np.where(np.abs(source[left] - query) <= np.abs(source[right] - query), left, right)


def _align_joints(
    path: Path,
    joints: list[tuple[int, list[str], Any, Any, Any]],
    stamps: np.ndarray,
    joint_names: Sequence[str] | None,
) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray | None]:
    n = len(stamps)
    if not joints:
        return [], np.zeros((n, 0)), np.zeros((n, 0)), None
    joints.sort(key=lambda item: item[0])
    names = list(joint_names) if joint_names is not None else joints[0][1]
    rows_q, rows_qd, rows_tau, times = [], [], [], []
    have_effort = True
    for ns, msg_names, q, qd, tau in joints:
        lookup = {name: i for i, name in enumerate(msg_names)}
        if any(name not in lookup for name in names):
            continue  # e.g. a gripper's own JointState on the same topic
        idx = [lookup[name] for name in names]
        q = np.asarray(q, dtype=np.float64)
        qd = np.asarray(qd, dtype=np.float64)
        tau = np.asarray(tau, dtype=np.float64)
        rows_q.append(q[idx])
        rows_qd.append(qd[idx] if len(qd) == len(msg_names) else np.full(len(idx), np.nan))
        have_effort &= len(tau) == len(msg_names)
        rows_tau.append(tau[idx] if len(tau) == len(msg_names) else np.zeros(len(idx)))
        times.append(ns)
    if not rows_q:
        seen = sorted({name for _, msg_names, *_ in joints for name in msg_names})
        raise BagError(
            f"{path}: no JointState message has all of joints {names}; joints seen: {seen}"
        )
    t = np.array(times, dtype=np.float64)

    def interp(rows: list[np.ndarray]) -> np.ndarray:
        values = np.array(rows)
        return np.stack(
            [np.interp(stamps.astype(np.float64), t, values[:, j]) for j in range(len(names))],
            axis=1,
        ).reshape(n, len(names))

    velocities = interp(rows_qd)
    if np.isnan(velocities).any():  # no velocities recorded: differentiate positions
        positions = interp(rows_q)
        velocities = (
            np.gradient(positions, stamps / 1e9, axis=0) if n > 1 else np.zeros_like(positions)
        )
    return names, interp(rows_q), velocities, interp(rows_tau) if have_effort else None


def _cameras_from_info(info: dict[str, Any], image_topics: list[str]) -> list[CameraConfig | None]:
    stored = info.get("cameras") or []
    cameras: list[CameraConfig | None] = []
    for topic in image_topics:
        camera = None
        for view, data in enumerate(stored):
            if data is not None and image_topic(view) == topic:
                camera = CameraConfig.from_dict(data)
        cameras.append(camera)
    return cameras
