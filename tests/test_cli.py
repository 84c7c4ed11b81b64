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


def test_the_readme_python_examples_run_as_written(monkeypatch):
    """The README's second Python block runs as written; the first with its dataset swapped for synthetic data."""
    import re
    from pathlib import Path

    blocks = re.findall(r"```python\n(.*?)```", (Path(__file__).parents[1] / "README.md").read_text(), re.DOTALL)
    lower = next(b for b in blocks if "Trainer(" in b)
    exec(compile(lower, "README.md", "exec"), {})  # noqa: S102 -- running our own README is the point
    first = next(b for b in blocks if "gtcrec.train(config)" in b)
    first = first.replace('"ml-100k"', '"synthetic"').replace('[1, 2, 3]', '[1]').replace(
        'parse_override("train.patience=10")', 'parse_override("train.patience=10"), parse_override("train.epochs=2"), '
        'parse_override("train.progress=false"), {"output_dir": OUT}')
    exec(compile(first, "README.md", "exec"), {"OUT": str(Path(__import__("tempfile").mkdtemp()))})  # noqa: S102


def test_every_option_of_every_command_has_help():
    import argparse

    from gtcrec.cli import build_parser

    def walk(parser, prefix):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from walk(sub, f"{prefix} {name}")
            else:
                yield prefix, action

    missing = [f"{prefix} {action.option_strings or action.dest}" for prefix, action in walk(build_parser(), "gtcrec")
               if not action.help]
    assert not missing
