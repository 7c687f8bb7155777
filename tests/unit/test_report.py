import json

import pytest

from adda.report import main


def fake_run(root, name, overrides, metrics):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))


def done(target, source=0.99):
    return {"status": "done", "source_acc": source, "target_acc": target, "gap": source - target,
            "seconds": 10.0, "source_images_per_s": 100.0, "device": "cpu"}


def test_report_pools_seeds_sorts_and_keeps_failures(tmp_path, capsys):
    fake_run(tmp_path, "0", ["method=grl", "seed=0"], done(0.80))
    fake_run(tmp_path, "1", ["method=grl", "seed=1"], done(0.90))
    fake_run(tmp_path, "2", ["method=source_only", "seed=0"], done(0.40))
    fake_run(tmp_path, "3", ["method=minimax", "seed=0"], {"status": "failed", "error": "loss/class=nan"})
    fake_run(tmp_path, "4", ["method=minimax", "seed=1"], None)
    assert main([str(tmp_path)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert text == capsys.readouterr().out
    lines = text.splitlines()
    assert lines[2].startswith("| method=grl | 2/2 | 0.9900 ± 0.0000 | 0.8500 ± 0.0707")
    assert lines[3].startswith("| method=source_only | 1/1 | 0.9900 | 0.4000")
    assert "| method=minimax | 0/2 | - |" in text
    assert "failed loss/class=nan" in text and "not started" in text


def test_report_on_an_empty_folder_fails_clearly(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run folders" in capsys.readouterr().err
