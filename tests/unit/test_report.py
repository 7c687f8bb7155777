import json

from adda.report import main


def fake_run(root, name, overrides, metrics):
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if metrics is not None:
        (run / "metrics.json").write_text(json.dumps(metrics))


def done(target, source=0.99):
    return {
        "status": "done",
        "source_acc": source,
        "target_acc": target,
        "gap": source - target,
        "seconds": 10.0,
        "source_images_per_s": 100.0,
        "device": "cpu",
    }


def test_report_pools_seeds_sorts_and_keeps_failures(tmp_path, capsys):
    common = ["experiment=seed64"]
    fake_run(tmp_path, "0", [*common, "method=grl", "seed=0"], done(0.80))
    fake_run(tmp_path, "1", [*common, "method=grl", "seed=1"], done(0.90))
    fake_run(tmp_path, "2", [*common, "method=source_only", "seed=0"], done(0.40))
    fake_run(
        tmp_path, "3", [*common, "method=minimax", "seed=0"], {"status": "failed", "error": "loss/class=nan"}
    )
    fake_run(tmp_path, "4", [*common, "method=minimax", "seed=1"], None)
    fake_run(
        tmp_path, "5", [*common, "method=target_oracle", "seed=0"], {**done(0.95), "uses_target_labels": True}
    )
    (tmp_path / "multirun.yaml").write_text(
        "hydra:\n  overrides:\n    hydra: [hydra/launcher=joblib, hydra.sweep.dir=/x]\n"
        "    task: [experiment=seed64, 'method=grl,source_only', 'seed=0,1']\n"
    )
    out = tmp_path / "docs" / "RESULTS.md"
    out.parent.mkdir()
    begin, end = "<!-- adda-report: begin -->\n", "<!-- adda-report: end -->\n"
    out.write_text(f"# Results\nHand-written preface.\n{begin}old\n{end}\nTail.\n")
    assert main([str(tmp_path), "--out", str(out)]) == 0
    text = (tmp_path / "report.md").read_text()
    assert text == capsys.readouterr().out
    assert out.read_text() == f"# Results\nHand-written preface.\n{begin}{text}{end}\nTail.\n"
    assert (
        "Command: `adda-train -m hydra/launcher=joblib experiment=seed64 method=grl,source_only seed=0,1`"
        in text
    )
    assert "Common to all runs: `experiment=seed64`" in text
    rows = [line for line in text.splitlines() if line.startswith("| method")]
    assert (
        rows[0] == "| method=target_oracle (uses target labels) | 1/1 | 0.9900 | 0.9500 | 0.0400 | 10 | 100 |"
    )
    assert rows[1].startswith("| method=grl | 2/2 | 0.9900 ± 0.0000 | 0.8500 ± 0.0707 | 0.1400 ± 0.0707 |")
    assert rows[2].startswith("| method=source_only | 1/1 | 0.9900 | 0.4000")
    assert rows[3].startswith("| method=minimax | 0/2 | - |")
    assert "failed loss/class=nan" in text and "not started" in text
    assert "no target label was used" in text


def test_a_single_run_and_a_sweep_with_the_same_options_share_a_row(tmp_path, capsys):
    fake_run(tmp_path, "single", ["method=grl", "method.ramp=true", "seed=0"], done(0.80))
    fake_run(tmp_path, "sweep/0", ["method=grl", "method.ramp=True", "seed=1"], done(0.90))
    fake_run(tmp_path, "sweep/1", ["method=grl", "method.ramp=False", "seed=2"], done(0.70))
    assert main([str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| method.ramp")]
    pooled = [row.split(" | ")[:2] for row in rows]
    assert pooled == [["| method.ramp=true", "2/2"], ["| method.ramp=false", "1/1"]]


def test_runs_that_differ_only_in_what_they_are_scored_by_share_their_method_row(tmp_path, capsys):
    fake_run(tmp_path, "old", ["method=adda", "seed=0"], done(0.90))
    fake_run(tmp_path, "new", ["method=adda", "seed=1", "trainer.validators=[im,classami]"], done(0.92))
    fake_run(tmp_path, "bsp", ["method=bsp", "seed=0", "trainer.validators=[im,classami]"], done(0.80))
    fake_run(tmp_path, "kept", ["method=bsp", "seed=1", "trainer.select=classami"], done(0.85))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [row.split(" | ")[:2] for row in out if row.startswith("| method")]
    assert rows == [
        ["| method=adda", "2/2"],
        ["| method=bsp trainer.select=classami", "1/1"],  # another checkpoint kept: another row
        ["| method=bsp", "1/1"],
    ]


def test_report_shows_the_selected_checkpoints_accuracy_and_ranks_the_validators(tmp_path, capsys):
    for i, target in enumerate([0.5, 0.6, 0.7, 0.8]):
        metrics = {
            **done(target),
            "validators": {"im": target * 2, "entropy": -target, "snd": [3.0, 1.0, 2.0, 4.0][i]},
            "selected": {"validator": "im", "step": 500, "target_acc": target - 0.1},
        }
        fake_run(tmp_path, str(i), [f"method={'grl' if i < 2 else 'mcc'}", f"seed={i}"], metrics)
    fake_run(tmp_path, "oracle", ["method=target_oracle"], {**done(0.99), "uses_target_labels": True})
    assert main([str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert (
        "| runs | done/all | source_acc | target_acc | gap | seconds | source_images_per_s "
        "| im | target_acc @ im |" in text
    )
    assert "| method=mcc | 2/2 | 0.9900 ± 0.0000 | 0.7500 ± 0.0707 |" in text
    assert text.split("| method=mcc |")[1].splitlines()[0].endswith("| 1.500 ± 0.141 | 0.6500 ± 0.0707 |")
    table = text.split("| validator | Spearman rho | weighted rho | Kendall tau | p | runs | its pick")[1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    # the oracle reads target labels: it is left out, so 4 runs count.  Of the 24 orders of 4 runs,
    # 2 have |tau| = 1 and 18 have |tau| >= 1/3: exact p 2/24 and 18/24.  snd's weighted rho: ranks
    # (3, 1, 2, 4) against (1, 2, 3, 4) with weights 1, 4, 9, 16 give 0.811 / sqrt(1.366 * 0.689).
    # Each one's pick is the run it scores highest: im's and snd's the best (0.8), entropy's the worst.
    assert rows == [
        "| im | +1.000 | +1.000 | +1.000 | 0.083 | 4 | 0.8000 (0.0) |",
        "| snd | +0.400 | +0.836 | +0.333 | 0.750 | 4 | 0.8000 (0.0) |",
        "| entropy | -1.000 | -1.000 | -1.000 | 0.083 | 4 | 0.5000 (30.0) |",
    ]
    assert "below the most accurate of these runs (0.8000)" in text
    assert "reads target test labels" in text
    out = tmp_path / "RESULTS.md"
    out.write_text("# Results\n<!-- adda-report: begin -->\nclassic\n<!-- adda-report: end -->\n")
    assert main([str(tmp_path), "--out", str(out), "--section", "modern"]) == 0
    written = out.read_text()
    assert written.startswith("# Results\n<!-- adda-report: begin -->\nclassic\n<!-- adda-report: end -->\n")
    assert written.count("<!-- adda-report modern: begin -->") == 1 and "| validator |" in written
    assert main([str(tmp_path), "--out", str(out), "--section", "modern"]) == 0
    assert out.read_text() == written  # the named section is replaced, not appended again


def test_several_sweeps_pool_into_one_table_and_keep_their_own_reports(tmp_path, capsys):
    first, second = tmp_path / "first", tmp_path / "second"
    for sweep, method, task in [(first, "adda", "method=adda"), (second, "bnm", "method=bnm")]:
        for seed, target in enumerate([0.90, 0.94]):
            fooled = method == "bnm"  # scored higher by IM, 30 points less accurate
            metrics = {**done(target - 0.3 * fooled), "validators": {"im": 1.0 + seed + fooled}}
            fake_run(sweep, str(seed), ["experiment=seed64", f"method={method}", f"seed={seed}"], metrics)
        (sweep / "multirun.yaml").write_text(
            f"hydra:\n  overrides:\n    hydra: []\n    task: [experiment=seed64, {task}, 'seed=0,1']\n"
        )
        (sweep / "report.md").write_text("this sweep's own report\n")
    assert main([str(first), str(second), str(second / "1")]) == 0  # a run given twice counts once
    out = capsys.readouterr()
    assert "Commands:\n- `adda-train -m experiment=seed64 method=adda seed=0,1`\n" in out.out
    assert "- `adda-train -m experiment=seed64 method=bnm seed=0,1`\n" in out.out
    assert "| method=adda | 2/2 |" in out.out and "| method=bnm | 2/2 |" in out.out
    assert "| 4 | 0.6400 (30.0) |" in out.out  # IM judged over both sweeps' 4 runs: bnm seed 1
    assert "--save DIR" in out.err
    assert [(s / "report.md").read_text() for s in (first, second)] == ["this sweep's own report\n"] * 2
    assert main([str(first), str(second), "--save", str(tmp_path / "pooled")]) == 0
    assert (tmp_path / "pooled" / "report.md").read_text() == capsys.readouterr().out
    assert (tmp_path / "pooled" / "report.png").stat().st_size > 0
    assert main([str(first), str(tmp_path / "missing")]) == 2
    missing = f"no run folders (with .hydra/) or runs.json under {tmp_path / 'missing'}"
    assert missing in capsys.readouterr().err


def test_a_saved_report_pools_with_new_sweeps_after_its_run_folders_are_gone(tmp_path, capsys):
    old, new = tmp_path / "old", tmp_path / "new"
    for sweep, method, targets in [(old, "adda", [0.97, 0.96]), (new, "grl", [0.95, 0.93])]:
        for seed, target in enumerate(targets):
            metrics = {**done(target), "validators": {"im": 2.0 + target}}
            fake_run(sweep, str(seed), ["experiment=seed64", f"method={method}", f"seed={seed}"], metrics)
        (sweep / "multirun.yaml").write_text(
            f"hydra:\n  overrides:\n    hydra: []\n    task: [method={method}, 'seed=0,1']\n"
        )
    assert main([str(old), str(new), "--save", str(tmp_path / "both")]) == 0
    both = capsys.readouterr().out
    assert main([str(old), "--save", str(tmp_path / "kept")]) == 0
    capsys.readouterr()
    saved = json.loads((tmp_path / "kept" / "runs.json").read_text())
    assert saved["commands"] == ["adda-train -m method=adda seed=0,1"]
    assert sorted(r["metrics"]["target_acc"] for r in saved["runs"]) == [0.96, 0.97]
    for run in old.iterdir():  # the old sweep's folders are gone; its runs.json is not
        if run.is_dir():
            for f in sorted(run.rglob("*"), reverse=True):
                f.unlink() if f.is_file() else f.rmdir()
            run.rmdir()
    assert main([str(tmp_path / "kept" / "runs.json")]) == 0  # alone: printed, nothing written
    assert "--save DIR" in capsys.readouterr().err
    assert main([str(tmp_path / "kept" / "runs.json"), str(new)]) == 0
    assert capsys.readouterr().out == both  # the same table, commands and validator ranks
    assert main([str(tmp_path / "kept"), str(new), str(tmp_path / "kept" / "runs.json")]) == 0
    assert capsys.readouterr().out == both  # a folder holding only runs.json reads it; runs count once
    (tmp_path / "bad.json").write_text('{"runs": 3}')
    assert main([str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a runs.json written by adda-report --save" in err
    assert err.count("\n") == 1


def test_report_on_an_empty_folder_fails_clearly(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no run folders" in capsys.readouterr().err


def test_a_table_scored_on_different_target_test_sets_says_so(tmp_path, capsys):
    fake_run(tmp_path, "0", ["method=grl", "seed=0"], {**done(0.80), "target_test_sha256": "a" * 64})
    fake_run(tmp_path, "1", ["method=grl", "seed=1"], {**done(0.90), "target_test_sha256": "a" * 64})
    assert main([str(tmp_path)]) == 0
    assert "different target test sets" not in capsys.readouterr().out
    fake_run(tmp_path, "2", ["method=adda", "seed=0"], {**done(0.95), "target_test_sha256": "b" * 64})
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert "scored on 2 different target test sets" in out.out
    assert f"`{'a' * 12}` (2 runs)" in out.out and f"`{'b' * 12}` (1 runs)" in out.out
    assert f"wrote {tmp_path / 'report.md'}" in out.err
