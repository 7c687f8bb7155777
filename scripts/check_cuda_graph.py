"""Whether a training step replayed from CUDA graphs (``trainer.cuda_graph=true``) updates as the
eager step does, on a GPU.  For each method, two runs from the same seed step on the same batches,
one eagerly and one through :class:`adda.graphs.GraphedSteps`; printed: the largest relative
difference of any metric over the steps (ADDA passes its stage switch, minimax alternates its
two plans) and each way's seconds.  Exits 1 when a difference exceeds ``--tolerance``.

    python scripts/check_cuda_graph.py --data-root DATA
    python scripts/check_cuda_graph.py --data-root DATA --methods grl --precision bf16 --tolerance 0.05
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from hydra import compose, initialize_config_dir

from adda.config import CONF_DIR
from adda.data import BatchStream, build_domains
from adda.graphs import GraphedSteps
from adda.runtime import autocast, seed_everything
from adda.train import build_method


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", nargs="+", default=["source_only", "grl", "adda", "minimax", "self_training"])
    p.add_argument("--steps", type=int, default=60, help="steps of each run (its schedules scaled to them)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--tolerance", type=float, default=1e-3, help="largest relative difference that passes")
    p.add_argument("--data-root", default=os.environ.get("ADDA_DATA", "data"))
    return p.parse_args()


def config(args: argparse.Namespace, method: str):
    overrides = [
        "experiment=seed64",
        f"method={method}",
        f"trainer.steps={args.steps}",
        f"trainer.batch_size={args.batch}",
        f"trainer.precision={args.precision}",
        "device=cuda",
        f"data.root={args.data_root}",
    ]
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


def metrics_of(cfg, batches, graphed: bool) -> tuple[list[dict[str, float]], float]:
    """Each step's metrics, and the seconds all steps took (capture included)."""
    seed_everything(cfg.seed)
    method = build_method(cfg, torch.device("cuda"))
    train_step = GraphedSteps(method) if graphed else method.train_step
    out = []
    torch.cuda.synchronize()
    tick = time.perf_counter()
    for step, (source, target) in enumerate(batches):
        with autocast(source[0].device, cfg.trainer.precision):
            metrics = train_step(source, target, step)
        out.append({k: v.item() for k, v in metrics.items()})  # before the next replay overwrites them
    return out, time.perf_counter() - tick


def largest_difference(a: list[dict[str, float]], b: list[dict[str, float]]) -> tuple[float, str]:
    worst, where = 0.0, "none"
    for step, (ma, mb) in enumerate(zip(a, b, strict=True)):
        if ma.keys() != mb.keys():
            return float("inf"), f"step {step}: metrics {sorted(ma)} against {sorted(mb)}"
        for key in ma:
            diff = abs(ma[key] - mb[key]) / max(abs(ma[key]), 1e-3)
            if diff > worst:
                worst, where = diff, f"{key} at step {step}"
    return worst, where


def main() -> None:
    args = parse_args()
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    print(f"{torch.cuda.get_device_name()}; torch {torch.__version__}; {args.precision}", flush=True)
    domains = build_domains(config(args, "grl"), torch.device("cuda"))
    failed = 0
    for name in args.methods:
        cfg = config(args, name)
        streams = [
            BatchStream(d, args.batch, torch.Generator("cuda").manual_seed(cfg.seed + i))
            for i, d in enumerate((domains.source, domains.target))
        ]
        batches = [(streams[0].next(), streams[1].next()) for _ in range(args.steps)]
        eager, eager_s = metrics_of(cfg, batches, graphed=False)
        graphed, graphed_s = metrics_of(cfg, batches, graphed=True)
        worst, where = largest_difference(eager, graphed)
        ok = worst <= args.tolerance
        failed += not ok
        print(
            f"{name:14s} {'ok  ' if ok else 'FAIL'} largest relative difference {worst:.2e} ({where}); "
            f"{args.steps} steps eager {eager_s:.2f} s, graphed {graphed_s:.2f} s (capture included)",
            flush=True,
        )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
