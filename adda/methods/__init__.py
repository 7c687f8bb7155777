"""Loss variants, one module each, registered by name in ``METHODS`` (found without a list here)."""

from adda.methods.base import Method

__all__ = ["Method"]
