"""Domains kept as image files: torchvision's ImageFolder layout and the field's benchmark layouts.

A folder set's splits are :class:`Files` (paths and labels), read only when images are needed:
all at once for a set that stays resident, batch by batch for one that streams
(:mod:`adda.data.stream`).  Classes are the class folders' names in sorted order, as
torchvision's ``ImageFolder`` has them; a set without a test split is used transductively (its
test set is its own images, whose labels no method reads for training).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.io import ImageReadMode, decode_image, decode_jpeg, read_file
from torchvision.transforms.v2 import functional as TF

from adda.checks import check, integer, is_number, one_of
from adda.data.augment import Augment
from adda.data.datasets import Splits
from adda.errors import DataError
from adda.registry import DATASETS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff")
DECODED_BY_TORCHVISION = (".jpg", ".jpeg", ".png", ".gif", ".webp")  # the rest through PIL
LAYOUT = "<class>/<image> (torchvision's ImageFolder layout)"
# torchvision 0.29 deprecates its decoders for TorchCodec's; on this project's small PNGs
# torchvision.io is still the faster of the two (57 against 94 us per 32 px PNG on one CPU core).
warnings.filterwarnings(
    "ignore", "The image decoding and encoding capabilities of TorchVision", DeprecationWarning
)


@dataclass
class Files:
    """One split on disk: image paths and their int64 labels."""

    paths: list[str]
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, idx: torch.Tensor | range) -> Files:
        idx = torch.as_tensor(list(idx) if isinstance(idx, range) else idx, dtype=torch.long)
        return Files([self.paths[i] for i in idx.tolist()], self.labels[idx])


def decode(path: str) -> torch.Tensor:
    """A file as uint8 (3, H, W): torchvision.io for JPEG, PNG, GIF and WebP, PIL for the rest;
    grey and palette images become RGB."""
    try:
        if path.lower().endswith(DECODED_BY_TORCHVISION):
            return decode_image(read_file(path), mode=ImageReadMode.RGB)
        from PIL import Image

        with Image.open(path) as img:
            return torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1).contiguous()
    except (RuntimeError, OSError, ValueError) as err:
        raise DataError(f"{path}: cannot decode ({err}); replace or delete the file") from err


class ImageFiles(Dataset):
    """A split's images one at a time, resized to ``load_size`` square, then either through
    ``augment`` (training: an item is ``(index, seed)``) or centre-cropped to ``crop`` (evaluation
    and resident loading: an item is an index).

    ``encoded``: items are the files' bytes, decoded a batch at a time on the training device by
    :meth:`decode_batch` (nvJPEG on a GPU): the workers only read files."""

    def __init__(
        self,
        files: Files,
        load_size: int,
        augment: Augment | None = None,
        crop: int | None = None,
        encoded: bool = False,
    ):
        self.files, self.load_size, self.augment, self.crop = files, load_size, augment, crop
        self.encoded = encoded

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, ...]:
        i, seed = item if isinstance(item, tuple) else (item, None)
        if self.encoded:  # plain bytes: a tensor per file would cost the workers a shared-memory handle each
            with open(self.files.paths[i], "rb") as f:
                return f.read(), int(self.files.labels[i]), seed
        return self.prepare(decode(self.files.paths[i]), seed), self.files.labels[i]

    def prepare(self, x: torch.Tensor, seed: int | None) -> torch.Tensor:
        """A decoded uint8 image (on any device) as training or evaluation wants it."""
        if tuple(x.shape[-2:]) != (self.load_size, self.load_size):
            x = TF.resize(x, [self.load_size, self.load_size], antialias=True)
        if seed is not None and self.augment:
            return self.augment.one(x, seed)
        if self.crop is not None and self.crop != self.load_size:
            return TF.center_crop(x, [self.crop, self.crop])
        return x

    def decode_batch(self, items: list[tuple[torch.Tensor, ...]], device: torch.device):
        """``encoded`` items (JPEG bytes, label, seed) decoded together on ``device``, then
        prepared there: (uint8 (B, 3, S, S), labels) on ``device``."""
        raw, labels, seeds = zip(*items, strict=True)
        encoded = [torch.frombuffer(bytearray(b), dtype=torch.uint8) for b in raw]
        try:
            images = decode_jpeg(encoded, mode=ImageReadMode.RGB, device=device)
        except RuntimeError as err:
            raise DataError(
                f"a JPEG in this batch cannot be decoded on {device} ({err}); set data.decode=cpu"
            ) from err
        x = torch.stack([self.prepare(img, s) for img, s in zip(images, seeds, strict=True)])
        return x, torch.tensor(labels, dtype=torch.int64, device=device)


def is_jpeg(path: str) -> bool:
    return path.lower().endswith((".jpg", ".jpeg"))


def as_list(items: list) -> list:
    """The ``collate_fn`` of encoded items: the device decodes them, not the workers."""
    return items


def stack(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``ImageFiles`` items as one batch (a ``DataLoader``'s ``collate_fn``)."""
    images, labels = zip(*items, strict=True)
    return torch.stack(images), torch.stack(labels)


def class_folders(root: Path, what: str) -> list[str]:
    if not root.is_dir():
        raise DataError(f"no folder {root}; it must hold {LAYOUT}")
    classes = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise DataError(f"{what}: {root} has no class folders; it must hold {LAYOUT}")
    return classes


def scan(root: Path, what: str) -> tuple[Files, tuple[str, ...]]:
    """Every image under ``root/<class>/`` (sub-folders too), sorted, labelled by class."""
    classes = class_folders(root, what)
    paths, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(
            os.path.join(d, f)
            for d, _, names in os.walk(root / name, followlinks=True)
            for f in names
            if f.lower().endswith(IMAGE_SUFFIXES)
        )
        if not found:
            raise DataError(
                f"{what}: class folder {root / name} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                f"add its images or remove it"
            )
        paths += found
        labels += [label] * len(found)
    return Files(paths, torch.tensor(labels, dtype=torch.int64)), tuple(classes)


def first_difference(a: tuple[str, ...], b: tuple[str, ...], a_is: str, b_is: str) -> str | None:
    """Where two class lists first differ, in words (``a_is``/``b_is`` name them); None when the
    lists are the same."""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"class {i} is {x!r} in {a_is} but {y!r} in {b_is}"
    if len(a) != len(b):
        n, longer = min(len(a), len(b)), (a_is if len(a) > len(b) else b_is)
        extra = (a if len(a) > len(b) else b)[n]
        return (
            f"{a_is} has {len(a)} classes and {b_is} {len(b)}; the first extra one is {extra!r} in {longer}"
        )
    return None


def hold_out(files: Files, val_fraction: float, split_seed: int) -> tuple[Files, Files]:
    """A fixed random ``val_fraction`` of a split held out (the same for every run seed)."""
    n = len(files)
    n_val = max(1, round(n * val_fraction))
    if n_val >= n:
        raise DataError(f"val_fraction={val_fraction} leaves no training images out of {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(split_seed))
    return files.subset(order[n_val:].sort().values), files.subset(order[:n_val].sort().values)


@DATASETS.register("folder")
class ImageFolderSet:
    """``root/<class>/<image>``; ``test_root`` the same layout for an inductive test split (else
    transductive), ``val_root`` for a labelled validation split (else ``val_fraction`` of ``root``
    held out of training)."""

    def __init__(
        self,
        root: str | Path | None = None,
        test_root: str | Path | None = None,
        val_root: str | Path | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        download: bool = False,
    ) -> None:
        self.root = Path(check("root", root, lambda r: r is not None, f"a folder of {LAYOUT}"))
        self.test_root = Path(test_root) if test_root is not None else None
        self.val_root = Path(val_root) if val_root is not None else None
        self.val_fraction = check(
            "val_fraction", val_fraction, lambda v: is_number(v) and 0 < v < 1, "a number in (0, 1)"
        )
        self.split_seed = integer("split_seed", split_seed)

    def describe(self) -> str:
        return f"folder {self.root}"

    def scan_split(self, root: Path) -> tuple[Files, tuple[str, ...]]:
        return scan(root, self.describe())

    def load(self) -> Splits:
        everything, classes = self.scan_split(self.root)
        named = {"val": self.val_root, "test": self.test_root}
        parts = {}
        for role, root in named.items():
            if root is not None:
                parts[role], theirs = self.scan_split(root)
                diff = first_difference(classes, theirs, str(self.root), str(root))
                if diff:
                    raise DataError(f"{self.describe()}: the {role} split's classes differ: {diff}")
        if "val" in parts:
            train = everything
        else:
            train, parts["val"] = hold_out(everything, self.val_fraction, self.split_seed)
        transductive = "test" not in parts
        test = everything if transductive else parts["test"]
        return Splits(train=train, val=parts["val"], test=test, classes=classes, transductive=transductive)


class Benchmark(ImageFolderSet):
    """One domain of a published benchmark, found under ``data.root`` in the layout it ships in.

    Subclasses name the benchmark's folder, each domain's path inside it (the first that exists
    of several spellings), and where the set is published."""

    folder: str
    domains: dict[str, tuple[str, ...]]
    layout: str  # the domain folders' place under data.root, in words
    published: str

    def __init__(
        self,
        root: str | Path,
        domain: str,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        download: bool = False,
    ) -> None:
        self.domain = one_of("domain", domain, self.domains)
        base = Path(root) / self.folder
        spellings = [base / p for p in self.domains[domain]]
        found = next((p for p in spellings if p.is_dir()), spellings[0])
        super().__init__(found, val_fraction=val_fraction, split_seed=split_seed)
        self.data_root = Path(root)

    def describe(self) -> str:
        return f"{type(self).__name__.lower()} domain {self.domain!r}"

    def scan_split(self, root: Path) -> tuple[Files, tuple[str, ...]]:
        if not root.is_dir():
            raise DataError(
                f"{self.describe()} not found at {root}: expected data.root/{self.layout} with data.root="
                f"{self.data_root}; the set is published at {self.published}"
            )
        return super().scan_split(root)


@DATASETS.register("office31")
class Office31(Benchmark):
    """Office-31 (Saenko et al. 2010): 4,110 images of 31 office objects in three domains."""

    folder = "office31"
    domains = {d: (f"{d}/images",) for d in ("amazon", "dslr", "webcam")}
    layout = "office31/<amazon|dslr|webcam>/images/<class>/<image>"
    published = "https://faculty.cc.gatech.edu/~judy/domainadapt/"


@DATASETS.register("office_home")
class OfficeHome(Benchmark):
    """Office-Home (Venkateswara et al. 2017): 15,588 images of 65 classes in four domains."""

    folder = "office_home"
    domains = {
        "Art": ("Art",),
        "Clipart": ("Clipart",),
        "Product": ("Product",),
        "Real_World": ("Real_World", "Real World"),
    }
    layout = "office_home/<Art|Clipart|Product|Real_World>/<class>/<image>"
    published = "https://www.hemanthdv.org/officeHomeDataset.html"


@DATASETS.register("visda2017")
class VisDA2017(Benchmark):
    """VisDA-2017 classification (Peng et al. 2017): 152k synthetic renderings (``train``) and 55k
    real photos (``validation``) of 12 classes."""

    folder = "visda2017"
    domains = {"train": ("train",), "validation": ("validation",)}
    layout = "visda2017/<train|validation>/<class>/<image>"
    published = "https://github.com/VisionLearningGroup/taskcv-2017-public/tree/master/classification"


@DATASETS.register("domainnet")
class DomainNet(Benchmark):
    """DomainNet (Peng et al. 2019): 345 classes in six domains, with published train/test split
    files ``<domain>_train.txt`` and ``<domain>_test.txt`` (lines ``<domain>/<class>/<file> <label>``)."""

    folder = "domainnet"
    domains = {d: (d,) for d in ("clipart", "infograph", "painting", "quickdraw", "real", "sketch")}
    layout = "domainnet/<clipart|infograph|painting|quickdraw|real|sketch>/<class>/<image>"
    published = "http://ai.bu.edu/M3SDA/ (images and the split files)"

    def split_file(self, split: str) -> Path:
        return self.data_root / self.folder / f"{self.domain}_{split}.txt"

    def read_split(self, split: str) -> tuple[Files, tuple[str, ...]]:
        path = self.split_file(split)
        if not path.is_file() or not self.root.is_dir():
            missing = path if not path.is_file() else self.root
            raise DataError(
                f"{self.describe()}: {missing} not found: expected data.root/{self.layout} and "
                f"data.root/domainnet/<domain>_<train|test>.txt with data.root="
                f"{self.data_root}; the set is published at {self.published}"
            )
        base = self.data_root / self.folder
        paths, labels, names = [], [], {}
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rel, label = line.rsplit(maxsplit=1)
                labels.append(int(label))
            except ValueError:
                raise DataError(f"{path}:{n}: expected '<path> <label>', got {line!r}") from None
            paths.append(str(base / rel))
            names.setdefault(labels[-1], Path(rel).parent.name)
        classes = tuple(names[i] for i in sorted(names))
        if sorted(names) != list(range(len(names))):
            raise DataError(f"{path}: labels must run 0..{len(names) - 1} with every class present")
        return Files(paths, torch.tensor(labels, dtype=torch.int64)), classes

    def load(self) -> Splits:
        everything, classes = self.read_split("train")
        test, theirs = self.read_split("test")
        diff = first_difference(classes, theirs, str(self.split_file("train")), str(self.split_file("test")))
        if diff:
            raise DataError(f"{self.describe()}: the test split's classes differ: {diff}")
        train, val = hold_out(everything, self.val_fraction, self.split_seed)
        return Splits(train=train, val=val, test=test, classes=classes)
