"""Embedding runs on disk: train (with resume), load, embed, evaluate.

The pure pieces (network, trainer, metrics) live in ``tcn_embedding``; this
module owns the run directory, bags, TensorBoard, progress bars and pictures.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tcn.atomic import write_json_atomic
from tcn.bags import read_episode
from tcn.dataset import episode_paths, episode_targets, load_index
from tcn.errors import TcnError
from tcn.frames import Split, load_split
from tcn.runs import (
    BEST,
    CONFIG,
    LAST,
    check_resume,
    checkpoint_dir,
    latest_checkpoint,
    read_config,
    read_history,
    resolve_checkpoint,
    run_of,
    write_config,
    write_history,
)

log = logging.getLogger(__name__)

# Settings a resumed run may change (dotted within sections); everything else must match
# the checkpoint.
RESUMABLE_CHANGES = {"schedule.epochs", "schedule.eval_every", "schedule.eval_triplets", "device"}


# --------------------------------------------------------------------------- training
def _scene(index: Any) -> tuple[Any, ...]:
    """What a dataset's frames show: its cameras and the rendered scene's settings
    (recordings from before the flange tool have no ``tool`` key and none drawn)."""
    sim = index.settings.get("sim", {})
    tool = sim.get("tool", False)
    return (
        index.cameras,
        sim.get("urdf"),
        sim.get("ground_plane", True),
        tool,
        sim.get("tool_scale", 1.0) if tool else None,
    )


def _score(record: dict[str, Any]) -> float:
    """Model selection: validation triplet accuracy with margin, then without; never an
    epoch of the pose stage, which does not train the time-contrastive objective."""
    if "val/triplet_accuracy_margin" not in record or record.get("train/pose_stage"):
        return -math.inf
    return record["val/triplet_accuracy_margin"] + 1e-3 * record["val/triplet_accuracy"]


def train_embedding_run(
    data: Path,
    run: Path,
    config: Any,
    *,
    resume: bool = False,
    image_topics: Sequence[str] | None = None,
    checkpoint_every: int = 1,
    progress: bool = True,
    pose_data: Path | None = None,
    init_from: Path | None = None,
) -> dict[str, Any]:
    """Train (or resume) an embedding run; returns the last history record.

    ``pose_data``: a dataset (``tcn record --motion babble``, same cameras as ``data``)
    whose frames, all of them, feed the self-regression batch instead of ``data``'s.
    ``init_from``: an embedding checkpoint (a run, its ``.pt`` or a saved network) with the
    same network settings whose weights start a new run (fine-tuning; the optimiser, the
    schedule and the generators start fresh); a resumed run continues from its own
    checkpoint instead.
    """
    from torch.utils.tensorboard import SummaryWriter
    from tqdm import tqdm

    from tcn_embedding.checkpoint import load_checkpoint, save_checkpoint
    from tcn_embedding.train import EmbeddingTrainer

    run = Path(run)
    last = latest_checkpoint(run)
    state = None
    if last is not None and not resume:
        raise TcnError(
            f"{run} already holds a run; pass --resume to continue it or pick a new --out"
        )
    stored = read_config(run) if resume and (run / CONFIG).is_file() else {}
    stored_init = Path(stored["init_from"]) if stored.get("init_from") is not None else None
    if last is not None:
        state = load_checkpoint(last)
        check_resume(run, state["train_config"], config, RESUMABLE_CHANGES)
        stored_pose_data = stored.get("pose_data")
        if pose_data is None and stored_pose_data is not None:
            pose_data = Path(stored_pose_data)  # resume on the self-observation it began with
            log.info("resuming with the run's --pose-data %s", pose_data)
        if init_from is not None:
            log.warning("--init-from %s ignored: the run resumes from its checkpoint", init_from)
        init_from = stored_init  # for the record
    elif resume:
        log.info("%s has no checkpoint yet: starting a new run", run)
        init_from = stored_init if init_from is None else init_from

    index = load_index(data) if Path(data).is_dir() else None
    has_split = index is not None and index.names("val")
    train = load_split(data, "train" if has_split else None, image_topics)
    val = load_split(data, "val", image_topics) if has_split else train
    if not has_split:
        log.warning("%s has no validation split: validating on the training episodes", data)
    log.info(
        "loaded %d training and %d validation episodes (%d views)",
        len(train),
        len(val),
        train.num_views,
    )

    pose = None
    pair_weight = config.objectives.pair_weight
    if pose_data is None and pair_weight > 0:
        raise TcnError(
            "--objectives.pair-weight needs --pose-data recorded in pairs (tcn record --motion "
            "pairs)"
        )
    if pose_data is not None:
        pose_index = load_index(pose_data) if Path(pose_data).is_dir() else None
        if index is not None and pose_index is not None and _scene(pose_index) != _scene(index):
            raise TcnError(
                f"--pose-data {pose_data} was recorded with other cameras or another scene "
                f"(robot, floor, tool) than {data}: the pose head would learn another view; "
                "record it with the same --views, --image-size and --urdf"
            )
        motion = (pose_index.settings.get("demo") or {}).get("motion") if pose_index else None
        if pair_weight > 0 and motion != "pairs":
            raise TcnError(
                f"--objectives.pair-weight needs --pose-data recorded in pairs (tcn record "
                f"--motion pairs); {pose_data} was recorded with motion {motion!r}"
            )
        pose = load_split(pose_data, None, image_topics)
        if not pose.frames:
            raise TcnError(f"--pose-data {pose_data} holds no episodes")
        log.info("self-regression on the %d episodes of %s", len(pose), pose_data)

    start = None
    if init_from is not None and state is None:
        start = initial_model(init_from, config)
        log.info("starting from the weights of %s", init_from)
    write_config(
        run,
        {
            "kind": "embedding",
            "data": str(data),
            "pose_data": None if pose_data is None else str(pose_data),
            "init_from": None if init_from is None else str(init_from),
            "image_topics": list(image_topics) if image_topics else None,
            "train": config.to_dict(),
        },
    )
    trainer = EmbeddingTrainer(
        config,
        train.frames,
        val.frames,
        train_joints=train.joints,
        val_joints=val.joints if val.joints and val.joints[0].size else None,
        pose_episodes=None if pose is None else pose.frames,
        pose_joints=None if pose is None else pose.joints,
        model=start,
    )
    history: list[dict[str, Any]] = []
    best = -math.inf
    if state is not None:
        trainer.load_state_dict(state)
        history = list(state.get("history", []))
        best = float(state.get("best", -math.inf))
        log.info("resumed %s at epoch %d", run, trainer.epoch)
    if trainer.epoch >= config.total_epochs:
        log.info("%s already trained for %d epochs", run, trainer.epoch)
        return history[-1] if history else {}

    writer = SummaryWriter(str(run / "logs"), purge_step=trainer.epoch + 1)
    ckpts = checkpoint_dir(run)
    ckpts.mkdir(parents=True, exist_ok=True)
    bar = tqdm(
        total=config.total_epochs,
        initial=trainer.epoch,
        desc="train-embedding",
        unit="epoch",
        disable=not progress,
    )
    try:
        while trainer.epoch < config.total_epochs:
            started = time.perf_counter()
            record: dict[str, Any] = {"epoch": trainer.epoch + 1, **trainer.train_epoch()}
            final = trainer.epoch == config.total_epochs
            every = config.schedule.eval_every
            if every and (trainer.epoch % every == 0 or final):
                record.update(trainer.evaluate())
            # Training wall time so far (evaluation included, carried across --resume):
            # what "time to reach an alignment error" is measured in (docs/smak.md).
            elapsed = history[-1].get("time/wall_s", 0.0) if history else 0.0
            record["time/wall_s"] = elapsed + time.perf_counter() - started
            history.append(record)
            for key, value in record.items():
                if key != "epoch":
                    writer.add_scalar(key, value, trainer.epoch)
            improved = _score(record) > best
            if improved:
                best = _score(record)
            if improved or final or trainer.epoch % checkpoint_every == 0:
                checkpoint = {**trainer.state_dict(), "history": history, "best": best}
                save_checkpoint(ckpts / LAST, checkpoint)
                if improved:
                    save_checkpoint(ckpts / BEST, checkpoint)
                write_history(run, history)
            bar.update(1)
            bar.set_postfix(
                {
                    k.split("/")[-1]: f"{v:.3g}"
                    for k, v in record.items()
                    if k in ("train/loss", "val/triplet_accuracy", "val/triplet_accuracy_margin")
                }
            )
    finally:
        bar.close()
        writer.close()
    from tcn.plots import plot_training_curves

    plot_training_curves(history, run / "training_curves.png")
    return history[-1]


def initial_model(checkpoint: Path | str, config: Any) -> Any:
    """The network of ``checkpoint`` in training mode, to start a run of ``config`` from
    (``--init-from``): a ``TcnError`` naming the settings that differ unless it is the network
    ``config`` builds (where its backbone came from aside, which only matters for a fresh
    network)."""
    model = load_embedding_model(checkpoint)
    wanted = config.model_config()
    if type(model.config) is not type(wanted):
        raise TcnError(
            f"--init-from {checkpoint} holds a {type(model).__name__}; this run builds a "
            f"{config.model.architecture} network (--model.architecture)"
        )
    have, want = model.config.to_dict(), wanted.to_dict()
    differ = sorted(k for k in want if k != "pretrained" and have.get(k) != want[k])
    if differ:
        shown = ", ".join(f"{k}: {have.get(k)!r} there, {want[k]!r} here" for k in differ)
        raise TcnError(f"--init-from {checkpoint} is another network ({shown})")
    return model.train()


# --------------------------------------------------------------------------- loading
def load_embedding_model(run_or_checkpoint: Path | str) -> Any:
    """A trained embedding network (:class:`~tcn_embedding.model.TCN`, or
    :class:`~tcn_embedding.smak.SMAKNet` by the checkpoint's ``architecture``) in eval mode,
    on the CPU."""
    from tcn_embedding.checkpoint import load_checkpoint
    from tcn_embedding.factory import load_model_state

    path = resolve_checkpoint(run_or_checkpoint)
    try:
        state = load_checkpoint(path)
        model = load_model_state(state)
    except (KeyError, RuntimeError, ValueError, OSError) as exc:
        raise TcnError(f"{path}: not an embedding checkpoint (TCN or SMAK-Net) ({exc})") from exc
    return model.eval()


def embed_split(model: Any, split: Split) -> list[list[np.ndarray]]:
    """Embeddings ``[episode][view] -> (T, D)`` float32."""
    return [[model.embed(view).numpy() for view in episode] for episode in split.frames]


# --------------------------------------------------------------------------- evaluation
def _embed_each(
    model: Any, data: Path | str, split: str, image_topics: Sequence[str] | None
) -> tuple[list[str], list[list[np.ndarray]], list[np.ndarray]]:
    """Names, embeddings ``[episode][view] -> (T, D)`` and joint positions of every episode
    of ``split``, read and embedded one at a time (a split's frames need not fit in memory)."""
    names, embeddings, joints = [], [], []
    for path in episode_paths(data, split):
        episode = read_episode(path, image_topics)
        names.append(path.name)
        embeddings.append([model.embed(view).numpy() for view in episode.frames])
        joints.append(episode.joint_positions)
    return names, embeddings, joints


def evaluate_embedding(
    model_path: Path | str,
    data: Path | str,
    out: Path | str,
    *,
    image_topics: Sequence[str] | None = None,
    probe_episodes: int = 50,
    margin: float | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of ARCHITECTURE.md on the validation split, plus the paper's pictures (and
    ``attention.png``, attention maps over a few frames, for SMAK-Net).

    On a reach dataset (``tcn record --task reach``) also the classification error, each
    validation frame's nearest neighbour among every frame of every view of the training
    episodes, beside its two floors (:func:`tcn_embedding.metrics.reach_classification_floors`:
    the exact joints and a random embedding of the model's dimension, seeded ``seed``); on
    other data it logs why it has none.
    """
    from tcn.plots import plot_distance_matrix, plot_training_curves, plot_tsne
    from tcn_embedding.metrics import (
        joint_probe_r2,
        mean_alignment_error,
        reach_classification_error,
        reach_classification_floors,
        triplet_accuracy,
    )

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = resolve_checkpoint(model_path)
    model = load_embedding_model(checkpoint)
    index = load_index(data) if Path(data).is_dir() else None
    has_split = index is not None and index.names("val")
    val = load_split(data, "val" if has_split else None, image_topics)
    val_emb = embed_split(model, val)
    primary = [views[0] for views in val_emb]
    if margin is None:
        run = run_of(checkpoint)
        margin = 2.0
        if run is not None:
            objectives = read_config(run)["train"].get("objectives", {})
            margin = float(objectives.get("margin", margin))
    acc, acc_margin = triplet_accuracy(primary, n_triplets=1000, margin=margin, seed=seed)
    metrics: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "split": "val" if has_split else "all",
        "episodes": len(val),
        "views": val.num_views,
        "triplet_accuracy": acc,
        "triplet_accuracy_margin": acc_margin,
        "margin": margin,
    }
    # The classification error's labels are the reach task's, its neighbours every frame of
    # every view of the training episodes.
    val_targets = episode_targets(data, val.names) if has_split else None
    train_targets: list[int] | None = None
    train_emb: list[list[np.ndarray]] = []  # [episode][view]
    train_joints: list[np.ndarray] = []
    if val_targets is not None:
        names, train_emb, train_joints = _embed_each(model, data, "train", image_topics)
        train_targets = episode_targets(data, names)
    if has_split:
        if train_emb:  # the probe's episodes are the first of them
            probe_emb = [views[0] for views in train_emb[:probe_episodes]]
            probe_q = train_joints[:probe_episodes]
        else:
            train = load_split(data, "train", image_topics, limit=probe_episodes)
            probe_emb = [views[0] for views in embed_split(model, train)]
            probe_q = train.joints
        metrics["joint_probe_r2"] = joint_probe_r2(probe_emb, probe_q, primary, val.joints)
        metrics["joint_probe_train_episodes"] = len(probe_emb)
    head = model.pose_decoder()
    if head is not None and val.joints[0].size:  # self-regression: the pose head on val
        weight, bias = head
        q = np.concatenate(val.joints)
        error = np.concatenate(primary) @ weight.T + bias - q
        metrics["pose_head_rmse"] = np.sqrt((error**2).mean(axis=0)).tolist()
        metrics["pose_head_l2_error"] = float(np.linalg.norm(error, axis=1).mean())
    if val_targets is None or train_targets is None:
        log.info(
            "no classification error: %s %s; it is measured on a task dataset (tcn record "
            "--task reach)",
            data,
            "is no reach dataset (its index names no episode's target)"
            if has_split
            else "has no training split to take the neighbours from",
        )
    else:
        scores = {
            "": reach_classification_error(
                train_emb, train_joints, train_targets, val_emb, val.joints, val_targets
            )
        }
        floors = reach_classification_floors(
            train_joints,
            train_targets,
            val.joints,
            val_targets,
            views=val.num_views,
            dim=int(primary[0].shape[1]),
            seed=seed,
        )
        scores["_floor"], scores["_random"] = floors["joints"], floors["random"]
        for suffix, (error, errors) in scores.items():
            metrics[f"classification_error{suffix}"] = error
            metrics[f"classification_error{suffix}_per_attribute"] = errors
        metrics["classification_train_episodes"] = len(train_emb)
    if val.num_views > 1:
        metrics["alignment_error"] = mean_alignment_error(val_emb)

    plot_tsne(primary[0], out / "tsne.png", title=f"t-SNE of {val.names[0]} (colour: frame)")
    if hasattr(model, "attention_maps"):  # SMAK-Net: where it looks, on a few frames
        from tcn.plots import plot_attention

        frames = val.frames[0][0]
        picks = frames[np.linspace(0, len(frames) - 1, min(6, len(frames))).astype(int)]
        maps = model.attention_maps(model.preprocess(picks))
        plot_attention(picks, maps, out / "attention.png", labels=model.level_names)
    plot_distance_matrix(primary[0], out / "distance_matrix.png", title=val.names[0])
    run = run_of(checkpoint)
    if run is not None and read_history(run):
        plot_training_curves(read_history(run), out / "training_curves.png")
    write_json_atomic(out / "metrics.json", metrics)
    return metrics
