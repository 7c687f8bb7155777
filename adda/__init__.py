"""adda: adversarial unsupervised domain adaptation, configured with Hydra."""

__version__ = "0.1.0"
