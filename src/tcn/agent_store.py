"""An agent run's policy on disk: what deploying it needs, loading it to act, building PPO
to train or continue it, saving its checkpoint atomically. Training, evaluation and the ROS
node all go through these.

Run directory ``RUN/``::

    config.yaml                 agent settings, the embedding checkpoint, the demos, deploy
    checkpoints/last.zip        PPO (stable-baselines3 zip, loaded with weights_only tensors)
    checkpoints/last_norm.npz   VecNormalize statistics (plain arrays, no pickle)
    checkpoints/progress.json   timesteps done
    logs/                       TensorBoard (rollout/, train/, time/, eval/)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tcn.atomic import atomic_path, write_json_atomic
from tcn.errors import TcnError

LAST = "last.zip"
NORM = "last_norm.npz"
PROGRESS = "progress.json"


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
        "train_reader": config.observation.train_reader if env.pose_from_reading else None,
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
            PPO.load(ckpts / LAST, device="cpu"),
            dict(state),
            normalize_obs=config.ppo.normalize_obs,
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
