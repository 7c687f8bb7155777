"""Time per training step of each backbone, measured in one run, with its ratio to the seed CNN.

Each backbone steps ``--method`` (default grl, which reads both domains through the encoder) on
fixed random batches of ``--batch`` source + ``--batch`` target images at ``--size`` px, after
``--warmup`` steps; the discriminator is the method's own (an MLP on the conv maps for grl).

    python scripts/bench_backbones.py                       # CPU, batch 32, 64 px
    python scripts/bench_backbones.py --device cuda --steps 200
"""

from __future__ import annotations

import argparse
import time

import torch

from adda.runtime import seed_everything
from adda.train import build_method, compose

BACKBONES = {
    "seed_cnn": [],
    "lenet": [],
    "dann_mnist": [],
    "dtn": [],
    "torchvision resnet18": ["backbone.arch=resnet18"],
    "torchvision resnet50": ["backbone.arch=resnet50"],
}


def step_seconds(label: str, args: argparse.Namespace) -> float:
    kind, *_ = label.split()
    cfg = compose(
        [
            f"backbone={kind}",
            *BACKBONES[label],
            f"method={args.method}",
            f"data.image_size={args.size}",
            f"trainer.batch_size={args.batch}",
            f"device={args.device}",
        ]
    )
    device = torch.device(args.device)
    seed_everything(0)
    method = build_method(cfg, device)
    g = torch.Generator().manual_seed(0)
    batch = [
        (torch.rand(args.batch, 3, args.size, args.size, generator=g).mul(2).sub(1).to(device),
         torch.randint(0, 10, (args.batch,), generator=g).to(device))
        for _ in range(2)
    ]  # fmt: skip
    for step in range(args.warmup):
        method.train_step(batch[0], batch[1], step)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    for step in range(args.steps):
        method.train_step(batch[0], batch[1], args.warmup + step)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) / args.steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--method", default="grl")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="backbone labels to time (default: all)")
    args = parser.parse_args()
    labels = args.only or list(BACKBONES)
    print(f"{args.method}, batch {args.batch}+{args.batch}, {args.size} px, {args.device}, "
          f"{torch.get_num_threads()} threads, {args.steps} timed steps")  # fmt: skip
    base = None
    for label in labels:
        seconds = step_seconds(label, args)
        base = base or seconds
        print(f"{label:22s} {1000 * seconds:8.1f} ms/step  {args.batch / seconds:8.0f} source images/s  "
              f"{seconds / base:6.2f}x the first")  # fmt: skip


if __name__ == "__main__":
    main()
