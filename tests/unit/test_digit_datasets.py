"""USPS and SVHN through torchvision: uint8 layout, labels, splits, channels, and clear errors."""

import bz2

import numpy as np
import pytest
import torch

from adda.data.datasets import SVHN, USPS
from adda.data.domain import build_domains
from adda.errors import DataError
from tests.conftest import compose_cfg


def write_usps(folder, n, seed):
    """USPS's libsvm text format: ``label index:value ...`` with labels 1-10 and values in [-1, 1]."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in (("usps.bz2", n), ("usps.t.bz2", n // 2)):
        lines = []
        for i in range(count):
            pixels = " ".join(f"{j + 1}:{v:.4f}" for j, v in enumerate(rng.uniform(-1, 1, 256)))
            lines.append(f"{i % 10 + 1} {pixels}")
        (folder / name).write_bytes(bz2.compress("\n".join(lines).encode()))


def test_usps_loads_grey_uint8_with_zero_based_labels_and_a_validation_split(tmp_path):
    write_usps(tmp_path / "USPS", 40, seed=0)
    splits = USPS(tmp_path, val_size=10).load()
    x, y = splits.train
    assert x.shape == (30, 1, 16, 16) and x.dtype == torch.uint8 and x.max() > 200
    assert y.tolist() == [i % 10 for i in range(30)]
    assert len(splits.val[0]) == 10 and len(splits.test[0]) == 20
    with pytest.raises(DataError, match="val_size=40"):
        USPS(tmp_path, val_size=40).load()


def test_svhn_loads_colour_images_channels_first(tmp_path, monkeypatch):
    from scipy.io import savemat
    from torchvision.datasets import SVHN as TorchvisionSVHN

    folder = tmp_path / "SVHN"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train_32x32.mat", 12), ("test_32x32.mat", 6)):
        images = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # SVHN's own H, W, C, N order
        savemat(folder / name, {"X": images, "y": (np.arange(n) % 10 + 1).reshape(-1, 1)})
    monkeypatch.setattr(TorchvisionSVHN, "_check_integrity", lambda self: True)  # the files are fakes
    splits = SVHN(tmp_path, val_size=2).load()
    x, y = splits.train
    assert x.shape == (10, 3, 32, 32) and x.dtype == torch.uint8
    assert y.tolist() == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]  # label 10 means the digit 0


@pytest.mark.parametrize("dataset,files", [("usps", "usps.bz2"), ("svhn", "train_32x32.mat")])
def test_missing_dataset_names_the_files_and_how_to_get_them(tmp_path, dataset, files):
    cfg = compose_cfg(f"source={dataset}", f"data.root={tmp_path}")
    with pytest.raises(DataError, match=f"{files}.*missing in .*data.download=true"):
        build_domains(cfg, torch.device("cpu"))


def test_usps_as_target_is_resized_and_rendered_in_three_channels(tmp_path):
    write_usps(tmp_path / "USPS", 40, seed=1)
    cfg = compose_cfg(
        "source=synthetic",
        "target=usps",
        "target.dataset.val_size=10",
        "data.image_size=32",
        f"data.root={tmp_path}",
    )
    data = build_domains(cfg, torch.device("cpu"))
    assert data.target.images.shape == (30, 1, 32, 32)
    assert data.evals["target_test"].images.shape == (20, 3, 32, 32)
    batch = data.target.render(torch.arange(4), torch.Generator())
    assert batch.shape == (4, 3, 32, 32) and batch.min() >= -1 and batch.max() <= 1
