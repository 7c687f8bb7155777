"""Confusion matrices, per-class accuracy and the proxy A-distance."""

import torch

from adda.analysis import confusion_matrix, per_class_accuracy, proxy_a_distance


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    logits = torch.nn.functional.one_hot(torch.tensor([0, 1, 1, 2, 0, 2]), 4).float()
    m = confusion_matrix(logits, labels, 4)
    assert m.tolist() == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 2, 0], [0, 0, 0, 0]]
    assert per_class_accuracy(m) == [0.5, 1.0, 2 / 3, None]  # class 3 is not in the set


def test_a_distance_is_near_zero_for_one_distribution_and_near_two_for_separate_ones():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(800, 16, generator=gen), torch.randn(800, 16, generator=gen)
    same = proxy_a_distance(a, b)
    apart = proxy_a_distance(a, b + 3.0)
    assert -0.3 < same < 0.3 and apart > 1.95
    partly = proxy_a_distance(a, b + 0.3)
    assert same < partly < apart
    assert proxy_a_distance(a, b + 0.3) == partly  # the same images each time: a fixed seed
