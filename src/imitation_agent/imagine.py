"""Reading a demonstration by imagining oneself: which own pose matches each of its frames?

The agent starts an episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's stored camera (the simulator as the robot's model
of its own appearance; on a real iiwa a rendered twin with the calibrated camera). So it can
read where a demonstration goes without a pose reader and without labels: from the known
start, at every ``every``-th frame and the last (of a demonstration that ends at rest, the
first of its identical still frames), a sampling search
(:func:`cross_entropy_search`, from the last estimate moved on by ``momentum`` times its last
step) finds the pose whose rendered frame is closest to the demonstration's frame in the
embedding, the distance ``d`` of the TCN reward. The last frame gets a second, longer and
narrower search. Each searched pose is then refined in the frame itself
(``refine_iterations``, :func:`refine_pose`; the last one from several restarts,
:func:`refine_final_pose`): the embedding's search finds the basin, but it reads the wrist
coarsely, while the frame rendered at the demonstration's own pose equals the
demonstration's frame exactly. Between searched frames the trajectory is interpolated
linearly in joint space. ``pose_source="imagined"`` (:class:`imitation_agent.env.EnvConfig`)
observes this trajectory as the demonstration's target; docs/agent.md measures it against
the recorded joints.

It costs ``population`` rendered and embedded frames per search round and some 15 rendered
frames per refinement step, about 3 minutes of a core per 100-frame demonstration with the
defaults; :func:`tcn.agent_run.imagine_demonstrations` caches each result on disk, keyed by
the embedding, the demonstration and the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter

from imitation_agent.env import dataclass_from_dict
from kuka_sim import CameraConfig, KukaSim

PoseEmbedder = Callable[[np.ndarray], np.ndarray]
"""Poses ``(N, 7)`` rad -> embeddings ``(N, D)`` of the frames rendered there."""

PoseRenderer = Callable[[np.ndarray], np.ndarray]
"""Poses ``(N, 7)`` rad -> the frames ``(N, H, W, 3)`` uint8 rendered there."""

FrameRefiner = Callable[[int, np.ndarray, bool], np.ndarray]
"""(searched frame ``t``, the search's pose there, whether ``t`` is the last searched frame)
-> the pose refined."""

REFINE_STAGES: tuple[tuple[float, float], ...] = (
    (4.0, 0.1),
    (2.0, 0.05),
    (1.0, 0.02),
    (1.0, 0.01),
)
"""The stages of :func:`refine_pose`, coarse to fine: the Gaussian blur (pixels) both frames
are compared through, and the step (rad) of the finite differences that estimate the frame's
change with each joint. A wide blur and step see a pose a few tenths of a radian away; the
last stages place it to a hundredth."""

COUPLED_PAIRS: tuple[tuple[int, int], ...] = ((0, 2), (2, 4), (4, 6))
"""Joints (A1, A3), (A3, A5), (A5, A7): each pair turns about nearly one axis when the joint
between them is near 0 (docs/agent.md, "Session 6"), so moving them apart changes the frame
least, and a refinement can settle on the wrong split of their sum."""


@dataclass(frozen=True)
class ImagineConfig:
    """Settings of :func:`imagine_trajectory`.

    Attributes:
        every: frames between searches (and the last frame, or of a demonstration that
            ends at rest the first of its still frames, is searched).
        sigma: rad per joint, the initial spread of a search.
        iterations: search rounds at each searched frame.
        final_iterations: further rounds at the last frame, at ``sigma / 1.5``.
        population: frames rendered per round.
        elites: best frames a round refits the search's mean and spread to.
        smoothing: fraction of the previous mean and spread kept at each refit.
        momentum: a search starts at the last estimate plus this times its last step.
        seed: the searches' random generator.
        refine_iterations: Levenberg-Marquardt steps per stage of :data:`REFINE_STAGES`
            refining each searched pose in the frame itself (0: not refined).
        refine_turns: further refinements of the last frame's pose from the flange joint
            (A7) turned by each multiple of ``2 pi / (refine_turns + 1)``.
        refine_pairs: further refinements of the last frame's pose from each coupled pair
            of joints (:data:`COUPLED_PAIRS`) moved apart by ``k * 0.5`` rad, ``k = 1 ..
            refine_pairs``, each way. Of all the refinements, the pose whose frame differs
            least from the demonstration's is kept.
    """

    every: int = 10
    sigma: float = 0.15
    iterations: int = 20
    final_iterations: int = 40
    population: int = 24
    elites: int = 6
    smoothing: float = 0.5
    momentum: float = 0.5
    seed: int = 0
    refine_iterations: int = 15
    refine_turns: int = 3
    refine_pairs: int = 2

    def __post_init__(self) -> None:
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")
        for name in ("every", "iterations", "population", "elites"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in ("final_iterations", "refine_iterations", "refine_turns", "refine_pairs"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.elites > self.population:
            raise ValueError(
                f"elites ({self.elites}) cannot exceed the population ({self.population})"
            )
        if not (np.isfinite(self.sigma) and self.sigma > 0):
            raise ValueError(f"sigma must be > 0, got {self.sigma!r}")
        if not 0 <= self.smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {self.smoothing!r}")
        if not 0 <= self.momentum <= 1:
            raise ValueError(f"momentum must be in [0, 1], got {self.momentum!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImagineConfig:
        return dataclass_from_dict(cls, data, "imagine settings")


def cross_entropy_search(
    distance: Callable[[np.ndarray], np.ndarray],
    start: np.ndarray,
    sigma: float,
    rng: np.random.Generator,
    *,
    iterations: int,
    population: int,
    elites: int,
    lower: np.ndarray,
    upper: np.ndarray,
    smoothing: float = 0.0,
) -> tuple[np.ndarray, float, float]:
    """Minimise ``distance`` (a batch of poses ``(N, 7)`` -> ``(N,)``) from ``start``.

    The cross-entropy method: each round draws ``population`` poses around a mean (within
    ``lower``..``upper``), keeps the best ``elites`` and refits the mean and spread to them;
    ``smoothing`` keeps that fraction of the previous mean and spread, so the search narrows
    more slowly. Returns the best pose found, its distance and the start's distance. The best
    pose so far is always one of the candidates, so the result is never worse than the start.
    """
    best_d0 = float(distance(start[None])[0])
    best, best_d = start, best_d0
    mean, std = start.copy(), np.full(start.shape, sigma)
    for _ in range(iterations):
        candidates = np.clip(mean + std * rng.normal(size=(population, start.size)), lower, upper)
        candidates[0] = best
        d = distance(candidates)
        order = np.argsort(d)
        if d[order[0]] < best_d:
            best, best_d = candidates[order[0]], float(d[order[0]])
        kept = candidates[order[:elites]]
        mean = smoothing * mean + (1 - smoothing) * kept.mean(axis=0)
        std = np.maximum(smoothing * std + (1 - smoothing) * kept.std(axis=0), 1e-3)
    return best, best_d, best_d0


def search_limits(sim: KukaSim, margin: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """The joint limits a search over ``sim``'s poses stays within: ``margin`` rad inside
    the arm's own, so that a found pose is one the arm can be reset to."""
    return sim.lower_limits + margin, sim.upper_limits - margin


def render_poses(sim: KukaSim, poses: np.ndarray, camera: CameraConfig) -> np.ndarray:
    """Frames ``(N, H, W, 3)`` uint8 of the arm at each of ``poses`` through ``camera``."""
    images = []
    for q in poses:
        sim.reset(q)
        images.append(sim.render(camera))
    return np.stack(images)


def searched_frames(length: int, every: int, still: int = 1) -> list[int]:
    """The frames :func:`imagine_trajectory` searches in a demonstration of ``length`` whose
    last ``still`` frames are identical: every ``every``-th, and the first of those."""
    last = length - max(1, min(still, length - 1))
    return [*range(every, last, every), last]


def still_frames(frames: np.ndarray) -> int:
    """How many frames at the end of ``frames`` ``(T, H, W, C)`` are identical to the last
    one (the demonstration at rest at its goal), at least 1."""
    frames = np.asarray(frames)
    changed = np.flatnonzero(np.any((frames != frames[-1]).reshape(len(frames), -1), axis=1))
    return len(frames) - (int(changed[-1]) + 1 if changed.size else 0)


def _blurred(frames: np.ndarray, blur: float) -> np.ndarray:
    """``(N, H, W, C)`` frames -> ``(N, H * W * C)`` floats in [0, 1], blurred by ``blur`` px."""
    frames = np.asarray(frames, dtype=np.float64) / 255.0
    if blur > 0:
        frames = gaussian_filter(frames, sigma=(0, blur, blur, 0))
    return frames.reshape(len(frames), -1)


def refine_pose(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    stages: tuple[tuple[float, float], ...] = REFINE_STAGES,
) -> tuple[np.ndarray, float]:
    """The pose near ``pose`` whose rendered frame matches ``goal_frame`` ``(H, W, 3)``.

    Levenberg-Marquardt on the difference between the two frames, both blurred, at each of
    ``stages`` (blur, finite-difference step) in turn for up to ``iterations`` steps: the
    Jacobian of the blurred frame by the joints from central differences (14 frames), a
    damped Gauss-Newton step (at most 0.3 rad a joint), kept only when it lowers the
    difference (each stage ends no worse than it began; a coarse stage's step can still
    raise a finer stage's difference). Returns the pose and its sum of squared differences
    at the last stage (0 where the frames are equal).
    """
    pose = np.clip(np.asarray(pose, dtype=np.float64), lower, upper)
    eye = np.eye(pose.size)
    cost = np.inf
    for blur, step in stages:
        goal = _blurred(goal_frame[None], blur)[0]

        def residuals(poses: np.ndarray, goal: np.ndarray = goal, blur: float = blur):
            return _blurred(render(poses), blur) - goal

        r = residuals(pose[None])[0]
        cost, damping = float(r @ r), 1e-2
        linearised_at = None
        for _ in range(iterations):
            if linearised_at is not pose:  # a rejected round leaves the pose, and its Jacobian
                probes = residuals(
                    np.clip(np.concatenate([pose + step * eye, pose - step * eye]), lower, upper)
                )
                jacobian = ((probes[: pose.size] - probes[pose.size :]) / (2 * step)).T
                normal, gradient = jacobian.T @ jacobian, jacobian.T @ r
                linearised_at = pose
            for _ in range(4):
                move = -np.linalg.solve(
                    normal + damping * np.diag(np.diag(normal) + 1e-9), gradient
                )
                candidate = np.clip(pose + np.clip(move, -0.3, 0.3), lower, upper)
                r_new = residuals(candidate[None])[0]
                cost_new = float(r_new @ r_new)
                if cost_new < cost:
                    pose, r, cost = candidate, r_new, cost_new
                    damping = max(damping / 3, 1e-4)
                    break
                damping *= 4
            else:
                if damping > 1e3:
                    break
    return pose, cost


def restart_poses(pose: np.ndarray, config: ImagineConfig) -> list[np.ndarray]:
    """``pose`` and the restarts :func:`refine_final_pose` refines from: the flange joint
    (A7) turned (``refine_turns``, wrapped into [-pi, pi)) and each of :data:`COUPLED_PAIRS`
    moved apart (``refine_pairs``)."""
    pose = np.asarray(pose, dtype=np.float64)
    starts = [pose]
    for k in range(1, config.refine_turns + 1):
        start = pose.copy()
        start[-1] = (start[-1] + 2 * np.pi * k / (config.refine_turns + 1) + np.pi) % (
            2 * np.pi
        ) - np.pi
        starts.append(start)
    for i, j in COUPLED_PAIRS:
        for k in range(1, config.refine_pairs + 1):
            for apart in (0.5 * k, -0.5 * k):
                start = pose.copy()
                start[i] += apart
                start[j] -= apart
                starts.append(start)
    return starts


def refine_final_pose(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
) -> np.ndarray:
    """:func:`refine_pose` from ``pose`` and from each of its :func:`restart_poses`, where
    the embedding reads least well (a small tool seen from afar looks alike at several
    turns; coupled joints trade their angles); the frame that differs least from
    ``goal_frame`` wins, since at the demonstration's pose the difference is 0."""
    refined = [
        refine_pose(render, goal_frame, start, lower, upper, config.refine_iterations)
        for start in restart_poses(pose, config)
    ]
    return min(refined, key=lambda found: found[1])[0]


def imagine_trajectory(
    goals: np.ndarray,
    start: np.ndarray,
    embed_poses: PoseEmbedder,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig | None = None,
    *,
    refine: FrameRefiner | None = None,
    still: int = 1,
) -> np.ndarray:
    """The joint trajectory ``(T, 7)`` whose imagined frames match ``goals``.

    Args:
        goals: ``(T, D)`` embeddings of the demonstration's frames.
        start: ``(7,)`` the demonstration's first pose (where the agent starts).
        embed_poses: renders and embeds poses (:func:`pose_embedder`).
        lower, upper: joint limits the search stays within.
        config: search settings.
        refine: maps each searched pose to a refined one (:func:`frame_refiner`), which
            the next search starts from; None keeps the search's.
        still: the last ``still`` frames are identical (:func:`still_frames`: the
            demonstration at rest at its goal). They show one pose, so they are read once,
            at the first of them, and the trajectory holds that pose from there: the target
            is the final one from the moment the demonstration comes to rest.
    """
    config = config or ImagineConfig()
    goals = np.asarray(goals, dtype=np.float64)
    start = np.clip(np.asarray(start, dtype=np.float64), lower, upper)
    if goals.ndim != 2 or len(goals) < 2 or start.shape != (lower.size,):
        raise ValueError(
            f"need goals (T >= 2, D) and a start pose ({lower.size},); got {goals.shape} and "
            f"{start.shape}"
        )
    rng = np.random.default_rng(config.seed)
    frames = searched_frames(len(goals), config.every, still)
    search = {
        "population": config.population,
        "elites": config.elites,
        "lower": lower,
        "upper": upper,
        "smoothing": config.smoothing,
    }
    estimate, previous = start.copy(), start.copy()
    keys = [start]
    for t in frames:

        def distance(poses: np.ndarray, goal: np.ndarray = goals[t]) -> np.ndarray:
            return np.sum((np.asarray(embed_poses(poses), dtype=np.float64) - goal) ** 2, axis=1)

        guess = np.clip(estimate + config.momentum * (estimate - previous), lower, upper)
        found, _, _ = cross_entropy_search(
            distance, guess, config.sigma, rng, iterations=config.iterations, **search
        )
        if t == frames[-1] and config.final_iterations:
            found, _, _ = cross_entropy_search(
                distance,
                found,
                config.sigma / 1.5,
                rng,
                iterations=config.final_iterations,
                **search,
            )
        if refine is not None:
            found = refine(t, found, t == frames[-1])
        previous, estimate = estimate, found
        keys.append(found)
    times = np.arange(len(goals))
    known = np.array([0, *frames])
    keys_array = np.stack(keys)
    return np.stack(
        [np.interp(times, known, keys_array[:, j]) for j in range(keys_array.shape[1])], axis=1
    )


def pose_renderer(sim: KukaSim, camera: CameraConfig) -> PoseRenderer:
    """Poses -> the frames ``sim`` renders there through ``camera``."""
    return lambda poses: render_poses(sim, poses, camera)


def pose_embedder(sim: KukaSim, camera: CameraConfig, embed: Callable) -> PoseEmbedder:
    """Poses -> embeddings of the frames ``sim`` renders there through ``camera``."""
    render = pose_renderer(sim, camera)
    return lambda poses: embed(render(poses))


def frame_refiner(
    sim: KukaSim,
    camera: CameraConfig,
    frames: np.ndarray,
    config: ImagineConfig,
) -> FrameRefiner | None:
    """The ``refine`` of :func:`imagine_trajectory` for a demonstration of ``frames``
    ``(T, H, W, 3)`` rendered by ``sim`` through ``camera``: :func:`refine_pose` at each
    searched frame, :func:`refine_final_pose` at the last; None when ``config`` does not
    refine."""
    if config.refine_iterations == 0:
        return None
    render, limits = pose_renderer(sim, camera), search_limits(sim)

    def refine(t: int, pose: np.ndarray, last: bool) -> np.ndarray:
        if last:
            return refine_final_pose(render, frames[t], pose, *limits, config)
        return refine_pose(render, frames[t], pose, *limits, config.refine_iterations)[0]

    return refine


def imagine_demonstration(
    sim: KukaSim,
    camera: CameraConfig,
    frames: np.ndarray,
    start: np.ndarray,
    embed: Callable[[np.ndarray], np.ndarray],
    config: ImagineConfig | None = None,
    goals: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`imagine_trajectory` for a demonstration's ``frames`` ``(T, H, W, 3)``, seen
    through ``camera`` in ``sim``'s scene, from its first pose ``start``: searched in
    ``embed``'s space (``goals``: the frames' embeddings, when already computed), each
    searched pose refined in the frame itself, and the last held over its still frames."""
    config = config or ImagineConfig()
    return imagine_trajectory(
        embed(frames) if goals is None else goals,
        start,
        pose_embedder(sim, camera, embed),
        *search_limits(sim),
        config,
        refine=frame_refiner(sim, camera, frames, config),
        still=still_frames(frames),
    )
