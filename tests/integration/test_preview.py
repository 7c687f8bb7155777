"""``adda-preview``: a PNG grid of source images above their target versions, and TensorBoard."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from adda.config import CONF_DIR
from adda.preview import interleave_rows, write_preview
from tests.conftest import REPO

SYNTHETIC = ("debug=synthetic",)


def preview_cfg(*overrides):
    with initialize_config_dir(CONF_DIR, version_base="1.3"):
        return compose("preview", overrides=list(overrides))


@pytest.mark.parametrize("images,cols,rows", [(8, 8, 2), (5, 4, 4)])
def test_png_has_the_expected_size_and_tensorboard_the_grid(tmp_path, images, cols, rows):
    cfg = preview_cfg(*SYNTHETIC, "target=mnistm", f"preview.images={images}", f"preview.cols={cols}")
    (png,) = write_preview(cfg, tmp_path)
    # make_grid puts 2 px of padding around every 32 px tile
    assert Image.open(png).size == (cols * 34 + 2, rows * 34 + 2)
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert events.Tags()["images"] == ["preview/mnistm"]


def test_rows_alternate_source_and_target_and_pad_the_last_pair():
    source, target = torch.zeros(5, 3, 4, 4), torch.ones(5, 3, 4, 4)
    batch = interleave_rows(source, target, cols=4)
    assert batch.shape == (16, 3, 4, 4)
    assert batch[:4].eq(0).all() and batch[4:8].eq(1).all()  # first source row, then its targets
    assert batch[8].eq(0).all() and batch[12].eq(1).all() and batch[9:12].eq(-1).all()


def test_identity_target_shows_the_source_unchanged(tmp_path):
    cfg = preview_cfg(*SYNTHETIC, "target=identity", "preview.images=4", "preview.cols=4")
    (png,) = write_preview(cfg, tmp_path)
    pixels = torch.from_numpy(np.asarray(Image.open(png)).copy())
    assert torch.equal(pixels[2:34], pixels[36:68])  # the target row repeats the source row


def test_cli_writes_the_png_where_asked_and_fails_in_one_line(tmp_path):
    out = tmp_path / "docs" / "rotated.png"
    cmd = [sys.executable, "-m", "adda.preview", *SYNTHETIC, "target=rotated", f"preview.out={out}"]
    result = subprocess.run(
        [*cmd, f"hydra.run.dir={tmp_path}/run"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert out.is_file() and (tmp_path / "run" / "preview.png").is_file()
    bad = subprocess.run(
        [*cmd[:-2], "target=usps", f"data.root={tmp_path}", f"hydra.run.dir={tmp_path}/bad"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    errors = [line for line in (bad.stdout + bad.stderr).splitlines() if "error" in line.lower()]
    assert bad.returncode == 2 and len(errors) == 1 and "usps.bz2" in errors[0]
