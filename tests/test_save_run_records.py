"""benchmarks/save_run_records.py: a run's small record, copied back, stands for its finished seeds."""

import importlib
import json
import shutil
from pathlib import Path

from gtcrec.train.bench import run_bench

ROOT = Path(__file__).resolve().parents[1]
FAST = [{"train": {"epochs": 3, "batch_size": 512, "progress": False, "checkpoint_every": 0}}]


def test_a_saved_record_copied_back_gives_the_same_table_without_training(small_synthetic, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    save_run_records = importlib.import_module("save_run_records")
    first = run_bench(["lightgcn"], "synthetic", [1, 2], output_dir=tmp_path / "runs" / "b", overrides=FAST,
                      data=small_synthetic)
    assert save_run_records.main([str(tmp_path / "runs" / "b"), "--out", str(tmp_path / "records")]) == 0
    saved = tmp_path / "records" / "b" / "lightgcn"
    assert sorted(p.name for p in saved.iterdir()) == ["config.yaml", "seed1", "seed2"]
    assert not list(saved.rglob("*.safetensors"))  # no weights, no checkpoints
    record = json.loads((saved / "seed1" / "metrics.json").read_text())
    assert set(record["history"][0]["valid"]) == {"recall@20", "ndcg@20"}
    shutil.rmtree(tmp_path / "runs")
    shutil.copytree(tmp_path / "records" / "b", tmp_path / "runs" / "b")

    def no_training(*args, **kwargs):
        raise AssertionError("a finished seed was trained again")

    monkeypatch.setattr("gtcrec.train.run.train_seed", no_training)
    again = run_bench(["lightgcn"], "synthetic", [1, 2], output_dir=tmp_path / "runs" / "b", overrides=FAST,
                      data=small_synthetic)
    assert [s.test for s in again.results["lightgcn"].seeds] == [s.test for s in first.results["lightgcn"].seeds]


def test_a_missing_folder_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    save_run_records = importlib.import_module("save_run_records")
    assert save_run_records.main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err.strip().endswith("nope: no such folder")
    assert not (tmp_path / "out").exists()
