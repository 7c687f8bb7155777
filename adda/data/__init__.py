"""Datasets as device-resident tensors, target-domain transforms, and batch streams."""

from adda.data.domain import Domain, DomainData, build_domains
from adda.data.stream import BatchStream

__all__ = ["BatchStream", "Domain", "DomainData", "build_domains"]
