import json
import logging

import pytest

from adda.rescore import RecordMismatch, main, rescore
from adda.train import run

ADDED = ["bnm", "classami", "mixval"]


def trained(synthetic_cfg, run_dir, validators):
    cfg = synthetic_cfg(
        "method=grl", "trainer.steps=20", "trainer.eval_every=10", f"trainer.validators=[{validators}]"
    )
    metrics = run(cfg, run_dir)
    (run_dir / ".hydra").mkdir(exist_ok=True)  # what adda-train's Hydra writes: a run folder to find
    return metrics


def test_rescoring_gives_what_training_with_the_validators_would_have_recorded(synthetic_cfg, tmp_path):
    with_them = trained(synthetic_cfg, tmp_path / "with", ",".join(["im", *ADDED]))
    without = trained(synthetic_cfg, tmp_path / "without", "im")
    assert without["target_acc"] == with_them["target_acc"]  # the same model: validators only read it
    assert rescore(tmp_path / "without", ADDED, None, "cpu") == pytest.approx(
        {name: with_them["validators"][name] for name in ADDED}, abs=1e-6
    )
    after = json.loads((tmp_path / "without" / "metrics.json").read_text())
    assert after["rescored"] == ADDED
    assert after["validators"] == pytest.approx(with_them["validators"], abs=1e-6)
    assert {k: v for k, v in after.items() if k not in ("validators", "rescored")} == {
        k: v for k, v in without.items() if k != "validators"
    }
    assert rescore(tmp_path / "without", ["im", "bnm"], None, "cpu") == {}  # scored already: unchanged
    assert json.loads((tmp_path / "without" / "metrics.json").read_text()) == after


def test_a_record_the_checkpoint_does_not_reproduce_is_refused_and_left_as_it_was(synthetic_cfg, tmp_path):
    trained(synthetic_cfg, tmp_path, "im")
    path = tmp_path / "metrics.json"
    record = json.loads(path.read_text())
    record["validators"]["im"] += 0.01  # as if the checkpoint were another step's
    path.write_text(json.dumps(record))
    with pytest.raises(RecordMismatch, match=r"im is .* scored again, .* in its record"):
        rescore(tmp_path, ["bnm"], None, "cpu")
    assert json.loads(path.read_text()) == record


def test_the_command_scores_every_finished_run_and_names_the_others(synthetic_cfg, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO, logger="adda.rescore")
    trained(synthetic_cfg, tmp_path / "a", "im")
    (tmp_path / "b" / ".hydra").mkdir(parents=True)
    (tmp_path / "b" / "metrics.json").write_text(json.dumps({"status": "failed", "error": "loss nan"}))
    assert main([str(tmp_path), "--validators", "bnm"]) == 1  # one run could not be rescored
    assert "[1/2] a: bnm " in caplog.text and "[2/2] error: " in caplog.text and "is failed" in caplog.text
    assert "bnm" in json.loads((tmp_path / "a" / "metrics.json").read_text())["validators"]
    assert main([str(tmp_path), "--validators", "bnm,nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope is not a validator; choose from" in err and "classami" in err
