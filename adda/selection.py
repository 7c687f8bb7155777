"""``trainer.select``: keep the checkpoint that a label-free validator scores highest.

At each evaluation the run offers its validator scores; a new best (a tie goes to the later
step, which has trained longer) writes ``selected.pt`` (the model's weights) and
``selected.json`` (which step, its score, and the accuracies measured then, for the report).
The accuracies are recorded, never consulted: the choice reads only the validator.
``selected.json`` survives interruptions, so a resumed run keeps its earlier best.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from adda.methods import Method
from adda.runtime import save_checkpoint, write_json

WEIGHTS = "selected.pt"
RECORD = "selected.json"


class Selection:
    def __init__(self, run_dir: Path, validator: str | None, resume: bool = False) -> None:
        """``resume``: continue the run's earlier choice; otherwise a leftover record is ignored."""
        self.run_dir, self.validator = run_dir, validator
        record = run_dir / RECORD
        self.best: dict[str, Any] | None = (
            json.loads(record.read_text()) if resume and record.exists() else None
        )

    def offer(
        self, step: int, validators: dict[str, float], accuracies: dict[str, float], method: Method
    ) -> None:
        if self.validator is None:
            return
        score = validators[self.validator]
        if not math.isfinite(score) or (self.best is not None and score < self.best["score"]):
            return
        save_checkpoint(self.run_dir / WEIGHTS, {"step": step, "model": method.state_dict()})
        self.best = {
            "validator": self.validator,
            "step": step,
            "score": score,
            "source_acc": accuracies["source_test_acc"],
            "target_acc": accuracies["target_test_acc"],
            "gap": accuracies["source_test_acc"] - accuracies["target_test_acc"],
        }
        write_json(self.run_dir / RECORD, self.best)
