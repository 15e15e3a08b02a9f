"""``tcn quickstart``: every stage of the pipeline, each resumable, and a markdown report."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from tcn.runs import latest_checkpoint

log = logging.getLogger(__name__)


def _stage(name: str) -> float:
    log.info("quickstart: %s", name)
    return time.perf_counter()


def quickstart(
    out: Path,
    *,
    episodes: int = 40,
    val_episodes: int = 4,
    frames: int = 100,
    image_size: int = 128,
    embedding_epochs: int = 30,
    agent_steps: int = 40_000,
    n_envs: int = 4,
    workers: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> Path:
    """Run (or resume) the pipeline into ``out``; returns the report's path."""
    from imitation_agent.train import AgentConfig
    from kuka_sim import DemoConfig, make_cameras
    from tcn.agent_run import evaluate_agent_run, train_agent_run
    from tcn.embedding_run import evaluate_embedding, train_embedding_run
    from tcn.presets import load
    from tcn.record import record_dataset
    from tcn_embedding.train import TrainConfig

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demos, embedding, agent = out / "demos", out / "embedding", out / "agent"
    seconds: dict[str, float] = {}

    start = _stage("record demonstrations")
    record_dataset(
        demos,
        episodes,
        make_cameras(1, image_size),
        seed=seed,
        demo=DemoConfig(frames=frames),
        val_episodes=val_episodes,
        workers=workers,
    )
    seconds["record"] = time.perf_counter() - start

    start = _stage("train the embedding")
    embedding_config = TrainConfig.from_dict(
        {
            **load("embedding", "cpu"),
            "epochs": embedding_epochs,
            "seed": seed,
            "eval_every": max(1, embedding_epochs // 6),
        }
    )
    train_embedding_run(
        demos,
        embedding,
        embedding_config,
        resume=latest_checkpoint(embedding) is not None,
        progress=progress,
    )
    embedding_metrics = evaluate_embedding(embedding, demos, embedding / "eval")
    seconds["embedding"] = time.perf_counter() - start

    start = _stage("train the agent")
    preset = load("agent", "cpu")
    # PPO always collects whole rollouts: keep one within the step budget.
    n_steps = max(8, min(preset["n_steps"], agent_steps // n_envs))
    agent_config = AgentConfig.from_dict(
        {
            **preset,
            "timesteps": agent_steps,
            "n_envs": n_envs,
            "seed": seed,
            "n_steps": n_steps,
            "batch_size": min(preset["batch_size"], n_steps * n_envs),
        }
    )
    train_agent_run(
        embedding,
        demos,
        agent,
        agent_config,
        resume=(agent / "checkpoints" / "last.zip").is_file(),
        progress=progress,
    )
    seconds["agent"] = time.perf_counter() - start

    start = _stage("evaluate on held-out demonstrations")
    agent_metrics = evaluate_agent_run(agent, demos, agent / "eval")
    baselines = {
        name: evaluate_agent_run(
            None, demos, out / "baselines" / name, baseline=name, embedding=embedding, video=False
        )
        for name in ("random", "replay")
    }
    seconds["evaluate"] = time.perf_counter() - start
    report = out / "report.md"
    report.write_text(
        _report(
            out,
            embedding_metrics,
            agent_metrics,
            baselines,
            seconds,
            episodes,
            val_episodes,
            agent_steps,
        )
    )
    (out / "summary.json").write_text(
        json.dumps(
            {
                "embedding": embedding_metrics,
                "agent": _plain(agent_metrics),
                "baselines": {k: _plain(v) for k, v in baselines.items()},
                "seconds": seconds,
            },
            indent=2,
        )
    )
    return report


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in ("per_episode",)}


def _row(name: str, m: dict[str, Any]) -> str:
    return (
        f"| {name} | {100 * m['success_rate']:.0f}% | {m['mean_joint_error']:.3f} | "
        f"{m['final_joint_error']:.3f} | {m['final_ee_error']:.3f} |"
    )


def _report(
    out: Path,
    emb: dict[str, Any],
    agent: dict[str, Any],
    baselines: dict[str, dict[str, Any]],
    seconds: dict[str, float],
    episodes: int,
    val: int,
    steps: int,
) -> str:
    minutes = sum(seconds.values()) / 60
    probe = emb.get("joint_probe_r2")
    lines = [
        "# tcn quickstart report",
        "",
        f"{episodes} demonstrations ({episodes - val} train, {val} held out), "
        f"{minutes:.1f} minutes in all "
        f"({', '.join(f'{k} {v / 60:.1f}' for k, v in seconds.items())} min).",
        "",
        "## Embedding (validation episodes)",
        "",
        "| triplet accuracy | with margin | joint probe R² | classification error |",
        "|---|---|---|---|",
        f"| {emb['triplet_accuracy']:.3f} | {emb['triplet_accuracy_margin']:.3f} | "
        f"{'-' if probe is None else f'{probe:.2f}'} | "
        f"{emb.get('classification_error', float('nan')):.3f} |",
        "",
        "![t-SNE](embedding/eval/tsne.png) ![distances](embedding/eval/distance_matrix.png)",
        "",
        f"## Agent after {steps} steps (held-out demonstrations)",
        "",
        "| policy | success (final error < 0.2 rad) | mean joint error (rad) | "
        "final joint error (rad) | final end-effector error (m) |",
        "|---|---|---|---|---|",
        _row("PPO on the TCN reward", agent),
        _row("random", baselines["random"]),
        _row("replay of the demonstration's joints (harness check)", baselines["replay"]),
        "",
        "Demonstration | agent: ![side by side](agent/eval/side_by_side.gif)",
        "",
        "![reward and joint error](agent/eval/rollout.png)",
        "",
    ]
    return "\n".join(lines)
