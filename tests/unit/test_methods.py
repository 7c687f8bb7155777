import math

import pytest
import torch

from adda.losses import dann_lambda, domain_loss, reverse_gradient
from adda.models.backbones import SeedCNN
from adda.models.discriminators import MLPDiscriminator, SeedConvDiscriminator
from adda.registry import METHODS

OPTIM = {"name": "adam", "lr": 1e-3, "betas": [0.9, 0.999], "decay_at": [0.5], "decay_gamma": 0.1}


def parts(disc="mlp"):
    torch.manual_seed(0)
    backbone = SeedCNN(image_size=32, blocks=2)
    taps = backbone.tap_shapes(32)
    builders = {
        "mlp": lambda: MLPDiscriminator(taps["features"]),
        "mlp_conv": lambda: MLPDiscriminator(taps["conv"], tap="conv"),
        "seed_conv": lambda: SeedConvDiscriminator(taps["pool1"], blocks=2),
    }
    return backbone, builders[disc]()


def batch(seed, n=8):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def build(name, disc="mlp", **kw):
    backbone, d = parts(disc)
    return METHODS.build({"name": name, **kw}, backbone=backbone, discriminator=d, optim=OPTIM, steps=10)


def snapshot(module):
    return [p.detach().clone() for p in module.parameters()]


def changed(module, before):
    return any(not torch.equal(p, q) for p, q in zip(module.parameters(), before, strict=True))


def test_reverse_gradient_is_identity_forward_and_minus_scale_backward():
    x = torch.randn(5, requires_grad=True)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    (y * torch.arange(5.0)).sum().backward()
    assert torch.allclose(x.grad, -0.3 * torch.arange(5.0))


def test_dann_lambda_ramps_from_zero_to_one():
    values = [dann_lambda(p / 10) for p in range(11)]
    assert values[0] == 0 and math.isclose(values[-1], 2 / (1 + math.exp(-10)) - 1)
    assert all(a < b for a, b in zip(values, values[1:], strict=False))


@pytest.mark.parametrize("name", ["minimax", "confusion"])
def test_ramped_adversary_leaves_the_first_encoder_step_to_the_classifier(name):
    """With ``ramp`` the adversarial weight starts at 0: step 0 moves the network exactly as with
    weight 0, and later steps (weight > 0) differ."""
    ramped, silent = build(name, "seed_conv", ramp=True), build(name, "seed_conv", weight=0.0)
    src, tgt = batch(1), batch(2)

    def same() -> bool:
        pairs = zip(ramped.backbone.parameters(), silent.backbone.parameters(), strict=True)
        return all(torch.equal(p, q) for p, q in pairs)

    for method in (ramped, silent):
        method.train_step(src, tgt, 0)
    assert same()
    assert ramped.lam(0) == 0 and ramped.lam(5) == pytest.approx(dann_lambda(0.5))
    for method in (ramped, silent):
        method.train_step(src, tgt, 5)
    assert not same()


@pytest.mark.parametrize("disc", ["mlp", "seed_conv"])
def test_grl_encoder_gradient_pushes_the_domain_loss_up(disc):
    method = build("grl", disc, ramp=False)
    (xs, _), (xt, _) = batch(1), batch(2)
    enc, d = method.backbone.encoder, method.discriminator
    taps = enc(torch.cat([xs, xt]))
    logits = d(reverse_gradient(taps[d.tap], 1.0))
    domain_loss(logits[:8], logits[8:]).backward()
    reversed_grads = [p.grad.clone() for p in enc.parameters() if p.grad is not None]
    enc.zero_grad()
    d.zero_grad()
    taps = enc(torch.cat([xs, xt]))
    logits = d(taps[d.tap])
    domain_loss(logits[:8], logits[8:]).backward()
    plain = [p.grad.clone() for p in enc.parameters() if p.grad is not None]
    assert reversed_grads and len(reversed_grads) == len(plain)
    for r, p in zip(reversed_grads, plain, strict=True):
        assert torch.allclose(r, -p, atol=1e-7)
    # a small step along the encoder's (reversed) gradient raises the discriminator's loss
    with torch.no_grad():
        loss_before = domain_loss(*d(enc(torch.cat([xs, xt]))[d.tap]).split(8))
        for p, g in zip([p for p in enc.parameters() if p.grad is not None], reversed_grads, strict=True):
            p -= 1e-3 * g
        loss_after = domain_loss(*d(enc(torch.cat([xs, xt]))[d.tap]).split(8))
    assert loss_after > loss_before


@pytest.mark.parametrize("name", ["source_only", "minimax", "grl"])
@pytest.mark.parametrize("disc", ["mlp", "seed_conv"])
def test_train_step_returns_finite_scalars_and_updates_the_classifier(name, disc):
    method = build(name, disc)
    before = snapshot(method.backbone.head)
    metrics = method.train_step(batch(1), batch(2), step=0)
    assert metrics and all(v.ndim == 0 and torch.isfinite(v) for v in metrics.values())
    assert changed(method.backbone.head, before)


def test_source_only_has_no_discriminator():
    assert build("source_only").discriminator is None


def test_minimax_alternates_and_each_step_moves_only_its_player():
    method = build("minimax", k_classifier=2, k_discriminator=1)
    assert [method.is_discriminator_step(s) for s in range(6)] == [False, False, True] * 2
    d_before, b_before = snapshot(method.discriminator), snapshot(method.backbone)
    method.train_step(batch(1), batch(2), step=0)
    assert changed(method.backbone, b_before) and not changed(method.discriminator, d_before)
    d_before, b_before = snapshot(method.discriminator), snapshot(method.backbone)
    method.train_step(batch(3), batch(4), step=2)
    assert changed(method.discriminator, d_before) and not changed(method.backbone, b_before)


def test_lr_decays_at_the_configured_fraction():
    method = build("grl")
    method.train_step(batch(1), batch(2), step=4)
    assert method.learning_rate() == pytest.approx(1e-3)
    method.train_step(batch(1), batch(2), step=5)
    assert method.learning_rate() == pytest.approx(1e-4)


def test_same_seed_same_updates():
    a, b = build("grl"), build("grl")
    ma = a.train_step(batch(1), batch(2), 0)
    mb = b.train_step(batch(1), batch(2), 0)
    assert all(torch.equal(ma[k], mb[k]) for k in ma)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_bad_method_arguments_fail_as_config_errors():
    from adda.errors import ConfigError

    with pytest.raises(ConfigError, match="method 'grl'"):
        build("grl", strength=2)
    with pytest.raises(ConfigError, match="lr"):
        backbone, d = parts()
        METHODS.build(
            {"name": "grl"}, backbone=backbone, discriminator=d, optim={**OPTIM, "lr": -1}, steps=10
        )


def test_target_oracle_learns_from_target_labels_only():
    method = build("target_oracle")
    assert method.uses_target_labels and method.discriminator is None
    poisoned_source = (torch.full((8, 3, 32, 32), float("nan")), torch.zeros(8, dtype=torch.long))
    before = snapshot(method.backbone)
    metrics = method.train_step(poisoned_source, batch(2), 0)
    assert torch.isfinite(metrics["loss/class"]) and changed(method.backbone, before)
    assert all(torch.isfinite(p).all() for p in method.parameters())
