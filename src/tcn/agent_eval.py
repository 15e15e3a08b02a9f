"""The evaluation stage: an agent run, or a baseline policy, rolled out on held-out
demonstrations read from their frames, against the recorded joints it never sees."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tcn.agent_store import load_policy
from tcn.atomic import write_json_atomic
from tcn.demonstrations import (
    embedder_of,
    load_demonstrations,
    pose_decoder_for,
    train_val_splits,
)
from tcn.embedding_run import load_embedding_model
from tcn.errors import TcnError
from tcn.reading import read_demonstrations, reading_report
from tcn.runs import read_config, resolve_checkpoint


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
    from imitation_agent.train import AgentConfig, ObservationSettings

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if agent is not None:
        run = Path(agent)
        saved = read_config(run)
        config = AgentConfig.from_dict(saved["agent"])
        embedding = Path(saved["embedding"]) if embedding is None else embedding
        if reader_settings is None and reader == config.observation.train_reader:
            reader_settings = saved.get("reader_settings")
    elif embedding is None:
        raise TcnError("a baseline needs --embedding (the observation holds TCN embeddings)")
    elif baseline == "servo":
        config = AgentConfig()  # the agent's observation, the demonstration read
    else:
        config = AgentConfig(
            observation=ObservationSettings(pose_features=False)
        )  # they observe nothing: no reading needed
    model_tcn = load_embedding_model(embedding)
    _, val_split = train_val_splits(data)
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
        if baseline == "replay" and config.env.action != "position_delta":
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
            "pose_source": config.observation.pose_source
            if config.observation.pose_features
            else None,
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
