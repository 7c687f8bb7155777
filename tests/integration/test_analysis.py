"""What a run records of what adaptation did: matrices, A-distance, the projector, the report."""

import json
import socket
import subprocess
import sys
import urllib.request

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from adda import report
from adda.fit import Interrupted
from adda.train import run, run_config
from tests.conftest import SYNTHETIC
from tests.integration.test_reliability import interrupt_at

SHORT = ("trainer.steps=30", "trainer.eval_every=10", "trainer.embed_samples=50")


def test_a_run_records_matrices_per_class_accuracy_a_distance_and_a_projector_embedding(
    synthetic_cfg, tmp_path
):
    metrics = run(synthetic_cfg(*SHORT, "trainer.embed_every=20"), tmp_path)
    matrix = torch.tensor(metrics["confusion_matrix"]["target_test"])
    assert matrix.shape == (10, 10) and matrix.sum() == 500  # synthetic: 500 test images
    accs = metrics["per_class_acc"]["target_test"]
    assert accs == pytest.approx([(matrix[k, k] / matrix[k].sum()).item() for k in range(10)])
    assert matrix.trace().item() / 500 == pytest.approx(metrics["target_acc"], abs=1e-6)
    distance = metrics["a_distance"]
    assert distance["before_step"] == 0 and -2 <= distance["before"] <= 2 and -2 <= distance["after"] <= 2

    tb = tmp_path / "tb"
    config = (tb / "projector_config.pbtxt").read_text()
    assert 'tensor_name: "features:00020"' in config and 'tensor_name: "features:00030"' in config
    rows = (tb / "00030" / "features" / "metadata.tsv").read_text().splitlines()
    assert rows[0] == "domain\tlabel\tpredicted\tcorrect" and len(rows) == 101
    assert {r.split("\t")[0] for r in rows[1:]} == {"source", "target"}
    assert len((tb / "00030" / "features" / "tensors.tsv").read_text().splitlines()) == 100
    assert Image.open(tb / "00030" / "features" / "sprite.png").size == (32 * 10, 32 * 10)

    events = EventAccumulator(str(tb), size_guidance={"images": 0, "scalars": 0}).Reload()
    for name in ("source_test", "target_test"):
        assert [e.step for e in events.Images(f"confusion/{name}")] == [10, 20, 30]
    assert [e.step for e in events.Scalars("analysis/a_distance")] == [0, 30]


def test_adda_measures_the_a_distance_where_adaptation_begins_and_keeps_it_across_a_resume(
    synthetic_cfg, tmp_path, monkeypatch
):
    overrides = (*SHORT, "method=adda", "trainer.steps=40", "trainer.checkpoint_every=10")
    straight = run(synthetic_cfg(*overrides), tmp_path / "straight")
    assert straight["a_distance"]["before_step"] == 20  # pretrain_fraction 0.5 of 40 steps
    interrupt_at(monkeypatch, 27)
    with pytest.raises(Interrupted):
        run(synthetic_cfg(*overrides), tmp_path / "cut")
    monkeypatch.undo()
    resumed = run(synthetic_cfg(f"trainer.resume={tmp_path / 'cut'}"), tmp_path / "elsewhere")
    assert resumed["a_distance"] == straight["a_distance"]
    assert json.loads((tmp_path / "cut" / "analysis.json").read_text())["a_distance_before_step"] == 20


def test_report_shows_a_distance_per_class_accuracy_and_a_tsne_of_each_methods_best_run(tmp_path, capsys):
    for method in ("source_only", "grl"):
        for seed in (0, 1):
            overrides = [*SYNTHETIC, *SHORT, f"method={method}", f"seed={seed}", "trainer.embed_samples=40"]
            run_config(overrides, tmp_path / f"{method}{seed}")
    assert report.main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert "A-distance before → after" in text and "Target test accuracy per class" in text
    row = next(line for line in text.splitlines() if line.startswith("| method=grl | 2/2"))
    assert "→" in row.split("|")[-2]
    assert "| runs | 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 |" in text
    png = Image.open(tmp_path / "report_tsne.png")
    assert png.size[0] > 2 * png.size[1] * 0.8  # two panels side by side
    assert "report_tsne.png" in capsys.readouterr().err


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_real_tensorboard_serves_the_embedding_and_the_heat_maps(synthetic_cfg, tmp_path):
    """TensorBoard itself, started on the run: its Projector and Images plugins find what the run
    wrote.  ``--reload_task=blocking`` reads the folder before it starts serving, so the line it
    prints then is the signal to ask."""
    run(synthetic_cfg(*SHORT), tmp_path / "run")
    port = free_port()
    logdir = str(tmp_path / "run" / "tb")
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--port", str(port), "--host",
               "127.0.0.1", "--load_fast=false", "--reload_task=blocking", "--reload_interval=0"]  # fmt: skip
    board = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in board.stderr:  # ends when TensorBoard exits: then the assert below fails
            if f"127.0.0.1:{port}" in line:
                break
        assert board.poll() is None, "TensorBoard exited before serving"
        base = f"http://127.0.0.1:{port}/data/plugin"
        get = lambda path: urllib.request.urlopen(f"{base}/{path}", timeout=30).read()  # noqa: E731
        assert json.loads(get("projector/runs")) == ["."]
        config = json.loads(get("projector/info?run=."))
        assert [e["tensorName"] for e in config["embeddings"]] == ["features:00030"]
        metadata = get("projector/metadata?run=.&name=features:00030").decode().splitlines()
        assert metadata[0] == "domain\tlabel\tpredicted\tcorrect" and len(metadata) == 101
        assert get("projector/sprite_image?run=.&name=features:00030")[:4] == b"\x89PNG"
        tags = json.loads(get("images/tags"))["."]
        assert {"confusion/source_test", "confusion/target_test", "samples/source"} <= set(tags)
    finally:
        board.terminate()
        board.wait(timeout=30)
