"""Agent runs on disk: train PPO on the TCN reward (with resume), evaluate against ground truth.

Run directory ``RUN/``::

    config.yaml                 agent settings, the embedding checkpoint, the demos
    checkpoints/last.zip        PPO (stable-baselines3 zip, loaded with weights_only tensors)
    checkpoints/last_norm.npz   VecNormalize statistics (plain arrays, no pickle)
    checkpoints/progress.json   timesteps done
    logs/                       TensorBoard (rollout/, train/, time/, eval/)
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from kuka_sim import SimConfig
from tcn.atomic import atomic_path, write_json_atomic
from tcn.dataset import load_index
from tcn.embedding_run import load_embedding_model
from tcn.errors import TcnError
from tcn.runs import (
    check_resume,
    read_config,
    resolve_checkpoint,
    run_of,
    write_config,
)

log = logging.getLogger(__name__)

LAST = "last.zip"
NORM = "last_norm.npz"
PROGRESS = "progress.json"
RESUMABLE_CHANGES = {"timesteps", "device"}


def load_demonstrations(
    data: Path | str,
    split: str | None,
    model: Any,
    keep_frames: bool = False,
    limit: int | None = None,
) -> list:
    """Demonstrations of a dataset split with their embeddings, computed once here."""
    from imitation_agent import Demonstration
    from tcn.bags import read_episode
    from tcn.dataset import episode_paths

    demos = []
    for path in episode_paths(data, split)[:limit]:
        episode = read_episode(path)
        camera = episode.cameras[0]
        if camera is None:
            raise TcnError(
                f"{path}: the bag stores no camera configuration, so the agent cannot render "
                f"the same view; record demonstrations with `tcn record`"
            )
        sim = SimConfig.from_dict(episode.info["sim"]) if "sim" in episode.info else SimConfig()
        demos.append(
            Demonstration(
                name=path.name,
                joint_positions=episode.joint_positions,
                embeddings=model.embed(episode.frames[0]).numpy(),
                camera=camera,
                sim=sim,
                frames=episode.frames[0] if keep_frames else None,
            )
        )
    return demos


IMAGINED = "imagined"
"""Cache directory of imagined trajectories, beside the embedding checkpoint (or in its run)."""
IMAGINE_VERSION = 2
"""Part of every cache key: raise it when :func:`imitation_agent.imagine.imagine_trajectory`
changes what it computes, so that older trajectories are imagined again."""


def imagined_cache_dir(checkpoint: Path) -> Path:
    """Where trajectories imagined with ``checkpoint`` are cached: its run's ``imagined/``,
    or ``imagined/`` beside a checkpoint file outside a run."""
    checkpoint = Path(checkpoint)
    return (run_of(checkpoint) or checkpoint.parent) / IMAGINED


def imagine_demonstrations(
    demos: list,
    model: Any,
    checkpoint: Path,
    config: Any = None,
    cache: Path | None = None,
) -> list:
    """``demos`` with ``imagined_joints``: each one's trajectory read from its frames by
    imagining (:func:`imitation_agent.imagine.imagine_trajectory`) in ``model``'s embedding,
    from its first pose, rendered with its own camera and scene, each searched pose refined in
    its frames (which ``demos`` must hold: ``keep_frames``), the last one held from the moment
    they stop changing.

    Each trajectory is cached in ``cache`` (default :func:`imagined_cache_dir`) under a
    digest of what it depends on: the checkpoint's bytes, the demonstration (its name and
    recorded joint trajectory), its camera and scene, the settings ``config``
    (:class:`~imitation_agent.imagine.ImagineConfig`) and :data:`IMAGINE_VERSION`. A cached
    file that cannot be read is recomputed and replaced, with a warning naming it.
    """
    import hashlib
    import time

    from imitation_agent.imagine import ImagineConfig, imagine_demonstration
    from kuka_sim import KukaSim

    config = config or ImagineConfig()
    checkpoint = Path(checkpoint)
    cache = imagined_cache_dir(checkpoint) if cache is None else Path(cache)
    model_digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    embed = embedder_of(model)
    sims: dict[str, Any] = {}
    out = []
    try:
        for i, demo in enumerate(demos):
            path = (
                cache / f"{Path(demo.name).stem}-{_imagined_key(model_digest, config, demo)}.npy"
            )
            joints = _read_imagined(path, len(demo))
            if joints is None:
                if demo.frames is None:
                    raise TcnError(f"{demo.name}: imagining it needs its frames (keep_frames)")
                scene = json.dumps(demo.sim.to_dict(), sort_keys=True)
                if scene not in sims:
                    sims[scene] = KukaSim(demo.sim)
                sim = sims[scene]
                started = time.perf_counter()
                joints = imagine_demonstration(
                    sim,
                    demo.camera,
                    demo.frames,
                    demo.joint_positions[0],
                    embed,
                    config,
                    goals=demo.embeddings,
                )
                cache.mkdir(parents=True, exist_ok=True)
                with atomic_path(path, suffix=".npy") as tmp, tmp.open("wb") as f:
                    np.save(f, joints)
                log.info(
                    "imagined %s (%d of %d) in %.0f s",
                    demo.name,
                    i + 1,
                    len(demos),
                    time.perf_counter() - started,
                )
            out.append(dataclasses.replace(demo, imagined_joints=joints))
    finally:
        for sim in sims.values():
            sim.close()
    return out


def _imagined_key(model_digest: str, config: Any, demo: Any) -> str:
    """A digest of what a demonstration's imagined trajectory depends on. The demonstration
    enters as its name and recorded joints (exact numbers from its bag), not its embeddings,
    which carry float noise from run to run (thread counts)."""
    import hashlib

    key = hashlib.sha256()
    for part in (
        f"v{IMAGINE_VERSION}",
        model_digest,
        json.dumps(config.to_dict(), sort_keys=True),
        demo.name,
        json.dumps(demo.camera.to_dict(), sort_keys=True),
        json.dumps(demo.sim.to_dict(), sort_keys=True),
    ):
        key.update(part.encode())
    key.update(np.ascontiguousarray(demo.joint_positions, dtype=np.float64).tobytes())
    return key.hexdigest()[:20]


def _read_imagined(path: Path, length: int) -> np.ndarray | None:
    """The cached trajectory at ``path``, or None (absent, or unreadable: then warned)."""
    if not path.is_file():
        return None
    try:
        joints = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        log.warning("%s: unreadable imagined trajectory (%s); imagining it again", path, exc)
        return None
    if joints.shape != (length, 7) or not np.all(np.isfinite(joints)):
        log.warning(
            "%s: holds %s, not (%d, 7) finite joints; imagining it again",
            path,
            joints.shape,
            length,
        )
        return None
    return joints


def _imagine_settings(config: Any, imagine: Any = None) -> dict[str, Any] | None:
    """The search settings an agent of ``config`` imagines with, for the record (None when it
    does not imagine)."""
    if not uses_imagined(config):
        return None
    from imitation_agent.imagine import ImagineConfig

    return (imagine or ImagineConfig()).to_dict()


def _reading_errors(demos: list) -> dict[str, float]:
    """Each demonstration's imagined final pose against its recorded one (L2, rad): how well
    it was read, apart from how well a policy then follows the reading."""
    return {
        demo.name: float(np.linalg.norm(demo.imagined_joints[-1] - demo.joint_positions[-1]))
        for demo in demos
    }


def _check_imagine_applies(config: Any, imagine: Any) -> None:
    """Refuse search settings for an agent of ``config`` that does not imagine."""
    if imagine is not None and not uses_imagined(config):
        raise TcnError("--imagine sets the search of --pose-source imagined, which this is not")


def _resumed_imagine(run: Path, recorded: dict | None, imagine: Any) -> Any:
    """The search settings a resumed run imagines with: those it was started with (a run
    must go on learning from the same targets), which ``imagine``, when given, must equal."""
    if recorded is None:
        return imagine
    from imitation_agent.imagine import ImagineConfig

    started = ImagineConfig.from_dict(recorded)
    if imagine is not None and imagine != started:
        raise TcnError(
            f"{run} was started on demonstrations imagined with {started.to_dict()}; resume it "
            f"without --imagine or with the same settings"
        )
    return started


def uses_imagined(config: Any) -> bool:
    """Whether an agent of ``config`` observes imagined demonstration trajectories."""
    env = config.env_config()
    return env.pose_features and env.pose_source == "imagined"


def _splits(data: Path) -> tuple[str | None, str | None]:
    index = load_index(data) if Path(data).is_dir() else None
    if index is not None and index.names("val"):
        return "train", "val"
    log.warning("%s has no validation split: training and evaluating on every episode", data)
    return None, None


def embedder_of(model: Any):
    def embed(frames: np.ndarray) -> np.ndarray:
        return model.embed(frames).numpy()

    return embed


def pose_decoder_of(model: Any):
    """The embedding's pose head as an :class:`imitation_agent.PoseDecoder` (None without)."""
    from imitation_agent import PoseDecoder

    head = model.pose_decoder()
    return None if head is None else PoseDecoder(*head)


def pose_decoder_for(model: Any, config: Any, checkpoint: Path | str):
    """The pose decoder an agent of ``config`` observes through (None unless its pose
    features come from the head); a ``TcnError`` when it needs one the embedding lacks."""
    if not config.env_config().pose_from_head:
        return None
    decoder = pose_decoder_of(model)
    if decoder is None:
        raise TcnError(
            f"--pose-features needs an embedding with a pose head; {checkpoint} has none "
            f"(train it with tcn train-embedding --self-regression WEIGHT)"
        )
    return decoder


def save_agent_checkpoint(model: Any, venv: Any, directory: Path, timesteps: int) -> None:
    """Atomically write last.zip, last_norm.npz and progress.json (train-agent, learn mode)."""
    from imitation_agent.train import normalization_state

    directory.mkdir(parents=True, exist_ok=True)
    with atomic_path(directory / LAST, suffix=".zip") as tmp:
        model.save(tmp)
    with atomic_path(directory / NORM, suffix=".npz") as tmp, tmp.open("wb") as f:
        np.savez(f, **normalization_state(venv))
    write_json_atomic(directory / PROGRESS, {"timesteps": timesteps})


def train_agent_run(
    embedding: Path,
    data: Path,
    run: Path,
    config: Any,
    *,
    resume: bool = False,
    checkpoint_every: int = 20_000,
    progress: bool = True,
    imagine: Any = None,
) -> dict[str, Any]:
    """Train (or resume) PPO; returns a summary with timesteps and wall time.

    ``imagine``: the search settings (:class:`~imitation_agent.imagine.ImagineConfig`) the
    training demonstrations are read with when ``config`` observes imagined ones; default
    its defaults, or on resume the settings the run was started with."""
    import time

    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    from imitation_agent.train import load_normalization_state, make_vec_env, normalize

    run = Path(run)
    ckpts = run / "checkpoints"
    has_checkpoint = (ckpts / LAST).is_file()
    if has_checkpoint and not resume:
        raise TcnError(
            f"{run} already holds a run; pass --resume to continue it or pick a new --out"
        )
    embedding_ckpt = resolve_checkpoint(embedding)
    _check_imagine_applies(config, imagine)
    if has_checkpoint:
        recorded = read_config(run)
        check_resume(run, recorded["agent"], config, RESUMABLE_CHANGES)
        imagine = _resumed_imagine(run, recorded.get("imagine"), imagine)

    model_tcn = load_embedding_model(embedding_ckpt)
    decoder = pose_decoder_for(model_tcn, config, embedding_ckpt)
    train_split, _ = _splits(data)
    pixels = config.reward == "pixels"
    demos = load_demonstrations(
        data, train_split, model_tcn, keep_frames=pixels or uses_imagined(config)
    )
    if uses_imagined(config):
        demos = imagine_demonstrations(demos, model_tcn, embedding_ckpt, imagine)
        if not pixels:  # the frames were for imagining; the environments need none
            demos = [dataclasses.replace(demo, frames=None) for demo in demos]
    log.info(
        "training on %d demonstrations (%s split of %s)", len(demos), train_split or "all", data
    )
    write_config(
        run,
        {
            "kind": "agent",
            "embedding": str(embedding_ckpt),
            "data": str(data),
            "agent": config.to_dict(),
            "imagine": _imagine_settings(config, imagine),
        },
    )

    venv = normalize(make_vec_env(demos, config, embedder_of(model_tcn), decoder), config)
    done = 0
    if has_checkpoint:
        with np.load(ckpts / NORM) as state:
            load_normalization_state(venv, dict(state))
        model = PPO.load(ckpts / LAST, env=venv, device=config.device)
        done = int(json.loads((ckpts / PROGRESS).read_text())["timesteps"])
        log.info("resumed %s at %d timesteps", run, done)
    else:
        model = PPO(
            "MlpPolicy", venv, tensorboard_log=str(run / "logs"), verbose=0, **config.ppo_kwargs()
        )
    remaining = config.timesteps - done
    if remaining <= 0:
        venv.close()
        return {"timesteps": done}

    class Checkpoints(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.bar = tqdm(
                total=config.timesteps,
                initial=done,
                unit="step",
                desc="train-agent",
                disable=not progress,
            )
            self.last_save = done

        def _on_step(self) -> bool:
            steps = self.model.num_timesteps
            self.bar.update(steps - self.bar.n)
            if steps - self.last_save >= checkpoint_every:
                save_agent_checkpoint(self.model, venv, ckpts, steps)
                self.last_save = steps
            return True

        def _on_training_end(self) -> None:
            self.bar.close()

    start = time.perf_counter()
    callback = Checkpoints()
    try:
        model.learn(
            remaining, callback=callback, reset_num_timesteps=not has_checkpoint, tb_log_name="ppo"
        )
    finally:
        save_agent_checkpoint(model, venv, ckpts, model.num_timesteps)
        venv.close()
    seconds = time.perf_counter() - start
    return {
        "timesteps": model.num_timesteps,
        "seconds": seconds,
        "steps_per_s": (model.num_timesteps - done) / seconds,
    }


def evaluate_agent_run(
    agent: Path | None,
    data: Path,
    out: Path,
    *,
    baseline: str | None = None,
    embedding: Path | None = None,
    episodes: int | None = None,
    video: bool = True,
    pose_source: str | None = None,
    servo_reference: str = "reading",
    imagine: Any = None,
) -> dict[str, Any]:
    """Roll a trained agent (or a baseline policy) out on held-out demonstrations.

    ``pose_source`` chooses where the pose features come from: the embedding's pose head
    (``head``, the ``servo`` baseline's default), the simulator (``truth``) or the
    demonstration read by imagining (``imagined``, :func:`imagine_demonstrations`); for an
    agent it replaces the source it was trained with (None keeps it).
    ``servo_reference``: what the servo compares the demonstration's reading with
    (:class:`ServoPolicy`); ``imagine``: the search settings of ``imagined``
    (:class:`~imitation_agent.imagine.ImagineConfig`; default: those an agent trained on
    imagined demonstrations was trained with, else the defaults)."""
    from imitation_agent import EnvConfig, ImitationEnv
    from imitation_agent.evaluate import (
        DemoReplayPolicy,
        IdlePolicy,
        RandomPolicy,
        ServoPolicy,
        evaluate,
    )
    from imitation_agent.train import AgentConfig, normalized_policy

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if agent is not None:
        run = Path(agent)
        saved = read_config(run)
        config = AgentConfig.from_dict(saved["agent"])
        embedding = Path(saved["embedding"]) if embedding is None else embedding
        if pose_source is not None and pose_source != config.pose_source:
            if not config.pose_features:
                raise TcnError(
                    f"{agent} observes no pose features; --pose-source has nothing to replace"
                )
            log.info(
                "pose features from %r instead of the agent's %r", pose_source, config.pose_source
            )
            config = dataclasses.replace(config, pose_source=pose_source)
        if imagine is None and saved.get("imagine") and uses_imagined(config):
            from imitation_agent.imagine import ImagineConfig

            imagine = ImagineConfig.from_dict(saved["imagine"])  # read as it learnt to read
    elif embedding is None:
        raise TcnError("a baseline needs --embedding (the observation holds TCN embeddings)")
    elif baseline == "servo":
        config = AgentConfig(pose_features=True, pose_source=pose_source or "head")
    else:
        config = AgentConfig()
    model_tcn = load_embedding_model(embedding)
    _, val_split = _splits(data)
    demos = load_demonstrations(data, val_split, model_tcn, keep_frames=True, limit=episodes)
    _check_imagine_applies(config, imagine)
    if uses_imagined(config):
        demos = imagine_demonstrations(demos, model_tcn, resolve_checkpoint(embedding), imagine)
    decoder = pose_decoder_for(model_tcn, config, embedding)
    env = ImitationEnv(
        demos, config.env_config(), embedder=embedder_of(model_tcn), pose_decoder=decoder
    )
    if baseline is None:
        from stable_baselines3 import PPO

        ckpts = Path(agent) / "checkpoints"
        if not (ckpts / LAST).is_file():
            raise TcnError(f"{agent}: no checkpoints/{LAST}; train it with `tcn train-agent`")
        with np.load(ckpts / NORM) as state:
            policy = normalized_policy(
                PPO.load(ckpts / LAST, device="cpu"),
                dict(state),
                normalize_obs=config.normalize_obs,
            )
        name = str(agent)
    else:
        policies = {
            "random": lambda: RandomPolicy(0),
            "idle": IdlePolicy,
            "replay": lambda: DemoReplayPolicy(env),
            "servo": lambda: ServoPolicy(env, reference=servo_reference),
        }
        if baseline not in policies:
            raise TcnError(f"unknown baseline {baseline!r}; expected one of {sorted(policies)}")
        if baseline == "replay" and config.action != "position_delta":
            env = ImitationEnv(
                demos,
                EnvConfig(**{**config.env_config().to_dict(), "action": "position_delta"}),
                embedder=embedder_of(model_tcn),
                pose_decoder=decoder,
            )
        policy = policies[baseline]()
        name = f"baseline:{baseline}"
        if baseline == "servo" and servo_reference != "reading":
            name += f"({servo_reference})"
    metrics, results = evaluate(env, policy, keep_frames=video)
    env.close()
    readings = _reading_errors(demos) if uses_imagined(config) else {}
    metrics.update(
        {
            "policy": name,
            "pose_source": config.pose_source if config.pose_features else None,
            "imagine": _imagine_settings(config, imagine),
            "data": str(data),
            "split": val_split or "all",
            "demos": [r.demo for r in results],
            "per_episode": [
                {
                    "demo": r.demo,
                    "final_joint_error": r.final_joint_error,
                    "success": bool(r.success),
                    **({"imagined_final_error": readings[r.demo]} if r.demo in readings else {}),
                }
                for r in results
            ],
        }
    )
    if readings:
        from imitation_agent.env import SUCCESS_THRESHOLD

        errors = np.array(list(readings.values()))
        metrics["imagined_final_error"] = float(errors.mean())
        metrics["imagined_success_rate"] = float(np.mean(errors < SUCCESS_THRESHOLD))
    from tcn.plots import plot_rollout, write_side_by_side

    plot_rollout(results[0], out / "rollout.png")
    if video:
        write_side_by_side(demos[0].frames, results[0].frames, out / "side_by_side.gif")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
