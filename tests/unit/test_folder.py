"""Image-folder sets: scanning, splits, classes, decoding, augmentation, and the two data paths."""

import pytest
import torch

from adda.data.augment import Augment
from adda.data.domain import Domain, StreamedDomain, build_dataset, load_splits, stays_resident
from adda.data.folder import Files, ImageFiles, decode, scan
from adda.data.stream import BatchStream, EpochBatches, FileStream
from adda.data.transforms import Compose
from adda.errors import ConfigError, DataError
from adda.train import build_method
from tests.conftest import compose_cfg, write_image_folder

CLASSES = ["cat", "dog", "eel"]


@pytest.fixture
def folder(tmp_path):
    return write_image_folder(tmp_path / "photos", CLASSES, per_class=10, size=16)


def folder_cfg(*extra):
    return compose_cfg("debug=synthetic", *extra)


def test_scan_finds_every_image_sorted_and_labelled_by_sorted_class_folder(tmp_path):
    root = write_image_folder(tmp_path / "d", ["b", "a"], per_class=3, size=8)
    (root / "a" / "deeper").mkdir()
    write_image_folder(root / "a" / "deeper", ["x"], per_class=1, size=8)  # sub-folders count too
    (root / "a" / "notes.txt").write_text("not an image")
    files, classes = scan(root, "test set")
    assert classes == ("a", "b")
    assert len(files) == 7 and files.labels.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert all(p.endswith(".png") for p in files.paths) and files.paths == sorted(files.paths)


def test_missing_folder_and_empty_class_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match=r"no folder .*nowhere; it must hold <class>/<image>") as err:
        build_dataset({"name": "folder", "root": str(tmp_path / "nowhere")}, "data").load()
    assert "\n" not in str(err.value)
    root = write_image_folder(tmp_path / "d", ["a"], per_class=2, size=8)
    (root / "empty").mkdir()
    with pytest.raises(DataError, match=r"class folder .*empty holds no images"):
        build_dataset({"name": "folder", "root": str(root)}, "data").load()


def test_root_left_unset_names_the_key_to_set():
    cfg = folder_cfg("source=folder")
    with pytest.raises(ConfigError, match=r"^source.root=None: must be a folder of <class>/<image>"):
        load_splits(cfg)


def test_without_a_test_split_the_protocol_is_transductive_and_val_is_held_out(folder):
    splits = build_dataset({"name": "folder", "root": str(folder), "val_fraction": 0.2}, "data").load()
    assert splits.transductive and splits.classes == tuple(CLASSES)
    assert len(splits.test) == 30  # the test set is every image of the folder
    assert len(splits.val) == 6 and len(splits.train) == 24
    assert not set(splits.val.paths) & set(splits.train.paths)
    assert set(splits.val.paths) | set(splits.train.paths) == set(splits.test.paths)
    again = build_dataset({"name": "folder", "root": str(folder), "val_fraction": 0.2}, "data").load()
    assert again.val.paths == splits.val.paths  # fixed by split_seed, not by the run's seed


def test_a_test_root_makes_the_protocol_inductive_and_must_have_the_same_classes(folder, tmp_path):
    test = write_image_folder(tmp_path / "test", CLASSES, per_class=2, size=16, seed=1)
    splits = build_dataset({"name": "folder", "root": str(folder), "test_root": str(test)}, "data").load()
    assert not splits.transductive and len(splits.test) == 6 and len(splits.train) == 27
    odd = write_image_folder(tmp_path / "odd", ["cat", "dog"], per_class=1, size=16)
    with pytest.raises(DataError, match=r"the test split's classes differ: .* has 3 classes and .* 2"):
        build_dataset({"name": "folder", "root": str(folder), "test_root": str(odd)}, "data").load()


def test_source_and_target_with_different_classes_fail_naming_the_first_difference(folder, tmp_path):
    other = write_image_folder(tmp_path / "other", ["cat", "cow", "eel"], per_class=2, size=16)
    cfg = folder_cfg("source=folder", f"source.root={folder}", "target=folder", f"target.root={other}")
    with pytest.raises(DataError) as err:
        load_splits(cfg)
    message = str(err.value)
    assert "\n" not in message
    assert "class 1 is 'dog' in the source but 'cow' in the target" in message


def test_decode_reads_png_jpeg_and_pil_formats_as_rgb_uint8(tmp_path):
    for suffix in (".png", ".jpg", ".bmp"):
        root = write_image_folder(tmp_path / suffix[1:], ["a"], per_class=1, size=12, suffix=suffix)
        x = decode(str(next((root / "a").iterdir())))
        assert x.dtype == torch.uint8 and x.shape == (3, 12, 12)
    from PIL import Image

    Image.new("L", (5, 7), color=200).save(tmp_path / "grey.png")
    grey = decode(str(tmp_path / "grey.png"))
    assert grey.shape == (3, 7, 5) and (grey == 200).all()  # grey images become RGB
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"broken.png: cannot decode .*replace or delete the file"):
        decode(str(tmp_path / "broken.png"))


def test_augment_is_a_function_of_its_seed_and_leaves_the_global_generator_alone():
    aug = Augment([{"name": "RandomResizedCrop", "size": 8}, {"name": "RandomHorizontalFlip"}])
    image = torch.arange(3 * 16 * 16, dtype=torch.int64).remainder(256).to(torch.uint8).view(3, 16, 16)
    torch.manual_seed(0)
    before = torch.get_rng_state()
    a, b, c = aug.one(image, 5), aug.one(image, 5), aug.one(image, 6)
    assert torch.equal(torch.get_rng_state(), before)
    assert a.shape == (3, 8, 8) and torch.equal(a, b) and not torch.equal(a, c)
    aug.check(16, 8)
    with pytest.raises(ConfigError, match=r"turns data.load_size=16 images into 8x8, not data.image_size=12"):
        aug.check(16, 12)
    with pytest.raises(ConfigError, match=r"data.load_size=16 differs from data.image_size=12: add a crop"):
        Augment([]).check(16, 12)
    with pytest.raises(ConfigError, match=r"unknown augmentation 'Normalise'; known: CenterCrop"):
        Augment([{"name": "Normalise"}])
    with pytest.raises(
        ConfigError, match=r"^data.augment\[1\]: augmentation 'RandomResizedCrop': .*'colour'"
    ):
        Augment([{"name": "RandomHorizontalFlip"}, {"name": "RandomResizedCrop", "size": 8, "colour": 1}])
    with pytest.raises(ConfigError, match=r"^data.augment\[0\]: .*positive"):
        Augment([{"name": "RandomRotation", "degrees": -5}])


def test_epoch_batches_are_permutations_and_a_function_of_seed_and_batch_number():
    batches = EpochBatches(n=10, batch_size=3, seed=4)
    it = iter(batches)
    first = [next(it) for _ in range(6)]  # two epochs of three batches, the last image dropped
    for epoch in (first[:3], first[3:]):
        indices = [i for batch in epoch for i, _ in batch]
        assert len(set(indices)) == 9 and set(indices) <= set(range(10))
    assert [i for i, _ in first[0]] != [i for i, _ in first[3]]  # each epoch its own order
    later = iter(EpochBatches(n=10, batch_size=3, seed=4, start=4))
    assert next(later) == first[4] and next(later) == first[5]
    assert next(iter(EpochBatches(n=10, batch_size=3, seed=5))) != first[0]


def streamed(folder, augment=None, load=16, size=16):
    splits = build_dataset({"name": "folder", "root": str(folder)}, "data").load()
    dataset = ImageFiles(splits.train, load, augment=augment, crop=size)
    return StreamedDomain(dataset, Compose([]), torch.device("cpu")), splits


def draw(stream, n):
    return [stream.next() for _ in range(n)]


def test_streamed_batches_are_the_same_with_any_number_of_workers_and_after_a_resume(folder):
    aug = Augment([{"name": "RandomResizedCrop", "size": 12}, {"name": "RandomHorizontalFlip"}])
    domain, _ = streamed(folder, aug, load=16, size=12)
    make = lambda workers: FileStream(domain, 4, torch.Generator().manual_seed(1), 7, workers)  # noqa: E731
    plain, parallel = make(0), make(2)
    ref, got = draw(plain, 9), draw(parallel, 9)  # more than an epoch of 27 // 4 = 6 batches
    parallel.close()
    for (x, y), (x2, y2) in zip(ref, got, strict=True):
        assert x.shape == (4, 3, 12, 12) and x.min() >= -1 and x.max() <= 1
        assert torch.equal(x, x2) and torch.equal(y, y2)
    resumed = make(2)
    cut = make(0)
    draw(cut, 5)
    resumed.load_state_dict(cut.state_dict())
    for (x, y), (x2, y2) in zip(ref[5:], draw(resumed, 4), strict=True):
        assert torch.equal(x, x2) and torch.equal(y, y2)
    resumed.close()


def test_a_streamed_domain_renders_the_same_images_as_the_resident_one(folder):
    domain, splits = streamed(folder)
    x = torch.stack([decode(p) for p in splits.train.paths])
    resident = Domain(x, splits.train.labels, Compose([]))
    idx = torch.tensor([0, 5, 26])
    assert torch.equal(domain.render(idx, torch.Generator()), resident.render(idx, torch.Generator()))
    assert torch.equal(domain.labels[idx], resident.labels[idx])
    a, b = BatchStream(resident, 4, torch.Generator().manual_seed(0)).next()
    assert a.shape == (4, 3, 16, 16) and b.dtype == torch.int64


def test_data_resident_setting():
    files = Files(["a.png"] * 10, torch.zeros(10, dtype=torch.int64))
    cpu = torch.device("cpu")
    assert stays_resident(files, True, 64, cpu) and not stays_resident(files, False, 64, cpu)
    assert stays_resident(files, "auto", 64, cpu)  # 120 kB: far under a quarter of the free RAM
    huge = Files(["a.png"] * 10**5, torch.zeros(1, dtype=torch.int64))
    assert not stays_resident(huge, "auto", 8192, cpu)  # 20 TB does not fit anywhere
    tensors = (torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2, dtype=torch.int64))
    assert stays_resident(tensors, False, 64, cpu)  # a digit set is in memory already


def test_the_classifier_has_one_output_per_class_of_the_data(folder):
    cfg = folder_cfg("source=folder", f"source.root={folder}")
    method = build_method(cfg, torch.device("cpu"), num_classes=3)
    assert method.backbone.num_classes == 3
    with pytest.raises(ConfigError, match=r"^backbone.num_classes=10: the data has 3 classes"):
        build_method(folder_cfg("+backbone.num_classes=10"), torch.device("cpu"), num_classes=3)


@pytest.mark.parametrize(
    "name,domain,layout",
    [
        ("office31", "dslr", "office31/<amazon|dslr|webcam>/images/<class>/<image>"),
        ("office_home", "Art", "office_home/<Art|Clipart|Product|Real_World>/<class>/<image>"),
        ("visda2017", "validation", "visda2017/<train|validation>/<class>/<image>"),
        (
            "domainnet",
            "sketch",
            "domainnet/<clipart|infograph|painting|quickdraw|real|sketch>/<class>/<image>",
        ),
    ],
)
def test_a_missing_benchmark_says_its_layout_and_where_it_is_published(tmp_path, name, domain, layout):
    with pytest.raises(DataError) as err:
        build_dataset({"name": name, "domain": domain}, str(tmp_path)).load()
    message = str(err.value)
    assert "\n" not in message and f"data.root/{layout}" in message and "published at http" in message
    with pytest.raises(ConfigError, match=r"^source.domain='nope': must be "):
        build_dataset({"name": name, "domain": "nope"}, str(tmp_path), at="source")


def test_benchmark_layouts_are_found_under_data_root(tmp_path):
    write_image_folder(tmp_path / "office31" / "webcam" / "images", CLASSES, per_class=2, size=8)
    office = build_dataset({"name": "office31", "domain": "webcam"}, str(tmp_path)).load()
    assert office.classes == tuple(CLASSES) and office.transductive and len(office.test) == 6
    write_image_folder(tmp_path / "office_home" / "Real World", CLASSES, per_class=2, size=8)
    home = build_dataset({"name": "office_home", "domain": "Real_World"}, str(tmp_path)).load()
    assert len(home.test) == 6  # the published folder name has a space
    net = tmp_path / "domainnet"
    write_image_folder(net / "real", CLASSES, per_class=2, size=8)
    lines = [f"real/{c}/{n:04d}.png {k}" for k, c in enumerate(CLASSES) for n in range(2)]
    (net / "real_train.txt").write_text("\n".join(lines[1:]) + "\n")
    (net / "real_test.txt").write_text("\n".join(lines[::2]) + "\n")
    splits = build_dataset({"name": "domainnet", "domain": "real"}, str(tmp_path)).load()
    assert splits.classes == tuple(CLASSES) and not splits.transductive
    assert len(splits.test) == 3 and len(splits.train) + len(splits.val) == 5
    assert decode(splits.test.paths[0]).shape == (3, 8, 8)


def test_jpegs_decoded_on_the_device_give_the_batches_the_workers_give(tmp_path):
    """data.decode=device: workers only read the files and the training device decodes them
    (nvJPEG on a GPU); on the CPU the two paths decode with the same library, bit for bit."""
    root = write_image_folder(tmp_path / "jpegs", CLASSES, per_class=6, size=20, suffix=".jpg")
    files = build_dataset({"name": "folder", "root": str(root)}, "data").load().train
    aug = Augment([{"name": "RandomResizedCrop", "size": 12}, {"name": "RandomHorizontalFlip"}])
    cpu = torch.device("cpu")
    batches = []
    for encoded, workers in ((False, 0), (True, 0), (True, 2)):
        dataset = ImageFiles(files, 16, augment=aug, crop=12, encoded=encoded)
        stream = FileStream(
            StreamedDomain(dataset, Compose([]), cpu), 4, torch.Generator().manual_seed(0), 3, workers
        )
        batches.append(draw(stream, 5))
        stream.close()
    for (x, y), (x1, y1), (x2, y2) in zip(*batches, strict=True):
        assert x.shape == (4, 3, 12, 12)
        assert torch.equal(x, x1) and torch.equal(x, x2) and torch.equal(y, y1) and torch.equal(y, y2)


def test_device_decoding_takes_jpegs_only(folder):
    from adda.data.domain import decodes_on_device

    pngs = build_dataset({"name": "folder", "root": str(folder)}, "data").load().train
    cpu = torch.device("cpu")
    assert not decodes_on_device("auto", pngs, cpu) and not decodes_on_device("cpu", pngs, cpu)
    with pytest.raises(ConfigError, match=r"^data.decode=device decodes JPEGs only and .*\.png is not one"):
        decodes_on_device("device", pngs, cpu)
