import csv
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gtcrec.cli import main
from gtcrec.config import ConfigError, RunConfig, from_dict
from gtcrec.report import grid_final_run, write_report
from gtcrec.train.bench import parse_entries, parse_seeds, run_bench
from gtcrec.train.grid import parse_axis, run_grid
from gtcrec.train.memory import peak_memory_mb, reset_peak_memory

FAST = [{"train": {"epochs": 3, "batch_size": 512, "progress": False, "checkpoint_every": 0}}]


def test_parse_seeds_ranges_lists_and_errors():
    assert parse_seeds(["1..5"]) == [1, 2, 3, 4, 5]
    assert parse_seeds(["1,3", "2", "3"]) == [1, 3, 2]
    for bad in (["5..1"], ["a"], [","]):
        with pytest.raises(ConfigError):
            parse_seeds(bad)
    assert parse_entries(["gtc,lightgcn", "bprmf", "gtc"]) == ["gtc", "lightgcn", "bprmf"]


def test_bench_table_one_row_per_model_and_resume_reads_back(small_synthetic, tmp_path):
    report = run_bench(["lightgcn", "bprmf"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST,
                       data=small_synthetic)
    assert list(report.results) == ["lightgcn", "bprmf"]
    assert all(len(r.seeds) == 2 for r in report.results.values())
    table = (tmp_path / "bench.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith(("| lightgcn", "| bprmf"))]
    assert len(rows) == 2 and all(row.count("±") == 7 for row in rows)  # valid R@20 + 6 test metrics
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert len(report.run_commits["lightgcn"]) == 1  # both seeds ran at this checkout's commit
    assert saved["rows"]["lightgcn"]["best_epochs"] == [s.best_epoch for s in report.results["lightgcn"].seeds]
    metrics = tmp_path / "lightgcn" / "seed1" / "metrics.json"
    before = metrics.stat().st_mtime_ns
    again = run_bench(["lightgcn"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    assert metrics.stat().st_mtime_ns == before  # read back, not retrained
    assert again.results["lightgcn"].seeds[0].test == report.results["lightgcn"].seeds[0].test


def test_an_interrupted_bench_entry_resumes_without_retraining_finished_seeds(small_synthetic, tmp_path,
                                                                              monkeypatch):
    run_module = importlib.import_module("gtcrec.train.run")
    real = run_module.train_seed

    def crash_on_seed_2(config, data, seed, run_dir, **kw):
        if seed == 2:
            raise KeyboardInterrupt
        return real(config, data, seed, run_dir, **kw)

    monkeypatch.setattr(run_module, "train_seed", crash_on_seed_2)
    with pytest.raises(KeyboardInterrupt):
        run_bench(["bprmf"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    monkeypatch.setattr(run_module, "train_seed", real)
    seed1 = tmp_path / "bprmf" / "seed1"
    stamps = {p.name: p.stat().st_mtime_ns for p in seed1.iterdir()}
    # Also the layout an older version left behind: no run-level config.yaml, only the seeds' own.
    (tmp_path / "bprmf" / "config.yaml").unlink()
    report = run_bench(["bprmf"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    assert len(report.results["bprmf"].seeds) == 2
    assert {p.name: p.stat().st_mtime_ns for p in seed1.iterdir()} == stamps  # seed 1 untouched
    (tmp_path / "bprmf" / "config.yaml").unlink()
    assert main(["train", "--resume", str(tmp_path / "bprmf"), "--print-config"]) == 0  # found via the seed
    config = from_dict(RunConfig, yaml.safe_load((seed1 / "config.yaml").read_text()))
    with pytest.raises(ConfigError, match="finished seed"):  # a fresh start never overwrites a finished seed
        run_module.train_seed(config, small_synthetic, 1, seed1)


def test_bench_refuses_to_mix_protocols_and_unknown_entries(small_synthetic, tmp_path):
    run_bench(["bprmf"], "synthetic", [1], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    changed = FAST + [{"train": {"lr": 0.1}}]
    with pytest.raises(ConfigError, match=r"different config \(train.lr: saved .*, requested 0.1\)"):
        run_bench(["bprmf"], "synthetic", [1], output_dir=tmp_path, overrides=changed, data=small_synthetic)
    with pytest.raises(ConfigError, match="neither a model"):
        run_bench(["no-such-model"], "synthetic", [1], output_dir=tmp_path / "x", data=small_synthetic)


def test_bench_preset_entries_use_their_preset(tmp_path, capsys):
    assert main(["bench", "--models", "gtc-concat,lightgcn", "--dataset", "synthetic", "--seeds", "1..2",
                 "--output-dir", str(tmp_path), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "fusion: concat" in out and "model: lightgcn" in out and "- 2" in out


def test_bench_cli_writes_the_exact_command(tmp_path, capsys):
    argv = ["bench", "--models", "bprmf", "--dataset", "synthetic", "--seeds", "1", "--epochs", "2",
            "--no-progress", "--output-dir", str(tmp_path)]
    assert main(argv) == 0
    assert "gtcrec " + " ".join(argv) in (tmp_path / "bench.md").read_text()


def test_peak_memory_sees_a_large_allocation():
    device = torch.device("cpu")
    reset_peak_memory(device)
    base = peak_memory_mb(device)
    if base is None:
        pytest.skip("no /proc/self/status on this platform")
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    assert peak_memory_mb(device) >= base + 60
    del block


def test_grid_chooses_on_validation_only_and_resumes(small_synthetic, tmp_path):
    axes = [parse_axis("model_params.n_layers=1,2"), parse_axis("model_params.reg_weight=1e-3,1e-4")]
    report = run_grid("lightgcn", "synthetic", axes, seeds=[1], final_seeds=[1, 2], output_dir=tmp_path,
                      overrides=FAST, data=small_synthetic)
    assert [p.label for p in report.points] == ["n_layers=1__reg_weight=1e-3", "n_layers=1__reg_weight=1e-4",
                                                "n_layers=2__reg_weight=1e-3", "n_layers=2__reg_weight=1e-4"]
    valid = [p.result.seeds[0].valid["recall@20"] for p in report.points]
    assert report.chosen is report.points[int(np.argmax(valid))]
    assert [s.seed for s in report.final.seeds] == [1, 2]  # seed 1 read back from the grid point
    table = (tmp_path / "grid.md").read_text()
    assert table.count("**chosen**") == 1 and "test at each seed" in table
    best = yaml.safe_load((tmp_path / "best.yaml").read_text())
    assert best["model_params"]["n_layers"] == int(report.chosen.settings["n_layers"])
    assert best["seeds"] == [1, 2]
    metrics = sorted(tmp_path.glob("points/*/seed1/metrics.json"))
    assert len(metrics) == 4
    before = [m.stat().st_mtime_ns for m in metrics]
    again = run_grid("lightgcn", "synthetic", axes, seeds=[1], output_dir=tmp_path, overrides=FAST,
                     data=small_synthetic)
    assert [m.stat().st_mtime_ns for m in metrics] == before  # read back, not retrained
    assert again.chosen.label == report.chosen.label


def test_a_grid_whose_points_ran_on_different_machines_names_each_points_machine(small_synthetic, tmp_path):
    axes = [parse_axis("model_params.n_layers=1,2")]
    run_grid("lightgcn", "synthetic", axes, seeds=[1], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    table = (tmp_path / "grid.md").read_text()
    assert "| machine |" not in table and "per point" not in table  # one machine: named once, above the table
    moved = tmp_path / "points" / "n_layers=2" / "seed1" / "metrics.json"  # as if that point ran on a GPU
    moved.write_text(json.dumps({**json.loads(moved.read_text()), "machine": "NVIDIA H200"}))
    report = run_grid("lightgcn", "synthetic", axes, seeds=[1], output_dir=tmp_path, overrides=FAST,
                      data=small_synthetic)
    table = (tmp_path / "grid.md").read_text()
    assert "- machine: per point" in table and "| machine |" in table
    rows = [line for line in table.splitlines() if line.startswith(("| 1 |", "| 2 |"))]
    assert "NVIDIA H200" in rows[1] and "NVIDIA H200" not in rows[0]
    assert [p["machines"] for p in json.loads((tmp_path / "grid.json").read_text())["points"]] == \
        [report.points[0].machines, ["NVIDIA H200"]]


def test_a_bench_whose_seeds_saw_other_data_or_machines_says_so(small_synthetic, tmp_path):
    run_bench(["lightgcn", "bprmf"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    table = (tmp_path / "bench.md").read_text()
    assert "warning" not in table and "machines the seeds ran on" not in table
    moved = tmp_path / "bprmf" / "seed2" / "metrics.json"  # as if trained elsewhere, on features encoded there
    saved = json.loads(moved.read_text())
    feature = next(iter(small_synthetic.features))
    moved.write_text(json.dumps({**saved, "machine": "NVIDIA H200",
                                 "data_fingerprint": {**saved["data_fingerprint"], feature: "0" * 16}}))
    run_bench(["lightgcn", "bprmf"], "synthetic", [1, 2], output_dir=tmp_path, overrides=FAST, data=small_synthetic)
    table = (tmp_path / "bench.md").read_text()
    assert f"- warning: the seeds saw different {feature} data: " in table and "0000000000000000 in bprmf" in table
    assert "- machines the seeds ran on: " in table and "NVIDIA H200" in table
    machines = json.loads((tmp_path / "bench.json").read_text())["rows"]["bprmf"]["machines"]
    assert len(machines) == 2 and "NVIDIA H200" in machines


def test_grid_rejects_bad_axes_before_training(tmp_path):
    for bad in ("model_params.n_layers", "model_params.n_layers=", "model_params.n_layers=1,1"):
        with pytest.raises(ConfigError):
            parse_axis(bad)
    with pytest.raises(ConfigError, match="n_layerz"):
        run_grid("lightgcn", "synthetic", [parse_axis("model_params.n_layerz=1,2")], seeds=[1], output_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_grid_cli_print_config_lists_every_point(capsys, tmp_path):
    assert main(["grid", "--model", "lightgcn", "--dataset", "synthetic", "--grid", "model_params.n_layers=1,2,3",
                 "--grid", "train.lr=1e-3,1e-2", "--output-dir", str(tmp_path), "--print-config"]) == 0
    out = capsys.readouterr().out
    assert out.count("# n_layers=") == 6 and "lr: 0.01" in out


def test_resume_is_not_blocked_by_an_option_added_later_with_its_old_default(tmp_path):
    from gtcrec.train.bench import entry_config, protocol_differences

    new = entry_config("vbpr", "synthetic", [1], tmp_path, []).to_dict()
    old = {**new, "model_params": {k: v for k, v in new["model_params"].items() if k != "penalise_content"}}
    assert protocol_differences(old, new) == []  # the option did not exist then; its default is the old behaviour
    changed = {**new, "model_params": {**new["model_params"], "penalise_content": True}}
    assert protocol_differences(old, changed) == ["model_params.penalise_content: saved False, requested True"]
    assert protocol_differences({**old, "model_params": {"no_such_option": 1}}, new) is None


def test_batches_per_epoch_auto_matches_a_saved_exact_run_only_where_it_resolves_to_exact(tmp_path):
    from gtcrec.train.bench import entry_config, protocol_differences

    new = entry_config("lightgcn", "synthetic", [1], tmp_path, []).to_dict()
    assert new["train"]["batches_per_epoch"] == "auto"
    old = {**new, "train": {**new["train"], "batches_per_epoch": None}}  # saved before auto was the default
    assert protocol_differences(old, new) == ["train.batches_per_epoch: saved None, requested 'auto'"]
    batch = new["train"]["batch_size"]
    assert protocol_differences(old, new, n_train=256 * batch) == []  # 256 batches: auto is exact
    assert protocol_differences(old, new, n_train=256 * batch + 1) == [
        "train.batches_per_epoch: saved None, requested 256"]
    # a config saved before the option existed ran exact: it is read as null, not as today's auto
    predates = {**new, "train": {k: v for k, v in new["train"].items() if k != "batches_per_epoch"}}
    assert protocol_differences(predates, new, n_train=256 * batch + 1) == [
        "train.batches_per_epoch: saved None, requested 256"]


def test_grid_final_patience_trains_the_final_seeds_in_their_own_folder(small_synthetic, tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.chdir(tmp_path)  # a relative output folder, as the scripts give: reports must still find the finals
    axes = [parse_axis("model_params.n_layers=1,2")]
    short = FAST + [{"train": {"epochs": 6, "patience": 1}}]
    report = run_grid("lightgcn", "synthetic", axes, seeds=[1], final_seeds=[1, 2], final_patience=4,
                      output_dir="g", overrides=short, data=small_synthetic)
    label = report.chosen.label
    final_dir = Path("g") / "final-patience-4" / label
    assert sorted(p.name for p in final_dir.glob("seed*")) == ["seed1", "seed2"]  # seed 1 retrained, not read back
    assert yaml.safe_load((final_dir / "config.yaml").read_text())["train"]["patience"] == 4
    assert yaml.safe_load((Path("g") / "points" / label / "config.yaml").read_text())["train"]["patience"] == 1
    assert not (Path("g") / "points" / label / "seed2").exists()
    assert json.loads(Path("g/grid.json").read_text())["final"]["patience"] == 4
    assert "(patience 4)" in Path("g/grid.md").read_text()
    assert yaml.safe_load(Path("g/best.yaml").read_text())["train"]["patience"] == 4
    monkeypatch.chdir(tmp_path / "g")  # read from another working directory
    final = grid_final_run(Path("..") / "g")
    assert final.path.resolve() == (tmp_path / final_dir).resolve() and final.seeds == (1, 2)
    write_report([str(Path("..") / "g")], tmp_path / "report")
    rows = list(csv.DictReader((tmp_path / "report" / "test.csv").read_text().splitlines()))
    recall = [s.test["recall@20"] for s in report.final.seeds]
    assert float(next(r["mean"] for r in rows if r["metric"] == "recall@20")) == pytest.approx(np.mean(recall))
    with pytest.raises(ConfigError, match="--final-seeds"):
        run_grid("lightgcn", "synthetic", axes, seeds=[1], final_patience=4, output_dir=tmp_path / "x",
                 overrides=short, data=small_synthetic)
    assert main(["grid", "--model", "lightgcn", "--dataset", "synthetic", "--grid", "model_params.n_layers=1,2",
                 "--final-seeds", "2", "--final-patience", "0", "--output-dir", str(tmp_path / "y")]) == 2
    assert "--final-patience 0: expected an integer >= 1" in capsys.readouterr().err
