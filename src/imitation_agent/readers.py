"""Reading a demonstration: the joint trajectory its frames show, by what a reader may use.

A :class:`DemoReader` maps a :class:`~imitation_agent.env.Demonstration` to joint positions
``(T, 7)``. An agent observes that reading as the demonstration's target
(``EnvConfig.pose_source="reading"``); the reward still compares frames in the embedding.
Each reader is named for what it uses:

* :class:`RecordedJoints` (``recorded``): the joints recorded with the demonstration. They
  are privileged: a video from elsewhere has none. Training on them is the headline's
  choice (the training demonstrations are ours); evaluating with them is a diagnostic.
* :class:`PoseHeadReader` (``pose-head``): the embedding's linear pose head applied to the
  demonstration's embeddings, frame by frame. Needs an embedding trained with
  self-regression; cheap, and as precise as the head.
* :class:`RenderAndCompare` (``render-compare``): render-and-compare in the simulator
  (:mod:`imitation_agent.imagine`): from the demonstration's first pose, the own pose whose
  rendered frame matches each frame, searched in the embedding and refined in the frame. It
  needs the demonstration's camera and scene (``Demonstration.camera`` and ``.sim``, which
  ``tcn record`` stores) and its frames. By default it first estimates the camera from the
  first frame at the first pose (self-calibration, :mod:`imitation_agent.calibrate`), since
  no real camera sits exactly where its calibration says; :meth:`DemoReader.camera` gives
  the camera a reading was made through, which the agent then renders with.
"""

from __future__ import annotations

import json
import logging
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from threadpoolctl import threadpool_limits

from imitation_agent.calibrate import CalibrationConfig, calibrate_camera, calibrate_lighting
from imitation_agent.env import POSE_JOINTS, Demonstration, PoseDecoder, check_pose_decoder
from imitation_agent.imagine import ImagineConfig, imagine_demonstration
from kuka_sim import CameraConfig, KukaSim, Lighting

log = logging.getLogger(__name__)

ReaderName = Literal["render-compare", "pose-head", "recorded"]
READERS: tuple[str, ...] = typing.get_args(ReaderName)
"""Reader names, the default first."""


class DemoReader(Protocol):
    """Reads a demonstration's joint trajectory.

    Attributes:
        name: one of :data:`READERS`.
        privileged: whether it uses what a video does not show (the recorded joints).
    """

    name: ClassVar[str]
    privileged: ClassVar[bool]

    def read(self, demo: Demonstration) -> np.ndarray:
        """Joint positions ``(len(demo), 7)`` rad."""
        ...

    def camera(self, demo: Demonstration) -> CameraConfig:
        """The camera the demonstration was filmed with, as this reader takes it: its stored
        camera, or one estimated from its frames."""
        ...

    def settings(self) -> dict[str, Any]:
        """What the reading depends on besides the demonstration and the embedding (for
        cache keys and records)."""
        ...

    def close(self) -> None: ...


class RecordedJoints:
    """The demonstration's recorded joints (privileged: for training and diagnostics)."""

    name: ClassVar[str] = "recorded"
    privileged: ClassVar[bool] = True

    def read(self, demo: Demonstration) -> np.ndarray:
        return np.array(demo.joint_positions, dtype=np.float64)

    def camera(self, demo: Demonstration) -> CameraConfig:
        return demo.camera

    def settings(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class PoseHeadReader:
    """The embedding's pose head on each of the demonstration's embeddings."""

    name: ClassVar[str] = "pose-head"
    privileged: ClassVar[bool] = False

    def __init__(self, decoder: PoseDecoder | None) -> None:
        self.decoder = decoder

    def read(self, demo: Demonstration) -> np.ndarray:
        decoder = check_pose_decoder(self.decoder, demo.embeddings.shape[1])
        return decoder(demo.embeddings)

    def camera(self, demo: Demonstration) -> CameraConfig:
        return demo.camera

    def settings(self) -> dict[str, Any]:
        return {}

    def close(self) -> None:
        pass


class RenderAndCompare:
    """Render-and-compare in the simulator, with the demonstration's own camera and scene.

    ``embed`` maps uint8 frames ``(N, H, W, 3)`` to embeddings ``(N, D)``: the space the
    first stage searches in (the TCN's, or any other such as downsampled pixels); the
    refinement compares frames themselves (:func:`imitation_agent.imagine.refine_pose`).

    The camera and light estimates, and each reading, are made in a simulator of their own,
    closed afterwards: PyBullet's TinyRenderer carries state from one call to the next (a
    pose's frame can differ by one intensity level at an edge pixel with the frames rendered
    before it, ``experiments/renderer_state.py``), and a search amplifies such a difference
    where the frame barely tells two poses apart. A reading is therefore the same whatever
    the reader read before it (a pool worker's other demonstrations) and however often it
    is made.
    """

    name: ClassVar[str] = "render-compare"
    privileged: ClassVar[bool] = False

    def __init__(
        self, embed: Callable[[np.ndarray], np.ndarray], config: ImagineConfig | None = None
    ) -> None:
        self.embed = embed
        self.config = config or ImagineConfig()
        self._cameras: dict[tuple[str, str], CameraConfig] = {}
        self._lights: dict[tuple[str, str], Lighting | None] = {}

    @staticmethod
    def _frames(demo: Demonstration) -> np.ndarray:
        if demo.frames is None:
            raise ValueError(f"{demo.name}: render-and-compare needs the demonstration's frames")
        return demo.frames

    @staticmethod
    def _calibration_key(demo: Demonstration) -> tuple[str, str]:
        """What a calibration depends on: the demonstration and its stored camera."""
        return demo.name, json.dumps(demo.camera.to_dict(), sort_keys=True)

    def _calibrate(self, demo: Demonstration) -> tuple[CameraConfig, Lighting | None]:
        """The camera and light :meth:`camera` and :meth:`light` give, estimated once per
        demonstration and stored camera, both in one fresh simulator."""
        key = self._calibration_key(demo)
        if key in self._cameras:
            return self._cameras[key], self._lights[key]
        frame, pose = self._frames(demo)[0], demo.joint_positions[0]
        with KukaSim(demo.sim) as sim:
            camera, info = calibrate_camera(
                sim,
                demo.camera,
                frame,
                pose,
                CalibrationConfig(
                    fit_fov=self.config.calibrate_fov, compare=self.config.calibrate_compare
                ),
            )
            if camera != demo.camera:
                log.info(
                    "%s: camera estimated from its first frame (difference %.4f -> %.4f rms, "
                    "%d frames rendered)",
                    demo.name,
                    info["nominal_rms"],
                    info["rms"],
                    info["frames"],
                )
            light = None
            if self.config.calibrate_light:
                light, info = calibrate_lighting(sim, camera, frame, pose)
                if light != Lighting():
                    log.info(
                        "%s: light estimated from its first frame (difference %.4f -> %.4f "
                        "rms, %d frames rendered)",
                        demo.name,
                        info["default_rms"],
                        info["rms"],
                        info["frames"],
                    )
        self._cameras[key], self._lights[key] = camera, light
        return camera, light

    def camera(self, demo: Demonstration) -> CameraConfig:
        """With ``config.calibrate``, the camera estimated from the first frame at the first
        pose (once per demonstration and stored camera); else the stored camera."""
        return self._calibrate(demo)[0] if self.config.calibrate else demo.camera

    def light(self, demo: Demonstration) -> Lighting | None:
        """With ``config.calibrate`` and ``config.calibrate_light``, the light estimated from
        the first frame at the first pose through :meth:`camera` (once per demonstration and
        stored camera; the renderer's default where it renders that frame at least as
        well); None (the renderer's default) otherwise."""
        return self._calibrate(demo)[1] if self.config.calibrate else None

    def read(self, demo: Demonstration) -> np.ndarray:
        """The reading, in a fresh simulator, with BLAS held to one thread: its products are
        a few thousand by 7, where a second thread gains nothing and, with one reader a
        core, only contends (the CPU time of a reading went from 1.5 times its wall time to
        1.0)."""
        frames = self._frames(demo)
        camera, light = self.camera(demo), self.light(demo)
        with KukaSim(demo.sim) as sim, threadpool_limits(limits=1, user_api="blas"):
            return imagine_demonstration(
                sim,
                camera,
                frames,
                demo.joint_positions[0],
                self.embed,
                self.config,
                goals=demo.embeddings,
                light=light,
            )

    def settings(self) -> dict[str, Any]:
        return self.config.to_dict()

    def close(self) -> None:
        self._cameras.clear()
        self._lights.clear()


def make_reader(
    name: str,
    *,
    embed: Callable[[np.ndarray], np.ndarray] | None = None,
    decoder: PoseDecoder | None = None,
    settings: Mapping[str, Any] | None = None,
) -> DemoReader:
    """The reader called ``name`` (:data:`READERS`); ``embed`` for ``render-compare``,
    ``decoder`` for ``pose-head``, ``settings`` (:class:`ImagineConfig` fields) for
    ``render-compare`` only."""
    if name not in READERS:
        raise ValueError(f"unknown reader {name!r}; expected one of {READERS}")
    if settings and name != "render-compare":
        raise ValueError(f"reader {name!r} takes no settings, got {sorted(settings)}")
    if name == "recorded":
        return RecordedJoints()
    if name == "pose-head":
        return PoseHeadReader(decoder)
    if embed is None:
        raise ValueError("render-compare needs an embed function")
    return RenderAndCompare(embed, ImagineConfig.from_dict(dict(settings or {})))


def reading_errors(reading: np.ndarray, recorded: np.ndarray) -> dict[str, float]:
    """How a reading ``(T, 7)`` compares with the recorded joints: the final pose's L2 error
    (rad; imitation succeeds below ``SUCCESS_THRESHOLD`` of it) and the mean per-frame L2."""
    reading, recorded = np.asarray(reading), np.asarray(recorded)
    if reading.shape != recorded.shape or reading.shape[-1] != POSE_JOINTS:
        raise ValueError(f"reading {reading.shape} against recorded {recorded.shape}")
    per_frame = np.linalg.norm(reading - recorded, axis=1)
    return {"final_error": float(per_frame[-1]), "mean_error": float(per_frame.mean())}
