"""Record a dataset of demonstrations: one bag per episode, in parallel, resumable.

Episode ``i`` is seeded from ``(seed, i)`` alone (and, for the reach task, its
target, which :func:`reach_targets` fixes from ``i`` and the split), so the dataset is
identical whatever the number of workers and however often recording was interrupted
and resumed. Bags are renamed into place when complete and the index is
rewritten after each one, so an interruption loses at most the episodes in
flight and never leaves a broken one in the index.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from kuka_sim import CameraConfig, DemoConfig, SimConfig, episode_seed, record_demonstration
from kuka_sim.demo import ReachTask
from tcn.bags import write_episode
from tcn.dataset import DatasetIndex, load_index, write_index
from tcn.errors import DatasetError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordConfig:
    """What a recording shows and how (a ``record`` preset is one of these).

    The built-in defaults are the ``default`` preset (``config/presets/record_default.yaml``;
    a test keeps them equal): the scene the headline imitation was recorded in, the whole
    arm and a tool twice the default size in view (docs/sim.md). The ``paper`` preset is the
    first recordings' scene (128 px, the default tool, camera 1.5 m away at pitch -20).
    """

    views: int = 1
    """Cameras per episode, spread around the robot (kuka_sim.ViewLayout)."""
    image_size: int = 96
    """Square frame side, pixels."""
    frames: int = 100
    """Frames per episode."""
    control_rate: float = 20.0
    """Frames (control periods) per second."""
    tool_scale: float = 2.0
    """Size of the flange tool (1: its default size; 2 shows A7 turn in 4x the pixels)."""
    camera_distance: float = 1.9
    """Orbit distance of the cameras, m."""
    camera_pitch: float = -30.0
    """Camera pitch, degrees."""
    joint_timing: str = "synchronous"
    """``synchronous``: all joints move together, the paper's straight line in joint space;
    ``staggered``: each in its own random window."""

    def __post_init__(self) -> None:
        for name in ("views", "image_size", "frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.tool_scale <= 0 or self.camera_distance <= 0 or self.control_rate <= 0:
            raise ValueError(
                "tool_scale, camera_distance and control_rate must be > 0, got "
                f"{self.tool_scale}, {self.camera_distance}, {self.control_rate}"
            )

    def cameras(self) -> list[CameraConfig]:
        """The views' cameras (:class:`kuka_sim.ViewLayout` around this orbit)."""
        from dataclasses import replace

        from kuka_sim import ViewLayout

        base = replace(CameraConfig(), distance=self.camera_distance, pitch=self.camera_pitch)
        return ViewLayout(base=base).cameras(self.views, self.image_size)

    def sim(self) -> SimConfig:
        """The simulator settings of this scene (its control rate and tool)."""
        return SimConfig(control_rate=self.control_rate, tool_scale=self.tool_scale)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RecordConfig:
        from imitation_agent.env import dataclass_from_dict

        return dataclass_from_dict(cls, data, "record settings")


@dataclass(frozen=True)
class RecordJob:
    out: Path
    seed: int
    index: int
    cameras: list[CameraConfig]
    sim: SimConfig
    demo: DemoConfig
    storage: str = "mcap"
    task: ReachTask | None = None
    target: int | None = None

    @property
    def name(self) -> str:
        return episode_name(self.index)


def episode_name(index: int) -> str:
    return f"episode_{index:04d}"


def record_one(job: RecordJob) -> str:
    """Record and write one episode (runs in a worker process)."""
    episode = record_demonstration(
        episode_seed(job.seed, job.index),
        job.cameras,
        job.sim,
        job.demo,
        task=job.task,
        target=job.target,
    )
    episode.info.update({"seed": job.seed, "episode_index": job.index})
    write_episode(job.out / job.name, episode, storage=job.storage)
    return job.name


def default_val_episodes(episodes: int) -> int:
    """5% for validation (the paper's 190/10 of 200), at least one when there are two."""
    return 0 if episodes < 2 else max(1, round(episodes * 0.05))


def reach_targets(episodes: int, val_episodes: int, n_targets: int) -> list[int]:
    """The target of each episode of a reach dataset: a balanced cycle ``0, 1, ..., n - 1,
    0, ...`` through the training episodes and another through the validation ones (the
    last ``val_episodes``), so every target occurs in both splits once each holds at least
    ``n_targets`` episodes."""
    train = episodes - val_episodes
    return [i % n_targets if i < train else (i - train) % n_targets for i in range(episodes)]


def record_dataset(
    out: Path,
    episodes: int,
    cameras: list[CameraConfig],
    *,
    seed: int = 0,
    sim: SimConfig | None = None,
    demo: DemoConfig | None = None,
    val_episodes: int | None = None,
    workers: int = 1,
    storage: str = "mcap",
    task: ReachTask | None = None,
    on_episode: Callable[[str], None] | None = None,
) -> DatasetIndex:
    """Record ``episodes`` demonstrations into ``out`` (resuming a partial run).

    The last ``val_episodes`` episodes form the validation split. With ``task``, every
    episode reaches one of the task's targets from its home (:func:`reach_targets` picks
    which); the index keeps the task in its settings and each episode's target.
    ``on_episode`` is called with each finished episode's name (progress).
    """
    if episodes < 1:
        raise ValueError(f"episodes must be at least 1, got {episodes}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    sim = sim or SimConfig()
    demo = demo or DemoConfig()
    val = default_val_episodes(episodes) if val_episodes is None else val_episodes
    if not 0 <= val < episodes:
        raise ValueError(f"val_episodes must be in [0, {episodes - 1}], got {val}")
    targets: list[int | None] = [None] * episodes
    if task is not None:
        if demo.motion != "demonstration":
            raise ValueError(
                f"the reach task records demonstrations (home to target), not motion "
                f"{demo.motion!r}: leave --motion at its default with --task reach"
            )
        targets = [*reach_targets(episodes, val, task.n_targets)]
        if min(episodes - val, val) < task.n_targets:
            log.warning(
                "%d training and %d validation episodes: not all %d reach targets occur in "
                "both splits (record at least %d of each)",
                episodes - val,
                val,
                task.n_targets,
                task.n_targets,
            )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "episodes": episodes,
        "val_episodes": val,
        "storage": storage,
        "sim": sim.to_dict(),
        "demo": demo.to_dict(),
    }
    if task is not None:  # absent for the random demonstrations, whose settings predate it
        settings["task"] = {"name": "reach", **task.to_dict()}
    index = load_index(out)
    if index is None:
        if any(p.name.startswith("episode_") for p in out.iterdir()):
            raise DatasetError(f"{out} holds episodes but no index; record into a new directory")
        index = DatasetIndex(seed=seed, settings=settings, cameras=list(cameras))
    elif (index.seed, index.settings, index.cameras) != (seed, settings, list(cameras)):
        raise DatasetError(
            f"{out} already holds a dataset recorded with other settings (seed {index.seed}, "
            f"{index.settings['episodes']} episodes); choose another --out or delete it"
        )
    for stale in out.glob(".episode_*.partial"):
        shutil.rmtree(stale)  # bags an interrupted run left unfinished
    for name in index.names():
        if not (out / name / "metadata.yaml").is_file():
            raise DatasetError(f"{out}: index lists {name} but its bag is missing")
    write_index(out, index)

    jobs = [
        RecordJob(out, seed, i, list(cameras), sim, demo, storage, task, targets[i])
        for i in range(episodes)
        if episode_name(i) not in index.episodes
    ]
    if len(jobs) < episodes:
        log.info(
            "resuming %s: %d of %d episodes already recorded", out, episodes - len(jobs), episodes
        )

    def finished(name: str) -> None:
        i = int(name.rsplit("_", 1)[1])
        index.episodes[name] = "val" if i >= episodes - val else "train"
        if targets[i] is not None:
            index.targets[name] = targets[i]
        write_index(out, index)
        if on_episode is not None:
            on_episode(name)

    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            finished(record_one(job))
        return index
    # spawn, not fork: callers may hold torch or DDS threads, which fork does not copy safely.
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        pending = {pool.submit(record_one, job) for job in jobs}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    finished(future.result())
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return index
