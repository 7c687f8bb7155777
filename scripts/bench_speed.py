"""Training speed on the seed task, three ways, measured in one run.

* framework: ``adda``'s own loop: digits resized once and kept on the device, batches and the
  MNIST-M-like target drawn there by batched transforms, metrics read only at log intervals.
* bare: the same networks and the textbook update on fixed tensors already on the device, with no
  data drawing at all: the model's own cost, which the framework should come close to.
* conventional: the usual pipeline: a ``Dataset`` that resizes and composites one image at a time
  (:mod:`adda.data.reference`), a ``DataLoader`` with worker processes, then the same update.

* streamed: with ``--folders DIR`` (written by ``scripts/export_folder.py``), the same task read from
  PNG folders: kept resident on the device, and streamed from disk by 0, 2 and 4 ``DataLoader``
  workers (``data.resident=false``); the ratio is each path's step time over the resident one's.

Every line prints source images per second (``--batch`` source images per step, plus as many target
images for the adaptation methods) and the ratio measured in this same run.  ``adda`` is timed in its
adaptation stage.  Then the time to evaluate the 20k test images (source and target test sets) at the
automatic evaluation batch and at 1000.

    python scripts/bench_speed.py                                   # CPU, batches 64 and 512
    python scripts/bench_speed.py --device cuda --precision bf16 --compile
    python scripts/bench_speed.py --folders outputs/folders/seed64 --only-folders --batch-sizes 32 64

* stacked: with ``--stacked 1,4,16``, K runs of ``grl`` and ``adda`` (seeds 0..K-1) trained as one
  group (:mod:`adda.stacking`, as ``hydra/launcher=stacked`` does) against the same K runs one
  after another, each drawing its own batches: total and per-run source images/s, and the ratio,
  for each way of computing a group that ``--compute`` names (``lockstep:2``: on 2 threads).
  ``--repeat R`` measures all of them R times, interleaved, and prints the medians.

    python scripts/bench_speed.py --stacked 1,4,16 --batch-sizes 64
    python scripts/bench_speed.py --stacked 1,4,16 --device cuda --compute batched

* cuda graph: with ``--cuda-graph`` (CUDA only), the framework's loop with eager steps against the
  same loop with each step replayed from a CUDA graph (``trainer.cuda_graph=true``), and the ratio.

    python scripts/bench_speed.py --device cuda --cuda-graph --methods grl adda
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from hydra import compose, initialize_config_dir
from torch.utils.data import DataLoader

from adda.config import CONF_DIR
from adda.data import BatchStream, build_domains
from adda.data.datasets import MNIST
from adda.data.export import folder_overrides
from adda.data.reference import PerSampleDigits
from adda.data.transforms.colour import load_photos
from adda.evaluate import eval_batch_size, evaluate
from adda.fit import Loop, MetricMeter
from adda.graphs import GraphedSteps
from adda.losses import domain_loss, reverse_gradient
from adda.optim import build_optimizer
from adda.registry import BACKBONES, DISCRIMINATORS
from adda.runtime import autocast, seed_everything
from adda.stacking import group
from adda.tensorboard_logger import TensorBoardLogger
from adda.train import batch_streams, build_method

PROTOCOL_STEPS = 11_000  # the seed's run length: sets each method's schedules and ADDA's stage switch


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 512])
    p.add_argument("--methods", nargs="+", default=["source_only", "grl", "adda", "confusion"])
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 20 on CPU, 200 on CUDA)")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 3 / 30)")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="DataLoader workers (conventional)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--cuda-graph", action="store_true", help="only: eager steps against CUDA-graph replays")
    p.add_argument("--data-root", default=os.environ.get("ADDA_DATA", "data"))
    p.add_argument("--folders", type=Path, default=None, help="exported PNG folders: time the streamed path")
    p.add_argument("--stream-workers", type=int, nargs="+", default=[0, 2, 4])
    p.add_argument("--only-folders", action="store_true", help="skip the digit-path comparisons")
    p.add_argument(
        "--stacked",
        type=lambda v: [int(k) for k in v.split(",")],
        default=None,
        help="K,K,...: time K stacked runs against K one after another (only that)",
    )
    p.add_argument(
        "--compute",
        type=lambda v: v.split(","),
        default=["batched", "lockstep", "lockstep:2"],
        help="ways of computing a stacked group to time: batched, lockstep, lockstep:W (W threads)",
    )
    p.add_argument("--repeat", type=int, default=1, help="stacked: measurements of each, interleaved")
    args = p.parse_args()
    cuda = args.device.startswith("cuda")
    args.steps = args.steps or (200 if cuda else 20)
    args.warmup = args.warmup if args.warmup is not None else (30 if cuda else 3)
    return args


def config(args: argparse.Namespace, method: str, batch: int, *extra: str):
    overrides = [
        *extra,
        f"method={method}",
        f"trainer.batch_size={batch}",
        f"trainer.steps={PROTOCOL_STEPS}",
        f"trainer.precision={args.precision}",
        f"trainer.compile={str(args.compile).lower()}",
        f"device={args.device}",
        f"data.root={args.data_root}",
    ]
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("train", overrides=overrides)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_step(method) -> int:
    """Where timing starts: ADDA in its adaptation stage, the others at the beginning."""
    return getattr(method, "pretrain_steps", 0)


def framework_rate(cfg, streams, args, device, log_dir: Path) -> float:
    """Source images/s of the framework's own loop (warm-up excluded) drawing from ``streams``."""
    seed_everything(0)
    method = build_method(cfg, device)
    batch = cfg.trainer.batch_size
    logger = TensorBoardLogger(log_dir)
    start = first_step(method)
    seconds = 0.0
    train_step = GraphedSteps(method) if cfg.trainer.cuda_graph else None  # captured in the warm-up
    for begin, end in ((start, start + args.warmup), (start + args.warmup, start + args.warmup + args.steps)):
        loop = Loop(
            method, *streams, logger, end, log_every=50, eval_every=0, checkpoint_every=0,
            evaluate=dict, save=lambda *_: "", progress=False, precision=args.precision,
            train_step=train_step,
        )  # fmt: skip
        seconds = loop.run(begin)  # ends by reading the metrics: a device sync
    logger.close()
    return args.steps * batch / seconds


def conventional_rate(cfg, loaders, args, device) -> float:
    """The same update fed by per-sample ``Dataset`` + ``DataLoader`` workers."""
    seed_everything(0)
    method = build_method(cfg, device)
    batches = zip(itertools.cycle(loaders[0]), itertools.cycle(loaders[1]))
    meter, start = MetricMeter(), first_step(method)
    for i, ((xs, ys), (xt, yt)) in enumerate(batches):
        if i == args.warmup:
            sync(device)
            tick = time.perf_counter()
        if i == args.warmup + args.steps:
            break
        src = (xs.to(device, non_blocking=True), ys.to(device, non_blocking=True))
        tgt = (xt.to(device, non_blocking=True), yt.to(device, non_blocking=True))
        with autocast(device, args.precision):
            meter.add(method.train_step(src, tgt, start + i))
    meter.read()
    sync(device)
    return args.steps * len(xs) / (time.perf_counter() - tick)


def bare_rate(cfg, adversarial: bool, args, device) -> float:
    """The networks' own cost: one joint DANN update (or a plain classifier update) on fixed tensors."""
    seed_everything(0)
    size, batch = cfg.data.image_size, cfg.trainer.batch_size
    backbone = BACKBONES.build(cfg.backbone, image_size=size).to(device)
    disc = DISCRIMINATORS.build(cfg.discriminator, in_shape=backbone.tap_shapes(size)["features"]).to(device)
    modules = torch.nn.ModuleList([backbone, disc]).to(memory_format=torch.channels_last)
    if args.compile:
        for m in (backbone.encoder, backbone.head, disc):
            m.compile()
    opt = build_optimizer(modules.parameters(), {"name": "adam", "lr": 1e-3})
    xs, xt = (torch.rand(batch, 3, size, size, device=device) * 2 - 1 for _ in range(2))
    ys = torch.randint(0, 10, (batch,), device=device)

    def step() -> None:
        with autocast(device, args.precision):
            if adversarial:
                feats = backbone.encoder(torch.cat([xs, xt]))["features"]
                d = disc(reverse_gradient(feats, 1.0))
                loss = F.cross_entropy(backbone.head(feats[:batch]), ys) + domain_loss(d[:batch], d[batch:])
            else:
                loss = F.cross_entropy(backbone(xs), ys)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    sync(device)
    tick = time.perf_counter()
    for _ in range(args.steps):
        step()
    sync(device)
    return args.steps * batch / (time.perf_counter() - tick)


def graph_lines(args: argparse.Namespace, data, device: torch.device) -> None:
    """The framework's loop with eager steps against the same steps replayed as CUDA graphs, and
    the bare eager step of the networks (:func:`bare_rate`)."""
    with tempfile.TemporaryDirectory() as tmp:
        for batch, name in itertools.product(args.batch_sizes, args.methods):
            rates = {}
            for graphed in (False, True):
                cfg = config(args, name, batch, f"trainer.cuda_graph={str(graphed).lower()}")
                streams = resident_streams(data, batch, device)
                rates[graphed] = framework_rate(cfg, streams, args, device, Path(tmp) / f"{name}{graphed}")
            line = f"batch {batch:4d}  {name:12s} eager {rates[False]:9,.0f} img/s  cuda graph "
            line += f"{rates[True]:9,.0f} img/s  graph/eager {rates[True] / rates[False]:5.2f}x"
            if name in ("source_only", "grl"):
                line += f"  bare eager step {bare_rate(cfg, name == 'grl', args, device):9,.0f} img/s"
            print(line, flush=True)


def resident_streams(data, batch: int, device: torch.device, seed: int = 0) -> list[BatchStream]:
    return [BatchStream(d, batch, torch.Generator(device).manual_seed(seed + i)) for i, d in enumerate(data)]


def folder_lines(args: argparse.Namespace, device: torch.device, tmp: Path) -> None:
    """The exported task from folders: resident, then streamed by each worker count."""
    paths = [("resident", "data.resident=true", "data.workers=0")]
    paths += [
        (f"streamed, {w} workers", "data.resident=false", f"data.workers={w}") for w in args.stream_workers
    ]
    for batch in args.batch_sizes:
        resident_rate = None
        for label, *extra in paths:
            cfg = config(args, "grl", batch, *folder_overrides(args.folders), *extra)
            streams = batch_streams(build_domains(cfg, device), cfg, device)
            rate = framework_rate(cfg, list(streams.values()), args, device, tmp / f"{label}{batch}")
            for stream in streams.values():
                stream.close()
            resident_rate = resident_rate or rate
            print(
                f"batch {batch:4d}  grl from folders {label:20s} {rate:9,.0f} img/s  "
                f"step time / resident {resident_rate / rate:5.2f}x",
                flush=True,
            )


def stacked_lines(args: argparse.Namespace, data, device: torch.device) -> None:
    """K runs stacked against the same K runs one after another, per method and batch size."""
    for batch in args.batch_sizes:
        for name in ("grl", "adda"):
            cfg = config(args, name, batch)
            for k in args.stacked:
                times: dict[str | None, list[float]] = {None: [], **{way: [] for way in args.compute}}
                for _ in range(args.repeat):  # interleaved, so that the machine's drift hits all alike
                    times[None].append(sum(stacked_seconds(cfg, data, device, args, [s]) for s in range(k)))
                    for way in args.compute:
                        times[way].append(stacked_seconds(cfg, data, device, args, list(range(k)), way))
                alone, images = statistics.median(times[None]), k * args.steps * batch
                for way in args.compute:
                    together = statistics.median(times[way])
                    line = f"batch {batch:4d}  {name:5s} K={k:3d}  {way:11s} {images / together:8,.0f} img/s"
                    line += f" in all ({images / together / k:7,.0f} per run)  one after another"
                    line += f" {images / alone:8,.0f} img/s  stacked/one-by-one {alone / together:5.2f}x"
                    print(line, flush=True)


def stacked_seconds(
    cfg, data, device: torch.device, args: argparse.Namespace, seeds: list[int], way: str | None = None
) -> float:
    """Seconds of ``args.steps`` timed steps of runs ``seeds``: one alone (``way`` None), or all
    as one group computed ``way`` (``lockstep:2``: lockstep on 2 threads)."""
    methods, streams = [], []
    for seed in seeds:
        seed_everything(seed)
        methods.append(build_method(cfg, device))
        streams.append(resident_streams(data, cfg.trainer.batch_size, device, seed))
    compute, _, workers = (way or "").partition(":")
    stack = group(methods, compute, int(workers or 1)) if way else None
    start = first_step(methods[0])
    if start:  # straight to the adaptation stage, as a run resumed there would be
        for method in methods:
            method.start_adaptation()
    seconds = 0.0
    for begin, n in ((start, args.warmup), (start + args.warmup, args.steps)):
        sync(device)
        tick = time.perf_counter()
        for step in range(begin + 1, begin + n + 1):
            batches = [(s.next(), t.next()) for s, t in streams]
            with autocast(device, args.precision):
                if stack is None:
                    metrics = [methods[0].train_step(*batches[0], step)]
                else:
                    metrics = stack.train_step(batches, step)
        float(sum(m["acc/domain_batch"] for m in metrics))  # reading a metric: a device sync
        seconds = time.perf_counter() - tick
    if stack is not None:
        stack.close()
    return seconds


def make_loaders(cfg, args, device, batch: int) -> tuple[DataLoader, DataLoader]:
    splits = MNIST(args.data_root).load()
    x, y = splits.train
    size = cfg.data.image_size
    datasets = (PerSampleDigits(x, y, size), PerSampleDigits(x, y, size, load_photos("sklearn", size)))
    kw = dict(batch_size=batch, shuffle=True, drop_last=True, num_workers=args.workers)
    kw |= dict(persistent_workers=args.workers > 0, pin_memory=device.type == "cuda")
    return DataLoader(datasets[0], **kw), DataLoader(datasets[1], **kw)


def describe(device: torch.device, args: argparse.Namespace) -> str:
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU, {torch.get_num_threads()} threads"
    )
    return (
        f"device {device} ({name}); torch {torch.__version__}; precision {args.precision}; "
        f"compile {args.compile}; cuda_graph {args.cuda_graph}; "
        f"{args.steps} timed steps after {args.warmup}; "
        f"conventional: {args.workers} DataLoader workers"
    )


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    print(describe(device, args), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        if args.folders:
            folder_lines(args, device, Path(tmp))
    if args.only_folders:
        return
    base = config(args, "grl", args.batch_sizes[0])
    domains = build_domains(base, device)
    data = (domains.source, domains.target)
    if args.stacked:
        stacked_lines(args, data, device)
        return
    if args.cuda_graph:
        graph_lines(args, data, device)
        return
    with tempfile.TemporaryDirectory() as tmp:
        for batch in args.batch_sizes:
            loaders = make_loaders(base, args, device, batch)
            for name in args.methods:
                cfg = config(args, name, batch)
                streams = resident_streams(data, batch, device)
                fast = framework_rate(cfg, streams, args, device, Path(tmp) / f"{name}{batch}")
                slow = conventional_rate(cfg, loaders, args, device)
                line = f"batch {batch:4d}  {name:12s} framework {fast:9,.0f} img/s"
                line += f"  conventional {slow:9,.0f} img/s  framework/conventional {fast / slow:5.2f}x"
                if name in ("source_only", "grl"):
                    bare = bare_rate(cfg, name == "grl", args, device)
                    line += f"  bare step {bare:9,.0f} img/s  framework/bare {fast / bare:5.2f}"
                print(line, flush=True)
            del loaders
    method = build_method(base, device)
    tests = {k: v for k, v in domains.evals.items() if k.endswith("_test")}
    n = sum(len(v.labels) for v in tests.values())
    auto = eval_batch_size("auto", device)
    seconds = {}
    for batch in (auto, 1000):
        evaluate(method, tests, batch, args.precision)  # warm-up
        sync(device)
        tick = time.perf_counter()
        evaluate(method, tests, batch, args.precision)
        seconds[batch] = time.perf_counter() - tick
    print(
        f"evaluation of {n:,} test images: {seconds[auto]:.2f} s at batch {auto} (auto), "
        f"{seconds[1000]:.2f} s at batch 1000, auto/1000 speed {seconds[1000] / seconds[auto]:.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
