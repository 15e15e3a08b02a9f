"""TCN training and inference throughput against the bare backbone, same run.

Reference: the bare backbone trunk (the layers the TCN takes from torchvision)
doing forward + backward on ready float tensors of the same size and batch, with
an SGD step: the cost of the network alone. Ours: ``EmbeddingTrainer.train_epoch``
end to end on in-memory uint8 episodes — triplet sampling, frame gathering,
preprocessing (resize + normalise), augmentation, head, loss, optimiser step.
The issue's target: ours >= 0.8 of the reference. Inference: ``TCN.embed`` on
uint8 frames against the bare backbone's forward.

Usage::

    python benchmarks/bench_embedding.py                         # the cpu preset's sizes
    python benchmarks/bench_embedding.py --backbone inception --image-size 299 --batch 64
    python benchmarks/bench_embedding.py --device cuda --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch

from tcn_embedding.model import TCN, TCNConfig
from tcn_embedding.train import EmbeddingTrainer, TrainConfig


def episodes(n: int, frames: int, size: int, seed: int = 0) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.integers(0, 255, (frames, size, size, 3), dtype=np.uint8)] for _ in range(n)]


def bare_backbone(config: TCNConfig, batch: int, steps: int, device: torch.device) -> float:
    """Images/s of trunk forward + backward + SGD step on float input (batch images)."""
    trunk = TCN(config).backbone.to(device).train()
    opt = torch.optim.SGD(trunk.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    for i in range(steps + 1):
        if i == 1:
            sync(device)
            start = time.perf_counter()
        loss = trunk(x).float().pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return batch * steps / (time.perf_counter() - start)


def bare_forward(config: TCNConfig, batch: int, steps: int, device: torch.device) -> float:
    trunk = TCN(config).backbone.to(device).eval()
    x = torch.randn(batch, 3, config.image_size, config.image_size, device=device)
    with torch.no_grad():
        trunk(x)
        sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            trunk(x)
        sync(device)
    return batch * steps / (time.perf_counter() - start)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="config/presets/embedding_contrastive.yaml")
    parser.add_argument("--backbone", default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--frame-size", type=int, default=128, help="recorded frame size")
    parser.add_argument("--batch", type=int, default=None, help="triplets per step")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    import yaml

    preset = TrainConfig.from_dict(yaml.safe_load(Path(args.preset).read_text()))
    model = dataclasses.replace(
        preset.model,
        backbone=args.backbone or preset.model.backbone,
        image_size=args.image_size or preset.model.image_size,
        pretrained=None,
    )
    batch = args.batch or preset.schedule.batch_size
    # One epoch = `steps` optimisation steps of `batch` triplets.
    schedule = dataclasses.replace(
        preset.schedule,
        batch_size=batch,
        videos_per_epoch=1,
        triplets_per_video=batch * args.steps,
        passes=1,
    )
    config = dataclasses.replace(preset, model=model, schedule=schedule, device=args.device)
    torch.manual_seed(0)
    data = episodes(2, 100, args.frame_size)
    trainer = EmbeddingTrainer(config, data)
    device = trainer.device
    trainer.train_epoch()  # warm-up
    sync(device)
    ours = trainer.train_epoch()["time/images_per_s"]
    images_per_step = 3 * batch
    reference = bare_backbone(config.model_config(), images_per_step, args.steps, device)

    model = trainer.model.eval()
    frames = data[0][0]
    model.embed(frames[:images_per_step])
    sync(device)
    start = time.perf_counter()
    model.embed(frames, batch_size=images_per_step)
    sync(device)
    embed_ips = len(frames) / (time.perf_counter() - start)
    forward_ips = bare_forward(config.model_config(), images_per_step, args.steps, device)

    result = {
        "device": str(device),
        "torch_threads": torch.get_num_threads(),
        "backbone": config.model.backbone,
        "image_size": config.model.image_size,
        "frame_size": args.frame_size,
        "triplets_per_step": batch,
        "train_images_per_s": ours,
        "bare_backbone_train_images_per_s": reference,
        "train_ratio": ours / reference,
        "embed_images_per_s": embed_ips,
        "bare_backbone_forward_images_per_s": forward_ips,
        "embed_ratio": embed_ips / forward_ips,
    }
    print(
        f"device {device}, {config.model.backbone} at {config.model.image_size} px "
        f"(frames {args.frame_size} px), {batch} triplets = {images_per_step} images per step"
    )
    print("| path | images/s | reference: bare backbone | ratio |")
    print("|---|---|---|---|")
    print(
        f"| training step (ours, end to end) | {ours:.0f} | fwd+bwd {reference:.0f} | "
        f"{ours / reference:.2f} |"
    )
    print(
        f"| embedding inference (TCN.embed) | {embed_ips:.0f} | fwd {forward_ips:.0f} | "
        f"{embed_ips / forward_ips:.2f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
