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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from kuka_sim import SimConfig
from tcn.atomic import atomic_path, write_json_atomic
from tcn.dataset import load_index
from tcn.embedding_run import load_embedding_model
from tcn.errors import TcnError
from tcn.reading import read_demonstrations, reading_report
from tcn.runs import (
    check_resume,
    read_config,
    resolve_checkpoint,
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


def deployment(config: Any) -> dict[str, Any]:
    """What deploying an agent of ``config`` needs, recorded in its run's config.yaml: the
    action kind and the simulator control mode it drives, the observation layout's parts,
    and where the demonstration's target comes from."""
    env = config.env_config()
    return {
        "action": env.action,
        "control_mode": env.control_mode.value,
        "observation": {
            "embeddings": env.embedding_obs,
            "lookahead": env.lookahead,
            "pose_features": env.pose_features,
            "time_feature": env.time_feature,
        },
        "pose_source": env.pose_source if env.pose_features else None,
        "train_reader": config.train_reader if env.pose_from_reading else None,
    }


def load_policy(agent: Path | str, config: Any):
    """The deterministic ``obs -> action`` of the agent run ``agent`` (``checkpoints/last.zip``
    with its observation statistics), as evaluation and the ROS node deploy it."""
    from stable_baselines3 import PPO

    from imitation_agent.train import normalized_policy

    ckpts = Path(agent) / "checkpoints"
    if not (ckpts / LAST).is_file():
        raise TcnError(f"{agent}: no checkpoints/{LAST}; train it with `tcn train-agent`")
    with np.load(ckpts / NORM) as state:
        return normalized_policy(
            PPO.load(ckpts / LAST, device="cpu"), dict(state), normalize_obs=config.normalize_obs
        )


def build_ppo(
    venv: Any, config: Any, layout: Any, agent: Path | None = None, **kwargs: Any
) -> Any:
    """PPO on ``venv`` (a VecNormalize of observations laid out as ``layout``): continued
    from the agent run ``agent`` (its weights and normalisation statistics, loaded into
    ``venv``), or new with ``config``'s settings; ``kwargs`` go to PPO (``tensorboard_log``,
    ``device``)."""
    from stable_baselines3 import PPO

    from imitation_agent.train import load_normalization_state

    if agent is not None:
        ckpts = Path(agent) / "checkpoints"
        with np.load(ckpts / NORM) as state:
            load_normalization_state(venv, dict(state))
        return PPO.load(ckpts / LAST, env=venv, device=kwargs.get("device", config.device))
    return PPO(config.policy_class(), venv, verbose=0, **{**config.ppo_kwargs(layout), **kwargs})


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
    reader_settings: Mapping[str, Any] | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Train (or resume) PPO; returns a summary with timesteps and wall time.

    When ``config`` observes readings, the training demonstrations are read by
    ``config.train_reader`` (:func:`tcn.reading.read_demonstrations`, cached, ``workers``
    processes) with ``reader_settings``; a resumed run reads with the settings it was
    started with."""
    import time

    from stable_baselines3.common.callbacks import BaseCallback
    from tqdm import tqdm

    from imitation_agent.train import make_vec_env, normalize

    run = Path(run)
    ckpts = run / "checkpoints"
    has_checkpoint = (ckpts / LAST).is_file()
    if has_checkpoint and not resume:
        raise TcnError(
            f"{run} already holds a run; pass --resume to continue it or pick a new --out"
        )
    embedding_ckpt = resolve_checkpoint(embedding)
    reader_settings = dict(reader_settings or {})
    if has_checkpoint:
        recorded = read_config(run)
        check_resume(run, recorded["agent"], config, RESUMABLE_CHANGES)
        started = recorded.get("reader_settings") or {}
        if reader_settings and reader_settings != started:
            raise TcnError(
                f"{run} was started on demonstrations read with {started}; resume it with the "
                f"same reader settings or none"
            )
        reader_settings = started

    model_tcn = load_embedding_model(embedding_ckpt)
    decoder = pose_decoder_for(model_tcn, config, embedding_ckpt)
    train_split, _ = _splits(data)
    pixels = config.reward == "pixels"
    reads = config.env_config().pose_from_reading
    frames_to_read = reads and config.train_reader == "render-compare"
    demos = load_demonstrations(data, train_split, model_tcn, keep_frames=pixels or frames_to_read)
    if reads:
        demos = read_demonstrations(
            demos,
            config.train_reader,
            model_tcn,
            embedding_ckpt,
            settings=reader_settings,
            workers=workers,
            progress=progress,
        )
        if not pixels:  # the frames were for reading; the environments need none
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
            "reader_settings": reader_settings,
            "deploy": deployment(config),
        },
    )

    venv = normalize(make_vec_env(demos, config, embedder_of(model_tcn), decoder), config)
    from imitation_agent import ImitationEnv

    layout = ImitationEnv.layout_for(demos, config.env_config())
    model = build_ppo(
        venv, config, layout, run if has_checkpoint else None, tensorboard_log=str(run / "logs")
    )
    done = 0
    if has_checkpoint:
        done = int(json.loads((ckpts / PROGRESS).read_text())["timesteps"])
        log.info("resumed %s at %d timesteps", run, done)
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
    reader: str = "render-compare",
    reader_settings: Mapping[str, Any] | None = None,
    workers: int = 1,
    servo_reference: str = "reading",
    progress: bool = False,
) -> dict[str, Any]:
    """Roll a trained agent (or a baseline policy) out on held-out demonstrations.

    An agent (or the ``servo``) that observes readings gets each demonstration read by
    ``reader`` (:data:`imitation_agent.readers.READERS`; default ``render-compare``, from
    its frames alone) with ``reader_settings`` (default: those the agent was trained with),
    through the cache of :func:`tcn.reading.read_demonstrations`, in ``workers`` processes.
    ``servo_reference``: what the servo compares the demonstration's reading with
    (:class:`~imitation_agent.evaluate.ServoPolicy`)."""
    from imitation_agent import EnvConfig, ImitationEnv
    from imitation_agent.evaluate import (
        DemoReplayPolicy,
        IdlePolicy,
        RandomPolicy,
        ServoPolicy,
        evaluate,
    )
    from imitation_agent.train import AgentConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if agent is not None:
        run = Path(agent)
        saved = read_config(run)
        config = AgentConfig.from_dict(saved["agent"])
        embedding = Path(saved["embedding"]) if embedding is None else embedding
        if reader_settings is None and reader == config.train_reader:
            reader_settings = saved.get("reader_settings")
    elif embedding is None:
        raise TcnError("a baseline needs --embedding (the observation holds TCN embeddings)")
    elif baseline == "servo":
        config = AgentConfig()  # the agent's observation, the demonstration read
    else:
        config = AgentConfig(pose_features=False)  # they observe nothing: no reading needed
    model_tcn = load_embedding_model(embedding)
    _, val_split = _splits(data)
    demos = load_demonstrations(data, val_split, model_tcn, keep_frames=True, limit=episodes)
    reads = config.env_config().pose_from_reading
    if reads:
        demos = read_demonstrations(
            demos,
            reader,
            model_tcn,
            resolve_checkpoint(embedding),
            settings=reader_settings,
            workers=workers,
            progress=progress,
        )
    decoder = pose_decoder_for(model_tcn, config, embedding)
    env = ImitationEnv(
        demos, config.env_config(), embedder=embedder_of(model_tcn), pose_decoder=decoder
    )
    if baseline is None:
        policy = load_policy(agent, config)
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
    reading = reading_report(demos) if reads else None
    metrics.update(
        {
            "policy": name,
            "pose_source": config.pose_source if config.pose_features else None,
            "reader": reader if reads else None,
            "reader_settings": dict(reader_settings or {}) if reads else None,
            "data": str(data),
            "split": val_split or "all",
            "demos": [r.demo for r in results],
            "per_episode": [
                {
                    "demo": r.demo,
                    "final_joint_error": r.final_joint_error,
                    "success": bool(r.success),
                    **(
                        {"reading_final_error": reading["per_demo"][r.demo]["final_error"]}
                        if reading
                        else {}
                    ),
                }
                for r in results
            ],
        }
    )
    if reading:
        metrics["reading"] = {k: v for k, v in reading.items() if k != "per_demo"}
    from tcn.plots import plot_rollout, write_side_by_side

    plot_rollout(results[0], out / "rollout.png")
    if video:
        write_side_by_side(demos[0].frames, results[0].frames, out / "side_by_side.gif")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
