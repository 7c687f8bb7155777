"""BNM, AFN, MCD, BSP, MDD and DIRT-T: their loss terms on tiny tensors, and what one step of each moves."""

import pytest
import torch

from adda.errors import ConfigError
from adda.losses import batch_nuclear_norm, batch_spectral_penalty
from adda.methods.afn import hard_norm_loss, stepwise_norm_loss
from adda.methods.mcd import discrepancy
from adda.methods.mdd import disparity
from adda.models.backbones import SeedCNN
from adda.models.discriminators import MLPDiscriminator
from adda.registry import METHODS
from tests.unit.test_methods import OPTIM, batch, build, changed, snapshot

K = 10


def nuclear_of(method, x):
    with torch.no_grad():
        return batch_nuclear_norm(method.backbone(x).softmax(1)).item()


def test_batch_nuclear_norm_is_largest_for_confident_diverse_predictions():
    diverse = torch.eye(K)  # confident, every class once
    collapsed = torch.zeros(K, K)
    collapsed[:, 0] = 1  # confident, one class
    uniform = torch.full((K, K), 1 / K)
    assert batch_nuclear_norm(diverse).item() == pytest.approx(1.0)
    assert batch_nuclear_norm(diverse) > batch_nuclear_norm(collapsed) > batch_nuclear_norm(uniform)


def test_bnm_steps_raise_the_target_batchs_nuclear_norm():
    method = build("bnm", weight=50.0)
    assert method.discriminator is None
    xt = batch(2)[0]
    before = nuclear_of(method, xt)
    for step in range(5):
        metrics = method.train_step(batch(1), batch(2), step)
    assert nuclear_of(method, xt) > before and "bnm/target_nuclear_norm" in metrics


def test_stepwise_norm_loss_is_the_step_squared_and_pushes_norms_outwards():
    features = torch.randn(6, 4, requires_grad=True)
    loss = stepwise_norm_loss(features, step_size=1.0)
    assert loss.item() == pytest.approx(1.0)
    loss.backward()
    with torch.no_grad():
        moved = features - 0.1 * features.grad
    assert (moved.norm(dim=1) > features.norm(dim=1)).all()


def test_hard_norm_loss_is_zero_on_the_radius_and_afn_with_one_draws_norms_towards_it():
    on_circle = torch.nn.functional.normalize(torch.randn(6, 4), dim=1) * 3
    assert hard_norm_loss(on_circle, 3.0).item() == pytest.approx(0.0, abs=1e-10)
    method = build("afn", weight=1.0, radius=0.5)  # below the initial norms (about 1.5)
    xt = batch(2)[0]
    gap = lambda: (method.encode(xt)["features"].norm(dim=1) - 0.5).abs().mean().item()  # noqa: E731
    before = gap()
    for step in range(5):
        method.train_step(batch(1), batch(2), step)
    assert gap() < before


def test_afn_steps_enlarge_the_target_feature_norm():
    method = build("afn", weight=1.0)
    xt = batch(2)[0]
    before = method.encode(xt)["features"].norm(dim=1).mean().item()
    for step in range(5):
        metrics = method.train_step(batch(1), batch(2), step)
    assert method.encode(xt)["features"].norm(dim=1).mean().item() > before
    assert {"afn/source_norm", "afn/target_norm"} <= metrics.keys()


def test_discrepancy_is_zero_for_agreeing_heads_and_at_most_two_over_k():
    logits = torch.randn(8, K)
    assert discrepancy(logits, logits).item() == 0
    opposite = discrepancy(torch.eye(K) * 100, torch.eye(K).roll(1, 1) * 100).item()
    assert opposite == pytest.approx(2 / K)


@pytest.mark.parametrize("generator_steps", [1, 4])
def test_mcd_plays_its_three_steps_two_head_updates_and_one_plus_n_encoder_updates(generator_steps):
    method = build("mcd", generator_steps=generator_steps)
    assert method.discriminator is None
    assert not torch.equal(
        method.head2[-1].weight
        if isinstance(method.head2, torch.nn.Sequential)
        else next(method.head2.parameters()),
        next(method.backbone.head.parameters()),
    )
    before = snapshot(method.head2)
    metrics = method.train_step(batch(1), batch(2), 0)
    steps = {name: {int(s["step"]) for s in opt.state.values()} for name, opt in method.optimizers.items()}
    assert steps == {"encoder": {1 + generator_steps}, "heads": {2}}
    assert changed(method.head2, before)
    assert {"mcd/discrepancy_heads", "mcd/discrepancy_encoder"} <= metrics.keys()
    assert all(torch.isfinite(v) for v in metrics.values())


def test_batch_spectral_penalty_is_the_top_singular_values_squared():
    features = torch.diag(torch.tensor([3.0, 2.0, 1.0]))
    assert batch_spectral_penalty(features, k=1).item() == pytest.approx(9.0)
    assert batch_spectral_penalty(features, k=2).item() == pytest.approx(13.0)


def bsp_on(base, **kw):
    """BSP on ``base`` with the discriminator that base reads (CDAN's: features x classes)."""
    torch.manual_seed(0)
    backbone = SeedCNN(image_size=32, blocks=2)
    cfg = {"name": "bsp", "base": base, **kw}
    shape = METHODS.get("bsp").discriminator_shape(backbone.tap_shapes(32)["features"], K, cfg)
    disc = MLPDiscriminator(shape, hidden=[32])
    return METHODS.build(cfg, backbone=backbone, discriminator=disc, optim=OPTIM, steps=10)


@pytest.mark.parametrize("base", ["grl", "cdan"])
def test_bsp_adds_its_penalty_to_the_base_and_a_heavy_one_shrinks_the_top_singular_value(base):
    method = bsp_on(base, weight=1.0)
    xs = batch(1)[0]
    top = lambda: torch.linalg.svdvals(method.encode(xs)["features"].detach())[0].item()  # noqa: E731
    before = top()
    for step in range(5):
        metrics = method.train_step(batch(1), batch(2), step)
    assert "loss/feature_penalty" in metrics and "loss/domain" in metrics
    assert top() < before
    plain = bsp_on(base, weight=0.0).base
    plain.feature_penalty = None
    assert "loss/feature_penalty" not in plain.train_step(batch(1), batch(2), 0)


def test_bsp_refuses_a_base_without_a_feature_penalty():
    with pytest.raises(ConfigError, match="^method.base='mcc': bsp adds its penalty to grl or cdan$"):
        build("bsp", base="mcc")


def test_disparity_is_largest_when_the_adversary_agrees_on_the_source_and_not_on_the_target():
    labels = torch.arange(K)
    sure = torch.eye(K) * 20  # confident in the main head's label
    elsewhere = torch.eye(K).roll(1, 1) * 20  # confident in another class
    best = disparity(sure, elsewhere, labels, labels, margin=4.0)
    assert best.item() == pytest.approx(0.0, abs=1e-3)  # its supremum
    assert disparity(sure, sure, labels, labels, 4.0) < best
    assert disparity(elsewhere, elsewhere, labels, labels, 4.0) < best
    # the margin weighs the source term: with the target term fixed, a larger one lowers D more
    low, high = (disparity(elsewhere, elsewhere, labels, labels, m) for m in (1.0, 4.0))
    assert high < low


def test_mdd_adversary_ascends_the_disparity_while_the_reversal_is_off():
    method = build("mdd", weight=0.0, ramp=False)  # the encoder sees only the source loss
    assert method.discriminator is None
    (xs, _), (xt, _) = batch(1), batch(2)

    def current():
        with torch.no_grad():
            features = method.encode_both(xs, xt)["features"]
            labels = method.backbone.head(features).argmax(1)
            adv = method.adversary(features)
            return disparity(adv[:8], adv[8:], labels[:8], labels[8:], method.margin).item()

    before = current()
    for step in range(5):
        metrics = method.train_step(batch(1), batch(2), step)
    assert current() > before and "mdd/discrepancy" in metrics


@pytest.mark.parametrize("refresh_every", [0, 1])
def test_dirt_t_runs_vada_then_refines_on_the_target_alone_against_its_teacher(refresh_every):
    method = build("dirt_t", refresh_every=refresh_every)  # 10 steps: VADA for 5, then DIRT-T
    assert method.start == 5
    for step in range(5):
        assert "loss/domain" in method.train_step(batch(1), batch(2), step)
    no_source = (torch.full((8, 3, 32, 32), float("nan")), torch.zeros(8, dtype=torch.long))
    first = method.train_step(no_source, batch(2), 5)  # the source is no longer read
    assert set(first) == {"loss/target_entropy", "loss/target_vat", "dirt_t/kl_to_teacher"}
    assert first["dirt_t/kl_to_teacher"].item() == pytest.approx(
        0.0, abs=1e-6
    )  # the teacher is the switch model
    switch = snapshot(method.teacher)
    method.train_step(no_source, batch(2), 6)
    assert changed(method.teacher, switch) == (refresh_every == 1)
