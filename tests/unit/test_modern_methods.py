"""The mathematics of MCC, CDAN(+E), VADA and self-training, on tiny tensors and networks."""

import math

import pytest
import torch
from torch import nn

from adda.errors import ConfigError
from adda.losses import certainty_weights, prediction_kl, vat_perturbation
from adda.methods.cdan import ConditionalAdversarial, multilinear_map
from adda.methods.mcc import class_confusion, mcc_loss
from adda.models.backbones import SeedCNN
from adda.models.discriminators import MLPDiscriminator
from adda.registry import METHODS
from tests.unit.test_methods import OPTIM, batch, build, changed, snapshot

K = 10


def test_class_confusion_matrix_is_row_normalised_and_symmetric_before_normalising():
    logits = torch.randn(16, K, generator=torch.Generator().manual_seed(0))
    c = class_confusion(logits, temperature=2.5)
    assert c.shape == (K, K) and (c >= 0).all()
    assert torch.allclose(c.sum(1), torch.ones(K))


def test_mcc_loss_is_zero_without_confusion_and_largest_for_uniform_predictions():
    certain = nn.functional.one_hot(torch.arange(20) % K, K).float() * 100
    assert mcc_loss(certain).item() == pytest.approx(0.0, abs=1e-6)
    uniform = torch.zeros(20, K)  # every class correlates equally with every other
    assert mcc_loss(uniform).item() == pytest.approx((K - 1) / K, abs=1e-6)
    mixed = certain.clone()
    mixed[:5] = 0.0
    assert 0 < mcc_loss(mixed).item() < (K - 1) / K


def test_mcc_step_descends_the_class_confusion_of_the_target_batch():
    method = build("mcc", weight=1.0)
    assert method.discriminator is None
    xt = batch(2)[0]
    before = mcc_loss(method.backbone(xt)).item()
    for step in range(5):
        method.train_step(batch(1), batch(2), step)
    assert mcc_loss(method.backbone(xt)).item() < before


def test_multilinear_map_is_the_per_sample_outer_product():
    f, g = torch.randn(3, 4), torch.rand(3, K).softmax(1)
    h = multilinear_map(f, g)
    assert h.shape == (3, 4 * K)
    assert torch.allclose(h.view(3, 4, K), torch.einsum("bi,bk->bik", f, g))


def test_cdan_e_weights_have_mean_one_and_favour_confident_predictions():
    probs = torch.stack([torch.full((K,), 1 / K), nn.functional.one_hot(torch.tensor(3), K).float()])
    w = certainty_weights(probs)
    assert w.mean().item() == pytest.approx(1.0) and w[1] > w[0]
    assert (w[1] / w[0]).item() == pytest.approx(2 / (1 + math.exp(-math.log(K))), rel=1e-5)


def test_cdan_discriminator_reads_features_times_classes_and_rejects_feature_maps():
    assert ConditionalAdversarial.discriminator_shape((64,), K, {}) == (64 * K,)
    with pytest.raises(ConfigError, match="use discriminator=mlp"):
        ConditionalAdversarial.discriminator_shape((32, 15, 15), K, {})


def cdan_method():
    torch.manual_seed(0)
    backbone = SeedCNN(image_size=32, blocks=2)
    features = backbone.tap_shapes(32)["features"]
    disc = MLPDiscriminator(ConditionalAdversarial.discriminator_shape(features, K, {}), hidden=[32])
    return METHODS.build({"name": "cdan"}, backbone=backbone, discriminator=disc, optim=OPTIM, steps=10)


def test_cdan_step_trains_both_players_and_its_domain_logits_read_the_map():
    method = cdan_method()
    d, b = snapshot(method.discriminator), snapshot(method.backbone)
    metrics = method.train_step(batch(1), batch(2), 5)
    assert changed(method.discriminator, d) and changed(method.backbone, b)
    taps = method.encode(batch(3)[0], "target")
    domain_input = method.domain_input(taps, method.backbone.head(taps["features"]))
    assert method.discriminator(domain_input).shape == (8,)
    assert 0 <= metrics["acc/domain_batch"].item() <= 1


class Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(12, K))

    def forward(self, x):
        return self.net(x)


def test_vat_perturbation_has_the_set_norm_and_beats_a_random_direction():
    model, x = Linear(), torch.randn(6, 3, 2, 2, generator=torch.Generator().manual_seed(1))
    clean = model(x)
    r = vat_perturbation(model, x, clean, radius=0.5, xi=1e-3)
    assert r.shape == x.shape
    assert torch.allclose(r.flatten(1).norm(dim=1), torch.full((6,), 0.5), atol=1e-5)
    rand = torch.randn_like(x)
    rand = 0.5 * rand / rand.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert prediction_kl(clean, model(x + r)) > prediction_kl(clean, model(x + rand))
    assert prediction_kl(clean, clean).item() == pytest.approx(0.0, abs=1e-7)


def test_vada_step_logs_its_terms_and_leaves_no_stray_gradients():
    method = build("vada")
    b = snapshot(method.backbone)
    metrics = method.train_step(batch(1), batch(2), 0)
    assert changed(method.backbone, b)
    for key in ("loss/class", "loss/domain", "loss/target_entropy", "loss/target_vat"):
        assert torch.isfinite(metrics[key])
    assert metrics["loss/target_vat"] >= 0


def test_self_training_runs_its_base_first_then_learns_only_from_confident_pseudo_labels():
    method = build("self_training", base="grl", start_fraction=0.5, threshold=1.0)  # 5 + 5 steps
    assert method.start == 5 and method.base.steps == 5
    first = method.train_step(batch(1), batch(2), 0)
    assert "loss/domain" in first  # the base (DANN) ran
    d = snapshot(method.discriminator)
    later = method.train_step(batch(1), batch(2), 5)
    assert not changed(method.discriminator, d)  # self-training leaves the discriminator alone
    assert later["self_training/confident_fraction"] == 0 and later["loss/pseudo_label"] == 0
    method.threshold = 0.0  # every target image is pseudo-labelled
    assert method.train_step(batch(1), batch(2), 6)["loss/pseudo_label"] > 0


@pytest.mark.parametrize("momentum", [1.0, 0.5, 0.0])
def test_self_training_teacher_starts_as_the_switch_time_model_and_follows_the_student_by_momentum(
    momentum,
):
    method = build("self_training", base="grl", start_fraction=0.5, threshold=0.0, teacher_momentum=momentum)
    for step in range(5):
        method.train_step(batch(1), batch(2), step)
    at_switch = snapshot(method.backbone)
    method.train_step(batch(1), batch(2), 5)
    after = snapshot(method.backbone)
    teacher = list(method.teacher.backbone.parameters())
    for t, s0, s1 in zip(teacher, at_switch, after, strict=True):
        assert torch.allclose(t, momentum * s0 + (1 - momentum) * s1, atol=1e-6)

    xt = batch(2)[0]  # the next step's pseudo-labels are the teacher's, the loss the student's
    with torch.no_grad():
        expected = nn.functional.cross_entropy(
            method.base.classify(xt, "target"), method.teacher.classify(xt, "target").argmax(1)
        )
    assert method.train_step(batch(1), batch(2), 6)["loss/pseudo_label"].item() == pytest.approx(
        expected.item(), rel=1e-5
    )


def test_self_training_after_adda_keeps_the_source_side_frozen():
    method = build(
        "self_training", base={"name": "adda", "pretrain_fraction": 0.4}, start_fraction=0.5, threshold=0.0
    )
    for step in range(5):
        method.train_step(batch(1), batch(2), step)
    source_side = snapshot(method.backbone)
    target_encoder = snapshot(method.base.target_encoder)
    method.train_step(batch(1), batch(2), 5)
    assert not changed(method.backbone, source_side)
    assert changed(method.base.target_encoder, target_encoder)


def test_self_training_needs_another_method_as_its_base():
    with pytest.raises(ConfigError, match="method.base='self_training'"):
        build("self_training", base="self_training")
