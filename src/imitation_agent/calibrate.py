"""Self-calibration: the camera a demonstration was filmed with, from a frame at known joints.

A demonstration starts where the agent starts, at its first pose, so its first frame shows
the robot at known joints. The stored camera (the nominal one) is moved and turned, and
optionally its field of view changed, until the frame the simulator renders through it at
those joints matches that frame: a cross-entropy search on strongly blurred frames finds the
basin, then Levenberg-Marquardt (:func:`imitation_agent.imagine.refine_pose`) on the frames'
difference, coarse to fine, places it. By default the frames are compared as edge
magnitudes, which a change of light and sensor noise move little. Reading and rendering
then use the estimated camera.

The camera's parameters are searched in scaled units (:class:`CalibrationConfig`): an offset
of the camera's position (``position_scale`` m a unit), a rotation vector about it
(``rotation_scale`` rad a unit) and, with ``fit_fov``, a change of its vertical field of view
(``fov_scale`` degrees a unit). A camera whose frame already equals the demonstration's is
kept as it is, at the cost of one rendered frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from imitation_agent.imagine import (
    REPRESENTATIONS,
    Comparison,
    blurred_frames,
    check_comparison,
    cross_entropy_search,
    refine_pose,
)
from kuka_sim import CameraConfig, KukaSim, Lighting
from kuka_sim.camera import DEFAULT_LIGHT_DIRECTION, rotation_matrix

CALIBRATION_STAGES: tuple[tuple[float, float], ...] = ((4.0, 0.2), (2.0, 0.1), (1.0, 0.05))
"""(blur px, finite-difference step in scaled units) of each refinement stage."""


@dataclass(frozen=True)
class CalibrationConfig:
    """Settings of :func:`calibrate_camera`.

    Attributes:
        position_scale: m of camera offset per unit of the searched parameters.
        rotation_scale: rad of camera rotation per unit.
        fov_scale: degrees of field of view per unit.
        fit_fov: also estimate the field of view (where no ``camera_info`` gives it).
        bound: the search stays within this many units of the nominal camera each way.
        sigma: units, the search's initial spread.
        iterations: rounds of the cross-entropy search (0: refinement only).
        population: frames rendered per round.
        elites: best frames a round refits to.
        refine_iterations: Levenberg-Marquardt rounds per stage of
            :data:`CALIBRATION_STAGES`.
        seed: the search's random generator.
        compare: what is compared (:data:`~imitation_agent.imagine.REPRESENTATIONS`):
            ``edges`` (:func:`~imitation_agent.imagine.edge_frames`: the grey image's
            gradient magnitude, which other light and sensor noise change little),
            ``contrast`` (:func:`~imitation_agent.imagine.contrast_frames`) or ``pixels``
            (:func:`~imitation_agent.imagine.blurred_frames`).
    """

    position_scale: float = 0.05
    rotation_scale: float = 0.05
    fov_scale: float = 5.0
    fit_fov: bool = False
    bound: float = 3.0
    sigma: float = 0.7
    iterations: int = 8
    population: int = 24
    elites: int = 6
    refine_iterations: int = 15
    seed: int = 0
    compare: Comparison = "contrast"

    def __post_init__(self) -> None:
        check_comparison("compare", self.compare)
        for name in ("position_scale", "rotation_scale", "fov_scale", "bound", "sigma"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name in ("iterations", "refine_iterations", "seed"):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 1 <= self.elites <= self.population:
            raise ValueError(
                f"need 1 <= elites <= population, got {self.elites} and {self.population}"
            )

    @property
    def size(self) -> int:
        """How many parameters are searched: 6, or 7 with the field of view."""
        return 7 if self.fit_fov else 6

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def camera_at(
    nominal: CameraConfig, params: np.ndarray, config: CalibrationConfig
) -> CameraConfig:
    """``nominal`` moved, turned (and its field of view changed) by the scaled ``params``."""
    params = np.asarray(params, dtype=np.float64)
    if params.shape != (config.size,):
        raise ValueError(f"expected {config.size} camera parameters, got shape {params.shape}")
    fov = nominal.fov + config.fov_scale * params[6] if config.fit_fov else None
    return nominal.moved(
        config.position_scale * params[:3], config.rotation_scale * params[3:6], fov=fov
    )


def _frame_rms(image: np.ndarray, frame: np.ndarray) -> float:
    """The root mean square of two frames' difference, in [0, 1] intensities, unblurred."""
    return float(np.sqrt(np.mean(((image.astype(np.float64) - frame) / 255.0) ** 2)))


def _fit_to_frame(
    render: Callable[[np.ndarray], np.ndarray],
    frame: np.ndarray,
    start: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    stages: tuple[tuple[float, float], ...],
    represent: Callable[[np.ndarray, float], np.ndarray],
    *,
    sigma: float | np.ndarray,
    iterations: int,
    population: int,
    elites: int,
    refine_iterations: int,
    seed: int,
) -> np.ndarray:
    """The parameters near ``start`` whose ``render`` matches ``frame``: a cross-entropy
    search comparing ``represent`` at the first stage's blur (``iterations`` rounds; 0:
    none), then Levenberg-Marquardt through ``stages`` (:func:`refine_pose`)."""
    params = start
    if iterations:
        blur = stages[0][0]
        goal = represent(frame[None], blur)[0]

        def distance(candidates: np.ndarray) -> np.ndarray:
            return np.sum((represent(render(candidates), blur) - goal) ** 2, axis=1)

        params, _, _ = cross_entropy_search(
            distance,
            start,
            sigma,
            np.random.default_rng(seed),
            iterations=iterations,
            population=population,
            elites=elites,
            lower=lower,
            upper=upper,
            smoothing=0.3,
        )
    return refine_pose(
        render, frame, params, lower, upper, refine_iterations, stages, represent=represent
    )[0]


def calibrate_camera(
    sim: KukaSim,
    nominal: CameraConfig,
    frame: np.ndarray,
    joints: np.ndarray,
    config: CalibrationConfig | None = None,
) -> tuple[CameraConfig, dict[str, Any]]:
    """The camera near ``nominal`` through which ``sim``'s arm at ``joints`` looks like
    ``frame`` ``(H, W, 3)`` uint8, and how well it does: ``rms`` (the root mean square of
    the two frames' difference, [0, 1] intensities, unblurred), ``nominal_rms`` (the same
    for ``nominal``), ``params`` (scaled units) and ``frames`` (rendered)."""
    config = config or CalibrationConfig()
    frame = np.asarray(frame)
    if frame.shape != (nominal.height, nominal.width, 3):
        raise ValueError(
            f"frame {frame.shape} does not fit the camera's {nominal.height}x{nominal.width}"
        )
    sim.reset(np.asarray(joints, dtype=np.float64))
    rendered = [0]

    def render(params: np.ndarray) -> np.ndarray:
        rendered[0] += len(params)
        return np.stack([sim.render(camera_at(nominal, p, config)) for p in params])

    zero = np.zeros(config.size)
    nominal_rms = _frame_rms(render(zero[None])[0], frame)
    params = zero
    if nominal_rms > 0.0:
        params = _fit_to_frame(
            render,
            frame,
            zero,
            np.full(config.size, -config.bound),
            np.full(config.size, config.bound),
            CALIBRATION_STAGES,
            REPRESENTATIONS[config.compare],
            sigma=config.sigma,
            iterations=config.iterations,
            population=config.population,
            elites=config.elites,
            refine_iterations=config.refine_iterations,
            seed=config.seed,
        )
    camera = camera_at(nominal, params, config) if nominal_rms > 0.0 else nominal
    return camera, {
        "rms": _frame_rms(sim.render(camera), frame) if nominal_rms > 0.0 else 0.0,
        "nominal_rms": nominal_rms,
        "params": [float(v) for v in params],
        "frames": rendered[0],
    }


LIGHT_STAGES: tuple[tuple[float, float], ...] = ((2.0, 0.05), (1.0, 0.02))
"""(blur px, finite-difference step in scaled units) of each stage of the light's refinement."""


def lighting_at(params: np.ndarray, degrees_scale: float = 10.0) -> Lighting:
    """The renderer's default light turned by ``params[:2] * degrees_scale`` degrees about two
    axes across its direction, its colour ``params[2:5]`` (clipped to [0, 1])."""
    params = np.asarray(params, dtype=np.float64)
    if params.shape != (5,):
        raise ValueError(f"expected 5 light parameters, got shape {params.shape}")
    direction = np.asarray(DEFAULT_LIGHT_DIRECTION) / np.linalg.norm(DEFAULT_LIGHT_DIRECTION)
    across = np.cross(direction, [0.0, 0.0, 1.0])
    across /= np.linalg.norm(across)
    up = np.cross(across, direction)
    rotation = np.radians(degrees_scale) * (params[0] * across + params[1] * up)
    turned = rotation_matrix(rotation) @ direction
    return Lighting(tuple(turned), tuple(np.clip(params[2:], 0.0, 1.0)))


def calibrate_lighting(
    sim: KukaSim,
    camera: CameraConfig,
    frame: np.ndarray,
    joints: np.ndarray,
    seed: int = 0,
) -> tuple[Lighting, dict[str, Any]]:
    """The light (its direction near the renderer's default, and its colour) under which
    ``sim``'s arm at ``joints``, seen through ``camera``, looks like ``frame`` ``(H, W, 3)``:
    a cross-entropy search, then Levenberg-Marquardt, on the blurred frames' difference.
    Returns the light and ``rms`` / ``default_rms`` (unblurred, [0, 1] intensities) with it
    and with the default light, and ``frames`` rendered. The default light is kept where it
    renders ``frame`` exactly, or no worse than the estimate."""
    frame = np.asarray(frame)
    sim.reset(np.asarray(joints, dtype=np.float64))
    rendered = [0]

    def render(params: np.ndarray) -> np.ndarray:
        rendered[0] += len(params)
        return np.stack([sim.render(camera, lighting_at(p)) for p in params])

    default = np.array([0.0, 0.0, 1.0, 1.0, 1.0])
    default_rms = _frame_rms(render(default[None])[0], frame)
    if default_rms == 0.0:
        return Lighting(), {"rms": 0.0, "default_rms": 0.0, "frames": rendered[0]}
    params = _fit_to_frame(
        render,
        frame,
        default,
        np.array([-4.0, -4.0, 0.0, 0.0, 0.0]),
        np.array([4.0, 4.0, 1.0, 1.0, 1.0]),
        LIGHT_STAGES,
        blurred_frames,
        sigma=0.3,
        iterations=8,
        population=24,
        elites=6,
        refine_iterations=10,
        seed=seed,
    )
    estimate_rms = _frame_rms(render(params[None])[0], frame)
    if estimate_rms >= default_rms:
        return Lighting(), {"rms": default_rms, "default_rms": default_rms, "frames": rendered[0]}
    info = {"rms": estimate_rms, "default_rms": default_rms, "frames": rendered[0]}
    return lighting_at(params), info
