import numpy as np
import pytest
import torch
from PIL import Image

from adda.data.transforms import Background, Binarize, Compose
from adda.errors import ConfigError, DataError


def digits(n=6, size=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_binarize_gives_a_zero_one_mask_at_the_threshold():
    x = torch.tensor([[[[0.2, 0.5, 0.51, 0.9]]]])
    assert Binarize(0.5)(x, gen(0)).flatten().tolist() == [0, 0, 1, 1]
    with pytest.raises(ConfigError):
        Binarize(1.5)


def test_background_shape_range_and_determinism():
    x = Binarize()(digits(), gen(0))
    bg = Background()
    a, b, c = bg(x, gen(1)), bg(x, gen(1)), bg(x, gen(2))
    assert a.shape == (6, 3, 32, 32)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_difference_blend_inverts_the_photo_exactly_where_the_digit_is():
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 8:24, 12:20] = 1.0
    bg = Background(color_shift=False)
    photo = bg(torch.zeros_like(mask), gen(5))  # |photo - 0| = the crop itself
    out = bg(mask, gen(5))
    digit = mask.expand_as(out).bool()
    assert torch.allclose(out[digit], 1 - photo[digit])
    assert torch.equal(out[~digit], photo[~digit])


def test_color_shift_moves_each_channel_into_the_upper_half():
    shifted = Background(color_shift=True)(torch.zeros(64, 1, 32, 32), gen(3))
    plain = Background(color_shift=False)(torch.zeros(64, 1, 32, 32), gen(3))
    assert shifted.min() >= 0 and shifted.max() <= 1
    assert not torch.allclose(shifted, plain)
    # (c + u) / 2 with c, u in [0, 1]: a channel's values span at most half the range
    spread = shifted.amax(dim=(2, 3)) - shifted.amin(dim=(2, 3))
    assert (spread <= 0.5 + 1e-6).all()


def test_over_blend_keeps_a_white_digit():
    mask = torch.zeros(2, 1, 32, 32)
    mask[:, :, 10:20, 10:20] = 1.0
    out = Background(blend="over")(mask, gen(0))
    assert torch.equal(out[:, :, 10:20, 10:20], torch.ones(2, 3, 10, 10))


def test_target_chain_differs_from_source():
    x = digits()
    chain = Compose([Binarize(0.5), Background()])
    out = chain(x, gen(0))
    assert out.shape == (6, 3, 32, 32)
    assert (out - x.expand_as(out)).abs().mean() > 0.1
    assert torch.equal(Compose([])(x, gen(0)), x)


def test_photo_folder_is_used_and_bad_folders_fail_clearly(tmp_path):
    red = np.zeros((40, 50, 3), dtype=np.uint8)
    red[..., 0] = 255
    Image.fromarray(red).save(tmp_path / "red.png")
    out = Background(photos=str(tmp_path), color_shift=False)(torch.zeros(3, 1, 32, 32), gen(0))
    assert torch.equal(out[:, 0], torch.ones(3, 32, 32)) and out[:, 1:].abs().max() == 0
    with pytest.raises(DataError, match="no .jpg/.png"):
        Background(photos=str(tmp_path / "missing"))(torch.zeros(1, 1, 32, 32), gen(0))
    with pytest.raises(DataError, match="smaller than 64"):
        Background(photos=str(tmp_path))(torch.zeros(1, 1, 64, 64), gen(0))
    with pytest.raises(ConfigError, match="blend"):
        Background(blend="multiply")
