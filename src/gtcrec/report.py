"""Figures from saved runs, each with the numbers behind it as CSV, and one Markdown page (``gtcrec report``).

* ``curves``: per run and seed, validation Recall@20 / NDCG@20 and every loss term against the epoch;
* ``test``: test Recall@20 / NDCG@20 of each run, mean ± sample std over its seeds (the paper's RQ3 bars
  when the runs are its ablations: interaction only, single modalities, w/o TC, full);
* ``analysis``: modality balance (RQ4) and preference consistency (RQ5) per epoch, for runs trained with
  ``train.modality_analysis: true`` (see :mod:`gtcrec.evaluation.analysis`);
* ``sensitivity``: for a `gtcrec grid` folder, the validation metric against each axis with the other
  axes at the chosen point (RQ6); validation only, as the grid chose.

Everything is read from ``seed*/metrics.json`` and ``grid.json``; nothing is trained or evaluated again.
Figures need matplotlib (``pip install 'gtcrec[plot]'``).
"""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import NamedTuple

from .data.errors import DataError
from .errors import MissingExtra

CURVE_METRICS = ("recall@20", "ndcg@20")
NOT_LOSSES = {"epoch", "train_seconds", "eval_seconds", "valid", "diagnostics", "analysis"}


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise MissingExtra("gtcrec report draws with matplotlib: pip install 'gtcrec[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"unreadable ({exc})", path=str(path)) from None
    if not isinstance(value, dict):
        raise DataError("expected a JSON object", path=str(path))
    return value


class RunSeeds(NamedTuple):
    """A run folder and which of its seeds to read (None: all; a grid's final run: its final seeds only, and
    the patience they trained with where the grid recorded one)."""

    path: Path
    seeds: tuple[int, ...] | None = None
    patience: int | None = None


Run = Path | RunSeeds | tuple[Path | RunSeeds, ...]  # a tuple: several folders pooled under one label


def seed_metrics(run: Run) -> list[dict]:
    """Every finished seed of a run folder (or the one seed of a seed folder), or the seeds asked for; of a
    tuple of folders, all their seeds (no seed twice)."""
    if isinstance(run, tuple) and not isinstance(run, RunSeeds):
        results = [m for part in run for m in seed_metrics(part)]
        seeds = [m.get("seed") for m in results]
        if len(set(seeds)) < len(seeds):
            raise DataError(f"pooled folders share a seed ({sorted(seeds)}); expected disjoint seeds",
                            path=", ".join(str(getattr(p, "path", p)) for p in run))
        return results
    run, wanted = (run.path, run.seeds) if isinstance(run, RunSeeds) else (run, None)
    files = [run / "metrics.json"] if (run / "metrics.json").is_file() else sorted(run.glob("seed*/metrics.json"))
    if wanted is not None:
        files = [run / f"seed{s}" / "metrics.json" for s in wanted]
        missing = [f for f in files if not f.is_file()]
        if missing:
            raise DataError("a final seed has no metrics.json (unfinished?)", path=str(missing[0]))
    if not files:
        raise DataError("no seed*/metrics.json: not a finished gtcrec run", path=str(run))
    return [_read_json(f) for f in files]


def final_run_dir(grid_dir: Path, final: dict) -> Path:
    """The folder of a grid's final run, found under ``grid_dir`` as the grid lays it out (``points/<label>`` or
    ``final-patience-P/<label>``), so that a grid read from another working directory, or moved, still resolves."""
    recorded = Path(final["run_dir"])
    folder = recorded.parent.name if recorded.parent.name.startswith("final-patience-") else "points"
    inside = grid_dir / folder / recorded.name
    return inside if inside.is_dir() or not recorded.is_absolute() else recorded


def grid_final_run(grid_dir: Path) -> RunSeeds | None:
    """The chosen point's run with the grid's final seeds (never the selection seeds), if it has them."""
    final = _read_json(grid_dir / "grid.json").get("final")
    if not final:
        return None
    return RunSeeds(final_run_dir(grid_dir, final), tuple(final["seeds"]), final.get("patience"))


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def curves(runs: dict[str, Run], out: Path) -> tuple[Path, Path]:
    rows = []
    for label, run in runs.items():
        for seed in seed_metrics(run):
            for record in seed.get("history", []):
                valid = record.get("valid", {})
                losses = {k: v for k, v in record.items() if k not in NOT_LOSSES and isinstance(v, (int, float))}
                for name in CURVE_METRICS:
                    if name in valid:
                        rows.append([label, seed["seed"], record["epoch"], f"valid {name}", valid[name]])
                rows += [[label, seed["seed"], record["epoch"], name, value] for name, value in losses.items()]
    _write_csv(out / "curves.csv", ["run", "seed", "epoch", "series", "value"], rows)
    series = sorted({r[3] for r in rows}, key=lambda s: (not s.startswith("valid"), s))
    plt = _pyplot()
    cols = min(3, len(series)) or 1
    fig, axes = plt.subplots(-(-len(series) // cols) or 1, cols, figsize=(4 * cols, 3 * (-(-len(series) // cols) or 1)),
                             squeeze=False)
    lines = [(label, seed) for label in runs for seed in sorted({r[1] for r in rows if r[0] == label})]
    colors = {label: plt.get_cmap("tab10")(i % 10) for i, label in enumerate(runs)}  # one colour per run, everywhere
    for ax, name in zip(axes.flat, series):
        named = set()
        for label, seed in lines:
            pts = [(r[2], r[4]) for r in rows if r[0] == label and r[1] == seed and r[3] == name]
            if pts:  # seeds of a run share its colour; the legend names each run once
                ax.plot(*zip(*pts), label=None if label in named else label, linewidth=0.8, alpha=0.8,
                        color=colors[label])
                named.add(label)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)
    return out / "curves.png", out / "curves.csv"


def analysis_curves(runs: dict[str, Run], out: Path) -> tuple[Path, Path] | None:
    """Balance and each view's consistency per epoch; None when no run recorded them."""
    rows = []
    for label, run in runs.items():
        for seed in seed_metrics(run):
            for record in seed.get("history", []):
                rows += [[label, seed["seed"], record["epoch"], name, value]
                         for name, value in record.get("analysis", {}).items()]
    if not rows:
        return None
    _write_csv(out / "analysis.csv", ["run", "seed", "epoch", "series", "value"], rows)
    panels = {"balance (RQ4)": lambda s: s == "balance",
              "cosine to final user (RQ4)": lambda s: s.startswith("cos_"),
              "consistency (RQ5)": lambda s: s.startswith("consistency_")}
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.2), squeeze=False)
    for ax, (title, keep) in zip(axes.flat, panels.items()):
        keys = sorted({(r[0], r[1], r[3]) for r in rows if keep(r[3])})
        for label, seed, name in keys:
            pts = [(r[2], r[4]) for r in rows if (r[0], r[1], r[3]) == (label, seed, name)]
            suffix = "" if name == "balance" else " " + name.split("_", 1)[1]
            ax.plot(*zip(*pts), linewidth=1, label=f"{label} s{seed}{suffix}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
        if keys:
            ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "analysis.png", dpi=110)
    plt.close(fig)
    return out / "analysis.png", out / "analysis.csv"


def test_bars(runs: dict[str, Run], out: Path) -> tuple[Path, Path, list[list]]:
    rows = []
    for label, run in runs.items():
        seeds = seed_metrics(run)
        for name in CURVE_METRICS:
            values = [s["test"][name] for s in seeds if name in s.get("test", {})]
            if values:
                std = statistics.stdev(values) if len(values) > 1 else 0.0
                rows.append([label, name, statistics.mean(values), std, len(values)])
    _write_csv(out / "test.csv", ["run", "metric", "mean", "std", "seeds"], rows)
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(CURVE_METRICS), figsize=(4 * len(CURVE_METRICS), 3), squeeze=False)
    for ax, name in zip(axes.flat, CURVE_METRICS):
        part = [r for r in rows if r[1] == name]
        ax.bar(range(len(part)), [r[2] for r in part], yerr=[r[3] for r in part], capsize=3)
        ax.set_xticks(range(len(part)), [r[0] for r in part])
        ax.set_title(f"test {name} (mean ± std over seeds)", fontsize=9)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    fig.savefig(out / "test.png", dpi=110)
    plt.close(fig)
    return out / "test.png", out / "test.csv", rows


def sensitivity(grid_dir: Path, out: Path) -> tuple[Path, Path]:
    report = _read_json(grid_dir / "grid.json")
    try:
        chosen, points, metric = report["chosen"], report["points"], report["metric"]
    except KeyError as exc:
        raise DataError(f"no {exc} field: not a gtcrec grid", path=str(grid_dir / "grid.json")) from None
    if not chosen:
        raise DataError("the grid has not chosen a point yet (still running, or interrupted: run its command "
                        "again to finish it)", path=str(grid_dir / "grid.json"))
    axes = list(chosen)
    rows = []
    for axis in axes:
        for point in points:
            settings = point["settings"]
            if all(settings[a] == chosen[a] for a in axes if a != axis) and point.get("valid"):
                rows.append([axis, settings[axis], point["valid"][0]])
    _write_csv(out / "sensitivity.csv", ["axis", "value", f"valid {metric}"], rows)
    plt = _pyplot()
    fig, axs = plt.subplots(1, len(axes), figsize=(3.5 * len(axes), 3), squeeze=False)
    for ax, axis in zip(axs.flat, axes):
        pts = [(str(r[1]), r[2]) for r in rows if r[0] == axis]
        ax.plot(range(len(pts)), [p[1] for p in pts], marker="o")
        ax.set_xticks(range(len(pts)), [p[0] for p in pts])
        ax.set_title(f"{axis} (others at the chosen point)", fontsize=8)
        ax.set_ylabel(f"valid {metric}", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sensitivity.png", dpi=110)
    plt.close(fig)
    return out / "sensitivity.png", out / "sensitivity.csv"


def _labelled(arg: str | Path) -> tuple[str, list[Path]] | None:
    """``LABEL=FOLDER[,FOLDER...]`` as (label, folders); None for a plain folder."""
    label, sep, rest = str(arg).partition("=")
    if not sep or not label or "/" in label or Path(arg).exists():
        return None
    return label, [Path(p) for p in rest.split(",") if p]


def write_report(paths: list[str | Path], out: str | Path) -> Path:
    """Figures, CSVs and ``report.md`` in ``out`` for run folders and grid folders (told apart by grid.json).

    ``LABEL=FOLDER[,FOLDER...]`` names a run (e.g. one of several bench folders whose model folders share a
    name) and pools the seeds of several folders under it; a grid folder there contributes its final run.
    """
    out = Path(out)
    runs: dict[str, Run] = {}
    grids = []
    for label, folders in filter(None, map(_labelled, paths)):
        parts = []
        for folder in folders:
            if (folder / "grid.json").is_file():
                final = grid_final_run(folder)
                if final is None:
                    raise DataError("the grid has no final run yet", path=str(folder))
                parts.append(final)
            elif folder.is_dir():
                parts.append(folder)
            else:
                raise DataError("no such run or grid folder", path=str(folder))
        if not parts:
            raise DataError(f"{label}=: expected LABEL=FOLDER[,FOLDER...]", path=str(label))
        if label in runs:
            raise DataError(f"label {label!r} given twice; expected one LABEL=FOLDER[,FOLDER...] per label",
                            path=str(folders[0]))
        runs[label] = tuple(parts)
    plain = [x for x in paths if _labelled(x) is None]
    given = {Path(x).resolve(): Path(x) for x in reversed(plain)}  # each folder once, named as first given
    for p in dict.fromkeys(Path(x).resolve() for x in plain):
        if (p / "grid.json").is_file():
            grids.append(given[p])
        elif p.is_dir():
            runs[p.name if p.name not in runs else str(given[p])] = given[p]
        else:
            raise DataError("no such run or grid folder", path=str(p))
    for grid in grids:  # a finished grid contributes its chosen point on the final seeds, labelled by its model
        final = grid_final_run(grid)
        if final is not None:
            label = _read_json(grid / "grid.json").get("entry") or grid.name
            runs[label if label not in runs else str(grid)] = final
    out.mkdir(parents=True, exist_ok=True)
    folders = [getattr(p, "path", p) for run in runs.values()
               for p in (run if isinstance(run, tuple) and not isinstance(run, RunSeeds) else (run,))]
    intro = (f"Runs: {', '.join(f'`{p}`' for p in folders) or 'none'}; grids: "
             f"{', '.join(f'`{g}`' for g in grids) or 'none'}. Numbers are read from each seed's metrics.json "
             "(test at the best-validation epoch) and each grid's grid.json (validation only); a finished grid "
             "is shown by its chosen point on its final seeds.")
    lines = ["# Report", "", intro, ""]
    if runs:
        curves(runs, out)
        _, _, rows = test_bars(runs, out)
        lines += ["## Training curves", "", "![curves](curves.png)", "", "Numbers: [curves.csv](curves.csv).", "",
                  "## Test metrics", "", "![test](test.png)", "", "| run | metric | mean | std | seeds |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]} |" for r in rows]
        lines += ["", "Numbers: [test.csv](test.csv).", ""]
        if analysis_curves(runs, out):
            lines += ["## Modality balance and preference consistency", "",
                      ("Balance: 1 - (max - min) / 2 of the cosines between each evaluated user's final representation "
                      "and its modality parts (1: no disparity). Consistency: mean dot product of the final user "
                       "representation with each view's item part over training interactions "
                       "(gtcrec.evaluation.analysis)."), "", "![analysis](analysis.png)", "",
                      "Numbers: [analysis.csv](analysis.csv).", ""]
    for number, grid in enumerate(grids, 1):
        sub = out / f"grid-{number}-{grid.name}"
        sub.mkdir(exist_ok=True)
        sensitivity(grid, sub)
        lines += [f"## Sensitivity: `{grid}`", "", f"![sensitivity]({sub.name}/sensitivity.png)", "",
                  f"Numbers: [{sub.name}/sensitivity.csv]({sub.name}/sensitivity.csv).", ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"
