import json

import numpy as np
import pandas as pd
import pytest

from gtcrec.cli import main
from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec


@pytest.fixture
def dataset_dir(tmp_path):
    return write_mmrec(make_synthetic(SyntheticConfig(n_users=120, n_items=80, seed=1)), tmp_path / "syn")


def test_train_then_evaluate_round_trip(dataset_dir, tmp_path, capsys):
    rc = main(["train", "--model", "lightgcn", "--dataset", str(dataset_dir), "--epochs", "2", "--seeds", "1", "2",
               "--no-progress", "--output-dir", str(tmp_path / "runs"), "--name", "cli",
               "--set", "model_params.n_layers=1", "--set", "train.batch_size=256"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| recall |" in out and "mean ± std over 2 seed(s) [1, 2]" in out
    run = tmp_path / "runs" / "cli"
    assert (run / "seed2" / "best.safetensors").exists()
    saved = json.loads((run / "seed1" / "metrics.json").read_text())
    assert main(["evaluate", str(run / "seed1"), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated == pytest.approx(saved["test"])


def test_print_config_resolves_preset_and_overrides(capsys):
    assert main(["train", "--model", "lightgcn", "--seeds", "4", "5", "--set", "train.lr=0.01",
                 "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "lr: 0.01" in out and "n_layers: 3" in out and "- 4" in out


def test_data_stats_prints_counts(dataset_dir, capsys):
    assert main(["data", "stats", str(dataset_dir), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["users"] == 120 and stats["items"] == 80
    assert sum(stats["splits"].values()) == stats["interactions"]


def test_data_import_command(tmp_path, capsys):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"u": rng.integers(0, 30, 800), "i": rng.integers(0, 25, 800)})
    frame.to_csv(tmp_path / "log.csv", index=False)
    assert main(["data", "import", str(tmp_path / "log.csv"), "--out", str(tmp_path / "mine"),
                 "--user-col", "u", "--item-col", "i"]) == 0
    report = json.loads(capsys.readouterr().out)["interactions"]
    assert report["n_interactions"] == report["n_train"] + report["n_valid"] + report["n_test"]
    assert main(["data", "stats", str(tmp_path / "mine")]) == 0


def test_errors_exit_2_with_a_message(tmp_path, capsys):
    assert main(["train", "--dataset", str(tmp_path / "nowhere"), "--epochs", "1"]) == 2
    assert "unknown dataset" in capsys.readouterr().err
    assert main(["train", "--model", "nope", "--dataset", "synthetic", "--epochs", "1"]) == 2
    assert "model 'nope': no such model" in capsys.readouterr().err
