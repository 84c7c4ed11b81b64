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


@pytest.fixture
def parallel_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # spawned workers import the script by name too
    monkeypatch.delitem(sys.modules, "parallel_runs", raising=False)
    return importlib.import_module("parallel_runs")


def _seed_results(folder: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(folder.rglob("seed*/metrics.json")):
        m = json.loads(path.read_text())
        out[str(path.parent.relative_to(folder))] = (m["best_epoch"], m["valid"], m["test"], m["run_dir"])
    return out


@pytest.mark.slow
def test_parallel_jobs_give_the_commands_own_results(parallel_runs):
    status = parallel_runs.main(["--jobs", "2", "--staging", "staging", "--choices-dir", "choices",
                                 GRID + " --output-dir par/grid", BENCH + " --output-dir par/bench"])
    assert status == 0
    assert list(Path("staging").iterdir()) == []  # this run's staging folder is gone
    assert gtcrec_main((GRID + " --output-dir seq/grid").split()) == 0
    assert gtcrec_main((BENCH + " --output-dir seq/bench").split()) == 0
    par, seq = _seed_results(Path("par")), _seed_results(Path("seq"))
    # the same seed folders, the same numbers; each run_dir names its final place, not the staging folder
    assert sorted(par) == sorted(seq) and len(par) == 2 + 2 + 2
    for key in par:
        assert par[key][:3] == seq[key][:3], key
        assert par[key][3] == str(Path("par") / key)
    assert all("valid recall@20" in (Path("par") / key / "train.log").read_text() for key in par)  # epochs logged
    par_grid, seq_grid = (json.loads(Path(d, "grid.json").read_text()) for d in ("par/grid", "seq/grid"))
    assert par_grid["chosen"] == seq_grid["chosen"] and par_grid["final"]["test"] == seq_grid["final"]["test"]
    assert par_grid["command"] == seq_grid["command"].replace("seq/", "par/")  # recorded as gtcrec records it
    choice = json.loads(Path("choices/par_grid.json").read_text())
    assert choice["chosen"] == par_grid["chosen"]
    assert f"train.lr={par_grid['chosen']['lr']}" in choice["sets"] and "train.num_threads=1" in choice["sets"]
    seed_config = next(Path("par/grid/final-patience-2").glob("*/seed2/config.yaml")).read_text()
    assert "staging" not in seed_config and "- 3" in seed_config  # the command's seeds and folder
    # a second run finds everything done and trains nothing
    metrics = sorted(Path("par").rglob("metrics.json"))
    before = [m.stat().st_mtime_ns for m in metrics]
    assert parallel_runs.main(["--jobs", "2", "--staging", "staging", GRID + " --output-dir par/grid"]) == 0
    assert [m.stat().st_mtime_ns for m in metrics] == before


def test_a_folder_of_another_config_is_refused_before_anything_trains(parallel_runs, capsys):
    assert parallel_runs.main(["--jobs", "1", BENCH + " --output-dir out"]) == 0
    assert parallel_runs.main(["--jobs", "1", BENCH.replace("--epochs 2", "--epochs 3") + " --output-dir out",
                               GRID + " --output-dir other"]) == 2
    assert "different config" in capsys.readouterr().err
    assert not Path("other").exists()  # the other command did not start either


def test_a_failed_job_fails_its_command_only(parallel_runs):
    broken = BENCH + " --set train.device=cuda:7 --output-dir broken"  # no such device: each seed fails
    assert parallel_runs.main(["--jobs", "2", broken, BENCH + " --output-dir fine"]) == 1
    assert Path("fine/bench.md").exists() and len(list(Path("fine").rglob("metrics.json"))) == 2
    assert not Path("broken/bench.md").exists() and not list(Path(".").rglob("broken/**/metrics.json"))


def test_every_command_needs_its_output_folder(parallel_runs):
    with pytest.raises(SystemExit):
        parallel_runs.main([BENCH])
