"""benchmarks/aggregate_runs.py: the table over seed folders and its warning when seeds saw different data."""

import importlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _aggregate(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    return importlib.import_module("aggregate_runs")


def _seed(folder: Path, seed: int, recall: float, fingerprint: dict | None) -> None:
    metrics = {k: recall for k in ("recall@10", "ndcg@10", "recall@20", "ndcg@20", "recall@50", "ndcg@50")}
    record = {"seed": seed, "best_epoch": 3, "epochs_run": 5, "valid": metrics, "test": metrics,
              "epoch_seconds": 1.0}
    if fingerprint is not None:
        record["data_fingerprint"] = fingerprint
    (folder / f"seed{seed}").mkdir(parents=True)
    (folder / f"seed{seed}" / "metrics.json").write_text(json.dumps(record))


def test_rows_that_saw_different_features_are_named(tmp_path, monkeypatch, capsys):
    aggregate = _aggregate(monkeypatch)
    same = {"interactions": "aaaa", "image": "1111", "text": "2222"}
    _seed(tmp_path / "a", 1, 0.30, same)
    _seed(tmp_path / "a", 2, 0.32, None)  # recorded before fingerprints: not compared
    _seed(tmp_path / "b", 1, 0.31, {"interactions": "aaaa", "image": "1111"})  # a modality subset: fine
    _seed(tmp_path / "c", 1, 0.33, {**same, "text": "9999"})  # text features rebuilt elsewhere
    monkeypatch.setattr(sys, "argv", ["aggregate_runs.py", f"A={tmp_path / 'a'}", f"B={tmp_path / 'b'}",
                                      f"C={tmp_path / 'c'}", "--reference", "A"])
    aggregate.main()
    out, err = capsys.readouterr()
    assert "| A | 1,2 | 0.3100 ± 0.0141 |" in out
    assert err.strip() == "warning: the seeds saw different text data: 2222 in A; 9999 in C"


def test_no_warning_when_every_seed_saw_the_same_data(tmp_path, monkeypatch, capsys):
    aggregate = _aggregate(monkeypatch)
    same = {"interactions": "aaaa", "text": "2222"}
    _seed(tmp_path / "a", 1, 0.30, same)
    _seed(tmp_path / "b", 1, 0.31, same)
    monkeypatch.setattr(sys, "argv", ["aggregate_runs.py", f"A={tmp_path / 'a'}", f"B={tmp_path / 'b'}"])
    aggregate.main()
    assert capsys.readouterr().err == ""
