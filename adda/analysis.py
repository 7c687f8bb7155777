"""What adaptation did: confusion matrices, per-class accuracy, proxy A-distance, embeddings.

Everything here reads predictions the evaluation already made (:mod:`adda.evaluate`), so it
costs a run a few seconds: a heat map per test set at each evaluation, and at the end the
proxy A-distance and the features of ``trainer.embed_samples`` test images per domain for
TensorBoard's Projector (PCA, t-SNE and UMAP views, coloured by domain or class).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from adda.data.domain import EvalSet
from adda.evaluate import Predictions
from adda.runtime import write_json
from adda.tensorboard_logger import TensorBoardLogger

TEST_SETS = ("source_test", "target_test")
RECORD = "analysis.json"  # what was measured before adaptation; survives an interruption
THUMBNAIL = 32  # projector sprites: 1,000 thumbnails at 32 px stay well inside its 8192 px limit


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """Counts (classes, classes): row = true class, column = predicted class."""
    flat = labels.long() * classes + logits.argmax(1).long()
    return torch.bincount(flat.cpu(), minlength=classes * classes).view(classes, classes)


def per_class_accuracy(matrix: torch.Tensor) -> list[float | None]:
    """The diagonal over each row's count; None for a class the set does not hold."""
    totals = matrix.sum(1)
    return [None if n == 0 else int(matrix[k, k]) / n for k, n in enumerate(totals.tolist())]


def proxy_a_distance(source: torch.Tensor, target: torch.Tensor, limit: int = 2000, seed: int = 0) -> float:
    """``2 (1 - 2 err)`` (Ben-David et al. 2010, as Ganin et al. 2016 measure it): ``err`` is the
    held-out error of a linear classifier telling source features from target ones; 0 when the
    domains cannot be told apart, 2 when they separate perfectly.

    The same number of images from each domain (at most ``limit``), half to fit and half to
    score, drawn with a fixed seed so that two models are measured on the same images."""
    n = min(len(source), len(target), limit)
    gen = torch.Generator().manual_seed(seed)
    pick = lambda x: x[torch.randperm(len(x), generator=gen)[:n]].double().cpu().numpy()  # noqa: E731
    x = np.concatenate([pick(source), pick(target)])
    y = np.r_[np.zeros(n), np.ones(n)]
    order = torch.randperm(2 * n, generator=gen).numpy()
    fit, score = order[:n], order[n:]
    scaler = StandardScaler().fit(x[fit])
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(x[fit]), y[fit])
    err = 1.0 - clf.score(scaler.transform(x[score]), y[score])
    return round(2.0 * (1.0 - 2.0 * err), 6)  # err is a count over n: no digit past the sixth means anything


def heat_map(matrix: torch.Tensor, classes: tuple[str, ...], title: str):
    """A matplotlib figure of a confusion matrix, with its counts when there are few classes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = len(classes)
    fig, ax = plt.subplots(figsize=(1.2 + 0.45 * min(k, 40), 1.0 + 0.45 * min(k, 40)), dpi=80)
    rows = matrix.float() / matrix.sum(1, keepdim=True).clamp(min=1)
    ax.imshow(rows.numpy(), cmap="Blues", vmin=0, vmax=1)
    if k <= 20:
        for (i, j), count in np.ndenumerate(matrix.numpy()):
            colour = "white" if rows[i, j] > 0.5 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=colour)
        ax.set_xticks(range(k), classes, fontsize=7, rotation=90)
        ax.set_yticks(range(k), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


class Analysis:
    """One run's analysis: heat maps at each evaluation, the A-distance before adaptation and at
    the end, the final confusion matrices and the projector embedding."""

    def __init__(
        self,
        run_dir: Path,
        board: TensorBoardLogger,
        classes: tuple[str, ...],
        embed_samples: int,
        embed_every: int,
        resume: bool,
    ) -> None:
        self.path, self.board, self.classes = run_dir / RECORD, board, classes
        self.embed_samples, self.embed_every = embed_samples, embed_every
        self.before: dict[str, Any] = (
            json.loads(self.path.read_text()) if resume and self.path.exists() else {}
        )
        self.seconds = float(self.before.get("seconds", 0.0))  # what the analysis has cost the run

    @contextmanager
    def clock(self) -> Iterator[None]:
        """Adds the block's wall time to ``seconds`` (reported as ``analysis_seconds``)."""
        tick = time.perf_counter()
        try:
            yield
        finally:
            self.seconds += time.perf_counter() - tick

    def a_distance(self, preds: dict[str, Predictions]) -> float:
        return proxy_a_distance(preds["source_test"].features, preds["target_test"].features)

    def before_adaptation(self, preds: dict[str, Predictions], step: int) -> None:
        """The A-distance of the model adaptation starts from, kept in ``analysis.json``."""
        with self.clock():
            self.before = {"a_distance_before": self.a_distance(preds), "a_distance_before_step": step}
        write_json(self.path, {**self.before, "seconds": self.seconds})
        self.board.scalars({"analysis/a_distance": self.before["a_distance_before"]}, step)

    def matrices(self, preds: dict[str, Predictions]) -> dict[str, torch.Tensor]:
        k = len(self.classes)
        return {name: confusion_matrix(preds[name].logits, preds[name].labels, k) for name in TEST_SETS}

    def at_evaluation(self, preds: dict[str, Predictions], evals: dict[str, EvalSet], step: int) -> None:
        for name, matrix in self.matrices(preds).items():
            self.board.figure(
                f"confusion/{name}", heat_map(matrix, self.classes, f"{name}, step {step}"), step
            )
        if self.embed_every and step % self.embed_every == 0:
            self.embed(preds, evals, step)

    def embed(self, preds: dict[str, Predictions], evals: dict[str, EvalSet], step: int) -> None:
        """The first ``embed_samples`` test images of each domain: features, thumbnails, and the
        metadata columns domain, label, predicted, correct."""
        features, thumbs, rows = [], [], []
        for name in TEST_SETS:
            p, n = preds[name], min(self.embed_samples, len(preds[name].labels))
            images = evals[name].images[:n].float().div(255.0)
            thumbs.append(F.interpolate(images.cpu(), size=(THUMBNAIL, THUMBNAIL), mode="area"))
            features.append(p.features[:n].cpu())
            predicted, labels = p.logits[:n].argmax(1).tolist(), p.labels[:n].tolist()
            for y, yhat in zip(labels, predicted, strict=True):
                rows.append([evals[name].domain, self.classes[y], self.classes[yhat], str(y == yhat)])
        self.board.embedding(
            torch.cat(features), rows, ["domain", "label", "predicted", "correct"], torch.cat(thumbs), step
        )

    def final(self, preds: dict[str, Predictions], evals: dict[str, EvalSet], step: int) -> dict[str, Any]:
        """What ``metrics.json`` keeps: confusion matrices, per-class accuracy, A-distances, and
        the seconds the analysis added to the run."""
        with self.clock():
            after = self.a_distance(preds)
            self.board.scalars({"analysis/a_distance": after}, step)
            if not (self.embed_every and step % self.embed_every == 0):  # at_evaluation has not
                self.embed(preds, evals, step)
            matrices = self.matrices(preds)
        return {
            "classes": list(self.classes),
            "confusion_matrix": {name: m.tolist() for name, m in matrices.items()},
            "per_class_acc": {name: per_class_accuracy(m) for name, m in matrices.items()},
            "a_distance": {
                "before": self.before.get("a_distance_before"),
                "before_step": self.before.get("a_distance_before_step"),
                "after": after,
            },
            "analysis_seconds": round(self.seconds, 2),
        }
