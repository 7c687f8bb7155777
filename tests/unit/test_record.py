"""``metrics.json`` has one writer, and an error leaving a run is recorded once, as it happened."""

import json

import pytest

from adda.errors import ConfigError
from adda.fit import Interrupted
from adda.record import RunRecord


def status(tmp_path):
    return json.loads((tmp_path / "metrics.json").read_text())


def test_running_then_done_keeps_the_results(tmp_path):
    record = RunRecord(tmp_path, "grl")
    record.running(0)
    assert status(tmp_path) == {"status": "running", "method": "grl", "step": 0}
    written = record.done({"target_acc": 0.5})
    assert status(tmp_path) == written == {"status": "done", "method": "grl", "target_acc": 0.5}


@pytest.mark.parametrize(
    "error,expected",
    [
        (
            ConfigError("optim.lr=0: must be a number > 0"),
            {"status": "failed", "error": "optim.lr=0: must be a number > 0"},
        ),
        (
            RuntimeError("CUDA out of memory"),
            {"status": "failed", "error": "RuntimeError: CUDA out of memory"},
        ),
        (
            Interrupted("stopped by signal 15 after step 40", 15, 40, {"loss/class": 0.3}),
            {"status": "interrupted", "step": 40, "last_train_metrics": {"loss/class": 0.3}},
        ),
    ],
)
def test_an_error_leaving_the_run_is_recorded_and_marked(tmp_path, error, expected):
    with pytest.raises(type(error)) as raised, RunRecord(tmp_path, "adda").watch() as record:
        record.running(3)
        raise error
    on_disk = status(tmp_path)
    assert {k: on_disk[k] for k in expected} == expected and on_disk["method"] == "adda"
    assert raised.value.recorded is True
    if expected["status"] == "interrupted":
        assert on_disk["resume"] == f"adda-train trainer.resume={tmp_path}"
