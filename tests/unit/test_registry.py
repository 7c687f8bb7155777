import pytest
from omegaconf import OmegaConf

import adda.data  # noqa: F401
import adda.methods  # noqa: F401
from adda.errors import ConfigError
from adda.registry import BACKBONES, DISCRIMINATORS, METHODS, TRANSFORMS, Registry


def make_registry():
    reg = Registry("widget")

    @reg.register("box")
    class Box:
        def __init__(self, size=1, colour="red"):
            self.size, self.colour = size, colour

    return reg, Box


def test_build_passes_the_rest_of_the_config_as_arguments():
    reg, box = make_registry()
    obj = reg.build(OmegaConf.create({"name": "box", "size": 3}), colour="blue")
    assert isinstance(obj, box) and obj.size == 3 and obj.colour == "blue"


def test_unknown_name_is_one_line_listing_known_names():
    reg, _ = make_registry()
    reg.register("ball")(dict)
    with pytest.raises(ConfigError) as err:
        reg.build({"name": "cube"})
    message = str(err.value)
    assert "\n" not in message
    assert "unknown widget 'cube'" in message and "ball, box" in message


def test_wrong_argument_is_a_config_error():
    reg, _ = make_registry()
    with pytest.raises(ConfigError, match="widget 'box'.*weight"):
        reg.build({"name": "box", "weight": 2})


def test_missing_name_and_double_registration_fail():
    reg, _ = make_registry()
    with pytest.raises(ConfigError, match="needs a 'name'"):
        reg.build({"size": 2})
    with pytest.raises(ValueError, match="twice"):
        reg.register("box")(dict)


def test_package_parts_are_registered():
    assert {"source_only", "minimax", "grl"} <= set(METHODS.names())
    assert "seed_cnn" in BACKBONES.names()
    assert {"mlp", "seed_conv"} <= set(DISCRIMINATORS.names())
    assert {"binarize", "background"} <= set(TRANSFORMS.names())
