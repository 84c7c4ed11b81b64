"""``gtcrec bench``: several models, one dataset, one protocol, one table.

Each entry is a model name or a preset name (``gtc-concat``); its preset, when there is one, is the
base config, and the same dataset, seeds and overrides apply to every entry. Every entry trains in
its own run folder ``<output_dir>/<entry>``, so an interrupted benchmark resumes where it stopped
(finished seeds are read back, an unfinished one continues from its last checkpoint).
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..config import (
    PRESETS_DIR,
    ConfigError,
    RunConfig,
    build_config,
    from_dict,
    load_yaml_config,
    saved_run_config,
)
from ..data.dataset import InteractionData
from ..data.sources import load_dataset
from .checkpoint import atomic_write_json
from .results import RunResult
from .run import _git_commit, has_progress, read_seed_metrics, saved_config_path, train

log = logging.getLogger("gtcrec")

TABLE_METRICS = ["recall@10", "recall@20", "recall@50", "ndcg@10", "ndcg@20", "ndcg@50"]


def parse_seeds(tokens: list[str]) -> list[int]:
    """``["1..5"]``, ``["1,2,3"]`` or ``["1", "2"]`` -> a list of distinct seeds, in order."""
    seeds: list[int] = []
    for token in tokens:
        for part in filter(None, token.split(",")):
            match = re.fullmatch(r"(-?\d+)\.\.(-?\d+)", part.strip())
            try:
                values = (list(range(int(match[1]), int(match[2]) + 1)) if match else [int(part)])
            except ValueError:
                raise ConfigError(f"seeds: {part!r} is not an integer or a range like 1..5") from None
            if match and not values:
                raise ConfigError(f"seeds: empty range {part!r}")
            seeds += [v for v in values if v not in seeds]
    if not seeds:
        raise ConfigError("seeds: none given")
    return seeds


def parse_entries(tokens: list[str]) -> list[str]:
    entries = [e.strip() for token in tokens for e in token.split(",") if e.strip()]
    if not entries:
        raise ConfigError("models: none given")
    return list(dict.fromkeys(entries))


def entry_config(entry: str, dataset: str, seeds: list[int], output_dir: Path,
                 overrides: list[dict[str, Any]]) -> RunConfig:
    from ..models import MODELS

    layers: list[dict[str, Any]] = []
    if (PRESETS_DIR / f"{entry}.yaml").exists():
        layers.append(load_yaml_config(entry))
    elif entry in MODELS:
        layers.append({"model": entry})
    else:
        presets = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))
        raise ConfigError(f"bench entry {entry!r} is neither a model ({sorted(MODELS)}) nor a preset ({presets})")
    layers.append({"data": {"dataset": dataset}, "seeds": seeds, "output_dir": str(output_dir), "name": entry})
    layers += overrides
    config = build_config(*layers)
    # model_params are typed by the model; check them now, not after other entries have trained
    from_dict(MODELS[config.model].config_class, config.model_params, f"{entry}: model_params ({config.model})")
    return config


def protocol_differences(old: dict[str, Any], new: dict[str, Any], n_train: int | None = None) -> list[str] | None:
    """The options (``section.name``) in which a saved config and a requested one differ, ignoring seeds, output
    folder, name, progress bars, how often checkpoints are written and whether subnormal floats flush to zero;
    None if ``old`` cannot be read by this version.

    Both sides are filled with today's defaults first, so an option added since the old run (with a
    default that keeps the old behaviour) does not block resuming it. With ``n_train`` (training pairs), the
    batches per epoch compare as resolved (``auto`` is exact up to 256 batches, as null always is).
    """
    from ..models import MODELS
    from .trainer import resolved_batches_per_epoch

    ignore = {"seeds", "output_dir", "name"}

    def protocol(cfg: dict[str, Any], saved: bool = False) -> dict[str, Any]:
        config = saved_run_config(cfg) if saved else from_dict(RunConfig, cfg, "config")
        full = config.to_dict()
        model = MODELS.get(full["model"])
        if model is not None:
            full["model_params"] = asdict(from_dict(model.config_class, full["model_params"], "model_params"))
        out = {k: v for k, v in full.items() if k not in ignore}
        # flush_denormal touches only values below 1.2e-38 (speed; its effect on metrics is not measured) and
        # each seed's metrics.json records it
        out["train"] = {k: v for k, v in full["train"].items()
                        if k not in ("progress", "checkpoint_every", "flush_denormal")}
        if n_train is not None:
            out["train"]["batches_per_epoch"] = resolved_batches_per_epoch(config.train, n_train)
        return out

    try:
        before = protocol(old, saved=True)
    except (ConfigError, ValueError, TypeError):  # an old config this version cannot read is not the same
        return None
    after = protocol(new)
    differences = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences += [f"{key}.{k}: saved {a.get(k)!r}, requested {b.get(k)!r}" for k in sorted(set(a) | set(b))
                            if a.get(k) != b.get(k)]
        elif a != b:
            differences.append(f"{key}: saved {a!r}, requested {b!r}")
    return differences


def data_mismatches(rows: dict[str, list[dict[str, Any]]]) -> list[str]:
    """One warning per piece of data (interactions, a modality) whose recorded digest differs between seeds.

    Seeds from before metrics.json recorded ``data_fingerprint`` are not compared.
    """
    seen: dict[str, dict[str, set[str]]] = {}  # key -> digest -> labels
    for label, metrics in rows.items():
        for m in metrics:
            for key, digest in (m.get("data_fingerprint") or {}).items():
                seen.setdefault(key, {}).setdefault(digest, set()).add(label)
    return [f"warning: the seeds saw different {key} data: "
            + "; ".join(f"{digest} in {', '.join(sorted(labels))}" for digest, labels in sorted(digests.items()))
            for key, digests in sorted(seen.items()) if len(digests) > 1]


@dataclass
class BenchReport:
    dataset: str
    seeds: list[int]
    results: dict[str, RunResult] = field(default_factory=dict)
    command: str | None = None
    commit: str | None = None
    machine: str | None = None
    date: str | None = None
    run_commits: dict[str, list[str]] = field(default_factory=dict)  # per entry; resumed seeds keep theirs
    run_machines: dict[str, list[str]] = field(default_factory=dict)  # per entry, where its seeds trained
    data_warnings: list[str] = field(default_factory=list)  # data_mismatches over every entry's seeds

    def to_markdown(self) -> str:
        head = [f"# Benchmark on {self.dataset}", ""]
        for label, value in (("command", f"`{self.command}`" if self.command else None), ("git commit", self.commit),
                             ("machine", self.machine), ("date", self.date), ("seeds", self.seeds)):
            if value is not None:
                head.append(f"- {label}: {value}")
        if any(commits != [self.commit] for commits in self.run_commits.values()):
            head.append("- commits the seeds ran at: " + "; ".join(
                f"{label} {', '.join(c[:12] for c in commits)}" for label, commits in self.run_commits.items()))
        if len({m for machines in self.run_machines.values() for m in machines}) > 1:
            head.append("- machines the seeds ran on: " + "; ".join(
                f"{label} {', '.join(machines)}" for label, machines in self.run_machines.items()))
        head += [f"- {line}" for line in self.data_warnings]
        head += ["- test metrics at each seed's best-validation epoch (valid Recall@20), mean ± std (ddof 1)", ""]
        short = [m.replace("recall", "R").replace("ndcg", "N") for m in TABLE_METRICS]
        lines = ["| model | valid R@20 | " + " | ".join(short) + " | s/epoch | eval s | peak MiB | best epochs |",
                 "|---" * (len(TABLE_METRICS) + 6) + "|"]
        for label, result in self.results.items():
            cells = [result.cell("recall@20", "valid")] + [result.cell(m) for m in TABLE_METRICS]
            cells.append(f"{np.mean([s.epoch_seconds for s in result.seeds]):.2f}")
            cells.append(f"{np.mean([s.eval_seconds for s in result.seeds]):.2f}")
            peaks = [s.peak_memory_mb for s in result.seeds if s.peak_memory_mb is not None]
            cells.append(f"{max(peaks):.0f}" if peaks else "n/a")
            cells.append(", ".join(str(s.best_epoch) for s in result.seeds))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        return "\n".join(head + lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        rows = {}
        for label, result in self.results.items():
            rows[label] = {
                "model": result.model, "run_dir": result.run_dir,
                "test": {m: result.mean_std(m) for m in TABLE_METRICS},
                "valid_recall@20": result.mean_std("recall@20", "valid"),
                "epoch_seconds": [s.epoch_seconds for s in result.seeds],
                "peak_memory_mb": [s.peak_memory_mb for s in result.seeds],
                "best_epochs": [s.best_epoch for s in result.seeds],
                "commits": self.run_commits.get(label, []),
                "machines": self.run_machines.get(label, []),
            }
        return {"dataset": self.dataset, "seeds": self.seeds, "command": self.command, "commit": self.commit,
                "machine": self.machine, "date": self.date, "data_warnings": self.data_warnings, "rows": rows}

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "bench.md").write_text(self.to_markdown())
        atomic_write_json(folder / "bench.json", self.to_json())


def saved_seed_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """Every finished seed's ``metrics.json`` under ``run_dir``."""
    return [read_seed_metrics(p) for p in sorted(run_dir.glob("seed*/metrics.json"))]


def check_run_folder(run_dir: Path, config: RunConfig, n_train: int | None = None) -> None:
    """Refuse a run folder that holds a run of another config (``n_train``: see :func:`protocol_differences`)."""
    saved = saved_config_path(run_dir)
    if not saved.exists():
        return
    differences = protocol_differences(yaml.safe_load(saved.read_text()) or {}, config.to_dict(), n_train)
    if differences is None or differences:
        what = "; ".join(differences[:3]) if differences else "a config this version cannot read"
        what += f" and {len(differences) - 3} more" if differences and len(differences) > 3 else ""
        raise ConfigError(f"{run_dir} holds a run with a different config ({what}); use another --output-dir "
                          "or remove it")


def train_in_folder(config: RunConfig, run_dir: Path, data: InteractionData) -> RunResult:
    """Train ``config`` in ``run_dir``, resuming what is there; refuse a folder that holds another config."""
    check_run_folder(run_dir, config, len(data.train))
    if saved_config_path(run_dir).exists():
        if has_progress(run_dir):
            return train(config, data=data, resume_dir=run_dir)
        return train(config, data=data, restart_dir=run_dir)  # nothing done there yet: start it
    return train(config, data=data)


def run_bench(entries: list[str], dataset: str, seeds: list[int], *, output_dir: str | Path,
              overrides: list[dict[str, Any]] | None = None, data: InteractionData | None = None,
              command: str | None = None) -> BenchReport:
    """Train every entry on ``dataset`` for every seed; test at best validation; one table."""
    output_dir = Path(output_dir)
    overrides = overrides or []
    configs = {e: entry_config(e, dataset, seeds, output_dir, overrides) for e in entries}  # fail before training
    commit = _git_commit()
    report = BenchReport(dataset, seeds, command=command, commit=commit,
                         date=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    if data is None:
        data = load_dataset(dataset)  # every modality; each entry selects its own
    seed_metrics: dict[str, list[dict[str, Any]]] = {}
    for entry, config in configs.items():
        run_dir = output_dir / entry
        log.info("bench: %s (%s) on %s, seeds %s", entry, config.model, dataset, seeds)
        report.results[entry] = train_in_folder(config, run_dir, data)
        seed_metrics[entry] = [m for m in saved_seed_metrics(run_dir) if m.get("seed") in seeds]
        report.machine = report.machine or next((m.get("machine") for m in seed_metrics[entry]), None)
        report.run_commits[entry] = sorted({m.get("git_commit") or "unknown" for m in seed_metrics[entry]})
        report.run_machines[entry] = sorted({m["machine"] for m in seed_metrics[entry] if m.get("machine")})
        report.data_warnings = data_mismatches(seed_metrics)
        report.write(output_dir)
    return report

