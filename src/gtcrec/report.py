"""Figures from saved runs, each with the numbers behind it as CSV, and one Markdown page (``gtcrec report``).

* ``curves``: per run and seed, validation Recall@20 / NDCG@20 and every loss term against the epoch;
* ``test``: test Recall@20 / NDCG@20 of each run, mean ± sample std over its seeds (the paper's RQ3 bars
  when the runs are its ablations: interaction only, single modalities, w/o TC, full);
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

from .data.errors import DataError
from .errors import MissingExtra

CURVE_METRICS = ("recall@20", "ndcg@20")
NOT_LOSSES = {"epoch", "train_seconds", "eval_seconds", "valid", "diagnostics"}


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


def seed_metrics(run: Path) -> list[dict]:
    """Every finished seed of a run folder (or the one seed of a seed folder)."""
    files = [run / "metrics.json"] if (run / "metrics.json").is_file() else sorted(run.glob("seed*/metrics.json"))
    if not files:
        raise DataError("no seed*/metrics.json: not a finished gtcrec run", path=str(run))
    return [_read_json(f) for f in files]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def curves(runs: dict[str, Path], out: Path) -> tuple[Path, Path]:
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
    colors = {line: plt.get_cmap("tab10")(i % 10) for i, line in enumerate(lines)}  # one colour per line, everywhere
    for ax, name in zip(axes.flat, series):
        for label, seed in lines:
            pts = [(r[2], r[4]) for r in rows if r[0] == label and r[1] == seed and r[3] == name]
            if pts:
                ax.plot(*zip(*pts), label=f"{label} s{seed}", linewidth=1, color=colors[(label, seed)])
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch", fontsize=8)
    for ax in list(axes.flat)[len(series):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=110)
    plt.close(fig)
    return out / "curves.png", out / "curves.csv"


def test_bars(runs: dict[str, Path], out: Path) -> tuple[Path, Path, list[list]]:
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


def write_report(paths: list[str | Path], out: str | Path) -> Path:
    """Figures, CSVs and ``report.md`` in ``out`` for run folders and grid folders (told apart by grid.json)."""
    out = Path(out)
    runs, grids = {}, []
    for p in dict.fromkeys(Path(x).resolve() for x in paths):  # each folder once, in the order given
        if (p / "grid.json").is_file():
            grids.append(p)
        elif p.is_dir():
            runs[p.name if p.name not in runs else str(p)] = p
        else:
            raise DataError("no such run or grid folder", path=str(p))
    out.mkdir(parents=True, exist_ok=True)
    intro = (f"Runs: {', '.join(f'`{p}`' for p in runs.values()) or 'none'}; grids: "
             f"{', '.join(f'`{g}`' for g in grids) or 'none'}. Numbers are read from each seed's metrics.json "
             "(test at the best-validation epoch) and each grid's grid.json (validation only).")
    lines = ["# Report", "", intro, ""]
    if runs:
        curves(runs, out)
        _, _, rows = test_bars(runs, out)
        lines += ["## Training curves", "", "![curves](curves.png)", "", "Numbers: [curves.csv](curves.csv).", "",
                  "## Test metrics", "", "![test](test.png)", "", "| run | metric | mean | std | seeds |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r[0]} | {r[1]} | {r[2]:.4f} | {r[3]:.4f} | {r[4]} |" for r in rows]
        lines += ["", "Numbers: [test.csv](test.csv).", ""]
    for number, grid in enumerate(grids, 1):
        sub = out / f"grid-{number}-{grid.name}"
        sub.mkdir(exist_ok=True)
        sensitivity(grid, sub)
        lines += [f"## Sensitivity: `{grid}`", "", f"![sensitivity]({sub.name}/sensitivity.png)", "",
                  f"Numbers: [{sub.name}/sensitivity.csv]({sub.name}/sensitivity.csv).", ""]
    (out / "report.md").write_text("\n".join(lines) + "\n")
    return out / "report.md"
