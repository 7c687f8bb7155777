"""Every option of every config group composes, and every combination of parts builds."""

import itertools
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from adda.config import CONF_DIR
from adda.data.domain import build_dataset
from adda.data.transforms import Compose
from adda.errors import ConfigError
from adda.registry import METHODS
from adda.train import build_method
from tests.conftest import compose_cfg

GROUPS = ["source", "target", "backbone", "discriminator", "method", "optim", "trainer", "experiment"]


def options(group):
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def test_every_group_has_options():
    for group in GROUPS:
        assert options(group), f"conf/{group}/ is empty"


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_option_composes_and_its_parts_build(group, option):
    own_root = (f"{group}.root=some/folder",) if option == "folder" else ()
    cfg = compose_cfg(f"{group}={option}", "data.image_size=64", "device=cpu", *own_root)
    if cfg.backbone.get("weights"):  # ImageNet weights are not in a test machine's hub cache
        cfg = compose_cfg(f"{group}={option}", "data.image_size=64", "device=cpu", "backbone.weights=null")
    if group in ("backbone", "discriminator", "method", "optim", "trainer", "experiment"):
        method = build_method(cfg, torch.device("cpu"))
        assert method.steps == cfg.trainer.steps
    if group in ("source", "target"):
        assert len(Compose.from_config(cfg.target.transforms).transforms) == len(cfg.target.transforms)
        for dataset in (cfg.source, cfg.target.get("dataset") or cfg.source):
            assert hasattr(build_dataset(dataset, "data"), "load")


# CDAN conditions its discriminator on a feature *vector*; seed_conv and mlp_conv read feature maps.
CANNOT_WORK = {("cdan", "seed_conv"), ("cdan", "mlp_conv")}
# Small enough to build and step every combination in seconds: 32 px, the smallest trunks.
SMALL = {
    "seed_cnn": ("backbone.blocks=2",),
    "seed_conv": ("discriminator.blocks=2",),
    "torchvision": ("backbone.arch=resnet18",),
    "timm": ("backbone.arch=resnet18",),
}


@pytest.mark.parametrize(
    "method,disc,backbone",
    list(itertools.product(options("method"), options("discriminator"), options("backbone"))),
)
def test_every_method_discriminator_backbone_combination_builds_and_steps(method, disc, backbone):
    small = ("data.image_size=32", *SMALL.get(backbone, ()), *SMALL.get(disc, ()))
    cfg = compose_cfg(
        f"method={method}", f"discriminator={disc}", f"backbone={backbone}", *small, "device=cpu"
    )
    plays_a_domain_game = METHODS.get(cfg.method.name).needs_discriminator(OmegaConf.to_container(cfg.method))
    needs_pool1 = disc == "seed_conv" and backbone != "seed_cnn" and plays_a_domain_game
    if needs_pool1:  # the seed's discriminator reads the seed CNN's first pooled maps
        with pytest.raises(ConfigError, match="^discriminator.tap='pool1': backbone .* has taps"):
            build_method(cfg, torch.device("cpu"))
        return
    if (method, disc) in CANNOT_WORK:  # a clear line instead
        with pytest.raises(ConfigError, match=f"^method {method} .*: use discriminator=mlp"):
            build_method(cfg, torch.device("cpu"))
        return
    built = build_method(cfg, torch.device("cpu"))
    x = torch.zeros(4, 3, 32, 32)
    assert built.classify(x).shape == (4, 10)
    if built.discriminator is not None:
        taps = built.encode(x, "target")
        logits = built.backbone.head(taps["features"])
        assert built.discriminator(built.domain_input(taps, logits)).shape == (4,)
    g = torch.Generator().manual_seed(0)
    batch = lambda: (torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.randint(0, 10, (4,), generator=g))  # noqa: E731
    metrics = built.train_step(
        batch(), batch(), cfg.trainer.steps - 1
    )  # the last step: every stage has begun
    assert metrics and all(torch.isfinite(v).all() for v in metrics.values())


def test_seed64_is_the_seed_protocol():
    cfg = compose_cfg("experiment=seed64")
    assert cfg.trainer.steps == 11000 and cfg.trainer.batch_size == 32
    assert cfg.optim.lr == 1e-3 and list(cfg.optim.decay_at) == [0.5] and cfg.optim.decay_gamma == 0.1
    assert cfg.data.image_size == 64 and cfg.target.name == "mnistm"
    assert cfg.backbone.input_norm == "instance"  # adopted by IM (docs/RESULTS.md section 7)
    assert compose_cfg("experiment=seed64", "backbone.input_norm=null").backbone.input_norm is None
    assert cfg.method.name == compose_cfg().method.name  # the experiment leaves the method to choose


def test_minimax_alternates_one_to_one_on_the_ramp():
    minimax = compose_cfg("experiment=seed64", "method=minimax").method
    assert (minimax.k_classifier, minimax.k_discriminator, minimax.ramp) == (1, 1, True)


@pytest.mark.parametrize(
    "method,disc,tap",
    [
        ("minimax", "mlp", "conv"),
        ("grl", "mlp", "conv"),
        ("adda", "mlp", "conv"),
        ("confusion", "mlp", "conv"),
        ("vada", "mlp", "conv"),
        ("self_training", "mlp", "conv"),
        ("cdan", "mlp", "features"),
    ],
)
def test_each_method_brings_its_discriminator_and_the_command_line_overrides_it(method, disc, tap):
    cfg = compose_cfg("experiment=seed64", f"method={method}")
    assert (cfg.discriminator.name, cfg.discriminator.tap) == (disc, tap)
    chosen = compose_cfg("experiment=seed64", f"method={method}", "discriminator=mlp")
    assert chosen.discriminator.tap == "features"


def test_seed_cnn_taps_the_first_and_last_conv_maps_and_the_features():
    cfg = compose_cfg("experiment=seed64", "method=adda")
    taps = build_method(cfg, torch.device("cpu")).backbone.tap_shapes(64)
    assert taps == {"pool1": (32, 31, 31), "conv": (32, 2, 2), "features": (64,)}


def test_overrides_reach_the_config():
    cfg = compose_cfg("method=minimax", "optim.lr=3e-4", "trainer.steps=7", "seed=3", "data.root=/x")
    assert (cfg.method.name, cfg.optim.lr, cfg.trainer.steps, cfg.seed, cfg.data.root) == (
        "minimax",
        3e-4,
        7,
        3,
        "/x",
    )


def test_sweep_folder_names_stay_short_and_unique():
    from adda.train import DIRNAME_LIMIT, run_dirname

    assert run_dirname("method=grl,seed=0") == "method=grl,seed=0"
    long = ",".join(f"key{i}=value{i}" for i in range(40))
    cut, other = run_dirname(long), run_dirname(long + "x")
    assert len(cut) == DIRNAME_LIMIT and cut.startswith(long[:50]) and cut != other


@pytest.mark.parametrize("method", ["source_only", "target_oracle", "mcc"])
def test_no_discriminator_is_built_for_a_method_that_plays_no_domain_game(method):
    cfg = compose_cfg(f"method={method}", "discriminator.tap=nowhere", "device=cpu")
    built = build_method(cfg, torch.device("cpu"))  # the tap it would read does not exist: never looked at
    assert built.discriminator is None
    assert not any(name.startswith("discriminator.") for name, _ in built.named_parameters())
    st = build_method(
        compose_cfg("method=self_training", "method.base=mcc", "device=cpu"), torch.device("cpu")
    )
    assert st.discriminator is None


def test_debug_configs_compose_onto_any_method():
    cfg = compose_cfg("debug=synthetic", "method=adda")
    assert (cfg.source.name, cfg.data.image_size, cfg.device, cfg.trainer.progress) == (
        "synthetic",
        32,
        "cpu",
        False,
    )
    assert compose_cfg("debug=mnist", "seed=3").data.eval_limit == 1000


@pytest.mark.parametrize("method", ["afn"])
def test_methods_that_scale_their_features_bring_a_bottleneck_and_the_command_line_overrides_it(method):
    for backbone in ("seed_cnn", "lenet"):
        assert compose_cfg(f"method={method}", f"backbone={backbone}").backbone.bottleneck == 64
    assert compose_cfg(f"method={method}", "backbone.bottleneck=0").backbone.bottleneck == 0
    assert compose_cfg("method=grl").backbone.bottleneck == 0
    built = build_method(
        compose_cfg(f"method={method}", "experiment=seed64", "device=cpu"), torch.device("cpu")
    )
    assert (
        built.backbone.tap_shapes(64)["features"] == (64,)
        and built.backbone.encoder.neck[1].num_features == 64
    )
