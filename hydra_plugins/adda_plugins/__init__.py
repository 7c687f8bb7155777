"""Hydra finds this package in the ``hydra_plugins`` namespace; see :mod:`.searchpath`."""
