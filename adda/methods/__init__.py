"""Loss variants, one file each, registered by name in ``METHODS``."""

from adda.methods import (  # noqa: F401  (register the parts)
    adda,
    confusion,
    grl,
    minimax,
    source_only,
    target_oracle,
)
from adda.methods.base import Method

__all__ = ["Method"]
