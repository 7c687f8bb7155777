"""Endless shuffled batches drawn on the device, with no DataLoader or worker processes."""

from __future__ import annotations

import torch

from adda.data.domain import Domain


class BatchStream:
    """Shuffled epochs over a domain; each batch is rendered (transformed) when it is drawn."""

    def __init__(self, domain: Domain, batch_size: int, generator: torch.Generator) -> None:
        if batch_size <= 0:
            raise ValueError(f"batch size must be positive, got {batch_size}")
        self.domain, self.batch_size, self.generator = domain, batch_size, generator
        self._order = torch.empty(0, dtype=torch.long, device=domain.images.device)
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
        self._order = state["order"].to(self.domain.images.device)
        self._pos = state["pos"]
