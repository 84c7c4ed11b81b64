"""benchmarks/parallel_runs.py: a grid and a bench run as one-seed jobs give what `gtcrec grid`/`bench` give."""

import importlib
import json
import sys
from pathlib import Path

import pytest

from gtcrec.cli import main as gtcrec_main

ROOT = Path(__file__).resolve().parents[1]

GRID = ("grid --model lightgcn --dataset synthetic --seeds 1 --final-seeds 2..3 --final-patience 2 --epochs 3 "
        "--patience 1 --no-progress --set train.num_threads=1 --grid train.lr=1e-3,5e-3")
BENCH = "bench --models bprmf --dataset synthetic --seeds 1..2 --epochs 2 --no-progress --set train.num_threads=1"


def _seed_results(folder: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(folder.rglob("seed*/metrics.json")):
        m = json.loads(path.read_text())
        out[str(path.parent.relative_to(folder))] = (m["best_epoch"], m["valid"], m["test"], m["run_dir"])
    return out


@pytest.mark.slow
def test_parallel_jobs_give_the_commands_own_results(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # spawned workers import the script by name too
    monkeypatch.delitem(sys.modules, "parallel_runs", raising=False)
    parallel_runs = importlib.import_module("parallel_runs")
    status = parallel_runs.main(["--jobs", "2", "--staging", "staging",
                                 GRID + " --output-dir par/grid", BENCH + " --output-dir par/bench"])
    assert status == 0
    assert not Path("staging").exists()
    assert gtcrec_main((GRID + " --output-dir seq/grid").split()) == 0
    assert gtcrec_main((BENCH + " --output-dir seq/bench").split()) == 0
    par, seq = _seed_results(Path("par")), _seed_results(Path("seq"))
    # the same seed folders, the same numbers; each run_dir names its final place, not the staging folder
    assert sorted(par) == sorted(seq) and len(par) == 2 + 2 + 2
    assert all("valid recall@20" in (Path("par") / key / "train.log").read_text() for key in par)  # epochs logged
    for key in par:
        assert par[key][:3] == seq[key][:3], key
        assert par[key][3] == str(Path("par") / key)
    assert json.loads(Path("par/grid/grid.json").read_text())["chosen"] == \
        json.loads(Path("seq/grid/grid.json").read_text())["chosen"]
    seed_config = next(Path("par/grid/final-patience-2").glob("*/seed2/config.yaml")).read_text()
    assert "staging" not in seed_config and "- 3" in seed_config  # the command's seeds and folder
    # a second run finds everything done and trains nothing
    assert parallel_runs.main(["--jobs", "2", "--staging", "staging", GRID + " --output-dir par/grid"]) == 0
