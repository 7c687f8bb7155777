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

COLUMNS = ("source_acc", "target_acc", "gap", "seconds", "source_images_per_s")


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


def group_key(overrides: list[str]) -> str:
    kept = [o for o in overrides if not o.startswith(("seed=", "data.root=", "hydra.", "trainer.progress="))]
    return " ".join(kept) or "(defaults)"


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def render(runs: list[dict[str, Any]]) -> str:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run in runs:
        groups[group_key(run["overrides"])].append(run["metrics"])
    rows = []
    for key, metrics in groups.items():
        done = [m for m in metrics if m.get("status") == "done"]
        cells = [mean_std([m[c] for m in done]) if done else "-" for c in COLUMNS]
        score = statistics.mean(m["target_acc"] for m in done) if done else -1.0
        rows.append((score, [key, f"{len(done)}/{len(metrics)}", *cells]))
    rows.sort(key=lambda r: -r[0])
    head = ["runs", "done/all", *COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for _, cells in rows]
    problems = [r for r in runs if r["metrics"].get("status") != "done"]
    if problems:
        lines += ["", "Not finished:"]
        lines += [f"- `{r['dir'].name}`: {r['metrics'].get('status')} {r['metrics'].get('error', '')}".rstrip()
                  for r in problems]
    devices = sorted({m.get("device", "?") for r in runs for m in [r["metrics"]] if m.get("status") == "done"})
    lines += ["", f"Device: {', '.join(devices) or '-'}. Accuracies are of the final model; no target "
              "label was used for training or model selection (target test labels only score it)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Summarise the runs of a sweep (or any folder of runs).")
    parser.add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    runs = read_runs(args.dir)
    if not runs:
        print(f"error: no run folders (with .hydra/) under {args.dir}", file=sys.stderr)
        return 2
    text = render(runs)
    (args.dir / "report.md").write_text(text)
    print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
