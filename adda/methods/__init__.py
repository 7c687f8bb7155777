"""Loss variants, one file each, registered by name in ``METHODS``."""

from adda.methods import adda, confusion, grl, minimax, source_only  # noqa: F401  (register the parts)
from adda.methods.base import Method

__all__ = ["Method"]
