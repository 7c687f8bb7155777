"""Validators that read the structure of the target predictions (Musgrave et al. 2022 found
them harder to fool than entropy-based scores): how many classes the predictions span, and
whether they follow the clusters of the target features.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_mutual_info_score

from adda.losses import batch_nuclear_norm
from adda.registry import VALIDATORS
from adda.validators import Outputs, Validator


@VALIDATORS.register("bnm")
class BatchNuclearNorm(Validator):
    """``||P||_* / N`` of the target prediction matrix ``P`` (N x K softmax rows; Cui et al. 2020,
    the term in :mod:`adda.losses` a BNM method maximises): large when predictions are confident
    and spread over many classes."""

    def __call__(self, out: Outputs) -> float:
        return batch_nuclear_norm(out.target_logits.float().softmax(1)).item()


@VALIDATORS.register("classami")
class ClassAMI(Validator):
    """ClassAMI (Musgrave et al. 2022): the adjusted mutual information between a k-means
    clustering of the target features (one cluster per predicted class, seeded at that class's
    centre, so the clustering is deterministic) and the predicted labels.  High when the
    classifier's boundaries follow the target's own cluster structure."""

    def __call__(self, out: Outputs) -> float:
        features = out.target_features.double().cpu().numpy()
        predicted = out.target_logits.argmax(1).cpu().numpy()
        present = np.unique(predicted)
        if len(present) == 1:  # one predicted class shares nothing with any clustering
            return 0.0
        centres = np.stack([features[predicted == c].mean(0) for c in present])
        clusters = KMeans(n_clusters=len(present), init=centres, n_init=1).fit_predict(features)
        return float(adjusted_mutual_info_score(predicted, clusters))
