"""``gtcrec grid``: a hyper-parameter grid for one model, chosen on validation only.

Every point of the Cartesian product trains on the selection seeds in its own folder
``<output_dir>/points/<label>`` (so an interrupted grid resumes). The point with the highest mean
validation metric (``train.valid_metric``) wins; ties go to the earlier point. Test metrics are
computed by the trainer for every point but are never read for the choice, and the grid table
does not show them. With ``final_seeds`` the chosen point is then run on those seeds (the
selection seeds it already has are read back) and its test mean ± std is reported. With ``final_patience``
the final seeds train with that patience instead, in ``<output_dir>/final-patience-<P>/<label>`` (the selection
runs stay as they were): a short selection patience is cheap, but can stop a slow-converging model on a plateau.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import ConfigError, RunConfig, deep_merge, parse_override
from ..data.dataset import InteractionData
from ..data.sources import load_dataset
from .bench import (
    TABLE_METRICS,
    data_mismatches,
    entry_config,
    saved_seed_metrics,
    train_in_folder,
)
from .checkpoint import atomic_write_json
from .results import RunResult
from .run import _git_commit

log = logging.getLogger("gtcrec")


@dataclass
class GridAxis:
    key: str  # dotted config key, e.g. model_params.n_layers
    values: list[Any]
    texts: list[str]  # the values as written, for folder names and tables

    @property
    def short(self) -> str:
        return self.key.rsplit(".", 1)[-1]


def parse_axis(text: str) -> GridAxis:
    """``model_params.n_layers=1,2,3`` -> the key and its values (each parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"grid {text!r}: expected KEY=V1,V2,..., e.g. model_params.n_layers=1,2,3")
    key, raw = (part.strip() for part in text.split("=", 1))
    texts = [t.strip() for t in raw.split(",") if t.strip()]
    if not key or not texts:
        raise ConfigError(f"grid {text!r}: needs a key and at least one value")
    if len(set(texts)) != len(texts):
        raise ConfigError(f"grid {text!r}: a value is repeated")
    return GridAxis(key, [parse_override(f"{key}={t}") for t in texts], texts)


@dataclass
class GridPoint:
    label: str
    settings: dict[str, str]  # axis name (the key's last part unless ambiguous) -> value as written
    overrides: list[dict[str, Any]]
    result: RunResult | None = None
    machines: list[str] = field(default_factory=list)  # where its seeds trained (metrics.json), when known

    def score(self, metric: str) -> tuple[float, float]:
        assert self.result is not None
        return self.result.mean_std(metric, "valid")


def grid_points(axes: list[GridAxis]) -> list[GridPoint]:
    shorts = [a.short for a in axes]
    names = [a.short if shorts.count(a.short) == 1 else a.key for a in axes]
    if len({a.key for a in axes}) != len(axes):
        raise ConfigError("grid: the same key is given twice")
    points = []
    for combo in itertools.product(*(range(len(a.values)) for a in axes)):
        settings = {n: a.texts[i] for n, a, i in zip(names, axes, combo)}
        label = "__".join(f"{n}={a.texts[i]}" for n, a, i in zip(names, axes, combo))
        points.append(GridPoint(label, settings, [a.values[i] for a, i in zip(axes, combo)]))
    return points


@dataclass
class GridReport:
    entry: str
    dataset: str
    metric: str
    selection_seeds: list[int]
    points: list[GridPoint] = field(default_factory=list)
    chosen: GridPoint | None = None
    final: RunResult | None = None
    final_patience: int | None = None  # the final seeds' patience
    final_machines: list[str] = field(default_factory=list)
    command: str | None = None
    commit: str | None = None
    machine: str | None = None
    date: str | None = None
    data_warnings: list[str] = field(default_factory=list)  # data_mismatches over every point's and final seed

    def _mixed(self) -> bool:
        return len(set(self.final_machines).union(*(p.machines for p in self.points))) > 1

    def _machine_line(self) -> str | None:
        return "per point (its points ran on different machines)" if self._mixed() else self.machine

    def to_markdown(self) -> str:
        keys = list(self.points[0].settings) if self.points else []
        mixed = self._mixed()
        machine = self._machine_line()
        lines = [f"# Grid for {self.entry} on {self.dataset}", ""]
        for label, value in (("command", f"`{self.command}`" if self.command else None), ("git commit", self.commit),
                             ("machine", machine), ("date", self.date), ("selection seeds", self.selection_seeds)):
            if value is not None:
                lines.append(f"- {label}: {value}")
        lines += [f"- {line}" for line in self.data_warnings]
        lines += [(f"- chosen on validation {self.metric} (mean over the selection seeds); test metrics of the grid "
                  "points are not shown and played no part"), ""]
        lines.append("| " + " | ".join(keys) + f" | valid {self.metric} | best epochs | s/epoch |"
                     + (" machine |" if mixed else "") + " |")
        lines.append("|---" * (len(keys) + 4 + mixed) + "|")
        for point in self.points:
            cell = point.result.cell(self.metric, "valid")
            epochs = ", ".join(str(s.best_epoch) for s in point.result.seeds)
            secs = np.mean([s.epoch_seconds for s in point.result.seeds])
            mark = "**chosen**" if point is self.chosen else ""
            where = f" {', '.join(point.machines)} |" if mixed else ""
            lines.append("| " + " | ".join(point.settings.values()) + f" | {cell} | {epochs} | {secs:.2f} |{where}"
                         + f" {mark} |")
        if self.final is not None:
            seeds = [s.seed for s in self.final.seeds]
            patience = "" if self.final_patience is None else f" (patience {self.final_patience})"
            where = f", on {', '.join(self.final_machines)}" if mixed else ""
            title = f"## Chosen point on seeds {seeds}{patience}{where}: test at each seed's best-validation epoch"
            lines += ["", title, "",
                      f"| valid {self.metric} | " + " | ".join(TABLE_METRICS) + " |",
                      "|---" * (len(TABLE_METRICS) + 1) + "|"]
            cells = [self.final.cell(self.metric, "valid")] + [self.final.cell(m) for m in TABLE_METRICS]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "entry": self.entry, "dataset": self.dataset, "metric": self.metric,
            "selection_seeds": self.selection_seeds, "command": self.command, "commit": self.commit,
            "machine": self._machine_line(), "date": self.date, "data_warnings": self.data_warnings,
            "chosen": self.chosen.settings if self.chosen else None,
            "points": [{"settings": p.settings, "run_dir": p.result.run_dir, "machines": p.machines,
                        "valid": p.score(self.metric), "best_epochs": [s.best_epoch for s in p.result.seeds]}
                       for p in self.points if p.result is not None],
        }
        if self.final is not None:
            out["final"] = {"seeds": [s.seed for s in self.final.seeds], "run_dir": self.final.run_dir,
                            "patience": self.final_patience, "machines": self.final_machines,
                            "test": {m: self.final.mean_std(m) for m in TABLE_METRICS}}
        return out

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "grid.md").write_text(self.to_markdown())
        atomic_write_json(folder / "grid.json", self.to_json())


def _machines(seeds: list[dict[str, Any]]) -> list[str]:
    return sorted({m["machine"] for m in seeds if m.get("machine")})


def choose_point(points: list[GridPoint], metric: str) -> GridPoint:
    """The point with the best mean validation ``metric`` over its seeds; the first of a tie."""
    return max(points, key=lambda p: (p.score(metric)[0], -points.index(p)))


def point_folder(output_dir: Path, point: GridPoint) -> Path:
    return output_dir / "points" / point.label


def point_config(entry: str, dataset: str, seeds: list[int], output_dir: Path, overrides: list[dict[str, Any]],
                 point: GridPoint) -> RunConfig:
    """A grid point's config; it trains in :func:`point_folder`."""
    config = entry_config(entry, dataset, seeds, output_dir / "points", overrides + point.overrides)
    config.name = point.label
    return config


def final_config(entry: str, dataset: str, final_seeds: list[int], output_dir: Path,
                 overrides: list[dict[str, Any]], chosen: GridPoint, final_patience: int | None) -> RunConfig:
    """The chosen point on the final seeds: beside the points, or with ``final_patience`` in a folder of their
    own; it trains in ``output_dir/name``."""
    root, final_overrides = output_dir / "points", overrides + chosen.overrides
    if final_patience is not None:
        root = output_dir / f"final-patience-{final_patience}"
        final_overrides = final_overrides + [{"train": {"patience": final_patience}}]
    config = entry_config(entry, dataset, final_seeds, root, final_overrides)
    config.name = chosen.label
    return config


def run_grid(entry: str, dataset: str, axes: list[GridAxis], *, seeds: list[int], output_dir: str | Path,
             final_seeds: list[int] | None = None, final_patience: int | None = None,
             overrides: list[dict[str, Any]] | None = None, data: InteractionData | None = None,
             command: str | None = None) -> GridReport:
    """Train every grid point on ``seeds``; choose on validation; optionally run the choice on ``final_seeds``
    (with ``final_patience``, if given, in a folder of their own)."""
    if not axes:
        raise ConfigError("grid: give at least one --grid KEY=V1,V2,...")
    if final_patience is not None and not final_seeds:
        raise ConfigError("--final-patience: expected --final-seeds too (the seeds it applies to)")
    if final_patience is not None and final_patience < 1:
        raise ConfigError(f"--final-patience {final_patience}: expected an integer >= 1")
    output_dir = Path(output_dir)
    overrides = overrides or []
    points = grid_points(axes)
    # every point must be a valid config before anything trains
    configs = {p.label: point_config(entry, dataset, seeds, output_dir, overrides, p) for p in points}
    metric = configs[points[0].label].train.valid_metric
    report = GridReport(entry, dataset, metric, seeds, command=command, commit=_git_commit(),
                        date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if data is None:
        data = load_dataset(dataset)
    seen: dict[str, list[dict[str, Any]]] = {}  # each point's (and the final run's) seeds, as saved
    for point in points:
        log.info("grid: %s %s on %s, seeds %s", entry, point.label, dataset, seeds)
        point.result = train_in_folder(configs[point.label], point_folder(output_dir, point), data)
        report.points.append(point)
        seen[point.label] = saved_seed_metrics(Path(point.result.run_dir))  # read once: machines and data
        point.machines = _machines(seen[point.label])
        report.machine = report.machine or next(iter(point.machines), None)
        report.data_warnings = data_mismatches(seen)
        report.write(output_dir)
    report.chosen = choose_point(points, metric)
    chosen_config = configs[report.chosen.label]
    if final_seeds:
        chosen_config = final_config(entry, dataset, final_seeds, output_dir, overrides, report.chosen, final_patience)
        final_dir = Path(chosen_config.output_dir) / report.chosen.label
        report.final_patience = chosen_config.train.patience
        report.final = train_in_folder(chosen_config, final_dir, data)
        seen["final"] = saved_seed_metrics(final_dir)
        report.final_machines = _machines(seen["final"])
        report.data_warnings = data_mismatches(seen)
    best = deep_merge(chosen_config.to_dict(), {"name": None, "output_dir": "runs"})
    (output_dir / "best.yaml").write_text(
        f"# chosen by `gtcrec grid` on validation {metric}: {report.chosen.settings}"
        + ("; seeds and patience: the final runs'" if final_seeds else "") + "\n"
        + yaml.safe_dump(best, sort_keys=False))
    report.write(output_dir)
    return report
