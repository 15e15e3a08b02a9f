"""Demonstrations as in the paper: random start pose to random goal pose, smooth motion.

A demonstration samples a collision-free start and goal configuration, plans a
minimum-jerk joint trajectory between them (Flash & Hogan 1985:
``s(tau) = 10 tau^3 - 15 tau^4 + 6 tau^5``) over the first ``motion_fraction``
of the episode, holds the goal for the rest, and has the simulated arm track it
in position mode, so every recorded state is physically reachable by an agent.
The same seed gives identical frames and joints.

Joint timing is ``synchronous`` (every joint follows the same ``s(tau)``, the
paper's straight line in joint space) or ``staggered`` (each joint moves in its
own random window of the motion span). Synchronous motion has one degree of
freedom per episode: the time index is a function of any one moving joint, so a
time-contrastive embedding can tell time from the big links alone and never
needs the wrist. Staggered windows make every joint carry time somewhere in the
episode (docs/sim.md; measured in docs/embedding.md).

Motion ``babble`` records no demonstration: every frame shows a new, independent
random configuration (the same sampler as starts and goals). It is the robot's
self-observation for self-regression (``tcn train-embedding --pose-data``), where the
frames of a few hundred straight-line demonstrations cover joint space too thinly for
the pose head to generalise (docs/embedding.md). Its frames are not a
motion in time, so no time-contrastive loss should train on them.

Motion ``pairs`` is babble in pairs: frame ``2i`` a new random configuration, frame
``2i + 1`` the same moved by ``N(0, pair_sigma)`` rad per joint (within the joint limits,
clear of the floor). A pair shows how the frame changes with a small, known move, what a
closed loop compares (its own frame against the demonstration's); self-regression on it
can fit the reading's change as well as the reading (``tcn train-embedding
--objectives.pair-weight``).

A :class:`ReachTask` replaces the random start and goal of a demonstration with a repeated
structure (``tcn record --task reach``): every episode goes from one home pose to one of
four fixed target poses, each perturbed uniformly by up to 0.2 rad per joint, with the same
minimum-jerk motion. Random start-to-goal motions share nothing across episodes but the
pose; the reach task's episodes share where they go, which the classification error of
ARCHITECTURE.md labels (``target``, ``phase``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from kuka_sim.camera import CameraConfig
from kuka_sim.episode import Episode
from kuka_sim.sim import ControlMode, KukaSim, SimConfig


@dataclass(frozen=True)
class DemoConfig:
    """How demonstrations are generated.

    Attributes:
        frames: frames per episode (one per control period).
        joint_range_fraction: start and goal are drawn uniformly from this
            central fraction of each joint's range.
        min_joint_distance: minimum L2 distance (rad) between start and goal,
            so every demonstration visibly moves.
        motion_fraction: fraction of the episode spent moving; the arm holds
            the goal for the rest.
        min_link_height: every link origin stays this high above the floor (m).
        max_tries: rejection-sampling budget for a valid configuration.
        joint_timing: ``synchronous`` or ``staggered`` (see the module docstring).
            Recordings made before it existed have no key and load with the default,
            synchronous, which is how they were made.
        min_joint_duration: with staggered timing, each joint's window lasts at
            least this fraction of the motion span (drawn uniformly up to all of it).
        motion: ``demonstration`` (start to goal) or ``babble`` (an independent random
            configuration every frame; see the module docstring). Recordings made
            before it existed are demonstrations; ``pairs`` (babble in pairs, frame
            ``2i + 1`` a small move of frame ``2i``).
        pair_sigma: with motion ``pairs``, the standard deviation (rad per joint) of each
            pair's move.
    """

    frames: int = 100
    joint_range_fraction: float = 0.6
    min_joint_distance: float = 1.0
    motion_fraction: float = 0.8
    min_link_height: float = 0.1
    max_tries: int = 1000
    joint_timing: str = "synchronous"
    min_joint_duration: float = 0.3
    motion: str = "demonstration"
    pair_sigma: float = 0.1

    def __post_init__(self) -> None:
        if self.frames < 2:
            raise ValueError(f"frames must be at least 2, got {self.frames}")
        if not 0.0 < self.joint_range_fraction <= 1.0:
            raise ValueError(
                f"joint_range_fraction must be in (0, 1], got {self.joint_range_fraction}"
            )
        if not 0.0 < self.motion_fraction <= 1.0:
            raise ValueError(f"motion_fraction must be in (0, 1], got {self.motion_fraction}")
        if self.joint_timing not in JOINT_TIMINGS:
            raise ValueError(
                f"joint_timing must be one of {JOINT_TIMINGS}, got {self.joint_timing!r}"
            )
        if self.motion not in MOTIONS:
            raise ValueError(f"motion must be one of {MOTIONS}, got {self.motion!r}")
        if self.motion == "pairs" and self.frames % 2:
            raise ValueError(f"motion 'pairs' needs an even number of frames, got {self.frames}")
        if not (math.isfinite(self.pair_sigma) and self.pair_sigma > 0):
            raise ValueError(f"pair_sigma must be > 0, got {self.pair_sigma!r}")
        if not 0.0 < self.min_joint_duration <= 1.0:
            raise ValueError(
                f"min_joint_duration must be in (0, 1], got {self.min_joint_duration}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown demo config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


JOINT_TIMINGS = ("synchronous", "staggered")
MOTIONS = ("demonstration", "babble", "pairs")

REACH_HOME = (0.0, 0.6, 0.0, -1.0, 0.0, 1.0, 0.0)
"""The reach task's home pose (rad, A1..A7): the arm bent forward over the floor."""
REACH_TARGETS = (
    (1.2, 0.2, 0.0, -1.8, 0.0, 0.3, 0.0),
    (-1.2, 0.2, 0.0, -1.8, 0.0, 0.3, 0.0),
    (0.8, -0.4, 0.6, -1.6, 0.6, -0.4, 1.2),
    (-0.8, -0.4, -0.6, -1.6, -0.6, -0.4, -1.2),
)
"""The reach task's four target poses (rad, A1..A7): folded low to either side (0, 1) and
raised with the wrist turned to either side (2, 3). They lie 1.8 to 3.4 rad apart in joint
space (1.65 and 2.5 from home), against at most 0.4 rad per joint between two perturbations
of one pose; with every perturbation of 0.2 rad per joint they stay clear of the floor and
of self-collision, and the arm and tool stay inside the frames of the default cameras
(``tcn record``'s 1 to 4 views, measured on 300 draws each, docs/data.md)."""


@dataclass(frozen=True)
class ReachTask:
    """The reach task: from a perturbed home pose to one of fixed, perturbed target poses.

    Attributes:
        home: the home configuration (rad), one value per joint.
        targets: the target configurations (rad), one per class; a demonstration of the
            task reaches the one it is given (:func:`record_demonstration`'s ``target``).
        perturbation: home and target are each moved by ``U(-perturbation, perturbation)``
            rad per joint, drawn anew every episode (redrawn until clear of the floor and of
            self-collision, within the joint limits).
    """

    home: tuple[float, ...] = REACH_HOME
    targets: tuple[tuple[float, ...], ...] = REACH_TARGETS
    perturbation: float = 0.2

    def __post_init__(self) -> None:
        object.__setattr__(self, "home", tuple(float(v) for v in self.home))
        object.__setattr__(
            self, "targets", tuple(tuple(float(v) for v in t) for t in self.targets)
        )
        if not self.targets:
            raise ValueError("a reach task needs at least one target pose, got none")
        widths = {len(t) for t in self.targets}
        if widths != {len(self.home)}:
            raise ValueError(
                f"home has {len(self.home)} joints but the targets have {sorted(widths)}"
            )
        if not (math.isfinite(self.perturbation) and self.perturbation >= 0):
            raise ValueError(f"perturbation must be >= 0 rad, got {self.perturbation!r}")

    @property
    def n_targets(self) -> int:
        return len(self.targets)

    def to_dict(self) -> dict[str, Any]:
        return {
            "home": list(self.home),
            "targets": [list(t) for t in self.targets],
            "perturbation": self.perturbation,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReachTask:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown reach task keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**data)


def minimum_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk progress ``s(tau)`` for ``tau`` in [0, 1] (clipped)."""
    tau = np.clip(tau, 0.0, 1.0)
    return 10 * tau**3 - 15 * tau**4 + 6 * tau**5


# Peak speed of a minimum-jerk move of size D over time T is 1.875 D / T.
MINIMUM_JERK_PEAK = 1.875


def joint_windows(
    n_joints: int,
    config: DemoConfig,
    rng: np.random.Generator | None = None,
    min_frames: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-joint motion windows ``(onset, duration)`` in frames.

    Synchronous: every joint moves over the whole motion span. Staggered: each
    joint's duration is drawn uniformly in ``[min_joint_duration, 1]`` of the span,
    raised to ``min_frames`` (e.g. what the joint's speed limit needs), and its
    onset uniformly where the window still fits (needs ``rng``).
    """
    moving = max(1, round(config.motion_fraction * (config.frames - 1)))
    if config.joint_timing == "synchronous":
        return np.zeros(n_joints), np.full(n_joints, float(moving))
    if rng is None:
        raise ValueError("staggered joint timing needs a random generator")
    duration = rng.uniform(config.min_joint_duration, 1.0, n_joints) * moving
    if min_frames is not None:
        duration = np.minimum(np.maximum(duration, min_frames), moving)
    onset = rng.uniform(0.0, 1.0, n_joints) * (moving - duration)
    return onset, duration


def plan_trajectory(
    start: np.ndarray,
    goal: np.ndarray,
    config: DemoConfig,
    rng: np.random.Generator | None = None,
    max_velocities: np.ndarray | None = None,
    control_rate: float = 20.0,
) -> np.ndarray:
    """Joint targets ``(frames, 7)``: minimum jerk from start to goal per joint window, then hold.

    With ``max_velocities`` (rad/s), staggered windows are long enough that no
    joint's planned peak speed exceeds its limit (where the motion span allows).
    """
    min_frames = None
    if max_velocities is not None:
        min_frames = MINIMUM_JERK_PEAK * np.abs(goal - start) / max_velocities * control_rate
    onset, duration = joint_windows(len(start), config, rng, min_frames)
    tau = (np.arange(config.frames)[:, None] - onset) / duration
    return start + (goal - start) * minimum_jerk(tau)


def sample_configuration(sim: KukaSim, rng: np.random.Generator, config: DemoConfig) -> np.ndarray:
    """A random joint configuration clear of the floor and of self-collision."""
    centre = (sim.lower_limits + sim.upper_limits) / 2
    half = (sim.upper_limits - sim.lower_limits) / 2 * config.joint_range_fraction
    for _ in range(config.max_tries):
        q = rng.uniform(centre - half, centre + half)
        sim.reset(q)
        if sim.link_heights()[1:].min() >= config.min_link_height and not sim.in_collision():
            return q
    raise RuntimeError(
        f"no valid configuration in {config.max_tries} tries; "
        f"lower min_link_height ({config.min_link_height}) or joint_range_fraction"
    )


def sample_move(
    sim: KukaSim, q: np.ndarray, rng: np.random.Generator, config: DemoConfig
) -> np.ndarray:
    """``q`` moved by ``N(0, config.pair_sigma)`` rad per joint, kept within the joint limits,
    clear of the floor and of self-collision (redrawn until it is)."""
    for _ in range(config.max_tries):
        moved = np.clip(
            q + rng.normal(0.0, config.pair_sigma, q.shape), sim.lower_limits, sim.upper_limits
        )
        sim.reset(moved)
        if sim.link_heights()[1:].min() >= config.min_link_height and not sim.in_collision():
            return moved
    raise RuntimeError(f"no valid move of {np.round(q, 3).tolist()} in {config.max_tries} tries")


def sample_start_goal(
    sim: KukaSim, rng: np.random.Generator, config: DemoConfig
) -> tuple[np.ndarray, np.ndarray]:
    start = sample_configuration(sim, rng, config)
    for _ in range(config.max_tries):
        goal = sample_configuration(sim, rng, config)
        if np.linalg.norm(goal - start) >= config.min_joint_distance:
            return start, goal
    raise RuntimeError(
        f"no goal at least {config.min_joint_distance} rad from the start in "
        f"{config.max_tries} tries; lower min_joint_distance"
    )


def sample_near(
    sim: KukaSim, pose: np.ndarray, spread: float, rng: np.random.Generator, config: DemoConfig
) -> np.ndarray:
    """``pose`` moved by ``U(-spread, spread)`` rad per joint, within the joint limits, clear
    of the floor and of self-collision (redrawn until it is)."""
    for _ in range(config.max_tries):
        q = np.clip(
            pose + rng.uniform(-spread, spread, pose.shape), sim.lower_limits, sim.upper_limits
        )
        sim.reset(q)
        if sim.link_heights()[1:].min() >= config.min_link_height and not sim.in_collision():
            return q
    raise RuntimeError(
        f"no valid configuration within {spread} rad of {np.round(pose, 3).tolist()} in "
        f"{config.max_tries} tries; lower min_link_height ({config.min_link_height})"
    )


def sample_reach(
    sim: KukaSim, rng: np.random.Generator, task: ReachTask, target: int, config: DemoConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Start and goal of a reach to ``task.targets[target]``: the home pose and the target
    pose, each perturbed (:func:`sample_near`)."""
    if not 0 <= target < task.n_targets:
        raise ValueError(f"target must be in [0, {task.n_targets - 1}], got {target!r}")
    if len(task.home) != len(sim.lower_limits):
        raise ValueError(
            f"the reach task's poses have {len(task.home)} joints, the robot "
            f"{len(sim.lower_limits)}"
        )
    start = sample_near(sim, np.asarray(task.home), task.perturbation, rng, config)
    goal = sample_near(sim, np.asarray(task.targets[target]), task.perturbation, rng, config)
    return start, goal


def episode_seed(seed: int, index: int) -> np.random.SeedSequence:
    """The seed of episode ``index`` of a dataset seeded ``seed`` (independent of workers)."""
    return np.random.SeedSequence([seed, index])


def record_demonstration(
    seed: np.random.SeedSequence | int,
    cameras: list[CameraConfig],
    sim_config: SimConfig | None = None,
    demo_config: DemoConfig | None = None,
    *,
    task: ReachTask | None = None,
    target: int | None = None,
) -> Episode:
    """Generate one demonstration episode; deterministic in ``seed`` (and ``target``).

    With ``task``, the demonstration reaches ``task.targets[target]`` from the task's home
    (:func:`sample_reach`) instead of going from a random start to a random goal; the
    episode's ``info["task"]`` records ``{"name": "reach", "target": target}``.
    """
    demo_config = demo_config or DemoConfig()
    sim_config = sim_config or SimConfig()
    if task is not None:
        if demo_config.motion != "demonstration":
            raise ValueError(
                f"the reach task is a demonstration (home to target); motion "
                f"{demo_config.motion!r} records none"
            )
        if target is None:
            raise ValueError("a reach task's demonstration needs the target to reach, got None")
    elif target is not None:
        raise ValueError(f"target {target} given without a task")
    rng = np.random.default_rng(seed)
    babble = demo_config.motion in ("babble", "pairs")
    with KukaSim(sim_config, cameras) as sim:
        if demo_config.motion == "pairs":  # a configuration, then a small move of it
            pairs = []
            for _ in range(demo_config.frames // 2):
                base = sample_configuration(sim, rng, demo_config)
                pairs += [base, sample_move(sim, base, rng, demo_config)]
            targets = np.stack(pairs)
            start, goal = targets[0], targets[-1]
        elif babble:  # a new configuration every frame, the arm put there at rest
            targets = np.stack(
                [sample_configuration(sim, rng, demo_config) for _ in range(demo_config.frames)]
            )
            start, goal = targets[0], targets[-1]
        else:
            if task is None:
                start, goal = sample_start_goal(sim, rng, demo_config)
            else:
                start, goal = sample_reach(sim, rng, task, target, demo_config)
            targets = plan_trajectory(
                start,
                goal,
                demo_config,
                rng,
                np.asarray(sim_config.max_velocities),
                sim_config.control_rate,
            )
        sim.reset(start)
        sim.set_control_mode(ControlMode.POSITION)
        frames: list[list[np.ndarray]] = [[] for _ in cameras]
        positions, velocities, efforts = [], [], []
        for k in range(demo_config.frames):
            if k > 0:
                (sim.reset if babble else sim.step)(targets[k])
            q, qd = sim.joint_state()
            positions.append(q)
            velocities.append(qd)
            efforts.append(sim.gravity_torques(q))
            for view, image in zip(frames, sim.render_all(), strict=True):
                view.append(image)
        joint_names = sim.joint_names
    info: dict[str, Any] = {
        "start": start.tolist(),
        "goal": goal.tolist(),
        "targets": targets.tolist(),
        "sim": sim_config.to_dict(),
        "demo": demo_config.to_dict(),
    }
    if task is not None:
        info["task"] = {"name": "reach", "target": int(target)}
    return Episode(
        frames=[np.stack(view) for view in frames],
        joint_positions=np.array(positions),
        joint_velocities=np.array(velocities),
        timestamps=np.arange(demo_config.frames) / sim_config.control_rate,
        cameras=list(cameras),
        joint_names=joint_names,
        joint_efforts=np.array(efforts),
        info=info,
    )
