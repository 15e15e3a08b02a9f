"""``tcn quickstart``: the working recipe, every stage resumable, a report and a summary.

Stages, each into its own directory of ``OUT`` and each skipped or resumed when it is done
or interrupted:

1. ``demos/``: demonstrations (the ``record`` default preset's scene);
2. ``self/``: the robot's self-observation (``--motion babble``: a new random pose per
   frame, with its joints) in the same scene;
3. ``embedding/``: the TCN, the ``embedding`` default preset (a pose-reader stage on the
   self-observation, then triplets plus self-regression), and its evaluation;
4. the held-out demonstrations read from their frames by render-and-compare
   (``tcn read-demos``; cached in ``embedding/readings/``);
5. ``agent/``: PPO on the TCN reward, the ``agent`` default preset;
6. the agent on the held-out demonstrations, as read, beside the baselines in
   ``baselines/`` (random, idle, replay of the recorded joints, the servo on the same
   reading).

Writes ``report.md`` and ``summary.json``. Its sizes are a :class:`QuickstartConfig`, from
``config/presets/quickstart_<name>.yaml``: ``default`` (``make demo``), ``headline`` (the same
training sizes, 20 demonstrations held out) or ``full`` (300 demonstrations, hours).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

BASELINES = ("random", "idle", "replay", "servo")
READ_SETTINGS: dict[str, Any] = {}
"""Render-compare's settings for the held-out demonstrations (empty: its defaults)."""


@dataclass(frozen=True)
class QuickstartConfig:
    """The sizes of a quickstart run (a ``quickstart`` preset is one of these; the built-in
    defaults are the ``default`` preset, ``make demo``)."""

    episodes: int = 44
    """Demonstrations recorded."""
    val_episodes: int = 4
    """Of them, held out: read from their frames and imitated."""
    self_episodes: int = 40
    """Episodes of self-observation (100 frames each) for the pose reader."""
    frames: int = 100
    """Frames per demonstration."""
    pose_steps: int = 300
    """Steps of the embedding's pose-reader stage."""
    embedding_epochs: int = 20
    """Epochs of its time-contrastive stage."""
    agent_steps: int = 30_000
    """PPO environment steps."""
    n_envs: int = 4
    """Environments PPO collects from."""
    workers: int = 2
    """Processes that record and read demonstrations."""
    seed: int = 0
    """Seeds the recordings, the embedding and PPO."""

    def __post_init__(self) -> None:
        for name in ("episodes", "self_episodes", "frames", "agent_steps", "n_envs", "workers"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if not 1 <= self.val_episodes < self.episodes:
            raise ValueError(
                f"val_episodes must be in [1, episodes), got {self.val_episodes} of "
                f"{self.episodes}"
            )
        if self.pose_steps < 0 or self.embedding_epochs < 1:
            raise ValueError(
                f"need pose_steps >= 0 and embedding_epochs >= 1, got {self.pose_steps} and "
                f"{self.embedding_epochs}"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QuickstartConfig:
        from imitation_agent.env import dataclass_from_dict

        return dataclass_from_dict(cls, data, "quickstart settings")


def _stage(name: str) -> float:
    log.info("quickstart: %s", name)
    return time.perf_counter()


def quickstart(out: Path, config: QuickstartConfig | None = None, progress: bool = True) -> Path:
    """Run (or resume) the recipe into ``out``; returns the report's path."""
    from imitation_agent.train import AgentConfig
    from kuka_sim import DemoConfig
    from tcn.agent_eval import evaluate_agent_run
    from tcn.agent_run import train_agent_run
    from tcn.demonstrations import load_demonstrations
    from tcn.embedding_run import evaluate_embedding, load_embedding_model, train_embedding_run
    from tcn.reading import read_demonstrations, reading_report
    from tcn.record import RecordConfig, record_dataset
    from tcn.runs import latest_checkpoint, resolve_checkpoint
    from tcn_embedding.train import TrainConfig

    c = config or QuickstartConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    demos, own, embedding, agent = out / "demos", out / "self", out / "embedding", out / "agent"
    seconds: dict[str, float] = {}

    start = _stage("record demonstrations and self-observation")
    scene = RecordConfig(frames=c.frames)
    sim = scene.sim()
    for directory, episodes, val, motion in (
        (demos, c.episodes, c.val_episodes, "demonstration"),
        (own, c.self_episodes, 0, "babble"),
    ):
        record_dataset(
            directory,
            episodes,
            scene.cameras(),
            seed=c.seed,
            sim=sim,
            demo=DemoConfig(frames=c.frames, joint_timing=scene.joint_timing, motion=motion),
            val_episodes=val,
            workers=c.workers,
        )
    seconds["record"] = time.perf_counter() - start

    start = _stage("train the embedding (pose reader, then time-contrastive)")
    embedding_defaults = TrainConfig()
    embedding_config = dataclasses.replace(
        embedding_defaults,
        seed=c.seed,
        schedule=dataclasses.replace(
            embedding_defaults.schedule,
            pose_steps=c.pose_steps,
            epochs=c.embedding_epochs,
            eval_every=c.embedding_epochs,
        ),
    )
    train_embedding_run(
        demos,
        embedding,
        embedding_config,
        resume=latest_checkpoint(embedding) is not None,
        progress=progress,
        pose_data=own,
    )
    embedding_metrics = evaluate_embedding(embedding, demos, embedding / "eval")
    seconds["embedding"] = time.perf_counter() - start

    start = _stage("read the held-out demonstrations from their frames")
    checkpoint = resolve_checkpoint(embedding)
    model = load_embedding_model(checkpoint)
    held_out = load_demonstrations(demos, "val", model, keep_frames=True)
    read = read_demonstrations(
        held_out,
        "render-compare",
        model,
        checkpoint,
        settings=READ_SETTINGS,
        workers=c.workers,
        progress=progress,
    )
    reading = reading_report(read)
    seconds["read"] = time.perf_counter() - start

    start = _stage("train the agent (PPO on the TCN reward)")
    defaults = AgentConfig()
    # PPO always collects whole rollouts: keep one within the step budget.
    n_steps = max(8, min(defaults.ppo.n_steps, c.agent_steps // c.n_envs))
    agent_config = dataclasses.replace(
        defaults,
        seed=c.seed,
        ppo=dataclasses.replace(
            defaults.ppo,
            timesteps=c.agent_steps,
            n_envs=c.n_envs,
            n_steps=n_steps,
            batch_size=min(defaults.ppo.batch_size, n_steps * c.n_envs),
        ),
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

    start = _stage("evaluate on the held-out demonstrations, as read")
    agent_metrics = evaluate_agent_run(
        agent, demos, agent / "eval", reader_settings=READ_SETTINGS, workers=c.workers
    )
    baselines = {
        name: evaluate_agent_run(
            None,
            demos,
            out / "baselines" / name,
            baseline=name,
            embedding=embedding,
            video=False,
            reader_settings=READ_SETTINGS,
        )
        for name in BASELINES
    }
    seconds["evaluate"] = time.perf_counter() - start

    summary = {
        "config": c.to_dict(),
        "success_rate": agent_metrics["success_rate"],
        "reading": {k: v for k, v in reading.items() if k != "per_demo"},
        "embedding": embedding_metrics,
        "agent": _plain(agent_metrics),
        "baselines": {k: _plain(v) for k, v in baselines.items()},
        "seconds": seconds,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    report = out / "report.md"
    report.write_text(_report(summary))
    return report


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k not in ("per_episode",)}


def _row(name: str, m: dict[str, Any]) -> str:
    return (
        f"| {name} | {100 * m['success_rate']:.0f}% | {m['mean_joint_error']:.3f} | "
        f"{m['final_joint_error']:.3f} | {m['final_ee_error']:.3f} |"
    )


def _report(summary: dict[str, Any]) -> str:
    c, emb, reading = summary["config"], summary["embedding"], summary["reading"]
    agent, baselines, seconds = summary["agent"], summary["baselines"], summary["seconds"]
    minutes = sum(seconds.values()) / 60
    val = c["val_episodes"]
    probe = emb.get("joint_probe_r2")
    lines = [
        "# tcn quickstart report",
        "",
        f"{c['episodes']} demonstrations ({c['episodes'] - val} train, {val} held out) and "
        f"{c['self_episodes']} episodes of self-observation; {minutes:.1f} minutes in all "
        f"({', '.join(f'{k} {v / 60:.1f}' for k, v in seconds.items())} min).",
        "",
        f"## PPO on the TCN reward, {c['agent_steps']} steps, on the {val} held-out "
        "demonstrations read from their frames",
        "",
        "| policy | success (final error < 0.2 rad) | mean joint error (rad) | "
        "final joint error (rad) | final end-effector error (m) |",
        "|---|---|---|---|---|",
        _row("**PPO on the TCN reward**", agent),
        _row("servo on the same reading (a proportional law)", baselines["servo"]),
        _row("idle", baselines["idle"]),
        _row("random", baselines["random"]),
        _row("replay of the recorded joints (harness check)", baselines["replay"]),
        "",
        "Demonstration | agent: ![side by side](agent/eval/side_by_side.gif)",
        "",
        "![reward and joint error](agent/eval/rollout.png)",
        "",
        "## The reading (render-and-compare, against the recorded joints it never sees)",
        "",
        "| final poses within 0.2 rad | median final error (rad) | mean error over the "
        "trajectory (rad) |",
        "|---|---|---|",
        f"| {100 * reading['final_success_rate']:.0f}% | {reading['final_error_median']:.3f} | "
        f"{reading['mean_error']:.3f} |",
        "",
        "## Embedding (validation episodes)",
        "",
        "| triplet accuracy | with margin | joint probe R² |",
        "|---|---|---|",
        f"| {emb['triplet_accuracy']:.3f} | {emb['triplet_accuracy_margin']:.3f} | "
        f"{'-' if probe is None else f'{probe:.2f}'} |",
        "",
        "![t-SNE](embedding/eval/tsne.png) ![distances](embedding/eval/distance_matrix.png)",
        "",
    ]
    return "\n".join(lines)
