"""Loss variants, one file each, registered by name in ``METHODS``."""

from adda.methods import (  # noqa: F401  (register the parts)
    adda,
    cdan,
    confusion,
    grl,
    mcc,
    minimax,
    self_training,
    source_only,
    target_oracle,
    vada,
)
from adda.methods.base import Method

__all__ = ["Method"]
