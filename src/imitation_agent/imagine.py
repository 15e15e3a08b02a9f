"""Reading a demonstration by imagining oneself: which own pose matches each of its frames?

The agent starts an episode at the demonstration's first pose, and it can render its own
frame at any pose with the demonstration's stored camera (the simulator as the robot's model
of its own appearance; on a real iiwa a rendered twin with the calibrated camera). So it can
read where a demonstration goes without a pose reader and without labels: from the known
start, at every ``every``-th frame and the last (of a demonstration that ends at rest, the
first of its still frames, :func:`still_frames`), a sampling search
(:func:`cross_entropy_search`, from the last estimate moved on by ``momentum`` times its last
step) finds the pose whose rendered frame is closest to the demonstration's frame in the
embedding, the distance ``d`` of the TCN reward. The last frame gets a second, longer and
narrower search. Each searched pose is then refined in the frame itself
(``refine_iterations``, :func:`refine_pose`; the last one from several restarts,
:func:`refine_final_pose`): the embedding's search finds the basin, but it reads the wrist
coarsely, while the frame rendered at the demonstration's own pose equals the
demonstration's frame exactly. Between searched frames the trajectory is interpolated
linearly in joint space. :class:`imitation_agent.readers.RenderAndCompare` is this reading
as a demonstration reader; docs/agent.md measures it against the recorded joints.

Before a search, the pose the motion so far predicts is refined in the frame (the warm
start, ``match_rms``, :func:`frame_matcher`); where its frame then matches the
demonstration's, the frame is not searched. The last frame is always searched, and its
restarts are screened in the coarsest stage before the best ``restarts_kept`` are refined
to the end. Broyden's updates of the Jacobian (``refine_broyden``) lose tracks, and early
stopping (``refine_tolerance``) saves few frames; both are options (docs/benchmarks.md).

It costs ``population`` rendered and embedded frames per search round and some 10 to 20
rendered frames per refinement stage, each frame some 6 ms of a core whatever its size
(PyBullet's TinyRenderer spends most of it on the arm's meshes): 6,000 to 7,700 frames for
a 100-frame 96 px demonstration with the defaults, about half as many as without the warm
start and the screening. :mod:`tcn.reading` caches each result on disk, keyed by
the embedding, the demonstration and the settings.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy.ndimage import correlate, gaussian_filter

from imitation_agent.env import dataclass_from_dict
from kuka_sim import CameraConfig, KukaSim, Lighting

PoseEmbedder = Callable[[np.ndarray], np.ndarray]
"""Poses ``(N, 7)`` rad -> embeddings ``(N, D)`` of the frames rendered there."""

PoseRenderer = Callable[[np.ndarray], np.ndarray]
"""Poses ``(N, 7)`` rad -> the frames ``(N, H, W, 3)`` uint8 rendered there."""

FrameRefiner = Callable[[int, np.ndarray, bool], np.ndarray]
"""(searched frame ``t``, the search's pose there, whether ``t`` is the last searched frame)
-> the pose refined."""

FrameMatcher = Callable[[int, np.ndarray, bool], tuple[np.ndarray, bool, float]]
"""(searched frame ``t``, the pose the motion so far predicts there, whether ``t`` is the last
searched frame) -> that pose refined in the frame, whether its frame matches the
demonstration's so well that no search is needed, and how far it is from it (the root mean
square of their difference, :func:`frame_rms`)."""

Comparison = Literal["pixels", "edges", "contrast"]
"""What a refinement or calibration compares: blurred pixels (:func:`blurred_frames`), edge
magnitudes (:func:`edge_frames`) or locally normalised grey (:func:`contrast_frames`)."""

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

MATCH_STAGES: tuple[tuple[float, float], ...] = REFINE_STAGES[1:2]
"""The stages of the warm start (:func:`frame_matcher`): a pose the motion predicts lies
within a few hundredths of a radian of the frame's, which the finer stages see."""

COUPLED_PAIRS: tuple[tuple[int, int], ...] = ((0, 2), (2, 4), (4, 6))
"""Joints (A1, A3), (A3, A5), (A5, A7): each pair turns about nearly one axis when the joint
between them is near 0 (docs/agent.md), so moving them apart changes the frame
least, and a refinement can settle on the wrong split of their sum."""

FLIPS: tuple[tuple[int, int, int], ...] = ((0, 1, 2), (2, 3, 4), (4, 5, 6))
"""The shoulder (A1, A2, A3), the elbow (A3, A4, A5) and the wrist (A5, A6, A7): the iiwa's
axes alternate along and across the arm, with every offset along the arm, so turning a
triple's outer joints by pi and mirroring its middle one (``Rz(a) Ry(b) Rz(c) = Rz(a + pi)
Ry(-b) Rz(c + pi)``) leaves every link beyond the triple where it was. Only the two links
inside it turn half a revolution about their own axes, which the iiwa's round links barely
show: a reading can settle there, several radians from the true pose (docs/agent.md)."""

WIDE_PAIR_MOVES: tuple[float, ...] = (0.25, 0.75, 1.5)
"""rad: the wider restarts (:func:`wide_restart_poses`) move each coupled pair apart by these,
each way: between and beyond :func:`restart_poses`' steps of 0.5."""

WIDE_FLANGE_TURNS: tuple[float, ...] = (0.5, 1.0)
"""rad: the wider restarts turn the flange (A7) by these, each way: between the quarter turns
of :func:`restart_poses`."""


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
        refine_broyden: :func:`refine_pose` measures the Jacobian from one-sided differences
            once a stage (and after a round that rejects every damping) and follows its
            steps by Broyden's update (one frame a step, not 15); False: measured anew from
            central differences each round.
        refine_tolerance: a refinement stage ends after a round that lowers the frame's
            difference by less than this fraction of it (0: after ``refine_iterations``).
        compare: what the refinements compare (:data:`REPRESENTATIONS`): ``pixels``
            (:func:`blurred_frames`), ``edges`` (:func:`edge_frames`) or ``contrast``
            (:func:`contrast_frames`, which tolerates other light and colour).
        match_rms: warm start. At each searched frame but the last, the pose the motion so
            far predicts is refined first (:data:`MATCH_STAGES`, ``match_iterations``
            rounds); where the root mean square of its frame's difference from the
            demonstration's, in ``compare``'s representation (for ``pixels``, blurred [0, 1]
            intensities), is at most this, it is taken without the search. None, or
            ``refine_iterations=0``: every searched frame is searched (``population``
            times ``iterations`` frames, and its refinement). The last
            frame, where the reading is judged, is always searched and restarted.
        match_iterations: rounds of the warm start's refinement, and of the screening of
            the restarts.
        final_match: the warm start is tried at the last frame too; where it matches, the
            last frame's two searches are skipped (its restarts are not).
        restarts_kept: the last frame's restarts are screened by ``match_iterations``
            rounds of the first stage of :data:`REFINE_STAGES`; only this many, those whose
            frames then differ least, are refined in the other stages (0: every restart in
            all four).
        final_rms: where the last frame's pose, restarts and all, still does not match its
            frame (its root mean square difference in ``compare``'s representation at the
            warm start's blur above ``sqrt(final_rms**2 + floor**2)``, ``floor`` as for
            ``match_rms``), it is restarted again from :func:`wide_restart_poses` (the
            kinematic flips, wider pair moves and flange turns), screened and refined as
            above, up to ``wide_rounds`` times while that lowers the difference. On the
            headline's held-out demonstrations the true last pose leaves 0.0005 to 0.0018
            (a demonstration at rest is read on its still frames' mean), the misread ones
            0.0010 to 0.0075; so some well-read poses are restarted too, at some 2,500
            frames, and keep their reading. Where ``floor`` itself is above ``final_rms``
            (noise, compression, a camera or light calibrated only so well), a flip's own
            difference drowns in it, so the first round of wider restarts always runs: under
            other light and noise, a flipped shoulder's blurred difference can be as low as
            the true pose's. Of the last frame's refinements whose frames differ by at most
            ``final_rms`` more than the best one's (in quadrature), the one nearest the
            track's search wins (:func:`nearest_match`). None: never (the least difference
            wins).
        wide_rounds: the most rounds of wider restarts (0: none).
        wide_restarts_kept: ``restarts_kept`` for the wider restarts. Their flips look alike
            at the first stage's blur, so its ranking among them is weak.
        retrace: once the last frame is read, the searched frames are visited again from the
            last backwards, each from the pose the later ones predict (``momentum`` as
            forwards); where that prediction lies more than ``retrace_distance`` rad from
            the forward reading, both are refined in the frame as the warm start is, and the
            one whose frame differs less is kept. A track that slipped to a look-alike pose
            on the way (a flange half a turn round, a flipped shoulder) and found the true
            one again at the end is mended from the end; where the two agree, nothing is
            rendered. Needs the warm start (``match_rms``).
        retrace_distance: rad, see ``retrace``.
        track_restarts: at each searched frame but the last whose refined pose still does
            not match its frame (``match_rms``, allowing for the floor as the warm start
            does), the pose is also refined from its :func:`restart_poses` (screened as
            the last frame's are, ``restarts_kept``), and the least difference wins. Where
            the arm passes near a singularity, a coupled pair trades its angles unseen and
            the track can come out in another configuration; from there each later frame
            refines to the wrong pose, and the last frame's restarts lie too far to find
            the true one. Needs the warm start (``match_rms``).
        calibrate: before reading, estimate the camera the demonstration was filmed with
            from its first frame at its first pose (:mod:`imitation_agent.calibrate`), and
            read and render through that camera; a stored camera that renders the first
            frame exactly is kept. Used by :class:`imitation_agent.readers.RenderAndCompare`.
        calibrate_fov: also estimate the camera's field of view (where no ``camera_info``
            gives it).
        calibrate_compare: what the calibration compares (:data:`REPRESENTATIONS`).
        calibrate_light: with ``calibrate``, also estimate the light (its direction and
            colour) from the first frame through the estimated camera
            (:func:`imitation_agent.calibrate.calibrate_lighting`), and render in it.

    The defaults warm-start the searches and screen the last frame's restarts, which halves
    the frames rendered and keeps the reading's accuracy; Broyden's updates
    (``refine_broyden``) lose tracks and stay off (docs/benchmarks.md).
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
    refine_broyden: bool = False
    refine_tolerance: float = 0.0
    compare: Comparison = "pixels"
    match_rms: float | None = 0.005
    match_iterations: int = 5
    restarts_kept: int = 3
    final_rms: float | None = 0.0015
    wide_rounds: int = 6
    wide_restarts_kept: int = 6
    retrace: bool = True
    retrace_distance: float = 0.5
    track_restarts: bool = True
    final_match: bool = False
    calibrate: bool = True
    calibrate_fov: bool = False
    calibrate_compare: Comparison = "contrast"
    calibrate_light: bool = True

    def __post_init__(self) -> None:
        check_comparison("compare", self.compare)
        check_comparison("calibrate_compare", self.calibrate_compare)
        if int(self.seed) < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed!r}")
        for name in ("every", "iterations", "population", "elites"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        for name in (
            "final_iterations",
            "refine_iterations",
            "refine_turns",
            "refine_pairs",
            "restarts_kept",
            "match_iterations",
            "wide_rounds",
            "wide_restarts_kept",
        ):
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
        if not (np.isfinite(self.retrace_distance) and self.retrace_distance >= 0):
            raise ValueError(f"retrace_distance must be >= 0, got {self.retrace_distance!r}")
        if not 0 <= self.refine_tolerance < 1:
            raise ValueError(f"refine_tolerance must be in [0, 1), got {self.refine_tolerance!r}")
        for name in ("match_rms", "final_rms"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be >= 0 or None, got {value!r}")

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


def render_poses(
    sim: KukaSim, poses: np.ndarray, camera: CameraConfig, light: Lighting | None = None
) -> np.ndarray:
    """Frames ``(N, H, W, 3)`` uint8 of the arm at each of ``poses`` through ``camera``, in
    ``light`` (None: the renderer's default)."""
    images = []
    for q in poses:
        sim.reset(q)
        images.append(sim.render(camera, light))
    return np.stack(images)


def searched_frames(length: int, every: int, still: int = 1) -> list[int]:
    """The frames :func:`imagine_trajectory` searches in a demonstration of ``length`` whose
    last ``still`` frames are at rest: every ``every``-th, and the first of those."""
    last = length - max(1, min(still, length - 1))
    return [*range(every, last, every), last]


STILL_BLUR = 2.0
"""px: frames are blurred this much before :func:`still_frames` compares them."""
STILL_TOLERANCE = 0.01
"""Root mean square difference ([0, 1] intensities, blurred by :data:`STILL_BLUR`) up to which
a frame can count as the last one: sensor noise of 8-bit standard deviation 5, JPEG-compressed,
gives about 0.006; the arm moving 0.04 rad, about 0.01."""
STILL_NOISE_FRAMES = 8
"""The frames before the last whose median difference from it is taken as the noise between
two frames of the same pose (:func:`still_frames`)."""
STILL_NOISE_MARGIN = 1.5
"""A frame counts as at rest up to this many times the noise between two frames at rest."""


def still_frames(frames: np.ndarray, tolerance: float = STILL_TOLERANCE) -> int:
    """How many frames at the end of ``frames`` ``(T, H, W, C)`` show the demonstration at rest
    at its goal, at least 1: each identical to the last one or, blurred by :data:`STILL_BLUR`
    px, within the noise of it. The noise is measured on the demonstration itself: the median
    difference of the :data:`STILL_NOISE_FRAMES` frames before the last from it, times
    :data:`STILL_NOISE_MARGIN`, and at most ``tolerance`` (:data:`STILL_TOLERANCE`; 0: only
    identical frames). Frames that differ only by noise then count, and the arm's last slow
    hundredths of a radian, which a fixed tolerance took for rest, do not; frames rendered
    without noise count only where identical."""
    frames = np.asarray(frames)
    changed = np.any((frames != frames[-1]).reshape(len(frames), -1), axis=1)
    if tolerance > 0 and changed.any():
        blurred = blurred_frames(frames, STILL_BLUR)
        rms = np.sqrt(np.mean((blurred - blurred[-1]) ** 2, axis=1))
        noise = float(np.median(rms[-1 - STILL_NOISE_FRAMES : -1]))
        changed &= rms > min(tolerance, STILL_NOISE_MARGIN * noise)
    moved = np.flatnonzero(changed)
    return len(frames) - (int(moved[-1]) + 1 if moved.size else 0)


def frame_rms(
    render: PoseRenderer, frame: np.ndarray, pose: np.ndarray, config: ImagineConfig
) -> float:
    """How far the frame rendered at ``pose`` is from ``frame``: the root mean square of
    ``render(pose)`` less ``frame``, in ``config.compare``'s representation at the warm
    start's blur (:data:`MATCH_STAGES`)."""
    represent, blur = REPRESENTATIONS[config.compare], MATCH_STAGES[0][0]
    difference = represent(render(np.asarray(pose)[None]), blur) - represent(frame[None], blur)
    return float(np.sqrt(np.mean(difference**2)))


def allowing_for(floor: float, rms: float) -> float:
    """A root mean square threshold ``rms`` allowing for what the renderer cannot match
    (``floor``, :func:`match_floor`): the two in quadrature."""
    return float(np.hypot(rms, floor))


def match_floor(
    render: PoseRenderer, frame: np.ndarray, pose: np.ndarray, config: ImagineConfig
) -> float:
    """What the renderer cannot match of a demonstration's frame at a pose it knows (its
    first, where the agent starts): :func:`frame_rms` there. 0 where the renderer is the
    camera; sensor noise, compression and what self-calibration left of the camera and the
    light otherwise."""
    return frame_rms(render, frame, pose, config)


def resting_frames(frames: np.ndarray, still: int) -> np.ndarray:
    """``frames`` with its last ``still`` frames replaced by their mean: the rest pose's frame
    with its noise averaged away (the same frames where they are identical)."""
    frames = np.asarray(frames)
    tail = frames[len(frames) - still :]
    if still <= 1 or not np.any(tail != tail[-1]):
        return frames
    rest = np.rint(tail.mean(axis=0)).astype(frames.dtype)
    return np.concatenate([frames[: len(frames) - still], np.repeat(rest[None], still, axis=0)])


def blurred_frames(frames: np.ndarray, blur: float) -> np.ndarray:
    """``(N, H, W, C)`` frames -> ``(N, H * W * C)`` floats in [0, 1], blurred by ``blur`` px."""
    frames = np.asarray(frames, dtype=np.float64) / 255.0
    if blur > 0:
        frames = gaussian_filter(frames, sigma=(0, blur, blur, 0))
    return frames.reshape(len(frames), -1)


_SOBEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
"""The Sobel kernel across a frame's columns (its transpose: down its rows)."""


def edge_frames(frames: np.ndarray, blur: float) -> np.ndarray:
    """``(N, H, W, C)`` frames -> ``(N, H * W)``: the gradient magnitude of their grey image,
    blurred by ``blur`` px (at least 1), each frame's scaled to a mean of 0.05. Where the
    light's direction and colour change, the arm's outline still sits where it sits."""
    grey = np.asarray(frames, dtype=np.float64).mean(axis=-1) / 255.0
    grey = gaussian_filter(grey, sigma=(0, max(blur, 1.0), max(blur, 1.0)))
    # Each frame on its own: scipy's sobel would also smooth across the frames of the batch.
    across = correlate(grey, _SOBEL[None])
    down = correlate(grey, _SOBEL.T[None])
    edges = np.hypot(across, down).reshape(len(grey), -1)
    return 0.05 * edges / (edges.mean(axis=1, keepdims=True) + 1e-9)


CONTRAST_WINDOW = 3.0
"""px: the Gaussian window over which :func:`contrast_frames` takes each pixel's local mean
and spread."""
CONTRAST_FLOOR = 0.03
"""The local spread ([0, 1] grey) below which :func:`contrast_frames` stops dividing: a flat
wall's sensor noise stays small instead of being raised to the arm's contrast."""


def contrast_frames(frames: np.ndarray, blur: float) -> np.ndarray:
    """``(N, H, W, C)`` frames -> ``(N, H * W)``: their grey image, blurred by ``blur`` px,
    less its local mean and over its local spread (a :data:`CONTRAST_WINDOW` px window, at
    least :data:`CONTRAST_FLOOR`), times 0.05. Light of another brightness or colour scales
    and shifts the grey image where the arm's shading varies slowly; this divides both out,
    and keeps the shading's pattern that edge magnitudes throw away."""
    grey = np.asarray(frames, dtype=np.float64).mean(axis=-1) / 255.0
    if blur > 0:
        grey = gaussian_filter(grey, sigma=(0, blur, blur))
    window = (0, CONTRAST_WINDOW, CONTRAST_WINDOW)
    mean = gaussian_filter(grey, sigma=window)
    spread = np.maximum(gaussian_filter(grey**2, sigma=window) - mean**2, 0.0)
    normalised = (grey - mean) / np.sqrt(spread + CONTRAST_FLOOR**2)
    return 0.05 * normalised.reshape(len(grey), -1)


REPRESENTATIONS: dict[str, Callable[[np.ndarray, float], np.ndarray]] = {
    "pixels": blurred_frames,
    "edges": edge_frames,
    "contrast": contrast_frames,
}
"""Each :data:`Comparison` by name: (frames ``(N, H, W, C)``, blur px) -> ``(N, P)``."""


def representation_size(config: ImagineConfig, frame: np.ndarray) -> int:
    """How many values ``config.compare``'s representation has for a frame like ``frame``
    ``(H, W, C)``: what a sum of squared differences is divided by for its mean."""
    return REPRESENTATIONS[config.compare](np.asarray(frame)[None], 0.0).shape[1]


def check_comparison(name: str, value: str) -> None:
    """Raise ``ValueError`` unless ``value`` names one of :data:`REPRESENTATIONS`."""
    if value not in REPRESENTATIONS:
        raise ValueError(f"{name} must be one of {sorted(REPRESENTATIONS)}, got {value!r}")


def _frame_jacobian(
    residuals: Callable[[np.ndarray], np.ndarray],
    pose: np.ndarray,
    r: np.ndarray,
    step: float,
    lower: np.ndarray,
    upper: np.ndarray,
    forward: bool,
) -> np.ndarray:
    """``(P, 7)``: how the residuals ``r`` ``(P,)`` at ``pose`` change with each joint, from
    central differences (14 frames) or, ``forward``, one-sided ones (7 frames, each step
    turned back where it would leave the limits)."""
    eye = np.eye(pose.size)
    if not forward:
        probes = residuals(
            np.clip(np.concatenate([pose + step * eye, pose - step * eye]), lower, upper)
        )
        return ((probes[: pose.size] - probes[pose.size :]) / (2 * step)).T
    steps = np.where(pose + step <= upper, step, -step)
    probes = residuals(np.clip(pose + steps[:, None] * eye, lower, upper))
    return ((probes - r) / steps[:, None]).T


def refine_pose(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    iterations: int,
    stages: tuple[tuple[float, float], ...] = REFINE_STAGES,
    *,
    broyden: bool = False,
    tolerance: float = 0.0,
    represent: Callable[[np.ndarray, float], np.ndarray] | None = None,
) -> tuple[np.ndarray, float]:
    """The pose near ``pose`` whose rendered frame matches ``goal_frame`` ``(H, W, 3)``.

    Levenberg-Marquardt on the difference between the two frames, both blurred, at each of
    ``stages`` (blur, finite-difference step) in turn for up to ``iterations`` rounds: the
    Jacobian of the blurred frame by the joints from central differences (14 frames), a
    damped Gauss-Newton step (at most 0.3 rad a joint), kept only when it lowers the
    difference (each stage ends no worse than it began; a coarse stage's step can still
    raise a finer stage's difference); a round tries up to four dampings.

    ``broyden``: the Jacobian is measured from one-sided differences (7 frames) once a stage
    and after a round that rejects every damping, and otherwise follows each step by
    Broyden's rank-one update (one frame a step instead of 15). ``tolerance``: a stage ends
    after a round that lowers the difference by less than this fraction of it. A pose whose
    frame equals ``goal_frame`` is kept as it is. Returns the pose and its sum of squared
    differences at the last stage (0 where the frames are equal). ``represent`` (frames,
    blur) -> ``(N, P)`` is what is compared (one of :data:`REPRESENTATIONS`; by default
    :func:`blurred_frames`).
    """
    represent = represent or blurred_frames
    pose = np.clip(np.asarray(pose, dtype=np.float64), lower, upper)
    cost = np.inf
    for blur, step in stages:
        goal = represent(goal_frame[None], blur)[0]

        def residuals(poses: np.ndarray, goal: np.ndarray = goal, blur: float = blur):
            return represent(render(poses), blur) - goal

        r = residuals(pose[None])[0]
        cost, damping = float(r @ r), 1e-2
        linearised_at, jacobian = None, None
        for _ in range(iterations):
            if cost == 0.0:  # the frames are equal: no step can improve on this pose
                break
            if jacobian is None or (not broyden and linearised_at is not pose):
                # a rejected round leaves the pose, and its Jacobian
                jacobian = _frame_jacobian(residuals, pose, r, step, lower, upper, broyden)
                linearised_at = pose
            began_at = cost
            for _ in range(4):
                normal, gradient = jacobian.T @ jacobian, jacobian.T @ r
                move = -np.linalg.solve(
                    normal + damping * np.diag(np.diag(normal) + 1e-9), gradient
                )
                candidate = np.clip(pose + np.clip(move, -0.3, 0.3), lower, upper)
                r_new = residuals(candidate[None])[0]
                cost_new = float(r_new @ r_new)
                if broyden:  # Broyden's rank-one update: the Jacobian agrees with this step
                    moved = candidate - pose
                    if moved @ moved > 0:
                        jacobian = jacobian + np.outer(
                            r_new - r - jacobian @ moved, moved / (moved @ moved)
                        )
                if cost_new < cost:
                    pose, r, cost = candidate, r_new, cost_new
                    damping = max(damping / 3, 1e-4)
                    break
                damping *= 4
            else:
                if damping > 1e3:
                    break
                if broyden:  # four steps rejected: measure the Jacobian again
                    jacobian = None
            if cost < began_at and cost > (1 - tolerance) * began_at:
                break  # the round's step gained less than ``tolerance``: converged
    return pose, cost


def refine_in_frame(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
    stages: tuple[tuple[float, float], ...] = REFINE_STAGES,
    iterations: int | None = None,
) -> tuple[np.ndarray, float]:
    """:func:`refine_pose` with ``config``'s refinement settings (``iterations``: rounds a
    stage, ``config.refine_iterations`` unless given)."""
    return refine_pose(
        render,
        goal_frame,
        pose,
        lower,
        upper,
        config.refine_iterations if iterations is None else iterations,
        stages,
        broyden=config.refine_broyden,
        tolerance=config.refine_tolerance,
        represent=REPRESENTATIONS[config.compare],
    )


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
    starts += pairs_moved_apart(pose, [0.5 * k for k in range(1, config.refine_pairs + 1)])
    return starts


def pairs_moved_apart(pose: np.ndarray, amounts: Sequence[float]) -> list[np.ndarray]:
    """``pose`` with each of :data:`COUPLED_PAIRS` moved apart by each of ``amounts`` (rad),
    each way, keeping the pair's sum: pair by pair, amount by amount, + before -."""
    starts = []
    for i, j in COUPLED_PAIRS:
        for amount in amounts:
            for apart in (amount, -amount):
                start = np.array(pose, dtype=np.float64)
                start[i] += apart
                start[j] -= apart
                starts.append(start)
    return starts


def flipped(
    pose: np.ndarray, triple: tuple[int, int, int], lower: np.ndarray, upper: np.ndarray
) -> np.ndarray | None:
    """``pose`` with one of :data:`FLIPS` applied: the triple's outer joints turned by pi (the
    way that stays within ``lower``..``upper``) and its middle joint mirrored; None where the
    limits leave no such pose."""
    pose = np.array(pose, dtype=np.float64)
    outer, middle = (triple[0], triple[2]), triple[1]
    for j in outer:
        turned = [pose[j] + s for s in (np.pi, -np.pi) if lower[j] <= pose[j] + s <= upper[j]]
        if not turned:
            return None
        pose[j] = turned[0]
    pose[middle] = -pose[middle]
    return pose if lower[middle] <= pose[middle] <= upper[middle] else None


def flipped_resplit(
    pose: np.ndarray, triple: tuple[int, int, int], lower: np.ndarray, upper: np.ndarray
) -> list[np.ndarray]:
    """``pose`` flipped at ``triple`` with its outer joints (a coupled pair) re-split: the
    middle joint mirrored, the pair's sum kept or turned by a whole revolution either way
    (what the half turns of :func:`flipped` give, each way), and split at the middle of what
    the limits allow; one pose for each such sum that has a split within them. Near a
    singularity of the triple's middle joint the pair turns about nearly one axis, so the
    pose lies a pair move from a flip that may be the one the limits forbid; no single step
    of the other wide restarts reaches it."""
    pose = np.asarray(pose, dtype=np.float64)
    first, middle, last = triple
    if not lower[middle] <= -pose[middle] <= upper[middle]:
        return []
    starts = []
    for turn in (0.0, 2 * np.pi, -2 * np.pi):
        total = pose[first] + pose[last] + turn
        low = max(lower[first], total - upper[last])
        high = min(upper[first], total - lower[last])
        if low > high:
            continue
        start = pose.copy()
        start[first] = (low + high) / 2
        start[last] = total - start[first]
        start[middle] = -pose[middle]
        starts.append(start)
    return starts


def wide_restart_poses(pose: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> list[np.ndarray]:
    """The restarts of a last pose that still does not match its frame: every combination of
    :data:`FLIPS` that the limits allow, each flip's outer pair re-split about its sum
    (:func:`flipped_resplit`), each coupled pair moved apart by each of
    :data:`WIDE_PAIR_MOVES` each way, and the flange turned by each of
    :data:`WIDE_FLANGE_TURNS` each way (the last two clipped to the limits)."""
    pose = np.asarray(pose, dtype=np.float64)
    starts = []
    for size in range(1, len(FLIPS) + 1):
        for triples in itertools.combinations(FLIPS, size):
            start = pose
            for triple in triples:
                start = flipped(start, triple, lower, upper)
                if start is None:
                    break
            else:
                starts.append(start)
    for triple in FLIPS:
        starts += flipped_resplit(pose, triple, lower, upper)
    starts += [np.clip(start, lower, upper) for start in pairs_moved_apart(pose, WIDE_PAIR_MOVES)]
    for turn in WIDE_FLANGE_TURNS:
        for sign in (1.0, -1.0):
            start = pose.copy()
            start[-1] += sign * turn
            starts.append(np.clip(start, lower, upper))
    return starts


def _refine_from(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    starts: list[np.ndarray],
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
    kept: int,
) -> list[tuple[np.ndarray, float]]:
    """:func:`refine_in_frame` from each of ``starts``: with ``kept`` (0: all),
    only the ``kept`` starts that the coarsest stage leaves best are refined through the
    finer stages. Returns each refined pose and its frame's difference (the last stage's sum
    of squares), the least first."""
    stages = REFINE_STAGES
    if 0 < kept < len(starts):  # screened in the coarsest stage first
        screened = [
            refine_in_frame(
                render,
                goal_frame,
                start,
                lower,
                upper,
                config,
                stages[:1],
                config.match_iterations,
            )
            for start in starts
        ]
        starts = [found for found, _ in sorted(screened, key=lambda found: found[1])]
        starts, stages = starts[:kept], stages[1:]
    refined = [
        refine_in_frame(render, goal_frame, start, lower, upper, config, stages)
        for start in starts
    ]
    return sorted(refined, key=lambda found: found[1])


def refine_restarts(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
) -> list[tuple[np.ndarray, float]]:
    """:func:`_refine_from` ``pose``'s :func:`restart_poses`, ``config.restarts_kept`` of
    them after the screening: each refined pose and its difference, the least first."""
    starts = restart_poses(pose, config)
    return _refine_from(render, goal_frame, starts, lower, upper, config, config.restarts_kept)


def nearest_match(
    refined: Sequence[tuple[np.ndarray, float]], pose: np.ndarray, margin: float
) -> tuple[np.ndarray, float]:
    """Of ``refined`` (pose, difference), least difference first: of those whose difference
    exceeds the first's by at most ``margin``, the one nearest ``pose``."""
    matching = [found for found in refined if found[1] <= refined[0][1] + margin]
    return min(matching, key=lambda found: float(np.linalg.norm(found[0] - pose)))


def refine_final_pose(
    render: PoseRenderer,
    goal_frame: np.ndarray,
    pose: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
    floor: float = 0.0,
) -> np.ndarray:
    """:func:`refine_pose` from ``pose`` and from each of its :func:`restart_poses`, where
    the embedding reads least well (a small tool seen from afar looks alike at several
    turns; coupled joints trade their angles); the frame that differs least from
    ``goal_frame`` wins, since at the demonstration's pose the difference is 0. But of the
    refinements whose frames differ by no more than the winner's and ``config.final_rms``
    more (root mean squares of the finest stage, in quadrature), the one nearest ``pose``,
    where the track's search put it, wins (:func:`nearest_match`): a look-alike such as the
    flange half a turn round (the tool is nearly symmetric) can differ from the frame by less
    than the refinement leaves of the true pose where a coupled pair converges slowly, and
    the arm cannot turn its flange half a revolution between two searched frames. With
    ``config.restarts_kept``, only the restarts that the coarsest stage leaves best are
    refined through the finer stages. Where the winner's frame still does not match
    (``config.final_rms``, allowing for ``floor``: :func:`match_floor`), or where ``floor``
    exceeds ``config.final_rms`` so that the check cannot tell, it is restarted from its
    :func:`wide_restart_poses` (``config.wide_rounds`` times at most, while that lowers the
    difference)."""
    refined = refine_restarts(render, goal_frame, pose, lower, upper, config)
    if config.final_rms is None:
        return refined[0][0]
    threshold = allowing_for(floor, config.final_rms)
    margin = config.final_rms**2 * representation_size(config, goal_frame)
    best, cost = nearest_match(refined, pose, margin)
    for round_ in range(config.wide_rounds):
        # A floor above final_rms drowns a flip's own difference: the first round always runs.
        checked = round_ > 0 or floor <= config.final_rms
        if checked and frame_rms(render, goal_frame, best, config) <= threshold:
            break
        starts = wide_restart_poses(best, lower, upper)
        found, found_cost = _refine_from(
            render, goal_frame, starts, lower, upper, config, config.wide_restarts_kept
        )[0]
        if found_cost >= cost:
            break
        best, cost = found, found_cost
    return best


def imagine_trajectory(
    goals: np.ndarray,
    start: np.ndarray,
    embed_poses: PoseEmbedder,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig | None = None,
    *,
    refine: FrameRefiner | None = None,
    match: FrameMatcher | None = None,
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
        match: tried first at each searched frame but the last (and at the last with
            ``config.final_match``) with the pose the motion predicts
            (:func:`frame_matcher`); a pose it matches is taken without the search and, but
            at the last frame, without ``refine``. None searches every frame.
        still: the last ``still`` frames are at rest (:func:`still_frames`: the
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

    def search_frame(t: int, guess: np.ndarray, last: bool) -> np.ndarray:
        """Frame ``t``'s search from ``guess`` (longer at the last frame), then refined."""

        def distance(poses: np.ndarray) -> np.ndarray:
            return np.sum(
                (np.asarray(embed_poses(poses), dtype=np.float64) - goals[t]) ** 2, axis=1
            )

        found, _, _ = cross_entropy_search(
            distance, guess, config.sigma, rng, iterations=config.iterations, **search
        )
        if last and config.final_iterations:
            found, _, _ = cross_entropy_search(
                distance,
                found,
                config.sigma / 1.5,
                rng,
                iterations=config.final_iterations,
                **search,
            )
        return found if refine is None else refine(t, found, last)

    estimate, previous = start.copy(), start.copy()
    keys = [start]
    for t in frames:
        guess = np.clip(estimate + config.momentum * (estimate - previous), lower, upper)
        last = t == frames[-1]
        tried = match is not None and (config.final_match or not last)
        found, matched, _ = match(t, guess, last) if tried else (guess, False, np.inf)
        if not matched:
            found = search_frame(t, guess, last)
        elif last and refine is not None:  # matched: the last frame's restarts all the same
            found = refine(t, found, last)
        previous, estimate = estimate, found
        keys.append(found)
    if match is not None and config.retrace:
        retrace(keys, frames, match, lower, upper, config)
    times = np.arange(len(goals))
    known = np.array([0, *frames])
    keys_array = np.stack(keys)
    return np.stack(
        [np.interp(times, known, keys_array[:, j]) for j in range(keys_array.shape[1])], axis=1
    )


def retrace(
    keys: list[np.ndarray],
    frames: list[int],
    match: FrameMatcher,
    lower: np.ndarray,
    upper: np.ndarray,
    config: ImagineConfig,
) -> int:
    """Mend a forward reading from its end (``config.retrace``): ``keys`` ``[start, pose at
    frames[0], ...]``, changed in place from the second-last backwards. Returns how many keys
    were tried both ways."""
    tried = 0
    for i in range(len(keys) - 2, 0, -1):
        later = keys[i + 1]
        after = keys[i + 2] if i + 2 < len(keys) else later
        guess = np.clip(later + config.momentum * (later - after), lower, upper)
        if np.linalg.norm(guess - keys[i]) <= config.retrace_distance:
            continue
        t = frames[i - 1]
        back, _, back_rms = match(t, guess, False)
        forward, _, forward_rms = match(t, keys[i], False)
        keys[i] = back if back_rms < forward_rms else forward
        tried += 1
    return tried


def pose_renderer(
    sim: KukaSim, camera: CameraConfig, light: Lighting | None = None
) -> PoseRenderer:
    """Poses -> the frames ``sim`` renders there through ``camera`` in ``light``."""
    return lambda poses: render_poses(sim, poses, camera, light)


def pose_embedder(
    sim: KukaSim, camera: CameraConfig, embed: Callable, light: Lighting | None = None
) -> PoseEmbedder:
    """Poses -> embeddings of the frames ``sim`` renders there through ``camera``."""
    render = pose_renderer(sim, camera, light)
    return lambda poses: embed(render(poses))


def frame_refiner(
    sim: KukaSim,
    camera: CameraConfig,
    frames: np.ndarray,
    config: ImagineConfig,
    light: Lighting | None = None,
    floor: float = 0.0,
) -> FrameRefiner | None:
    """The ``refine`` of :func:`imagine_trajectory` for a demonstration of ``frames``
    ``(T, H, W, 3)`` rendered by ``sim`` through ``camera``: :func:`refine_pose` at each
    searched frame (restarted where it does not match, ``config.track_restarts``),
    :func:`refine_final_pose` at the last (allowing for ``floor``, :func:`match_floor`);
    None when ``config`` does not refine."""
    if config.refine_iterations == 0:
        return None
    render, limits = pose_renderer(sim, camera, light), search_limits(sim)
    restarts = config.track_restarts and config.match_rms is not None
    threshold = allowing_for(floor, config.match_rms or 0.0)

    def refine(t: int, pose: np.ndarray, last: bool) -> np.ndarray:
        if last:
            return refine_final_pose(render, frames[t], pose, *limits, config, floor)
        found, cost = refine_in_frame(render, frames[t], pose, *limits, config)
        if restarts and frame_rms(render, frames[t], found, config) > threshold:
            best = refine_restarts(render, frames[t], found, *limits, config)[0]
            restarted, restarted_cost = best
            if restarted_cost < cost:
                found = restarted
        return found

    return refine


def frame_matcher(
    sim: KukaSim,
    camera: CameraConfig,
    frames: np.ndarray,
    config: ImagineConfig,
    light: Lighting | None = None,
    floor: float = 0.0,
) -> FrameMatcher | None:
    """The ``match`` of :func:`imagine_trajectory` for a demonstration of ``frames``
    ``(T, H, W, 3)`` rendered by ``sim`` through ``camera``: :func:`refine_pose` from the
    predicted pose, a match where the refined frame's root mean square difference (in
    ``config.compare``'s representation) is at most ``config.match_rms`` above what the
    renderer cannot match at a known pose (``floor``, :func:`match_floor`): at most
    ``sqrt(match_rms**2 + floor**2)``; None when ``config`` has no warm start."""
    if config.match_rms is None or config.refine_iterations == 0:
        return None
    render, limits = pose_renderer(sim, camera, light), search_limits(sim)
    size = representation_size(config, frames[0])
    threshold = allowing_for(floor, config.match_rms)

    def match(t: int, pose: np.ndarray, last: bool) -> tuple[np.ndarray, bool, float]:
        found, cost = refine_in_frame(
            render, frames[t], pose, *limits, config, MATCH_STAGES, config.match_iterations
        )
        rms = float(np.sqrt(cost / size))
        return found, rms <= threshold, rms

    return match


def imagine_demonstration(
    sim: KukaSim,
    camera: CameraConfig,
    frames: np.ndarray,
    start: np.ndarray,
    embed: Callable[[np.ndarray], np.ndarray],
    config: ImagineConfig | None = None,
    goals: np.ndarray | None = None,
    light: Lighting | None = None,
) -> np.ndarray:
    """:func:`imagine_trajectory` for a demonstration's ``frames`` ``(T, H, W, 3)``, seen
    through ``camera`` in ``sim``'s scene (rendered in ``light``), from its first pose
    ``start``: searched in ``embed``'s space (``goals``: the frames' embeddings, when
    already computed) where the pose the motion predicts, refined in the frame itself, does
    not match it already, each searched pose refined in the frame, and the last held over
    its still frames (their mean frame, :func:`resting_frames`, is the last one read). The
    warm start allows for what the renderer cannot match of the first frame at ``start``
    (:func:`match_floor`)."""
    config = config or ImagineConfig()
    goals = embed(frames) if goals is None else np.array(goals)
    floor = match_floor(pose_renderer(sim, camera, light), frames[0], start, config)
    still = still_frames(frames)
    rested = resting_frames(frames, still)
    if rested is not frames:
        goals[len(frames) - still :] = embed(rested[-1:])
    return imagine_trajectory(
        goals,
        start,
        pose_embedder(sim, camera, embed, light),
        *search_limits(sim),
        config,
        refine=frame_refiner(sim, camera, rested, config, light, floor),
        match=frame_matcher(sim, camera, rested, config, light, floor),
        still=still,
    )
