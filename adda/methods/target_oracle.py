"""Target oracle: the upper bound, trained on *labelled target* images.

    min_{E, C}  E_{(x, y) ~ T} CE(C(E(x)), y)

It reads target labels, so it is no adaptation method: results tables show it, marked, as the
accuracy the architecture reaches when the shift costs nothing.
"""

from __future__ import annotations

from adda.methods.source_only import SourceOnly
from adda.registry import METHODS


@METHODS.register("target_oracle")
class TargetOracle(SourceOnly):
    uses_target = True
    uses_target_labels = True
    trains_on = "target"
