"""The target-transform catalogue: every op's shape, range and determinism, and what each changes."""

import math

import pytest
import torch

from adda.data.transforms import (
    Affine,
    Background,
    Blur,
    Color,
    Contrast,
    Elastic,
    GaussianNoise,
    Invert,
    Occlude,
    Param,
    Rotate,
    SaltPepper,
)
from adda.errors import ConfigError
from adda.registry import TRANSFORMS

CATALOGUE = [
    "invert", "rotate", "affine", "gaussian_noise", "salt_pepper", "blur",
    "elastic", "color", "background", "binarize", "contrast", "occlude",
]  # fmt: skip
# Ops whose default draws nothing random: the same output for any generator.
DETERMINISTIC = {"invert", "rotate", "binarize", "blur", "contrast"}
# Ops that paint in colour: their output always has three channels.
COLOURING = {"color", "background"}


def gen(seed):
    return torch.Generator().manual_seed(seed)


def digits(n=5, channels=1, size=32, seed=0):
    """Soft random blobs with a bright bar: something every op visibly changes."""
    x = torch.rand(n, channels, size, size, generator=gen(seed)) * 0.3
    x[:, :, size // 4 : 3 * size // 4, size // 2 - 2 : size // 2 + 2] = 0.9
    return x


def test_the_catalogue_is_registered():
    assert set(CATALOGUE) <= set(TRANSFORMS.names())


@pytest.mark.parametrize("name", CATALOGUE)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_range_dtype_and_determinism(name, channels):
    op = TRANSFORMS.build({"name": name})
    x = digits(channels=channels)
    a, b, c = op(x, gen(1)), op(x, gen(1)), op(x, gen(2))
    assert a.shape == (5, 3 if name in COLOURING else channels, 32, 32)
    assert a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert torch.equal(a, c) == (name in DETERMINISTIC)
    assert not torch.allclose(a.expand(5, 3, 32, 32), x.expand(5, 3, 32, 32))


def test_param_is_fixed_or_drawn_per_image_within_its_range():
    g = gen(0)
    before = g.get_state()
    assert torch.equal(Param("k", 3).draw(4, g), torch.full((4,), 3.0))
    assert torch.equal(g.get_state(), before)  # a fixed value uses no randomness
    drawn = Param("k", [-2, 5]).draw(1000, g)
    assert drawn.min() >= -2 and drawn.max() <= 5 and drawn.std() > 1
    for bad in ([1, 0], [1, 2, 3], "x", True):
        with pytest.raises(ConfigError, match="k="):
            Param("k", bad)
    with pytest.raises(ConfigError, match=r"lie in \[0, 1\]"):
        Param("k", [0.5, 2], low=0, high=1)


def test_invert_is_its_own_inverse():
    x = digits()
    assert torch.equal(Invert()(x, gen(0)), 1 - x)
    assert torch.allclose(Invert()(Invert()(x, gen(0)), gen(0)), x, atol=1e-6)


def centroid(x):
    """(row, col) of the ink's centre of mass per image."""
    h, w = x.shape[-2:]
    mass = x.sum(dim=(1, 2, 3))
    rows = (x.sum(dim=(1, 3)) * torch.arange(h)).sum(1) / mass
    cols = (x.sum(dim=(1, 2)) * torch.arange(w)).sum(1) / mass
    return torch.stack([rows, cols], 1)


def dot(size=32, row=16, col=24):
    x = torch.zeros(1, 1, size, size)
    x[..., row - 1 : row + 1, col - 1 : col + 1] = 1.0
    return x


def test_rotate_turns_counter_clockwise_and_zero_is_the_identity():
    x = dot(col=26)  # right of centre
    up = centroid(Rotate(90)(x, gen(0)))[0]
    assert up[0] < 10 and abs(up[1] - 15.5) < 1  # now above the centre
    assert torch.allclose(Rotate(0)(digits(), gen(0)), digits(), atol=1e-5)
    angles = Rotate([-45, 45])(dot(col=26).expand(64, 1, 32, 32), gen(0))
    assert centroid(angles)[:, 0].std() > 1  # each image drew its own angle


def test_affine_translates_by_a_fraction_and_scales_the_ink():
    x = dot(row=16, col=16)
    moved = centroid(Affine(scale=1, translate=0.25)(x, gen(0)))[0]
    assert torch.allclose(moved, centroid(x)[0] + 8, atol=0.5)
    big = torch.zeros(1, 1, 32, 32)
    big[..., 8:24, 8:24] = 1.0
    assert Affine(scale=0.5, translate=0)(big, gen(0)).sum().item() == pytest.approx(
        big.sum().item() / 4, rel=0.05
    )


def test_elastic_moves_pixels_by_at_most_alpha():
    x = dot(row=16, col=16)
    shifts = [(centroid(Elastic(alpha=3)(x, gen(s)))[0] - centroid(x)[0]).norm() for s in range(20)]
    assert max(shifts) <= 3 * math.sqrt(2) + 0.5 and max(shifts) > 0.5
    assert torch.allclose(Elastic(alpha=0)(digits(), gen(0)), digits(), atol=1e-5)


def test_blur_keeps_flat_images_and_spreads_a_dot():
    flat = torch.full((2, 3, 16, 16), 0.4)
    assert torch.allclose(Blur(2.0)(flat, gen(0)), flat, atol=1e-6)
    x = dot(row=16, col=16)
    out = Blur(1.5)(x, gen(0))
    assert out.max() < 0.5 and out.sum().item() == pytest.approx(x.sum().item(), rel=1e-4)


def test_gaussian_noise_has_the_set_spread():
    grey = torch.full((4, 1, 64, 64), 0.5)
    assert (GaussianNoise(0.1)(grey, gen(0)) - grey).std().item() == pytest.approx(0.1, rel=0.05)
    assert torch.equal(GaussianNoise(0.0)(grey, gen(0)), grey)


def test_salt_pepper_hits_a_fraction_p_of_pixels_with_black_or_white_in_every_channel():
    grey = torch.full((4, 3, 64, 64), 0.5)
    out = SaltPepper(0.2)(grey, gen(0))
    hit = (out != 0.5).all(dim=1)
    assert hit.float().mean().item() == pytest.approx(0.2, abs=0.01)
    assert ((out == 0.5).all(dim=1) | hit).all()  # a pixel is hit in all its channels or none
    assert set(out.unique().tolist()) == {0.0, 0.5, 1.0}


def test_contrast_scales_about_the_mean():
    x = digits()
    assert torch.allclose(Contrast(1.0)(x, gen(0)), x)
    flat = Contrast(0.0)(x, gen(0))
    assert torch.allclose(flat, x.mean(dim=(1, 2, 3), keepdim=True).expand_as(x))
    assert torch.allclose(Contrast(0.5)(x, gen(0)).mean(), x.mean(), atol=1e-6)


def test_occlude_changes_only_one_square_of_the_set_size():
    x = torch.ones(50, 1, 40, 40)
    out = Occlude(size=0.25, value=0.0)(x, gen(0))
    covered = out[:, 0] == 0
    assert torch.equal(out[~covered.unsqueeze(1)], x[~covered.unsqueeze(1)])
    rows, cols = covered.any(dim=2).sum(1), covered.any(dim=1).sum(1)
    assert (covered.sum(dim=(1, 2)) == rows * cols).all()  # the covered pixels form one rectangle
    assert rows.max() == 10 and cols.max() == 10  # 0.25 of 40 px, fewer where it leaves the image
    with pytest.raises(ConfigError, match="count"):
        Occlude(count=0)


def test_color_keeps_the_digit_visible_on_a_flat_background():
    x = torch.zeros(200, 1, 16, 16)
    x[..., 4:12, 6:10] = 1.0
    out = Color(min_contrast=0.3)(x, gen(0))
    back, fore = out[..., 0, 0], out[..., 8, 8]  # (200, 3) each
    assert ((fore - back).abs() >= 0.3 - 1e-6).all()
    assert torch.equal(out[..., :4, :], back[..., None, None].expand(200, 3, 4, 16))
    with pytest.raises(ConfigError, match="min_contrast"):
        Color(min_contrast=0.8)


@pytest.mark.parametrize("fill", Background.FILLS)
def test_background_leaves_digit_strokes_intact_under_the_mask(fill):
    mask = torch.zeros(6, 1, 64, 64)
    mask[..., 16:48, 28:36] = 1.0
    out = Background(fill=fill, blend="over")(mask, gen(0))
    stroke = mask.expand_as(out).bool()
    assert torch.equal(out[stroke], torch.ones(int(stroke.sum())))
    assert out[~stroke].std() > 0.05  # the backdrop differs between images or within them


def test_solid_and_texture_backdrops():
    solid = Background(fill="solid", color_shift=False)(torch.zeros(8, 1, 32, 32), gen(0))
    assert (solid.flatten(2).std(dim=2) == 0).all() and solid.flatten(1).std(dim=0).mean() > 0.1
    texture = Background(fill="texture", cells=4, color_shift=False)(torch.zeros(8, 1, 32, 32), gen(0))
    assert texture.flatten(2).std(dim=2).min() > 0.02  # varies within an image
    assert (texture.diff(dim=-1).abs().max()) < 0.2  # but smoothly
    with pytest.raises(ConfigError, match="fill"):
        Background(fill="plaid")
