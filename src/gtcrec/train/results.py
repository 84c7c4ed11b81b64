"""Per-seed results and their mean ± std summary (Markdown and CSV)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..evaluation.metrics import METRICS


@dataclass
class SeedResult:
    seed: int
    best_epoch: int
    epochs_run: int
    valid: dict[str, float]
    test: dict[str, float]
    epoch_seconds: float
    eval_seconds: float
    n_parameters: int
    run_dir: str | None = None
    peak_memory_mb: float | None = None  # see train/memory.py: GPU allocator peak, or CPU peak RSS


@dataclass
class RunResult:
    model: str
    dataset: str
    seeds: list[SeedResult] = field(default_factory=list)
    run_dir: str | None = None

    def _values(self, split: str, metric: str) -> np.ndarray:
        return np.array([getattr(s, split)[metric] for s in self.seeds], dtype=np.float64)

    def mean_std(self, metric: str, split: str = "test") -> tuple[float, float]:
        """Mean and sample standard deviation (ddof=1; 0 for a single seed)."""
        values = self._values(split, metric)
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else 0.0

    def cell(self, metric: str, split: str = "test") -> str:
        """``mean ± std`` for a table (the bare mean for a single seed)."""
        mean, std = self.mean_std(metric, split)
        return f"{mean:.4f} ± {std:.4f}" if len(self.seeds) > 1 else f"{mean:.4f}"

    def ks(self) -> list[int]:
        names = self.seeds[0].test.keys() if self.seeds else []
        return sorted({int(n.split("@")[1]) for n in names})

    def to_markdown(self, split: str = "test") -> str:
        ks = self.ks()
        head = (f"{self.model} on {self.dataset}, {split}, mean ± std over {len(self.seeds)} seed(s) "
                f"{[s.seed for s in self.seeds]}\n\n")
        lines = ["| metric | " + " | ".join(f"@{k}" for k in ks) + " |", "|---" * (len(ks) + 1) + "|"]
        for metric in METRICS:
            cells = [self.cell(f"{metric}@{k}", split) for k in ks]
            lines.append(f"| {metric} | " + " | ".join(cells) + " |")
        epochs = [s.best_epoch for s in self.seeds]
        secs = np.mean([s.epoch_seconds for s in self.seeds])
        tail = f"\n\nbest-validation epochs {epochs}; mean train seconds/epoch {secs:.3f}"
        return head + "\n".join(lines) + tail

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf)
        seeds = [s.seed for s in self.seeds]
        writer.writerow(["model", "dataset", "split", "metric", "mean", "std", "n_seeds"] + [f"seed_{s}" for s in seeds])
        for split in ("valid", "test"):
            for k in self.ks():
                for metric in METRICS:
                    name = f"{metric}@{k}"
                    mean, std = self.mean_std(name, split)
                    writer.writerow([self.model, self.dataset, split, name, f"{mean:.6f}", f"{std:.6f}", len(seeds)]
                                    + [f"{v:.6f}" for v in self._values(split, name)])
        return buf.getvalue()

    def write(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "summary.md").write_text(self.to_markdown() + "\n")
        (folder / "summary.csv").write_text(self.to_csv())
