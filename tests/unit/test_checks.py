"""Argument checks: one line with the key, the value and what is allowed, under its full key."""

import sys

import pytest

from adda.checks import ArgumentError, fraction, non_negative_int, one_of, positive, positive_ints
from adda.registry import Registry


def test_checks_return_good_values_and_name_bad_ones():
    assert (
        fraction("p", 0.25) == 0.25 and positive("lr", 3) == 3 and positive_ints("hidden", (5, 6)) == [5, 6]
    )
    for call, message in [
        (lambda: fraction("p", 1.5), "p=1.5: must be a number in [0, 1]"),
        (lambda: fraction("p", True), "p=True: must be a number in [0, 1]"),
        (lambda: positive("lr", "abc"), "lr='abc': must be a number > 0"),
        (lambda: non_negative_int("every", 2.5), "every=2.5: must be an integer >= 0 (0 turns it off)"),
        (
            lambda: one_of("blend", "multiply", ["over", "difference"]),
            "blend='multiply': must be over or difference",
        ),
        (lambda: positive_ints("hidden", [5, 0]), "hidden=[5, 0]: must be a list of integers > 0"),
    ]:
        with pytest.raises(ArgumentError) as err:
            call()
        assert str(err.value) == message


def test_a_part_built_by_name_reports_its_argument_under_its_place_in_the_config():
    reg = Registry("widget")

    @reg.register("box")
    class Box:
        def __init__(self, opacity=0.5):
            self.opacity = fraction("opacity", opacity)

    with pytest.raises(
        ArgumentError, match=r"^target\.transforms\[2\]\.opacity=3: must be a number in \[0, 1\]$"
    ):
        reg.build({"name": "box", "opacity": 3}, at="target.transforms[2]")
    nested = ArgumentError("weight", -1, "a number >= 0").at("base").at("method")
    assert str(nested) == "method.base.weight=-1: must be a number >= 0"
    rooted = ArgumentError("lr", 0, "a number > 0").at("optim", root=True).at("method")
    assert str(rooted) == "optim.lr=0: must be a number > 0"


def test_a_registry_finds_every_module_of_its_home_package(tmp_path, monkeypatch):
    """A new part is one new module: nothing imports it by name."""
    home = tmp_path / "toyparts"
    home.mkdir()
    (home / "__init__.py").write_text(
        "from adda.registry import Registry\n\nTOYS = Registry('toy', 'toyparts')\n"
    )
    (home / "round.py").write_text(
        "from toyparts import TOYS\n\n@TOYS.register('ball')\nclass Ball:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import toyparts

    assert "toyparts.round" not in sys.modules
    assert toyparts.TOYS.names() == ["ball"] and "toyparts.round" in sys.modules
