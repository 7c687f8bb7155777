"""``metrics.json``: the one account of how a run stands, and the only code that writes it.

Its ``status`` is ``running`` while the run trains, then ``done`` (with the results),
``failed`` (with the error) or ``interrupted`` (with the step and the command that resumes it).
Every write is atomic, so a reader never sees half a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from adda.errors import AddaError
from adda.fit import Interrupted
from adda.runtime import write_json

FILE = "metrics.json"


class RunRecord:
    def __init__(self, run_dir: Path, method: str | None) -> None:
        self.path, self.method = Path(run_dir) / FILE, method

    def read(self) -> dict[str, Any] | None:
        return json.loads(self.path.read_text()) if self.path.exists() else None

    def _write(self, status: str, **fields: Any) -> dict[str, Any]:
        record = {"status": status, "method": self.method, **fields}
        write_json(self.path, record)
        return record

    def running(self, step: int) -> None:
        self._write("running", step=step)

    def done(self, results: dict[str, Any]) -> dict[str, Any]:
        """The finished run's results, as written (status and method included)."""
        return self._write("done", **results)

    def add_validators(self, scores: dict[str, float]) -> dict[str, Any]:
        """A finished run's record with validators scored after training (``adda-rescore``)
        joined to its own, and named under ``rescored``; nothing else changes."""
        record = self.read() or {}
        record["validators"] = {**record.get("validators", {}), **scores}
        record["rescored"] = sorted({*record.get("rescored", []), *scores})
        write_json(self.path, record)
        return record

    def failed(self, error: str) -> None:
        self._write("failed", error=error)

    def interrupted(
        self, step: int | None, last_values: dict[str, float] | None, resume: str, reason: str = ""
    ) -> None:
        self._write("interrupted", step=step, last_train_metrics=last_values, resume=resume, reason=reason)

    @contextmanager
    def watch(self) -> Iterator[RunRecord]:
        """Inside, the run is ``running``; an error leaving it is recorded (once) on its way out
        and marked ``recorded`` for the caller, which then only reports it."""
        try:
            yield self
        except Interrupted as err:
            self.interrupted(
                err.step, err.last_values, f"adda-train trainer.resume={self.path.parent}", str(err)
            )
            err.recorded = True
            raise
        except AddaError as err:
            self.failed(str(err))
            err.recorded = True
            raise
        except Exception as err:
            self.failed(f"{type(err).__name__}: {err}")
            err.recorded = True
            raise
