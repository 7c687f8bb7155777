"""``adda-report DIR``: one table from every run folder under DIR, seeds pooled as mean ± std.

Reads each run's ``metrics.json`` and ``.hydra/overrides.yaml``; runs that differ only in
``seed`` form one row.  Failed and unfinished runs are listed, never dropped.  Writes
``DIR/report.md`` and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import yaml

COLUMNS = {  # metric -> format of one value
    "source_acc": "{:.4f}",
    "target_acc": "{:.4f}",
    "gap": "{:.4f}",
    "seconds": "{:.0f}",
    "source_images_per_s": "{:.0f}",
}
NOT_GROUPED = ("seed=", "data.root=", "hydra.", "trainer.progress=")


def read_runs(root: Path) -> list[dict[str, Any]]:
    """Every run folder under ``root`` (one holding ``.hydra``), with its metrics and overrides."""
    runs = []
    for hydra_dir in sorted(root.rglob(".hydra")):
        run_dir = hydra_dir.parent
        overrides_file = hydra_dir / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.exists() else []
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text())
        except FileNotFoundError:
            metrics = {"status": "not started"}
        except json.JSONDecodeError as err:
            metrics = {"status": "unreadable", "error": str(err)}
        runs.append({"dir": run_dir, "overrides": overrides or [], "metrics": metrics})
    return runs


def sweep_command(root: Path) -> str | None:
    """The ``adda-train -m ...`` line that made the sweep, from Hydra's ``multirun.yaml``."""
    path = root / "multirun.yaml"
    if not path.exists():
        return None
    task = yaml.safe_load(path.read_text())["hydra"]["overrides"]["task"]
    return "adda-train -m " + " ".join(task)


def mean_std(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


def render(runs: list[dict[str, Any]], command: str | None = None) -> str:
    keyed = [[o for o in r["overrides"] if not o.startswith(NOT_GROUPED)] for r in runs]
    common = set.intersection(*(set(k) for k in keyed)) if len(runs) > 1 else set()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run, keys in zip(runs, keyed, strict=True):
        label = " ".join(k for k in keys if k not in common) or "(defaults)"
        if run["metrics"].get("uses_target_labels"):
            label += " (uses target labels)"
        groups[label].append(run["metrics"])
    rows = []
    for label, metrics in groups.items():
        done = [m for m in metrics if m.get("status") == "done"]
        cells = [mean_std([m[c] for m in done], fmt) if done else "-" for c, fmt in COLUMNS.items()]
        score = statistics.mean(m["target_acc"] for m in done) if done else -1.0
        rows.append((score, [label, f"{len(done)}/{len(metrics)}", *cells]))
    rows.sort(key=lambda r: -r[0])
    head = ["runs", "done/all", *COLUMNS]
    lines = []
    if command:
        lines += [f"Command: `{command}`", ""]
    if common:
        lines += [f"Common to all runs: `{' '.join(sorted(common))}`", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for _, cells in rows]
    problems = [r for r in runs if r["metrics"].get("status") != "done"]
    if problems:
        lines += ["", "Not finished:"]
        lines += [
            f"- `{r['dir'].name}`: {r['metrics'].get('status')} {r['metrics'].get('error', '')}".rstrip()
            for r in problems
        ]
    devices = sorted({r["metrics"].get("device", "?") for r in runs if r["metrics"].get("status") == "done"})
    lines += [
        "",
        f"Device: {', '.join(devices) or '-'}. Mean ± std over seeds; seconds = training time. "
        "Accuracies are of the final model: no target label was used for training (except rows "
        "marked as using target labels) or for model selection; target test labels only score it.",
    ]
    return "\n".join(lines) + "\n"


BEGIN, END = "<!-- adda-report: begin -->", "<!-- adda-report: end -->"


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between the report markers in ``path``, keeping the hand-written rest."""
    block = f"{BEGIN}\n{text}{END}\n"
    old = path.read_text() if path.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        block = head + block + rest.split(END, 1)[1].lstrip("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise the runs of a sweep (or any folder of runs).")
    parser.add_argument("dir", type=Path)
    parser.add_argument("--out", type=Path, help="also write the report here (e.g. docs/RESULTS.md)")
    args = parser.parse_args(argv)
    runs = read_runs(args.dir)
    if not runs:
        print(f"error: no run folders (with .hydra/) under {args.dir}", file=sys.stderr)
        return 2
    text = render(runs, sweep_command(args.dir))
    (args.dir / "report.md").write_text(text)
    if args.out:
        write_section(args.out, text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
