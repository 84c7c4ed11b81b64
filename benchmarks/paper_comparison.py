"""Regenerate docs/results/paper-comparison.md: the paper's Table 1 layout from our saved runs.

    python benchmarks/paper_comparison.py [--manifest benchmarks/paper_comparison.yaml]
                                          [--out docs/results/paper-comparison.md]

For every dataset and model of the manifest: test Recall, NDCG and MAP at 5/10/20/50, mean ± sample std over
seeds, each seed tested once at its best-validation epoch. A grid folder contributes its validation-chosen
point on its final seeds only (never its selection seeds); a run folder all its seeds; an entry
`{runs: [folder, ...], selection: text}` the seeds of all its run folders, described by the text (e.g. a grid's
chosen point trained again with a longer patience). Nothing is trained.
Where the manifest names published numbers for a dataset, a second table sets ours beside them, with the
source and how its protocol differs from ours.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
from pathlib import Path

import yaml

from gtcrec.data.errors import DataError
from gtcrec.report import RunSeeds, grid_final_run, seed_metrics

ROOT = Path(__file__).resolve().parent.parent
METRICS = [f"{m}@{k}" for m in ("recall", "ndcg", "map") for k in (5, 10, 20, 50)]
HEADER = {"recall": "R", "ndcg": "N", "map": "MAP"}


def short(metric: str) -> str:
    name, k = metric.split("@")
    return f"{HEADER[name]}@{k}"


def source(folder: Path) -> tuple[RunSeeds | None, str]:
    """(seeds to read, how they were chosen) for a grid or run folder; (None, why) when there is nothing yet."""
    if not folder.exists():
        return None, "no run folder in this checkout"
    if (folder / "grid.json").is_file() or (folder / "points").is_dir():
        if not (folder / "grid.json").is_file():
            return None, "grid unfinished"
        final = grid_final_run(folder)
        if final is None:
            return None, "grid unfinished"
        return final, "grid: chosen point, final seeds" + (f" with patience {final.patience}" if final.patience else "")
    return RunSeeds(folder), "preset" + _patience(folder)


def _patience(folder: Path) -> str:
    """', patience N' from the run's config (bench commands may override the preset's), else nothing."""
    config = folder / "config.yaml"
    patience = (yaml.safe_load(config.read_text()) or {}).get("train", {}).get("patience") if config.is_file() else None
    return f", patience {patience}" if patience is not None else ""


class Measured:
    """One model's test metrics over its seeds, or why there are none."""

    def __init__(self, entry: str | dict):
        """``entry``: a folder (relative to the repository root), or ``{runs: [folders], selection: text}``."""
        if isinstance(entry, dict):
            folders, selection = [ROOT / f for f in entry["runs"]], entry["selection"]
        else:
            folders, selection = [ROOT / entry], None
        self.folder = folders[0]
        self.seeds: list[int] = []
        self.values: dict[str, list[float]] = {}
        results = []
        for folder in folders:
            runs, self.how = source(folder)
            if runs is None:
                self.folder = folder
                return
            try:
                results += seed_metrics(runs)
            except DataError:
                self.folder, self.how = folder, "no finished seed yet"
                return
        self.how = selection or self.how
        self.seeds = [r["seed"] for r in results]
        if len(set(self.seeds)) < len(self.seeds):
            raise SystemExit(f"{', '.join(str(f) for f in folders)}: a seed appears twice ({self.seeds}); "
                             "expected folders with disjoint seeds")
        for name in METRICS:
            self.values[name] = [r["test"][name] for r in results if name in r.get("test", {})]

    def mean(self, metric: str) -> float | None:
        values = self.values.get(metric)
        return statistics.mean(values) if values else None

    def cell(self, metric: str) -> str:
        values = self.values.get(metric)
        if not values:
            return "–"
        std = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {std:.4f}"


def shown(folder: Path) -> str:
    return str(folder.relative_to(ROOT)) if folder.is_relative_to(ROOT) else str(folder)


def row(model: str, measured: Measured) -> str:
    if not measured.seeds:
        return f"| {model} | – | {measured.how} (`{shown(measured.folder)}`) |" + " |" * len(METRICS)
    numbers = ", ".join(str(s) for s in measured.seeds)
    return f"| {model} | {numbers} | {measured.how} |" + "".join(f" {measured.cell(m)} |" for m in METRICS)


def published_table(published: dict, measured: dict[str, Measured]) -> list[str]:
    """Ours beside a publication's numbers: both values and our relative difference, per metric it reports."""
    metrics = list(published["metrics"])
    lines = [f"Published numbers: {published['source']}", "", published["protocol"].strip(), "",
             "| model | " + " | ".join(f"{short(m)} published | ours | difference" for m in metrics) + " |",
             "|---|" + "---|---|---|" * len(metrics)]
    for model, numbers in published["models"].items():
        ours = measured.get(model)
        cells = []
        for metric, theirs in zip(metrics, numbers, strict=True):
            mean = ours.mean(metric) if ours is not None else None
            if mean is None:
                cells += [f"{theirs:.4f}", "no run here", "–"]
            else:
                cells += [f"{theirs:.4f}", ours.cell(metric), f"{(mean - theirs) / theirs:+.1%}"]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines + [""]


def render(manifest: dict, commit: str, date: str) -> str:
    lines = ["# The paper's comparison (Table 1 layout), our protocol", "",
             (f"Regenerated by `python benchmarks/paper_comparison.py` ({date}, commit {commit}) "
             "from the runs named in `benchmarks/paper_comparison.yaml`; each run's own commit, machine and seed "
             "are in its metrics.json. Test metrics at each seed's best-validation epoch, mean ± sample std. "
             "\"grid\" rows are validation-chosen with the equal budget of issue 17 ([equal-budget.md]"
             "(equal-budget.md)); \"preset\" rows use the model's preset, with the patience the run used. The "
             "paper's own numbers are on Amazon Sports/Baby/Cell, not these datasets, so no row here is compared "
             "with them; where another "
             "publication reports these models on the same data, its numbers follow the table."), ""]
    head = "| model | seeds | selection | " + " | ".join(short(m) for m in METRICS) + " |"
    for dataset, models in manifest["datasets"].items():
        measured = {model: Measured(entry) for model, entry in models.items()}
        lines += [f"## {dataset}", "", head, "|" + "---|" * (len(METRICS) + 3)]
        lines += [row(model, m) for model, m in measured.items()]
        lines.append("")
        published = manifest.get("published", {}).get(dataset)
        if published:
            lines += published_table(published, measured)
        note = manifest.get("notes", {}).get(dataset)
        if note:
            lines += [note.strip(), ""]
        lines += figure_lines(manifest.get("figures", {}).get(dataset) or [])
    return "\n".join(lines)


def figure_lines(figures: list[dict]) -> list[str]:
    """Markdown embedding each `gtcrec report` page's figures: ``{report, caption, images}`` per report (images:
    file names beside its report.md)."""
    lines = []
    for figure in figures:
        folder = Path(figure["report"]).parent
        lines += [f"Figures ([report]({figure['report']})): {figure['caption']}.", ""]
        for image in figure["images"]:
            lines += [f"![{Path(image).stem}]({folder}/{image})", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", default=str(ROOT / "benchmarks" / "paper_comparison.yaml"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "paper-comparison.md"))
    args = parser.parse_args()
    manifest = yaml.safe_load(Path(args.manifest).read_text())
    # "-dirty" when the script, its manifest or anything else differs from the commit named
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                            check=False).stdout.strip()
    Path(args.out).write_text(render(manifest, commit, str(dt.date.today())))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
