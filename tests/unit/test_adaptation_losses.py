"""The mathematics of the confusion and ADDA losses."""

import torch

from adda.losses import confusion_loss, domain_loss
from tests.unit.test_methods import batch, build, changed, snapshot


def test_confusion_loss_is_smallest_at_a_uniform_domain_prediction():
    logits = torch.linspace(-4, 4, 81)
    losses = torch.stack([confusion_loss(z.reshape(1)) for z in logits])
    assert logits[losses.argmin()].abs() < 1e-6
    assert torch.isclose(losses.min(), torch.log(torch.tensor(2.0)))
    # symmetric: "sure it is source" and "sure it is target" cost the same
    assert torch.allclose(losses, losses.flip(0))


def test_confusion_encoder_gradient_moves_predictions_towards_one_half():
    logits = torch.tensor([3.0, -2.0], requires_grad=True)
    confusion_loss(logits).backward()
    assert logits.grad[0] > 0 and logits.grad[1] < 0  # descent lowers 3.0 and raises -2.0


def test_against_a_sure_and_right_discriminator_only_the_confusion_gradient_stays_strong():
    """Why confusion's weight is below DANN's: its pull does not fade as D wins."""
    source, target = torch.tensor([8.0], requires_grad=True), torch.tensor([-8.0], requires_grad=True)
    confusion_loss(torch.cat([source, target])).backward()
    assert torch.allclose(torch.cat([source.grad, target.grad]).abs(), torch.tensor(0.25), atol=1e-3)
    source.grad = target.grad = None
    (-domain_loss(source, target)).backward()  # the encoder's side of DANN and minimax
    assert torch.cat([source.grad, target.grad]).abs().max() < 1e-3


def test_adda_target_encoder_starts_as_the_source_encoder_and_source_side_is_frozen():
    method = build("adda", pretrain_fraction=0.2)  # 10 steps: 2 pre-training, 8 adaptation
    for step in range(2):
        method.train_step(batch(step), batch(step + 10), step)
    assert not method.adapting
    source_enc, head = snapshot(method.backbone.encoder), snapshot(method.backbone.head)
    method.start_adaptation()
    for p, q in zip(method.target_encoder.parameters(), method.backbone.encoder.parameters(), strict=True):
        assert torch.equal(p, q)
    disc, target = snapshot(method.discriminator), snapshot(method.target_encoder)
    for step in range(2, 6):
        method.train_step(batch(step), batch(step + 10), step)
    assert not changed(method.backbone.encoder, source_enc)
    assert not changed(method.backbone.head, head)
    assert changed(method.target_encoder, target) and changed(method.discriminator, disc)


def test_adda_on_the_conv_tap_adapts_only_the_target_encoders_convolutions():
    method = build("adda", disc="mlp_conv", pretrain_fraction=0.2)
    for step in range(6):
        method.train_step(batch(step), batch(step + 10), step)
    target, source = method.target_encoder, method.backbone.encoder
    assert not changed(target.dense, snapshot(source.dense))  # the classifier's side stays the source's
    assert changed(target.first, snapshot(source.first)) and changed(target.rest, snapshot(source.rest))


def test_adda_target_images_use_the_target_encoder_once_adapting():
    method = build("adda", pretrain_fraction=0.0)
    x = batch(1)[0]
    method.train_step(batch(2), batch(3), 0)
    assert method.adapting
    with torch.no_grad():
        assert torch.equal(method.encode(x, "target")["features"], method.target_encoder(x)["features"])
        assert torch.equal(method.encode(x, "source")["features"], method.backbone.encoder(x)["features"])
        assert not torch.equal(method.encode(x, "target")["features"], method.encode(x, "source")["features"])


def test_adda_resumed_from_a_checkpoint_of_its_second_stage_encodes_targets_with_m_t():
    adapted = build("adda", pretrain_fraction=0.0)
    adapted.train_step(batch(2), batch(3), 0)
    resumed = build("adda", pretrain_fraction=0.0)
    assert not resumed.in_stage2
    resumed.load_state_dict(adapted.state_dict())  # the stage comes with the checkpoint
    x = batch(1)[0]
    assert resumed.in_stage2 and not resumed.train().backbone.training  # M_s stays frozen in eval
    with torch.no_grad():
        assert torch.equal(resumed.encode(x, "target")["features"], resumed.target_encoder(x)["features"])


def test_adda_target_encoder_waits_while_the_discriminator_is_no_better_than_min_domain_acc():
    for min_acc, moves in [(1.0, False), (0.0, True)]:  # no batch accuracy exceeds 1.0
        method = build("adda", pretrain_fraction=0.0, min_domain_acc=min_acc)
        method.train_step(batch(1), batch(2), 0)
        disc, target = snapshot(method.discriminator), snapshot(method.target_encoder)
        metrics = method.train_step(batch(3), batch(4), 1)
        assert 0 <= metrics["acc/domain_batch"] <= 1
        assert changed(method.discriminator, disc)
        assert changed(method.target_encoder, target) == moves


def test_adda_encoder_gradient_pushes_the_discriminator_loss_up():
    method = build("adda", pretrain_fraction=0.0)
    method.start_adaptation()
    (xs, _), (xt, _) = batch(1), batch(2)
    d, tap = method.discriminator, method.discriminator.tap
    with torch.no_grad():
        source_feat = method.backbone.encoder(xs)[tap]

    def disc_loss():
        return domain_loss(d(source_feat), d(method.target_encoder(xt)[tap]))

    before = disc_loss().item()
    fooled = d(method.target_encoder(xt)[tap])
    gan = torch.nn.functional.binary_cross_entropy_with_logits(fooled, torch.ones_like(fooled))
    method.target_encoder.zero_grad()
    gan.backward()
    with torch.no_grad():
        for p in method.target_encoder.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
    assert disc_loss().item() > before


def test_confusion_step_updates_both_players():
    method = build("confusion")
    d, b = snapshot(method.discriminator), snapshot(method.backbone)
    metrics = method.train_step(batch(1), batch(2), 0)
    assert changed(method.discriminator, d) and changed(method.backbone, b)
    assert {"loss/class", "loss/domain", "loss/confusion"} <= set(metrics)
