"""Datasets (device-resident tensors or image files), target-domain transforms, batch streams."""

from adda.data.domain import Domain, DomainData, StreamedDomain, build_domains, load_splits
from adda.data.stream import BatchStream, FileStream

__all__ = [
    "BatchStream",
    "Domain",
    "DomainData",
    "FileStream",
    "StreamedDomain",
    "build_domains",
    "load_splits",
]
