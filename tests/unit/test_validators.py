"""Label-free validators on constructed cases whose answer is known, and checkpoint selection."""

import json
import math

import pytest
import torch
from torch import nn

from adda.data.domain import EvalSet
from adda.errors import ConfigError
from adda.registry import VALIDATORS
from adda.selection import Selection
from adda.validators import Outputs, score_all

K = 10


def one_hot_logits(classes: torch.Tensor, scale: float = 50.0) -> torch.Tensor:
    return nn.functional.one_hot(classes, K).float() * scale


def outputs(
    target_logits, source_logits=None, source_labels=None, source_features=None, target_features=None
):
    n_t = len(target_logits)
    source_labels = torch.arange(100) % K if source_labels is None else source_labels
    source_logits = one_hot_logits(source_labels) if source_logits is None else source_logits
    gen = torch.Generator().manual_seed(0)
    source_features = (
        torch.randn(len(source_labels), 4, generator=gen) if source_features is None else source_features
    )
    target_features = torch.randn(n_t, 4, generator=gen) if target_features is None else target_features
    return Outputs(source_logits, source_features, source_labels, target_logits, target_features)


def score(name, out):
    return VALIDATORS.build({"name": name})(out)


def test_source_val_acc_counts_correct_source_predictions():
    labels = torch.arange(100) % K
    predicted = labels.clone()
    predicted[:25] = (predicted[:25] + 1) % K
    out = outputs(torch.zeros(20, K), source_logits=one_hot_logits(predicted), source_labels=labels)
    assert score("source_val_acc", out) == pytest.approx(0.75)


def test_entropy_is_zero_for_certain_predictions_and_minus_log_k_for_uniform_ones():
    certain = outputs(one_hot_logits(torch.arange(50) % K))
    uniform = outputs(torch.zeros(50, K))
    assert score("entropy", certain) == pytest.approx(0.0, abs=1e-6)
    assert score("entropy", uniform) == pytest.approx(-math.log(K), abs=1e-6)


def test_im_rewards_confident_and_diverse_predictions_only():
    balanced = outputs(one_hot_logits(torch.arange(50) % K))
    collapsed = outputs(one_hot_logits(torch.zeros(50, dtype=torch.long)))
    uniform = outputs(torch.zeros(50, K))
    assert score("im", balanced) == pytest.approx(math.log(K), abs=1e-5)
    assert score("im", collapsed) == pytest.approx(0.0, abs=1e-5)
    assert score("im", uniform) == pytest.approx(0.0, abs=1e-5)


def test_snd_is_the_entropy_over_neighbours_of_the_same_cluster():
    n = 60  # six per class
    clustered = outputs(one_hot_logits(torch.arange(n) % K))
    # certain predictions: a point's similar neighbours are the other 5 of its class, and the
    # softmax at temperature 0.05 puts (almost) all mass evenly on them: entropy log 5
    assert score("snd", clustered) == pytest.approx(math.log(n // K - 1), abs=1e-3)
    uniform = outputs(torch.zeros(n, K))  # every point equally similar to the 59 others
    assert score("snd", uniform) == pytest.approx(math.log(n - 1), abs=1e-4)


def test_dev_equals_the_mean_source_loss_when_the_domains_look_alike():
    gen = torch.Generator().manual_seed(1)
    labels = torch.arange(400) % K
    logits = torch.randn(400, K, generator=gen)
    features = torch.randn(400, 3, generator=gen)
    out = outputs(torch.zeros(400, K), logits, labels, features, features.clone())
    ce = nn.functional.cross_entropy(logits, labels).item()
    assert score("dev", out) == pytest.approx(-ce, rel=0.05)


def test_dev_weights_the_source_images_that_resemble_the_target():
    # Two source clusters: A (feature -3) classified badly, B (feature +3) well; the target looks
    # like B, so DEV's risk is B's small loss, not the plain mean dominated by A.
    gen = torch.Generator().manual_seed(2)
    labels = torch.arange(200) % K
    near_target = torch.arange(200) >= 100
    features = torch.where(near_target, 3.0, -3.0)[:, None] + 0.5 * torch.randn(200, 1, generator=gen)
    logits = one_hot_logits(torch.where(near_target, labels, (labels + 1) % K), scale=5.0)
    target = 3.0 + 0.5 * torch.randn(200, 1, generator=gen)
    out = outputs(torch.zeros(200, K), logits, labels, features, target)
    plain = nn.functional.cross_entropy(logits, labels).item()
    b_only = nn.functional.cross_entropy(logits[near_target], labels[near_target]).item()
    assert -score("dev", out) < 0.2 * plain
    assert -score("dev", out) == pytest.approx(b_only, abs=0.1)


def test_score_all_builds_each_validator_by_name_and_unknown_names_list_the_known_ones():
    out = outputs(one_hot_logits(torch.arange(30) % K))
    assert set(score_all(["im", "entropy"], out)) == {"im", "entropy"}
    with pytest.raises(Exception, match=f"known: {', '.join(sorted(VALIDATORS.names()))}$"):
        score_all(["bogus"], out)


class Tiny(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(value))


def offer(sel, step, score, target_acc):
    accs = {"source_test_acc": 0.9, "target_test_acc": target_acc}
    sel.offer(step, {"im": score}, accs, Tiny(float(step)))


def test_selection_keeps_the_validators_best_step_and_ties_go_to_the_later_one(tmp_path):
    sel = Selection(tmp_path, "im")
    for step, s, acc in [(1, 0.5, 0.2), (2, 0.9, 0.3), (3, 0.7, 0.99), (4, 0.9, 0.4), (5, float("nan"), 1.0)]:
        offer(sel, step, s, acc)
    record = json.loads((tmp_path / "selected.json").read_text())
    assert record == sel.best
    assert record["step"] == 4 and record["validator"] == "im" and record["target_acc"] == 0.4
    weights = torch.load(tmp_path / "selected.pt", weights_only=True)
    assert weights["step"] == 4 and weights["model"]["w"].item() == 4.0
    assert Selection(tmp_path, "im", resume=True).best == record  # a resumed run keeps its best
    assert Selection(tmp_path, "im").best is None  # a new run in the same folder starts afresh


def test_no_selection_writes_nothing(tmp_path):
    sel = Selection(tmp_path, None)
    offer(sel, 1, 0.5, 0.2)
    assert sel.best is None and not any(tmp_path.iterdir())


def test_bnm_prefers_confident_predictions_spread_over_the_classes():
    spread = outputs(one_hot_logits(torch.arange(100) % K))
    collapsed = outputs(one_hot_logits(torch.zeros(100, dtype=torch.long)))
    unsure = outputs(torch.zeros(100, K))
    # ten orthogonal columns of ten ones: ten singular values sqrt(10); one column of 100 ones: 10;
    # every entry 0.1: rank one, singular value 0.1 * sqrt(1000)
    assert score("bnm", spread) == pytest.approx(10 * math.sqrt(10) / 100, rel=1e-4)
    assert score("bnm", collapsed) == pytest.approx(10 / 100, rel=1e-4)
    assert score("bnm", unsure) == pytest.approx(0.1 * math.sqrt(1000) / 100, rel=1e-4)


def test_classami_is_high_when_predictions_follow_the_feature_clusters():
    gen = torch.Generator().manual_seed(1)
    classes = torch.arange(200) % 4
    centres = torch.randn(4, 8, generator=gen) * 10
    features = centres[classes] + torch.randn(200, 8, generator=gen)
    logits = torch.zeros(200, K)
    following = logits.clone()
    following[torch.arange(200), classes] = 10.0
    shuffled = logits.clone()
    shuffled[torch.arange(200), classes[torch.randperm(200, generator=gen)]] = 10.0
    agree = score("classami", outputs(following, target_features=features))
    disagree = score("classami", outputs(shuffled, target_features=features))
    assert agree > 0.95 and disagree < 0.2
    assert score("classami", outputs(logits, target_features=features)) == 0.0  # one class predicted


def with_probe(out, answer):
    """``out`` with a model that answers each mix ``(i, j)`` with ``answer(i, j)``'s logits."""
    out.mix_probe = lambda i, j, lam: answer(i, j)
    return out


def test_mixval_is_one_when_every_mix_goes_with_its_dominant_image_and_half_when_boundaries_are_wrong():
    classes = torch.arange(200) % K
    logits = one_hot_logits(classes)
    assert score("mixval", with_probe(outputs(logits), lambda i, j: logits[i])) == pytest.approx(1.0)
    # a model that answers with the partner's class: right within a class, wrong across classes
    assert score("mixval", with_probe(outputs(logits), lambda i, j: logits[j])) == pytest.approx(0.5)


def test_mixval_needs_the_model():
    with pytest.raises(ConfigError, match="mixval needs the model"):
        score("mixval", outputs(one_hot_logits(torch.arange(20) % K)))
    with pytest.raises(ConfigError, match="lam"):
        VALIDATORS.build({"name": "mixval", "lam": 0.5})


def test_mixed_eval_set_holds_the_rounded_mixes():
    images = torch.tensor([[[[0]]], [[[255]]], [[[100]]]], dtype=torch.uint8)
    mixed = EvalSet(images, None, "target", "unlabelled").mixed(
        torch.tensor([0, 1, 2]), torch.tensor([1, 0, 2]), 0.55
    )
    assert mixed.images.flatten().tolist() == [115, 140, 100] and mixed.labels is None
