"""benchmarks/extend_patience.py: continuing a run stopped by patience P with patience Q gives patience Q's run."""

import importlib
import json
from pathlib import Path

from gtcrec.config import build_config
from gtcrec.train import train

ROOT = Path(__file__).resolve().parents[1]


def _config(patience: int, out: Path, name: str):
    return build_config({"model": "lightgcn", "seeds": [0, 1], "output_dir": str(out), "name": name,
                         "train": {"epochs": 40, "batch_size": 256, "lr": 0.05, "patience": patience,
                                   "progress": False}})


def test_a_longer_patience_from_the_checkpoint_equals_that_patience_from_the_start(small_synthetic, tmp_path,
                                                                                  monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    extend = importlib.import_module("extend_patience")
    data_dir = tmp_path / "syn"
    from gtcrec.data import write_mmrec

    write_mmrec(small_synthetic, data_dir)
    for name, patience in (("short", 1), ("long", 4)):
        config = _config(patience, tmp_path / "runs", name)
        config.data.dataset = str(data_dir)
        train(config)
    stopped = [json.loads((tmp_path / "runs" / "short" / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
    assert all(m["stopped_early"] for m in stopped)  # else the test shows nothing
    assert extend.main([str(tmp_path / "runs" / "short"), "--patience", "4", "--out", str(tmp_path / "ext")]) == 0
    for seed in (0, 1):
        extended = json.loads((tmp_path / "ext" / "short" / f"seed{seed}" / "metrics.json").read_text())
        fresh = json.loads((tmp_path / "runs" / "long" / f"seed{seed}" / "metrics.json").read_text())
        assert (extended["best_epoch"], extended["epochs_run"]) == (fresh["best_epoch"], fresh["epochs_run"])
        assert extended["test"] == fresh["test"] and extended["valid"] == fresh["valid"]
    assert json.loads((tmp_path / "runs" / "short" / "seed0" / "metrics.json").read_text()) == stopped[0]  # untouched
    # a shorter patience is refused in one line, and a re-run trains nothing more
    assert extend.main([str(tmp_path / "ext" / "short"), "--patience", "2", "--out", str(tmp_path / "ext2")]) == 2
    assert not (tmp_path / "ext2").exists()
    before = (tmp_path / "ext" / "short" / "seed0" / "metrics.json").read_text()
    assert extend.main([str(tmp_path / "runs" / "short"), "--patience", "4", "--out", str(tmp_path / "ext")]) == 0
    assert (tmp_path / "ext" / "short" / "seed0" / "metrics.json").read_text() == before  # not reopened
