"""The agent training stage: PPO on the TCN reward, resumable, into a run directory
(layout: :mod:`tcn.agent_store`)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tcn.agent_store import (
    LAST,
    PROGRESS,
    build_ppo,
    deployment,
    save_agent_checkpoint,
)
from tcn.demonstrations import (
    embedder_of,
    load_demonstrations,
    pose_decoder_for,
    train_val_splits,
)
from tcn.embedding_run import load_embedding_model
from tcn.errors import TcnError
from tcn.reading import read_demonstrations
from tcn.runs import check_resume, read_config, resolve_checkpoint, write_config

log = logging.getLogger(__name__)

RESUMABLE_CHANGES = {"ppo.timesteps", "device"}


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
    ``config.observation.train_reader`` (:func:`tcn.reading.read_demonstrations`, cached,
    ``workers`` processes) with ``reader_settings``; a resumed run reads with the settings it was
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
    train_split, _ = train_val_splits(data)
    pixels = config.reward.kind == "pixels"
    reads = config.env_config().pose_from_reading
    frames_to_read = reads and config.observation.train_reader == "render-compare"
    demos = load_demonstrations(data, train_split, model_tcn, keep_frames=pixels or frames_to_read)
    if reads:
        demos = read_demonstrations(
            demos,
            config.observation.train_reader,
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
    remaining = config.ppo.timesteps - done
    if remaining <= 0:
        venv.close()
        return {"timesteps": done}

    class Checkpoints(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.bar = tqdm(
                total=config.ppo.timesteps,
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
