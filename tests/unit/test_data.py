import pytest
import torch

from adda.data import BatchStream, build_domains
from adda.data.datasets import MNIST, SyntheticDigits
from adda.data.domain import Domain, resize
from adda.data.transforms import Compose
from adda.errors import DataError


def test_resize_keeps_dtype_and_range():
    x = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    y = resize(x, 64)
    assert y.shape == (5, 1, 64, 64) and y.dtype == torch.uint8
    assert resize(x, 28) is x


def test_domain_renders_three_channels_in_minus_one_one():
    images = torch.tensor([0, 255], dtype=torch.uint8).repeat(4, 1, 8, 4)
    dom = Domain(images, torch.arange(4), Compose([]))
    x = dom.render(torch.tensor([0, 2]), torch.Generator())
    assert x.shape == (2, 3, 8, 8)
    assert x.min() == -1 and x.max() == 1


def test_batch_stream_is_deterministic_and_covers_an_epoch():
    dom = Domain(torch.zeros(10, 1, 4, 4, dtype=torch.uint8), torch.arange(10), Compose([]))
    a = BatchStream(dom, 5, torch.Generator().manual_seed(0))
    b = BatchStream(dom, 5, torch.Generator().manual_seed(0))
    la = [a.next()[1] for _ in range(4)]
    lb = [b.next()[1] for _ in range(4)]
    assert all(torch.equal(x, y) for x, y in zip(la, lb, strict=True))
    assert sorted(torch.cat(la[:2]).tolist()) == list(range(10))
    with pytest.raises(ValueError):
        BatchStream(dom, 0, torch.Generator())


def test_synthetic_digits_are_labelled_and_deterministic():
    a, b = SyntheticDigits(train=50).load(), SyntheticDigits(train=50).load()
    assert a.train[0].shape == (50, 1, 28, 28) and a.train[0].dtype == torch.uint8
    assert torch.equal(a.train[0], b.train[0]) and set(a.train[1].tolist()) <= set(range(10))


def test_missing_mnist_names_both_ways_to_get_it(tmp_path):
    with pytest.raises(DataError) as err:
        MNIST(tmp_path).load()
    message = str(err.value)
    assert "\n" not in message
    assert "scripts/fetch_mnist.py" in message and "data.download=true" in message


def test_truncated_mnist_file_is_named(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        (raw / name).write_bytes(b"\0" * 16)
    with pytest.raises(DataError, match="train-images-idx3-ubyte has 16 bytes"):
        MNIST(tmp_path).load()


def test_target_test_set_is_fixed_across_builds(synthetic_cfg):
    cfg = synthetic_cfg()
    a = build_domains(cfg, torch.device("cpu")).evals["target_test"]
    b = build_domains(cfg, torch.device("cpu")).evals["target_test"]
    assert torch.equal(a.images, b.images)
    c = build_domains(synthetic_cfg("target.test_seed=7"), torch.device("cpu")).evals["target_test"]
    assert not torch.equal(a.images, c.images) and torch.equal(a.labels, c.labels)


def test_wrong_header_and_checksum_are_named(tmp_path):
    from adda.data.datasets import MNIST_FILES

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name, (size, magic, count, _) in MNIST_FILES.items():
        header = magic.to_bytes(4, "big") + count.to_bytes(4, "big")
        (raw / name).write_bytes(header + b"\0" * (size - 8))
    with pytest.raises(DataError, match="train-images-idx3-ubyte fails its SHA-256 check.*fetch_mnist"):
        MNIST(tmp_path, verify=True).load()
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"\0" * MNIST_FILES["t10k-labels-idx1-ubyte"][0])
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte has IDX header"):
        MNIST(tmp_path).load()


def test_a_target_drawn_from_the_source_dataset_shares_its_images_on_the_device(synthetic_cfg):
    data = build_domains(synthetic_cfg("target=noisy"), torch.device("cpu"))
    assert data.target.images is data.source.images  # one copy in device memory, not two
    assert len(data.target.transform.transforms) == 1 and not data.source.transform.transforms
