"""The backbones: the papers' digit networks, torchvision and timm trunks, their weights, input
statistics, per-part learning rates and how BatchNorm sees the two domains."""

import math

import pytest
import torch

from adda.errors import ConfigError, DataError
from adda.evaluate import evaluate
from adda.models.discriminators import MLPDiscriminator
from adda.models.pretrained import ImageNetInput
from adda.optim import LRSchedule, dann_factor
from adda.registry import BACKBONES, METHODS
from adda.train import build_method
from tests.conftest import compose_cfg

OPTIM = {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999]}


def images(seed, n=8, size=32):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


@pytest.mark.parametrize(
    "name,size,taps",
    [
        ("lenet", 28, {"conv": (50, 4, 4), "features": (500,)}),
        ("lenet", 64, {"conv": (50, 13, 13), "features": (500,)}),
        ("dann_mnist", 28, {"conv": (48, 4, 4), "features": (768,)}),
        ("dann_mnist", 64, {"conv": (48, 13, 13), "features": (8112,)}),
        ("dtn", 32, {"conv": (256, 4, 4), "features": (512,)}),
        ("dtn", 64, {"conv": (256, 8, 8), "features": (512,)}),
    ],
)
def test_digit_networks_at_their_published_size_and_at_64_px(name, size, taps):
    backbone = BACKBONES.build({"name": name}, image_size=size)
    assert backbone.tap_shapes(size) == taps and backbone.num_classes == 10
    assert backbone(torch.zeros(2, 3, size, size)).shape == (2, 10)


@pytest.mark.parametrize("name", ["seed_cnn", "lenet", "dann_mnist", "dtn"])
def test_every_own_backbone_takes_a_bottleneck_whose_batchnorm_undoes_a_scaling_of_its_input(name):
    plain = BACKBONES.build({"name": name}, image_size=64)
    necked = BACKBONES.build({"name": name, "bottleneck": 32}, image_size=64)
    taps = necked.tap_shapes(64)
    assert taps == {**plain.tap_shapes(64), "dense": plain.tap_shapes(64)["features"], "features": (32,)}
    assert necked(torch.zeros(4, 3, 64, 64)).shape == (4, 10)
    # An encoder cannot raise what reads the bottleneck by scaling its features up (MDD, AFN).
    neck, dense = (
        necked.encoder.neck.train(),
        torch.randn(16, *taps["dense"], generator=torch.Generator().manual_seed(0)),
    )
    torch.testing.assert_close(neck(1000 * dense), neck(dense), atol=1e-4, rtol=1e-4)


def test_a_negative_bottleneck_is_one_line():
    with pytest.raises(ConfigError, match=r"^bottleneck="):
        BACKBONES.build({"name": "seed_cnn", "bottleneck": -1}, image_size=64)


def test_a_size_a_digit_network_cannot_take_is_one_line():
    with pytest.raises(ConfigError, match=r"^backbone lenet needs data.image_size >= 16, got 12$"):
        BACKBONES.build({"name": "lenet"}, image_size=12)


@pytest.mark.parametrize("kind", ["torchvision", "timm"])
def test_a_trunk_backbone_taps_the_last_maps_pools_and_bottlenecks(kind):
    backbone = BACKBONES.build({"name": kind, "arch": "resnet18", "bottleneck": 64}, image_size=32)
    assert backbone.tap_shapes(32) == {"conv": (512, 1, 1), "pooled": (512,), "features": (64,)}
    assert backbone(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    plain = BACKBONES.build({"name": kind, "arch": "resnet18", "bottleneck": 0}, image_size=32)
    assert plain.tap_shapes(32)["features"] == (512,) and plain.head.in_features == 512


@pytest.mark.parametrize(
    "kind,typo,close", [("torchvision", "resnt50", "resnet50"), ("timm", "resnt18", "resnet18")]
)
def test_an_unknown_architecture_lists_close_names(kind, typo, close):
    with pytest.raises(ConfigError, match=rf"^backbone.arch='{typo}': not a {kind}.*{close}"):
        BACKBONES.build({"name": kind, "arch": typo}, image_size=32)


def test_pretrained_trunks_see_imagenet_statistics_and_digit_networks_the_raw_range():
    x = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 3, 1, 1)
    out = ImageNetInput()(x)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    assert torch.allclose(out[0].flatten(), -mean / std) and torch.allclose(
        out[1].flatten(), (1 - mean) / std
    )
    assert not any(
        isinstance(m, ImageNetInput) for m in BACKBONES.build({"name": "lenet"}, image_size=28).modules()
    )


def test_missing_named_weights_offline_name_the_file_and_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    backbone = BACKBONES.build(
        {"name": "torchvision", "arch": "resnet18", "weights": "IMAGENET1K_V1"}, image_size=32
    )
    with pytest.raises(DataError) as err:
        backbone.load_weights(download=False)
    message = str(err.value)
    assert "\n" not in message and str(tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in message
    assert (
        "data.download=true" in message
        and "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    )
    with pytest.raises(ConfigError, match="resnet18 has weights IMAGENET1K_V1"):
        BACKBONES.build(
            {"name": "torchvision", "arch": "resnet18", "weights": "IMAGENET9K"}, image_size=32
        ).load_weights()


def test_named_weights_in_the_hub_cache_are_loaded_into_the_trunk(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    torch.manual_seed(1)
    saved = torchvision.models.resnet18().state_dict()
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(saved, tmp_path / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    torch.manual_seed(2)
    backbone = BACKBONES.build(
        {"name": "torchvision", "arch": "resnet18", "weights": "IMAGENET1K_V1"}, image_size=32
    )
    backbone.load_weights(download=False)
    trunk = backbone.encoder.trunk.state_dict()
    assert all(torch.equal(trunk[k], v) for k, v in saved.items() if not k.startswith("fc."))


def test_a_state_dict_round_trip_gives_the_same_network(tmp_path):
    torch.manual_seed(0)
    first = BACKBONES.build({"name": "torchvision", "arch": "resnet18"}, image_size=32)
    torch.save(first.encoder.trunk.state_dict(), tmp_path / "trunk.pt")
    torch.manual_seed(5)
    second = BACKBONES.build(
        {"name": "torchvision", "arch": "resnet18", "weights": str(tmp_path / "trunk.pt")}, image_size=32
    )
    second.load_weights()
    first.eval(), second.eval()
    x = images(0)[0]
    assert torch.equal(first.encoder.trunk(x), second.encoder.trunk(x))

    digits = BACKBONES.build({"name": "lenet"}, image_size=28)
    torch.save(digits.state_dict(), tmp_path / "lenet.pt")
    again = BACKBONES.build({"name": "lenet", "weights": str(tmp_path / "lenet.pt")}, image_size=28)
    again.load_weights()
    assert all(
        torch.equal(a, b)
        for a, b in zip(digits.state_dict().values(), again.state_dict().values(), strict=True)
    )
    wrong = BACKBONES.build({"name": "dtn", "weights": str(tmp_path / "lenet.pt")}, image_size=32)
    with pytest.raises(DataError, match="does not fit this backbone"):
        wrong.load_weights()
    with pytest.raises(DataError, match="no such file"):
        BACKBONES.build({"name": "lenet", "weights": str(tmp_path / "none.pt")}, image_size=28).load_weights()


def test_a_pretrained_trunk_learns_at_the_set_fraction_of_the_rate_and_the_schedule_keeps_it():
    backbone = BACKBONES.build({"name": "torchvision", "arch": "resnet18", "bottleneck": 32}, image_size=32)
    disc = MLPDiscriminator(backbone.tap_shapes(32)["features"], hidden=[16])
    optim = {**OPTIM, "lr": 1e-2, "backbone_lr_mult": 0.1, "schedule": "dann"}
    method = METHODS.build({"name": "grl"}, backbone=backbone, discriminator=disc, optim=optim, steps=100)
    slow, fast = method.optimizers["model"].param_groups
    trunk = {id(p) for p in backbone.encoder.trunk.parameters()}
    assert {id(p) for p in slow["params"]} == trunk and not trunk & {id(p) for p in fast["params"]}
    assert math.isclose(slow["lr"], 1e-3) and math.isclose(fast["lr"], 1e-2)
    method.train_step(images(1), images(2), 50)
    factor = dann_factor(50, 100)
    assert math.isclose(factor, 6**-0.75)
    assert math.isclose(slow["lr"], 1e-3 * factor) and math.isclose(fast["lr"], 1e-2 * factor)


def test_the_dann_schedule_decays_from_the_initial_rate():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.01)
    schedule = LRSchedule([opt], 1000, schedule="dann")
    rates = [(schedule.apply(s), opt.param_groups[0]["lr"])[1] for s in (0, 500, 1000)]
    assert rates[0] == 0.01 and math.isclose(rates[2], 0.01 / 11**0.75) and rates[0] > rates[1] > rates[2]
    with pytest.raises(ConfigError, match="optim.schedule='cosine': must be step or dann"):
        LRSchedule([opt], 10, schedule="cosine")


def first_bn(module):
    return next(m for m in module.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_dann_normalises_source_and_target_in_one_batch():
    """One forward of both domains: the first BatchNorm's running mean moves to the mean over the
    concatenated batch (momentum 0.1 from zero)."""
    cfg = compose_cfg("backbone=dtn", "method=grl", "discriminator=mlp", "data.image_size=32", "device=cpu")
    method = build_method(cfg, torch.device("cpu"))
    conv = method.backbone.encoder.convs[0]
    (xs, ys), (xt, yt) = images(1), images(2)
    with torch.no_grad():
        both = conv(torch.cat([xs, xt])).mean(dim=(0, 2, 3))
        source = conv(xs).mean(dim=(0, 2, 3))
    method.train_step((xs, ys), (xt, yt), 0)
    running = first_bn(method.backbone.encoder).running_mean
    assert torch.allclose(running, 0.1 * both, atol=1e-6) and not torch.allclose(
        running, 0.1 * source, atol=1e-4
    )


def test_adda_adapts_a_copy_with_its_own_statistics_and_keeps_the_frozen_source_side_in_eval_mode():
    cfg = compose_cfg(
        "backbone=dtn",
        "method=adda",
        "discriminator=mlp",
        "data.image_size=32",
        "device=cpu",
        "trainer.steps=4",
    )
    method = build_method(cfg, torch.device("cpu"))
    source_bn, target_bn = first_bn(method.backbone.encoder), first_bn(method.target_encoder)
    method.train_step(images(1), images(2), 0)  # pre-training moves M_s's statistics
    assert source_bn.num_batches_tracked == 1 and target_bn.num_batches_tracked == 0
    method.train_step(images(3), images(4), 2)  # the switch: M_t <- M_s, then adaptation
    frozen = source_bn.running_mean.clone()
    method.train_step(images(5), images(6), 3)
    assert torch.equal(source_bn.running_mean, frozen) and not method.backbone.training
    assert method.target_encoder.training and target_bn.num_batches_tracked == 3  # copied 1, then 2 own
    assert not torch.equal(target_bn.running_mean, frozen)

    data = {"target_test": _evalset(images(7)[0], "target"), "source_test": _evalset(images(8)[0], "source")}
    before = {k: v.clone() for k, v in method.state_dict().items()}
    evaluate(method, data)  # in eval mode, then back as it was
    assert method.training and method.target_encoder.training and not method.backbone.training
    assert all(torch.equal(before[k], v) for k, v in method.state_dict().items())


def _evalset(x, domain):
    from adda.data.domain import EvalSet

    return EvalSet(
        ((x + 1) * 127.5).round().to(torch.uint8), torch.zeros(len(x), dtype=torch.long), domain, "test"
    )


def test_instance_normalised_input_makes_every_encoder_blind_to_a_per_image_colour_and_contrast_shift():
    def built(*overrides):
        torch.manual_seed(0)
        cfg = compose_cfg("method=adda", "device=cpu", "trainer.steps=4", *overrides)
        return build_method(cfg, torch.device("cpu")).eval()

    normed, plain = built("backbone.input_norm=instance"), built()
    assert normed.state_dict().keys() == plain.state_dict().keys()  # weights load either way
    x = images(0, n=4, size=64)[0]
    g = torch.Generator().manual_seed(1)
    scale, shift = torch.rand(4, 3, 1, 1, generator=g) + 0.2, torch.rand(4, 3, 1, 1, generator=g) - 0.5
    shifted = x * scale + shift  # each image's channels recoloured and re-contrasted on their own
    with torch.no_grad():
        for encoder in (normed.backbone.encoder, normed.target_encoder):  # ADDA's copy keeps it
            torch.testing.assert_close(
                encoder(shifted)["features"], encoder(x)["features"], atol=1e-4, rtol=1e-4
            )
        moved = (plain.backbone(shifted) - plain.backbone(x)).abs().max()
    assert moved > 1e-2


def test_an_unknown_input_norm_is_one_line_naming_the_choices():
    cfg = compose_cfg("device=cpu", "backbone.input_norm=batch")
    with pytest.raises(ConfigError, match=r"^backbone.input_norm='batch': must be null or instance$"):
        build_method(cfg, torch.device("cpu"))
