"""Training from image folders: exported domains, both data paths, resume, presets, and errors."""

import json
import subprocess
import sys

import pytest
import torch

from adda.data import build_domains
from adda.data.export import export_domains, folder_overrides
from adda.fit import Interrupted
from adda.train import run
from tests.conftest import REPO, SYNTHETIC, compose_cfg, write_image_folder
from tests.integration.test_cli import adda_train, error_lines
from tests.integration.test_reliability import EXACT, interrupt_at

NOISY = ("target=noisy", "target.transforms.0.std=0.2")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The synthetic task (bars, 32 px) with a noisy target, written as PNG folders."""
    out = tmp_path_factory.mktemp("exported")
    export_domains(compose_cfg(*SYNTHETIC, *NOISY), out, limit=600)
    return out


def folder_run(tmp_path, name, exported, *extra):
    overrides = (*SYNTHETIC, *folder_overrides(exported), "trainer.steps=60", "method=grl", *extra)
    return run(compose_cfg(*overrides), tmp_path / name, overrides)


def test_export_writes_each_split_as_class_folders_of_pngs(exported):
    for domain in ("source", "target"):
        for split, n in (("train", 600), ("val", 200), ("test", 500)):
            pngs = list((exported / domain / split).glob("*/*.png"))
            assert len(pngs) == n, f"{domain}/{split}"
        assert sorted(p.name for p in (exported / domain / "train").iterdir()) == [str(d) for d in range(10)]


def test_the_target_test_set_read_from_its_folder_is_the_one_a_resident_run_renders(exported):
    """PNG is lossless and the export writes each class's images in order: the target test split
    read back is the digit path's, image for image, sorted by class."""
    cpu = torch.device("cpu")
    digits = build_domains(compose_cfg(*SYNTHETIC, *NOISY), cpu).evals["target_test"]
    folders = build_domains(compose_cfg(*SYNTHETIC, *folder_overrides(exported)), cpu).evals["target_test"]
    order = torch.sort(digits.labels, stable=True).indices
    assert torch.equal(folders.labels, digits.labels[order])
    assert torch.equal(folders.images, digits.images[order])
    assert folders.sha256() == digits.sha256()  # the fingerprint ignores the order
    assert folders.sha256() != build_domains(compose_cfg(*SYNTHETIC), cpu).evals["target_test"].sha256()


@pytest.mark.parametrize("resident", ["true", "false"])
def test_folders_train_above_chance_resident_and_streamed(exported, tmp_path, resident):
    metrics = folder_run(tmp_path, resident, exported, f"data.resident={resident}", "data.workers=2")
    assert metrics["status"] == "done" and metrics["steps"] == 60
    assert metrics["source_acc"] > 0.5 and metrics["target_acc"] > 0.3  # chance is 0.1
    assert (tmp_path / resident / "checkpoint.pt").is_file() and any((tmp_path / resident / "tb").iterdir())


AUGMENTED = (
    "data.load_size=36",
    "data.augment=[{name: RandomResizedCrop, size: 32, scale: [0.6, 1.0]}, {name: RandomHorizontalFlip}]",
)


def test_a_streamed_augmented_run_is_the_same_with_any_number_of_workers(exported, tmp_path):
    a = folder_run(tmp_path, "w0", exported, "data.resident=false", "data.workers=0", *AUGMENTED)
    b = folder_run(tmp_path, "w2", exported, "data.resident=false", "data.workers=2", *AUGMENTED)
    assert {k: a[k] for k in EXACT} == {k: b[k] for k in EXACT}


def test_an_interrupted_streamed_run_resumes_exactly(exported, tmp_path, monkeypatch):
    extra = (
        "data.resident=false",
        "data.workers=2",
        *AUGMENTED,
        "trainer.steps=40",
        "trainer.eval_every=15",
        "trainer.checkpoint_every=10",
    )
    straight = folder_run(tmp_path, "straight", exported, *extra)
    interrupt_at(monkeypatch, 23)
    with pytest.raises(Interrupted):
        folder_run(tmp_path, "cut", exported, *extra)
    monkeypatch.undo()
    resumed = run(compose_cfg(*SYNTHETIC, f"trainer.resume={tmp_path / 'cut'}"), tmp_path / "elsewhere")
    assert {k: resumed[k] for k in EXACT} == {k: straight[k] for k in EXACT}


def test_a_target_folder_without_test_split_is_transductive_and_composes_with_transforms(
    exported, tmp_path, caplog
):
    """The source's own folder through ``invert`` as the target: the target test set is every
    image of the folder, inverted."""
    caplog.set_level("INFO")
    overrides = (
        *SYNTHETIC,
        "source=folder",
        f"source.root={exported}/source/train",
        "target=folder",
        f"target.root={exported}/source/train",
        "target.transforms=[{name: invert}]",
        "trainer.steps=30",
    )
    metrics = run(compose_cfg(*overrides), tmp_path / "t", overrides)
    assert metrics["protocol"] == "transductive" and metrics["status"] == "done"
    assert "transductive protocol, its test set is its own 600 images" in caplog.text
    evals = build_domains(compose_cfg(*overrides), torch.device("cpu")).evals
    source, target = evals["source_test"], evals["target_test"]
    assert len(target.images) == 600 and torch.equal(target.labels, source.labels)
    assert torch.equal(target.images, 255 - source.images)


def one_line_error(tmp_path, *overrides):
    """The one error line of a run refused before any work (exit 2, no traceback, no run folder)."""
    run_dir = tmp_path / "run"
    result = adda_train(*SYNTHETIC, *overrides, f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert result.returncode == 2
    lines = error_lines(result)
    assert len(lines) == 1 and "Traceback" not in result.stderr and not run_dir.exists()
    return lines[0]


def test_a_missing_folder_is_one_line_and_leaves_no_run_folder(tmp_path):
    line = one_line_error(tmp_path, "source=folder", f"source.root={tmp_path / 'nowhere'}")
    assert f"no folder {tmp_path / 'nowhere'}; it must hold <class>/<image>" in line


def test_mismatched_classes_are_one_line_naming_the_first_difference(tmp_path):
    a = write_image_folder(tmp_path / "a", ["cat", "dog"], per_class=2, size=8)
    b = write_image_folder(tmp_path / "b", ["cat", "dot"], per_class=2, size=8)
    line = one_line_error(tmp_path, "source=folder", f"source.root={a}", "target=folder", f"target.root={b}")
    assert "class 1 is 'dog' in the source but 'dot' in the target" in line


@pytest.fixture(scope="module")
def benchmarks(tmp_path_factory):
    """Tiny stand-ins in each benchmark's published layout: 31, 65 and 12 classes, 2 images each."""
    root = tmp_path_factory.mktemp("benchmarks")
    layouts = {
        ("office31", 31): ["amazon/images", "webcam/images"],
        ("office_home", 65): ["Art", "Clipart"],
        ("visda2017", 12): ["train", "validation"],
    }
    for (name, n), domains in layouts.items():
        for i, domain in enumerate(domains):
            write_image_folder(root / name / domain, [f"k{c:02d}" for c in range(n)], 2, size=24, seed=i)
    return root


@pytest.mark.parametrize("experiment", ["office31", "office_home", "visda2017"])
@pytest.mark.parametrize("method", ["grl", "cdan", "mcc"])
def test_benchmark_presets_run_end_to_end(benchmarks, tmp_path, experiment, method):
    """The field's recipe as composed, shrunk only where a CPU test must be: ResNet-18 with random
    weights at 64 px from 72 px images, batches of 4, 3 steps."""
    overrides = (
        f"experiment={experiment}",
        f"method={method}",
        f"data.root={benchmarks}",
        "backbone.arch=resnet18",
        "backbone.weights=null",
        "data.image_size=64",
        "data.load_size=72",
        "trainer.batch_size=4",
        "trainer.steps=3",
        "trainer.eval_every=0",
        "trainer.validation_samples=8",
        "trainer.progress=false",
        "device=cpu",
    )
    cfg = compose_cfg(*overrides)
    assert (
        cfg.optim.name == "sgd" and cfg.optim.schedule == "dann" and cfg.discriminator.hidden == [1024, 1024]
    )
    metrics = run(cfg, tmp_path / "run", overrides)
    assert metrics["status"] == "done" and metrics["protocol"] == "transductive"
    assert 0 <= metrics["target_acc"] <= 1
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["steps"] == 3


def test_export_script_prints_the_command_that_trains_from_its_folders(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "export_folder.py"),
            str(tmp_path / "out"),
            *SYNTHETIC,
            "--limit",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"source.root={tmp_path / 'out'}/source/train" in result.stdout
    assert len(list((tmp_path / "out" / "target" / "test").glob("*/*.png"))) == 20
