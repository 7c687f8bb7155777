"""Endless shuffled batches: drawn on the device for a resident domain, read from disk by
``DataLoader`` workers for a streamed one.  Both resume exactly from their ``state_dict``."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader

from adda.data.domain import Domain, StreamedDomain
from adda.data.folder import as_list, stack


def check_batch_size(batch_size: int) -> int:
    if batch_size <= 0:
        raise ValueError(f"batch size must be positive, got {batch_size}")
    return batch_size


class BatchStream:
    """Shuffled epochs over a resident domain; each batch is rendered (transformed) when drawn."""

    def __init__(self, domain: Domain, batch_size: int, generator: torch.Generator) -> None:
        self.domain, self.batch_size, self.generator = domain, check_batch_size(batch_size), generator
        self._order = torch.empty(0, dtype=torch.long, device=domain.device)
        self._pos = 0

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(images float (B, 3, S, S) in [-1, 1], labels (B,))."""
        if self._pos + self.batch_size > len(self._order):
            n = len(self.domain)
            self._order = torch.randperm(n, generator=self.generator, device=self.generator.device)
            self._pos = 0
        idx = self._order[self._pos : self._pos + self.batch_size]
        self._pos += self.batch_size
        return self.domain.render(idx, self.generator), self.domain.labels[idx]

    def state_dict(self) -> dict:
        """Where the stream stands: enough to draw exactly the same batches after a resume."""
        return {"generator": self.generator.get_state(), "order": self._order.cpu(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self._order = state["order"].to(self.domain.device)
        self._pos = state["pos"]

    def close(self) -> None:
        """Nothing to release: a resident stream holds no processes."""


class EpochBatches:
    """The batch sampler of a streamed domain: batch ``k`` of the whole run, as ``(index, seed)``
    pairs, is a function of ``(seed, k)`` alone.

    Each epoch is a permutation drawn from its own generator (seeded by the stream's seed and the
    epoch), with a seed per position for that image's augmentation; the last incomplete batch of
    an epoch is dropped, as the resident stream does.  So any number of workers gives the same
    batches, and a resumed run asks for batch ``k`` and gets it without replaying the ones before.
    """

    def __init__(self, n: int, batch_size: int, seed: int, start: int = 0) -> None:
        self.n, self.batch_size, self.seed, self.start = n, min(batch_size, n), seed, start
        self.per_epoch = n // self.batch_size
        self._epoch: tuple[int, list[int], list[int]] | None = None

    def epoch(self, e: int) -> tuple[list[int], list[int]]:
        if self._epoch is None or self._epoch[0] != e:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + e)
            order = torch.randperm(self.n, generator=gen)
            seeds = torch.randint(0, 2**62, (self.n,), generator=gen)
            self._epoch = (e, order.tolist(), seeds.tolist())
        return self._epoch[1], self._epoch[2]

    def batch(self, k: int) -> list[tuple[int, int]]:
        e, p = divmod(k, self.per_epoch)
        order, seeds = self.epoch(e)
        lo, hi = p * self.batch_size, (p + 1) * self.batch_size
        return list(zip(order[lo:hi], seeds[lo:hi], strict=True))

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        k = self.start
        while True:
            yield self.batch(k)
            k += 1


class FileStream:
    """Batches of a streamed domain: ``workers`` processes decode and augment images (uint8), the
    main process moves them to the device and applies the domain's transform chain there (with
    ``data.decode=device`` the workers read the files and the device decodes and augments)."""

    def __init__(
        self, domain: StreamedDomain, batch_size: int, generator: torch.Generator, seed: int, workers: int
    ) -> None:
        self.domain, self.batch_size, self.generator = domain, check_batch_size(batch_size), generator
        self.seed, self.workers = seed, workers
        self.batches = 0  # batches handed to the loop so far
        self._it: Iterator | None = None

    def _loader(self) -> Iterator:
        sampler = EpochBatches(len(self.domain), self.batch_size, self.seed, start=self.batches)
        loader = DataLoader(
            self.domain.dataset,
            batch_sampler=sampler,
            num_workers=self.workers,
            collate_fn=as_list if self.domain.dataset.encoded else stack,
            pin_memory=self.domain.device.type == "cuda",
            prefetch_factor=4 if self.workers else None,
        )
        return iter(loader)

    def next(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._it is None:
            self._it = self._loader()
        batch = next(self._it)
        self.batches += 1
        device = self.domain.device
        if self.domain.dataset.encoded:
            x, y = self.domain.dataset.decode_batch(batch, device)
        else:
            x, y = (t.to(device, non_blocking=True) for t in batch)
        return self.domain.network_input(x, self.generator), y

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "batches": self.batches}

    def load_state_dict(self, state: dict) -> None:
        self.close()
        self.generator.set_state(state["generator"])
        self.batches = int(state["batches"])

    def close(self) -> None:
        """Stops the worker processes (a later ``next`` starts them again where it stood)."""
        self._it = None
