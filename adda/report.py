"""``adda-report DIR``: one table from every run folder under DIR, seeds pooled as mean ± std.

Reads each run's ``metrics.json`` and ``.hydra/overrides.yaml``; runs that differ only in
``seed`` form one row.  Failed and unfinished runs are listed, never dropped.  Writes
``DIR/report.md`` (and prints it), ``DIR/report.png``: target accuracy per row with error bars, and
``DIR/report_tsne.png``: a t-SNE of each method's best run's test features.  ``adda-report A B
--save C`` pools the runs of several sweeps into one table, written to C.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import textwrap
from collections import defaultdict
from collections.abc import Sequence
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
# Options that change neither what is trained nor which checkpoint is kept: never a row of their own.
# (The validators only read the model; trainer.select, which keeps a checkpoint, stays grouped.)
NOT_GROUPED = ("seed=", "data.root=", "hydra.", "trainer.progress=", "trainer.validators=")


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


RUNS_FILE = "runs.json"


def write_runs(path: Path, runs: list[dict[str, Any]], commands: Sequence[str]) -> None:
    """``runs.json``: what the table was made from, without the run folders; one run a line, so
    a committed one diffs run by run."""
    records = ",\n".join(json.dumps({**run, "dir": str(run["dir"])}) for run in runs)
    path.write_text(f'{{"commands": {json.dumps(list(commands))},\n"runs": [\n{records}\n]}}\n')


def read_saved(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The runs and commands of a ``runs.json`` that ``--save`` wrote."""
    try:
        saved = json.loads(path.read_text())
        runs = [{**run, "dir": Path(run["dir"])} for run in saved["runs"]]
        return runs, list(saved["commands"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(
            f"{path} is not a runs.json written by adda-report --save ({err!r}): "
            "give a sweep folder or such a file"
        ) from None


def read_source(root: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """A sweep folder's runs and command, or a saved ``runs.json`` (given, or in a folder that
    holds no run folders)."""
    if root.is_file():
        return read_saved(root)
    runs = read_runs(root)
    if not runs and (root / RUNS_FILE).is_file():
        return read_saved(root / RUNS_FILE)
    command = sweep_command(root)
    return runs, [command] if command else []


def sweep_command(root: Path) -> str | None:
    """The ``adda-train -m ...`` line that made the sweep, from Hydra's ``multirun.yaml``
    (launcher and sweeper choices included, the output folder left out)."""
    path = root / "multirun.yaml"
    if not path.exists():
        return None
    overrides = yaml.safe_load(path.read_text())["hydra"]["overrides"]
    engine = [
        o
        for o in overrides.get("hydra", [])
        if not o.startswith(("hydra.sweep.dir", "hydra.run.dir", "hydra.mode"))
    ]
    return "adda-train -m " + " ".join([*engine, *overrides["task"]])


def mean_std(values: list[float], fmt: str) -> str:
    if len(values) == 1:
        return fmt.format(values[0])
    return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"


Group = tuple[str, list[dict[str, Any]]]


def canonical(override: str) -> str:
    """One spelling per option: a single run records ``ramp=true`` as typed, a sweep as
    ``ramp=True``, and the same options must land in the same row."""
    key, sep, value = override.partition("=")
    return f"{key}={value.lower()}" if sep and value.lower() in ("true", "false") else override


def group_runs(runs: list[dict[str, Any]]) -> tuple[list[Group], set[str]]:
    """Rows of runs that differ only by seed, best mean target accuracy first; and the overrides
    common to every run (left out of the row labels)."""
    keyed = [[canonical(o) for o in r["overrides"] if not o.startswith(NOT_GROUPED)] for r in runs]
    common = set.intersection(*(set(k) for k in keyed)) if len(runs) > 1 else set()
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for run, keys in zip(runs, keyed, strict=True):
        label = " ".join(k for k in keys if k not in common) or "(defaults)"
        if run["metrics"].get("uses_target_labels"):
            label += " (uses target labels)"
        groups[label].append(run["metrics"])

    def score(group: Group) -> float:
        done = finished(group[1])
        return statistics.mean(m["target_acc"] for m in done) if done else -1.0

    return sorted(groups.items(), key=lambda g: -score(g)), common


def finished(metrics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in metrics if m.get("status") == "done"]


def selecting_validator(metrics: list[dict[str, Any]]) -> str | None:
    """The one validator that chose the runs' kept checkpoints, if they agree on one."""
    names = {m["selected"]["validator"] for m in finished(metrics) if m.get("selected")}
    return names.pop() if len(names) == 1 else None


Correlation = tuple[str, float, float, float, float, int, float]  # name, rho, weighted, tau, p, runs, pick


def label_free(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The finished runs' metrics that no target label trained: the ones validators are judged on."""
    return [m for m in finished([r["metrics"] for r in runs]) if not m.get("uses_target_labels")]


def validator_correlations(runs: list[dict[str, Any]]) -> list[Correlation]:
    """Per validator: Spearman's rho, its accuracy-weighted form, and Kendall's tau between its
    score of each run's final model and that model's target accuracy, over the finished runs that
    used no target label, with
    Kendall's p-value (exact for a few runs without ties): a sweep of a dozen runs can rank the
    validators differently from the next by chance, and p says how likely that is.  Last, the
    target accuracy of the run it scores highest: what a researcher who trusts it would keep."""
    from scipy.stats import kendalltau, spearmanr

    done = label_free(runs)
    names = sorted({n for m in done for n in m.get("validators", {})})
    rows = []
    for name in names:
        pairs = [(m["validators"][name], m["target_acc"]) for m in done if name in m.get("validators", {})]
        if len(pairs) >= 3:
            scores, accs = zip(*pairs, strict=True)
            top = max(scores)
            pick = min(acc for score, acc in pairs if score == top)  # of tied picks, the worse
            if len(set(scores)) == 1 or len(set(accs)) == 1:  # no ranking to correlate: undefined
                rows.append((name, math.nan, math.nan, math.nan, math.nan, len(pairs), pick))
                continue
            tau, p = kendalltau(scores, accs)
            rho, wrho = spearmanr(scores, accs)[0], weighted_spearman(scores, accs)
            rows.append((name, rho, wrho, tau, p, len(pairs), pick))
    return sorted(rows, key=lambda r: -r[1] if math.isfinite(r[1]) else math.inf)


def weighted_spearman(scores: Sequence[float], accs: Sequence[float], power: float = 2.0) -> float:
    """Spearman's rho with each run weighted by (its accuracy rank / n) ** ``power``, after Musgrave
    et al. 2022: a validator is judged most by how it orders the best runs, the ones a researcher
    would keep."""
    from scipy.stats import rankdata

    rs, ra = rankdata(scores), rankdata(accs)
    w = (ra / len(ra)) ** power
    mean = lambda v: float((w * v).sum() / w.sum())  # noqa: E731
    ds, da = rs - mean(rs), ra - mean(ra)
    spread = math.sqrt(mean(ds * ds) * mean(da * da))
    return mean(ds * da) / spread if spread > 0 else float("nan")


def render_correlations(rows: list[Correlation], best: float) -> list[str]:
    if not rows:
        return []
    return [
        "",
        f"Which validator to trust: rank correlation between each label-free validator's score and "
        f"target test accuracy, across {rows[0][5]} runs' final models. **An after-the-fact analysis "
        f"that reads target test labels**; no run used it to choose anything. Weighted rho counts each "
        f"run by the square of its accuracy rank (Musgrave et al. 2022), so it asks how well the "
        f"validator orders the best runs. p: the chance that a score unrelated to accuracy ranks the "
        f"runs at least this well or this badly (Kendall's test); a large p means this sweep cannot tell. "
        f"Its pick: the target accuracy of the run it scores highest, and how many points that is below "
        f"the most accurate of these runs ({best:.4f}).",
        "",
        "| validator | Spearman rho | weighted rho | Kendall tau | p | runs | its pick (below best) |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {name} | {rho:+.3f} | {wrho:+.3f} | {tau:+.3f} | {p:.3f} | {n} | "
            f"{pick:.4f} ({100 * (best - pick):.1f}) |"
            for name, rho, wrho, tau, p, n, pick in rows
        ],
    ]


def render(runs: list[dict[str, Any]], commands: Sequence[str] = ()) -> str:
    groups, common = group_runs(runs)
    validator = selecting_validator([r["metrics"] for r in runs])
    selected = f"target_acc @ {validator}" if validator else None
    with_a_distance = any(r["metrics"].get("a_distance") for r in runs)
    rows = []
    for label, metrics in groups:
        done = finished(metrics)
        cells = [mean_std([m[c] for m in done], fmt) if done else "-" for c, fmt in COLUMNS.items()]
        if validator:  # the label-free score a researcher compares rows by, then what it picked
            scores = [m["validators"][validator] for m in done if validator in m.get("validators", {})]
            picked = [m["selected"]["target_acc"] for m in done if m.get("selected")]
            cells += [
                mean_std(scores, "{:.3f}") if scores else "-",
                mean_std(picked, "{:.4f}") if picked else "-",
            ]
        if with_a_distance:
            cells.append(a_distance_cell(done))
        rows.append([label, f"{len(done)}/{len(metrics)}", *cells])
    extra = ["A-distance before → after"] if with_a_distance else []
    head = ["runs", "done/all", *COLUMNS, *([validator, selected] if validator else []), *extra]
    lines = []
    if len(commands) == 1:
        lines += [f"Command: `{commands[0]}`", ""]
    elif commands:  # several sweeps pooled: each one's line
        lines += ["Commands:", *(f"- `{c}`" for c in commands), ""]
    if common:
        lines += [f"Common to all runs: `{' '.join(sorted(common))}`", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    problems = [r for r in runs if r["metrics"].get("status") != "done"]
    if problems:
        lines += ["", "Not finished:"]
        lines += [
            f"- `{r['dir'].name}`: {r['metrics'].get('status')} {r['metrics'].get('error', '')}".rstrip()
            for r in problems
        ]
    devices = sorted({r["metrics"].get("device", "?") for r in runs if r["metrics"].get("status") == "done"})
    by_target = any(r["metrics"].get("objective") == "target_acc" for r in runs)
    selection = (
        "**The sweep's objective was target_acc: the sweeper chose with target test labels**, so these "
        "numbers overstate what a label-free choice would reach."
        if by_target
        else "no target label was used for training (except rows marked as using target labels) or "
        "for model selection; target test labels only score it."
    )
    chosen = (
        f"; `{validator}` is that label-free score of the final model, and `{selected}` the target "
        "accuracy of the checkpoint it preferred"
        if validator
        else ""
    )
    lines += [
        "",
        f"Device: {', '.join(devices) or '-'}. Mean ± std over seeds; seconds = training time. "
        f"Accuracies are of the final model{chosen}: {selection}",
    ]
    if with_a_distance:
        lines += [
            "",
            "A-distance: the proxy A-distance 2 (1 - 2 err) of a linear classifier telling source from "
            "target test features (0: indistinguishable, 2: separate), before adaptation (step 0, or "
            "where the method's adaptation stage begins) and at the end.",
        ]
    lines += test_set_warning(runs)
    lines += render_per_class(groups)
    best = max((m["target_acc"] for m in label_free(runs)), default=math.nan)
    lines += render_correlations(validator_correlations(runs), best)
    return "\n".join(lines) + "\n"


def a_distance_cell(done: list[dict[str, Any]]) -> str:
    values = [m["a_distance"] for m in done if m.get("a_distance")]
    before = [v["before"] for v in values if v.get("before") is not None]
    after = [v["after"] for v in values if v.get("after") is not None]
    if not after:
        return "-"
    return f"{mean_std(before, '{:.2f}') if before else '-'} → {mean_std(after, '{:.2f}')}"


WIDE = 12  # more classes than this: the worst five per row instead of a column each


def render_per_class(groups: list[Group]) -> list[str]:
    """Target test accuracy per class, mean over each row's seeds (a column per class, or the
    five worst classes when there are many)."""
    names = {tuple(m["classes"]) for _, ms in groups for m in finished(ms) if m.get("per_class_acc")}
    if len(names) != 1:
        return []
    classes = names.pop()
    table = []
    for label, metrics in groups:
        accs = [m["per_class_acc"]["target_test"] for m in finished(metrics) if m.get("per_class_acc")]
        if accs:
            means = [
                statistics.mean(a[k] for a in accs if a[k] is not None)
                if any(a[k] is not None for a in accs)
                else None
                for k in range(len(classes))
            ]
            table.append((label, means))
    if not table:
        return []
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    lines = ["", "Target test accuracy per class (mean over seeds):", ""]
    if len(classes) <= WIDE:
        lines += ["| runs | " + " | ".join(classes) + " |", "|" + "---|" * (len(classes) + 1)]
        lines += [f"| {label} | " + " | ".join(fmt(v) for v in means) + " |" for label, means in table]
    else:
        lines += ["| runs | the five worst classes |", "|---|---|"]
        for label, means in table:
            worst = sorted((v, c) for v, c in zip(means, classes, strict=True) if v is not None)[:5]
            lines.append(f"| {label} | " + ", ".join(f"{c} {v:.3f}" for v, c in worst) + " |")
    return lines


def projector_points(run_dir: Path) -> tuple[Any, list[list[str]]] | None:
    """The features and metadata rows of a run's last projector embedding (``tb/<step>/features``)."""
    import numpy as np

    found = sorted((run_dir / "tb").glob("*/features/tensors.tsv"))
    if not found:
        return None
    folder = found[-1].parent
    rows = [line.split("\t") for line in (folder / "metadata.tsv").read_text().splitlines()[1:]]
    return np.loadtxt(folder / "tensors.tsv", delimiter="\t", ndmin=2), rows


def best_per_method(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per method, the finished run its own objective (label-free unless it says target_acc)
    scores highest."""
    best: dict[str, dict[str, Any]] = {}
    for run in runs:
        m = run["metrics"]
        if m.get("status") != "done" or m.get(m.get("objective", "")) is None:
            continue
        name = m.get("method", "?")
        if name not in best or m[m["objective"]] > best[name]["metrics"][m["objective"]]:
            best[name] = run
    return dict(sorted(best.items()))


def plot_tsne(runs: list[dict[str, Any]], path: Path) -> bool:
    """``report_tsne.png``: a 2-D t-SNE of each method's best run's embedded test features, source
    and target coloured, each class's name at the middle of its points; False when no run has
    an embedding."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib import patheffects
    from sklearn.manifold import TSNE

    outline = patheffects.withStroke(linewidth=2.5, foreground="white")  # a name stays legible on its points

    panels = [(name, run, projector_points(run["dir"])) for name, run in best_per_method(runs).items()]
    panels = [p for p in panels if p[2] is not None]
    if not panels:
        return False
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.4), squeeze=False)
    for ax, (name, run, (features, rows)) in zip(axes[0], panels, strict=True):
        xy = TSNE(n_components=2, init="pca", random_state=0, perplexity=min(30, len(features) - 1) or 1)
        xy = xy.fit_transform(features)
        domains = np.array([r[0] for r in rows])
        labels = np.array([r[1] for r in rows])
        for domain, colour in (("source", "tab:blue"), ("target", "tab:orange")):
            here = domains == domain
            ax.scatter(*xy[here].T, s=4, alpha=0.5, color=colour, label=domain)
            for cls in sorted(set(labels[here])):
                centre = np.median(xy[here & (labels == cls)], axis=0)
                ax.text(
                    *centre,
                    cls,
                    color=colour,
                    fontsize=9,
                    weight="bold",
                    ha="center",
                    va="center",
                    path_effects=[outline],
                )
        m = run["metrics"]
        ax.set_title(f"{name}: target {m['target_acc']:.3f} ({run['dir'].name[:40]})", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][0].legend(loc="lower left", fontsize=8, markerscale=3)
    fig.suptitle("t-SNE of test features, the best run per method by its objective", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def test_set_warning(runs: list[dict[str, Any]]) -> list[str]:
    """A warning when the finished runs were scored on different target test sets (another
    transform chain, seed or dataset, or a version that rendered the set on the device)."""
    done = finished([r["metrics"] for r in runs])
    sets = {m.get("target_test_sha256", "not recorded") for m in done}
    if len(sets) <= 1:
        return []
    counts = ", ".join(
        f"`{s[:12]}` ({sum(m.get('target_test_sha256', 'not recorded') == s for m in done)} runs)"
        for s in sorted(sets)
    )
    return [
        "",
        f"**Warning: these runs were scored on {len(sets)} different target test sets** ({counts}; "
        "SHA-256 in each metrics.json): their target accuracies are not comparable row by row.",
    ]


def plot(runs: list[dict[str, Any]], path: Path, title: str = "") -> None:
    """Mean target (and source) accuracy per row, ± std over seeds; rows with no finished run
    are drawn empty and labelled as such."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups, _ = group_runs(runs)
    labels, target, target_err, source = [], [], [], []
    for label, metrics in groups:
        done = finished(metrics)
        labels.append(f"{label}  ({len(done)}/{len(metrics)} done)")
        accs = [m["target_acc"] for m in done]
        target.append(statistics.mean(accs) if accs else 0.0)
        target_err.append(statistics.stdev(accs) if len(accs) > 1 else 0.0)
        source.append(statistics.mean(m["source_acc"] for m in done) if done else float("nan"))
    fig, ax = plt.subplots(figsize=(8, 1.5 + 0.45 * len(labels)))
    rows = list(range(len(labels)))[::-1]  # best at the top
    ax.barh(rows, target, xerr=target_err, color="tab:blue", capsize=4, label="target accuracy")
    ax.scatter(source, rows, color="tab:orange", marker="|", s=200, zorder=3, label="source accuracy")
    ax.set_yticks(rows, labels, fontsize=8)
    ax.set_xlim(0, 1.02)  # a point at 1.0 stays whole
    ax.set_xlabel("accuracy (mean ± std over seeds)")
    ax.set_title(textwrap.fill(title, 95), fontsize=8, loc="left", pad=22)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=2, fontsize=8, frameon=False)  # above the bars
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markers(section: str | None) -> tuple[str, str]:
    name = f"adda-report{f' {section}' if section else ''}"
    return f"<!-- {name}: begin -->", f"<!-- {name}: end -->"


def write_section(path: Path, text: str, section: str | None = None) -> None:
    """Put ``text`` between the report markers (of ``section``, when a file holds several) in
    ``path``, keeping the hand-written rest; a section not there yet is appended."""
    begin, end = markers(section)
    block = f"{begin}\n{text}{end}\n"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        block = head + block + rest.split(end, 1)[1].removeprefix("\n")  # the rest as it was
    elif old:
        block = old.rstrip("\n") + "\n\n" + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(block)


def pooled(sweeps: Sequence[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The runs of several sweeps, each run once (a folder given may lie inside another)."""
    runs = {}
    for sweep in sweeps:
        for run in sweep:
            runs.setdefault(run["dir"].resolve(), run)
    return list(runs.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Summarise the runs of a sweep (or any folder of runs); several sweeps given "
        "are pooled into one table, so methods run at different times can be compared."
    )
    parser.add_argument(
        "dir", type=Path, nargs="+", help=f"a sweep folder, or a {RUNS_FILE} an earlier --save wrote"
    )
    parser.add_argument("--out", type=Path, help="also write the report here (e.g. docs/RESULTS.md)")
    parser.add_argument(
        "--section", help="which marked section of --out to replace (default: the unnamed one)"
    )
    parser.add_argument(
        "--save",
        type=Path,
        help=f"the folder for report.md, {RUNS_FILE} and the plots (default: the sweep's own folder; with "
        "several sweeps, none unless given, so no sweep's own report is overwritten)",
    )
    args = parser.parse_args(argv)
    sweeps, commands = [], []
    for root in args.dir:
        try:
            runs, made_by = read_source(root)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if not runs:
            print(f"error: no run folders (with .hydra/) or {RUNS_FILE} under {root}", file=sys.stderr)
            return 2
        sweeps.append(runs)
        commands += [c for c in made_by if c not in commands]
    runs = pooled(sweeps)
    text = render(runs, commands)
    save = args.save or (args.dir[0] if len(args.dir) == 1 and args.dir[0].is_dir() else None)
    written = []
    if save:
        save.mkdir(parents=True, exist_ok=True)
        (save / "report.md").write_text(text)
        write_runs(save / RUNS_FILE, runs, commands)
        plot(runs, save / "report.png", " | ".join(commands) or " ".join(map(str, args.dir)))
        tsne = [save / "report_tsne.png"] if plot_tsne(runs, save / "report_tsne.png") else []
        written += [save / "report.md", save / RUNS_FILE, save / "report.png", *tsne]
    if args.out:
        write_section(args.out, text, args.section)
        written.append(args.out)
    print(text, end="")
    if written:  # stdout: the report alone
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    if not save:
        print("pooled report printed only: --save DIR writes report.md and its plots", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
