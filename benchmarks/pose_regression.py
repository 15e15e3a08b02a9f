"""How precisely can the embedding network read the arm's joints from a frame, and from what data?

The best case for self-regression: the ``cpu`` preset's network (trunk, head, embedding of
norm alpha, the linear pose head) trained on the pose loss alone, mean squared joint error,
Adam, no augmentation, a batch of frames drawn uniformly from every episode and view of
``--pose-data`` (default: ``--data``'s training split). Scored every ``--eval-every`` steps
on a fixed sample of ``--data``'s validation frames (held-out demonstrations), per joint. A policy
that reads its target from the demonstration's frames cannot do better than this reading;
imitation success needs the final L2 error under 0.2 rad.

Comparing sources, same network, same steps, same validation frames::

    tcn record --out data/babble --episodes 300 --val-episodes 0 --image-size 96 \
        --motion babble --workers 2
    python benchmarks/pose_regression.py --data data/tool --minutes 60 --out runs/pose_demos
    python benchmarks/pose_regression.py --data data/tool --pose-data data/babble \
        --minutes 60 --out runs/pose_babble

Writes ``OUT/history.jsonl`` (one line per evaluation: step, wall seconds, training RMSE
over the last steps, validation RMSE per joint, mean validation L2) and prints the last.
``--plot PNG RUN [RUN ...]`` draws the runs' training RMSE and validation L2 against steps::

    python benchmarks/pose_regression.py --plot docs/images/pose_regression.png \
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

from tcn.frames import load_split
from tcn.presets import load
from tcn_embedding.factory import build_embedding_model
from tcn_embedding.train import TrainConfig


def plot(png: Path, runs: list[Path]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", nargs="+", type=Path, default=None, metavar="PNG RUN")
    parser.add_argument("--data", type=Path, help="dataset; validation frames")
    parser.add_argument("--pose-data", type=Path, default=None, help="training frames")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--preset", default="cpu", help="embedding preset for the network")
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--val-frames", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.plot:
        plot(args.plot[0], args.plot[1:])
        return
    if args.data is None or args.out is None:
        parser.error("--data and --out are needed to train (or --plot PNG RUN ...)")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    source = load_split(*((args.pose_data, None) if args.pose_data else (args.data, "train")))
    frames = [view for episode in source.frames for view in episode]
    joints = [q for q, episode in zip(source.joints, source.frames, strict=True) for _ in episode]
    val = load_split(args.data, "val")
    val_frames = np.concatenate([view for episode in val.frames for view in episode])
    val_joints = np.concatenate(
        [q for q, episode in zip(val.joints, val.frames, strict=True) for _ in episode]
    )
    pick = rng.choice(len(val_frames), size=min(args.val_frames, len(val_frames)), replace=False)
    val_frames, val_joints = val_frames[pick], val_joints[pick].astype(np.float32)

    values = {**load("embedding", args.preset), "self_regression": 1.0, "device": "cpu"}
    values.update(pretrained=None)
    config = TrainConfig.from_dict(values)
    model = build_embedding_model(config.model_config())
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

    args.out.mkdir(parents=True, exist_ok=True)
    log = (args.out / "history.jsonl").open("w")
    lengths = np.array([len(f) for f in frames])
    start, step, losses, record = time.perf_counter(), 0, [], {}
    while True:
        which = rng.integers(len(frames), size=args.batch_size)
        times = (rng.random(args.batch_size) * lengths[which]).astype(int)
        batch = np.stack([frames[e][t] for e, t in zip(which, times, strict=True)])
        target = np.stack([joints[e][t] for e, t in zip(which, times, strict=True)])
        model.train()
        pose = model.pose(model(model.preprocess(batch)))
        loss = F.mse_loss(pose, torch.as_tensor(target, dtype=torch.float32))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        losses.append(float(loss.detach()))
        elapsed = time.perf_counter() - start
        done = elapsed > args.minutes * 60
        if step % args.eval_every == 0 or done:
            error = model.pose(model.embed(val_frames)).detach().numpy() - val_joints
            record = {
                "step": step,
                "wall_s": round(elapsed, 1),
                "train_rmse": round(float(np.sqrt(np.mean(losses))), 4),
                "val_rmse": [round(float(x), 4) for x in np.sqrt((error**2).mean(axis=0))],
                "val_l2": round(float(np.linalg.norm(error, axis=1).mean()), 4),
            }
            losses = []
            log.write(json.dumps(record) + "\n")
            log.flush()
        if done:
            break
    print(json.dumps(record))


if __name__ == "__main__":
    main()
