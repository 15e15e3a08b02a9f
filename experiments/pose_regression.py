"""How precisely can the embedding network read the arm's joints from a frame, and from what data?

The best case for self-regression: the ``default`` preset's network (trunk, head, embedding of
norm alpha, the linear pose head) trained on the pose loss alone, mean squared joint error,
Adam, no augmentation, a batch of frames drawn uniformly from every episode and view of
``--pose-data`` (default: ``--data``'s training split). Scored every ``--eval-every`` steps
on a fixed sample of ``--data``'s validation frames (held-out demonstrations), per joint. A policy
that reads its target from the demonstration's frames cannot do better than this reading;
imitation success needs the final L2 error under 0.2 rad.

Comparing sources, same network, same steps, same validation frames::

    tcn record --out data/babble --episodes 300 --val-episodes 0 --image-size 96 \
        --motion babble --workers 2
    python experiments/pose_regression.py --data data/tool --minutes 60 --out runs/pose_demos
    python experiments/pose_regression.py --data data/tool --pose-data data/babble \
        --minutes 60 --out runs/pose_babble

``--score EMBEDDING`` trains nothing and scores a trained embedding's pose head (a run of
``tcn train-embedding --objectives.self-regression``, or a ``--save``d network) on the same
frames::

    python experiments/pose_regression.py --data data/tool --score runs/tcn_babble

Writes ``OUT/history.jsonl`` (one line per evaluation: step, wall seconds, training RMSE
over the last steps, validation RMSE per joint, mean validation L2, with ``--keypoint-weight``
the keypoints' validation RMSE in pixels) and ``OUT/final.json``, the last evaluation with the
errors of the coupled joints (:func:`coupling`), which it also prints; ``--save`` keeps the
network. ``--steps N --schedule cosine`` trains a fixed number of steps with the learning rate
annealed to 0, which ends on a settled network instead of wherever constant-rate noise left it.
``--pair-weight W`` adds a local loss: half of each batch's poses are moved by
``N(0, --pair-sigma)`` rad per joint and re-rendered with the frame's camera, and the
reading's change must equal the move. A closed loop (the ``servo`` baseline, a policy)
compares two readings, the demonstration's frame and its own, so their shared bias cancels
and what it needs is this local reading; ``local_rmse`` in the history scores it on moves of
the held-out frames (``--score`` too).
``--plot PNG RUN [RUN ...]`` draws the runs' training RMSE and validation L2 against steps::

    python experiments/pose_regression.py --plot docs/images/pose_regression.png \
        runs/pose_demos runs/pose_babble
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from kuka_sim import IIWA_COUPLED_JOINTS, KukaSim
from tcn.dataset import dataset_sim_config
from tcn.embedding_run import load_embedding_model
from tcn.frames import Split, load_split
from tcn.presets import load, merged
from tcn_embedding import TrainConfig, build_embedding_model, save_checkpoint


def plot(png: Path, runs: list[Path]) -> None:
    from tcn.plots import plt  # the Agg backend, set once there

    fig, ax = plt.subplots(figsize=(7, 4))
    for run, colour in zip(runs, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False):
        rows = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
        steps = [r["step"] for r in rows]
        ax.plot(steps, [r["val_l2"] for r in rows], color=colour, label=f"{run.name}: held-out L2")
        ax.plot(
            steps,
            [r["train_rmse"] * np.sqrt(7) for r in rows],
            color=colour,
            linestyle="--",
            label=f"{run.name}: training (RMSE x sqrt 7)",
        )
    ax.axhline(0.2, color="grey", linewidth=0.8, label="success threshold (final L2 0.2 rad)")
    ax.set_xlabel("step (64 frames each)")
    ax.set_ylabel("joint error (rad)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)


def coupling(error: np.ndarray, joints: np.ndarray, near: float = 0.3) -> dict[str, list[float]]:
    """RMSE of the sum and of the difference (each over sqrt 2) of each coupled pair's
    errors, on frames with the middle joint within ``near`` rad of 0 and on the others."""
    out = {}
    for middle, a, b in IIWA_COUPLED_JOINTS:
        close = np.abs(joints[:, middle]) < near
        for name, rows in (
            (f"|A{middle + 1}|<{near}", close),
            (f"|A{middle + 1}|>={near}", ~close),
        ):
            e = error[rows]
            both = [(e[:, a] + e[:, b]) / np.sqrt(2), (e[:, a] - e[:, b]) / np.sqrt(2)]
            out[f"A{a + 1}+A{b + 1}, A{a + 1}-A{b + 1} at {name}"] = [
                round(float(np.sqrt((x**2).mean())), 4) if len(x) else float("nan") for x in both
            ]
    return out


def validation_sample(
    data: Path, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, Split, np.ndarray, list]:
    """``n`` frames drawn once from ``data``'s validation split (held-out demonstrations), their
    joints, the split, which frames were drawn, and the drawn frames' cameras."""
    val = load_split(data, "val")
    frames = np.concatenate([view for episode in val.frames for view in episode])
    joints = np.concatenate(
        [q for q, episode in zip(val.joints, val.frames, strict=True) for _ in episode]
    )
    cameras = [
        camera
        for q, episode in zip(val.joints, val.cameras, strict=True)
        for camera in episode
        for _ in q
    ]
    pick = rng.choice(len(frames), size=min(n, len(frames)), replace=False)
    return frames[pick], joints[pick].astype(np.float32), val, pick, [cameras[i] for i in pick]


def summary(error: np.ndarray) -> dict[str, object]:
    return {
        "val_rmse": [round(float(x), 4) for x in np.sqrt((error**2).mean(axis=0))],
        "val_l2": round(float(np.linalg.norm(error, axis=1).mean()), 4),
    }


def keypoint_targets(data: Path, split: Split, grid: int) -> list[np.ndarray]:
    """Per episode and view, ``(T, 2K)`` image positions of the arm's keypoints
    (:meth:`KukaSim.keypoint_images` with the frame's camera) in the spatial soft-argmax's
    coordinates: -1 and +1 at the centres of the first and last cells of a ``grid``-cell
    feature map, clipped to that range."""
    scale = grid / (grid - 1.0)
    targets = []
    with KukaSim(dataset_sim_config(data)) as sim:
        for joints, cameras in zip(split.joints, split.cameras, strict=True):
            for camera in cameras:
                uv = np.clip(sim.keypoint_images(joints, camera) * scale, -1.0, 1.0)
                targets.append(uv.reshape(len(joints), -1).astype(np.float32))
    return targets


def perturbed(
    sim: KukaSim,
    joints: np.ndarray,
    cameras: list,
    sigma: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``(N, H, W, 3)`` of the arm at ``joints (N, 7)`` moved by ``N(0, sigma)`` rad
    per joint (kept within the joint limits), each rendered with its camera, and the moves
    ``(N, 7)`` made."""
    moved = np.clip(
        joints + rng.normal(0.0, sigma, joints.shape), sim.lower_limits, sim.upper_limits
    )
    frames = []
    for q, camera in zip(moved, cameras, strict=True):
        sim.reset(q)
        frames.append(sim.render(camera))
    return np.stack(frames), (moved - joints).astype(np.float32)


@torch.no_grad()
def read_frames(model: torch.nn.Module, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pose head's reading ``(N, 7)`` and the soft-argmax features ``(N, F)`` of uint8
    ``frames``, in eval mode, one forward pass in batches of 64."""
    was_training = model.training
    model.eval()
    features = torch.cat(
        [model.features(model.preprocess(frames[i : i + 64])) for i in range(0, len(frames), 64)]
    )
    reading = model.pose(model.embedding_of(features))  # the FC head's BatchNorm: eval mode too
    model.train(was_training)
    return reading.numpy(), features.numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", nargs="+", type=Path, default=None, metavar="PNG RUN")
    parser.add_argument("--data", type=Path, help="dataset; validation frames")
    parser.add_argument("--pose-data", type=Path, default=None, help="training frames")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--preset", default="default", help="embedding preset for the network")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time")
    parser.add_argument(
        "--steps", type=int, default=None, help="train this many steps instead of --minutes"
    )
    parser.add_argument(
        "--schedule",
        choices=("constant", "cosine"),
        default="constant",
        help="learning rate: constant, or cosine from --lr to 0 over --steps",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument(
        "--keypoint-weight",
        type=float,
        default=0.0,
        help="also regress the first K soft-argmax points onto the arm's projected keypoints",
    )
    parser.add_argument(
        "--pair-weight",
        type=float,
        default=0.0,
        help="also fit the reading's change over re-rendered moves of half the batch's poses",
    )
    parser.add_argument(
        "--pair-sigma", type=float, default=0.1, help="rad per joint of those moves"
    )
    parser.add_argument("--local-frames", type=int, default=300, help="held-out moved frames")
    parser.add_argument(
        "--local-sigma", type=float, default=0.1, help="rad per joint of the held-out moves"
    )
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--val-frames", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="keep the network as OUT/model.pt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--score",
        type=Path,
        default=None,
        metavar="EMBEDDING",
        help="train nothing: score this embedding's pose head on the same validation frames",
    )
    args = parser.parse_args()
    if args.plot:
        plot(args.plot[0], args.plot[1:])
        return
    if args.data is None or (args.out is None and args.score is None):
        parser.error("--data and --out are needed to train (or --plot PNG RUN ..., --score)")
    if args.schedule == "cosine" and args.steps is None:
        parser.error("--schedule cosine needs --steps (the length of the schedule)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    val_frames, val_joints, val, pick, val_cameras = validation_sample(
        args.data, args.val_frames, rng
    )
    n_local = min(args.local_frames, len(val_frames))
    with KukaSim(dataset_sim_config(args.data)) as sim:  # held-out moves, drawn once
        local_moved, local_delta = perturbed(
            sim,
            val_joints[:n_local],
            val_cameras[:n_local],
            args.local_sigma,
            np.random.default_rng(args.seed + 1),
        )

    def local_error(model: torch.nn.Module, reading: np.ndarray) -> dict[str, object]:
        """RMSE per joint of the reading's change over the held-out moves, minus the move;
        ``reading`` is the model's reading of ``val_frames``, already made."""
        change = read_frames(model, local_moved)[0] - reading[:n_local]
        e = change - local_delta
        return {
            "local_rmse": [round(float(x), 4) for x in np.sqrt((e**2).mean(axis=0))],
            "local_l2": round(float(np.linalg.norm(e, axis=1).mean()), 4),
            "local_move_l2": round(float(np.linalg.norm(local_delta, axis=1).mean()), 4),
        }

    if args.score is not None:
        model = load_embedding_model(args.score)
        reading = read_frames(model, val_frames)[0]
        error = reading - val_joints
        record = {
            **summary(error),
            **local_error(model, reading),
            "coupling": coupling(error, val_joints),
        }
        print(json.dumps({"embedding": str(args.score), **record}))
        return
    source = load_split(*((args.pose_data, None) if args.pose_data else (args.data, "train")))
    frames = [view for episode in source.frames for view in episode]
    joints = [q for q, episode in zip(source.joints, source.frames, strict=True) for _ in episode]
    source_cameras = [camera for episode in source.cameras for camera in episode]
    pair_sim = (
        KukaSim(dataset_sim_config(args.pose_data or args.data)) if args.pair_weight else None
    )
    changes = {"model": {"pretrained": None}, "objectives": {"self_regression": 1.0}}
    config = TrainConfig.from_dict(merged(load("embedding", args.preset), changes))
    model = build_embedding_model(config.model_config())
    if args.keypoint_weight > 0:
        with torch.no_grad():  # the soft-argmax's feature map, square like the frames
            model.eval()  # leaves BatchNorm's running statistics as they are
            grid = model.head_convs(model.trunk(model.preprocess(frames[0][:1]))).shape[-1]
        keypoints = keypoint_targets(args.pose_data or args.data, source, grid)
        val_keypoints = np.concatenate(keypoint_targets(args.data, val, grid))[pick]
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = (
        torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)
        if args.schedule == "cosine"
        else None
    )

    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "history.jsonl").open("w")
    lengths = np.array([len(f) for f in frames])
    start, step, losses, record = time.perf_counter(), 0, [], {}
    while True:
        which = rng.integers(len(frames), size=args.batch_size)
        times = (rng.random(args.batch_size) * lengths[which]).astype(int)
        batch = np.stack([frames[e][t] for e, t in zip(which, times, strict=True)])
        target = np.stack([joints[e][t] for e, t in zip(which, times, strict=True)])
        half = args.batch_size // 2
        if pair_sim is not None:  # the first half's poses, moved and re-rendered
            moved, delta = perturbed(
                pair_sim, target[:half], [source_cameras[e] for e in which[:half]],
                args.pair_sigma, rng,
            )  # fmt: skip
            batch = np.concatenate([batch, moved])
        model.train()
        features = model.features(model.preprocess(batch))
        pose = model.pose(model.embedding_of(features))
        n = len(target)
        loss = pose_loss = F.mse_loss(pose[:n], torch.as_tensor(target, dtype=torch.float32))
        if pair_sim is not None:
            change = pose[n:] - pose[:half]
            loss = loss + args.pair_weight * F.mse_loss(change, torch.as_tensor(delta))
        if args.keypoint_weight > 0:
            points = np.stack([keypoints[e][t] for e, t in zip(which, times, strict=True)])
            loss = loss + args.keypoint_weight * F.mse_loss(
                features[:n, : points.shape[1]], torch.as_tensor(points)
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        step += 1
        losses.append(float(pose_loss.detach()))
        elapsed = time.perf_counter() - start
        done = step >= args.steps if args.steps is not None else elapsed > args.minutes * 60
        if step % args.eval_every == 0 or done:
            reading, features = read_frames(model, val_frames)
            error = reading - val_joints
            if args.keypoint_weight > 0:
                pixels = (grid - 1) / grid * frames[0].shape[1] / 2  # soft-argmax unit -> px
                predicted = features[:, : val_keypoints.shape[1]]
                keypoint_px = np.sqrt(((predicted - val_keypoints) ** 2).mean()) * pixels
            record = {
                "step": step,
                "wall_s": round(elapsed, 1),
                "train_rmse": round(float(np.sqrt(np.mean(losses))), 4),
                **summary(error),
                **local_error(model, reading),
            }
            if args.keypoint_weight > 0:
                record["val_keypoint_rmse_px"] = round(float(keypoint_px), 3)
            losses = []
            log.write(json.dumps(record) + "\n")
            log.flush()
        if done:
            break
    record["coupling"] = coupling(error, val_joints)
    log.close()
    if pair_sim is not None:
        pair_sim.close()
    (args.out / "final.json").write_text(json.dumps(record, indent=1) + "\n")
    if args.save:
        save_checkpoint(args.out / "model.pt", model.checkpoint_state())
    print(json.dumps(record))


if __name__ == "__main__":
    main()
