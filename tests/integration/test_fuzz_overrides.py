"""Random mixes of valid and invalid overrides: each ends in a run or one readable error line."""

import pytest
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from adda.errors import AddaError
from adda.train import run
from tests.conftest import SYNTHETIC, compose_cfg

VALUES = {
    "optim.lr": ["1e-3", "3e-4", "0", "-1", "abc", "null"],
    "trainer.batch_size": ["8", "16", "0", "-4", "1.5", "x"],
    "trainer.steps": ["3", "5", "0", "two"],
    "trainer.eval_every": ["0", "2", "-1"],
    "trainer.checkpoint_every": ["0", "2", "yes"],
    "device": ["cpu", "auto", "gpu", "cuda:x"],
    "method": ["source_only", "minimax", "grl", "confusion", "adda", "target_oracle", "nope"],
    "discriminator": ["mlp", "seed_conv", "huge"],
    "target": ["mnistm", "identity", "elsewhere"],
    "target.test_seed": ["1", "-3", "seed"],
    "data.image_size": ["32", "16", "4", "big"],
    "optim.decay_at": ["[]", "[0.5]", "[1.5]"],
    "method.name": ["grl", "unknown_method"],
}
KEYS = sorted(VALUES)


def one_line(message: str) -> bool:
    return bool(message.strip()) and "\n" not in message.strip()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.sampled_from(KEYS), min_size=1, max_size=4, unique=True).flatmap(
        lambda keys: st.tuples(*(st.sampled_from(VALUES[k]).map(lambda v, k=k: f"{k}={v}") for k in keys))
    )
)
def test_any_override_mix_runs_or_fails_in_one_line(tmp_path_factory, overrides):
    out = tmp_path_factory.mktemp("run")
    try:
        cfg = compose_cfg(*SYNTHETIC, "trainer.steps=3", "data.eval_limit=50", *overrides)
    except (HydraException, OmegaConfBaseException) as err:  # Hydra's own: unknown group option
        assert "Could not find" in str(err), str(err)
        return
    try:
        metrics = run(cfg, out)
    except AddaError as err:
        assert one_line(str(err)), str(err)
        return
    assert metrics["status"] == "done" and 0 <= metrics["target_acc"] <= 1


@pytest.mark.parametrize("bad", ["method=nope", "discriminator=huge"])
def test_unknown_group_options_are_hydras_readable_error(bad):
    with pytest.raises(HydraException, match="Could not (find|load)"):
        compose_cfg(bad)
