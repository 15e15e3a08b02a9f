"""Reading a demonstration by imagining oneself: which own pose matches each of its frames?

The agent starts an episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's stored camera (the simulator as the robot's model
of its own appearance; on a real iiwa a rendered twin with the calibrated camera). So it can
read where a demonstration goes without a pose reader and without labels: from the known
start, at every ``every``-th frame (and the last), a sampling search
(:func:`cross_entropy_search`, from the last estimate moved on by ``momentum`` times its last
step) finds the pose whose rendered frame is closest to the demonstration's frame in the
embedding, the distance ``d`` of the TCN reward. The last frame gets a second, longer and
narrower search. Between searched frames the trajectory is interpolated linearly in joint
space. ``pose_source="imagined"`` (:class:`imitation_agent.env.EnvConfig`) observes this
trajectory as the demonstration's target; docs/agent.md measures it against the recorded
joints.

It costs ``population`` rendered and embedded frames per search round, some 1-2 minutes of a
core per demonstration with the defaults; :func:`tcn.agent_run.imagine_demonstrations` caches
each result on disk, keyed by the embedding, the demonstration and the settings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from imitation_agent.env import dataclass_from_dict
from kuka_sim import CameraConfig, KukaSim

PoseEmbedder = Callable[[np.ndarray], np.ndarray]
"""Poses ``(N, 7)`` rad -> embeddings ``(N, D)`` of the frames rendered there."""


@dataclass(frozen=True)
class ImagineConfig:
    """Settings of :func:`imagine_trajectory`.

    Attributes:
        every: frames between searches (the last frame is always searched).
        sigma: rad per joint, the initial spread of a search.
        iterations: search rounds at each searched frame.
        final_iterations: further rounds at the last frame, at ``sigma / 1.5``.
        population: frames rendered per round.
        elites: best frames a round refits the search's mean and spread to.
        smoothing: fraction of the previous mean and spread kept at each refit.
        momentum: a search starts at the last estimate plus this times its last step.
        seed: the searches' random generator.
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

    def __post_init__(self) -> None:
        for name in ("every", "iterations", "population", "elites"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.final_iterations < 0:
            raise ValueError(f"final_iterations must be >= 0, got {self.final_iterations}")
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


def searched_frames(length: int, every: int) -> list[int]:
    """The frames :func:`imagine_trajectory` searches in a demonstration of ``length``."""
    return [*range(every, length - 1, every), length - 1]


def imagine_trajectory(
    goals: np.ndarray,
    start: np.ndarray,
    embed_poses: PoseEmbedder,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig | None = None,
) -> np.ndarray:
    """The joint trajectory ``(T, 7)`` whose imagined frames match ``goals``.

    Args:
        goals: ``(T, D)`` embeddings of the demonstration's frames.
        start: ``(7,)`` the demonstration's first pose (where the agent starts).
        embed_poses: renders and embeds poses (:func:`pose_embedder`).
        lower, upper: joint limits the search stays within.
        config: search settings.
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
    frames = searched_frames(len(goals), config.every)
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
        previous, estimate = estimate, found
        keys.append(found)
    times = np.arange(len(goals))
    known = np.array([0, *frames])
    keys_array = np.stack(keys)
    return np.stack(
        [np.interp(times, known, keys_array[:, j]) for j in range(keys_array.shape[1])], axis=1
    )


def pose_embedder(sim: KukaSim, camera: CameraConfig, embed: Callable) -> PoseEmbedder:
    """Poses -> embeddings of the frames ``sim`` renders there through ``camera``."""

    def embed_poses(poses: np.ndarray) -> np.ndarray:
        return embed(render_poses(sim, poses, camera))

    return embed_poses
