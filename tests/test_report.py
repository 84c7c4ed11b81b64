"""gtcrec report: figures, CSVs and a page from saved runs; the CSV numbers are the runs' own."""

import csv
import json
from pathlib import Path

import pytest

from gtcrec.cli import main
from gtcrec.config import build_config
from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec
from gtcrec.train import train

pytest.importorskip("matplotlib", reason="gtcrec report needs matplotlib (pip install 'gtcrec[plot]')")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    folder = write_mmrec(make_synthetic(SyntheticConfig(n_users=60, n_items=40, seed=1)), root / "syn")
    out = {}
    for name in ("lightgcn", "bprmf"):
        config = build_config({"model": name, "data": {"dataset": str(folder)}, "seeds": [0, 1],
                               "output_dir": str(root / "runs"), "name": name,
                               "train": {"epochs": 3, "batch_size": 256, "progress": False}})
        out[name] = Path(train(config).run_dir)
    return root, out


def test_report_writes_figures_and_csvs_with_the_runs_numbers(runs, tmp_path, capsys):
    _, folders = runs
    assert main(["report", *map(str, folders.values()), "--out", str(tmp_path / "rep")]) == 0
    rep = tmp_path / "rep"
    for name in ("report.md", "curves.png", "curves.csv", "test.png", "test.csv"):
        assert (rep / name).stat().st_size > 0, name
    seeds = {name: [json.loads((folder / f"seed{s}" / "metrics.json").read_text()) for s in (0, 1)]
             for name, folder in folders.items()}
    with open(rep / "test.csv") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        values = [s["test"][row["metric"]] for s in seeds[row["run"]]]
        assert float(row["mean"]) == pytest.approx(sum(values) / 2)
    with open(rep / "curves.csv") as fh:
        curve = [r for r in csv.DictReader(fh) if r["run"] == "lightgcn" and r["seed"] == "1"
                 and r["series"] == "valid recall@20"]
    assert [float(r["value"]) for r in curve] == pytest.approx(
        [h["valid"]["recall@20"] for h in seeds["lightgcn"][1]["history"]])
    assert "| lightgcn | recall@20 |" in (rep / "report.md").read_text()


def test_report_of_a_grid_gives_the_validation_sensitivity(tmp_path):
    grid = tmp_path / "grid"
    grid.mkdir()
    points = [{"settings": {"a": a, "b": b}, "valid": [float(a) + 10 * float(b), 0.0]}
              for a in ("1", "2") for b in ("0", "1")]
    (grid / "grid.json").write_text(json.dumps({"metric": "recall@20", "chosen": {"a": "2", "b": "1"},
                                                "points": points}))
    assert main(["report", str(grid), "--out", str(tmp_path / "rep")]) == 0
    with open(tmp_path / "rep" / "grid-1-grid" / "sensitivity.csv") as fh:
        rows = [(r["axis"], r["value"], float(r["valid recall@20"])) for r in csv.DictReader(fh)]
    assert rows == [("a", "1", 11.0), ("a", "2", 12.0), ("b", "0", 2.0), ("b", "1", 12.0)]


def test_report_on_something_else_is_a_user_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty"), "--out", str(tmp_path / "rep")]) == 2
    assert "not a finished gtcrec run" in capsys.readouterr().err


def test_an_unfinished_grid_is_a_user_error(tmp_path, capsys):
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "grid.json").write_text(json.dumps({"metric": "recall@20", "chosen": None, "points": []}))
    assert main(["report", str(tmp_path / "grid"), "--out", str(tmp_path / "rep")]) == 2
    assert "has not chosen a point yet" in capsys.readouterr().err


def test_a_finished_grid_is_shown_by_its_final_seeds_only(runs, tmp_path):
    # A grid whose chosen point ran selection seed 0 and final seed 1: the test bars read seed 1 alone.
    _, folders = runs
    grid = tmp_path / "grid"
    (grid / "points").mkdir(parents=True)
    (grid / "points" / "n_layers=3").symlink_to(folders["lightgcn"])
    (grid / "grid.json").write_text(json.dumps({
        "entry": "lightgcn", "metric": "recall@20", "chosen": {"n_layers": "3"},
        "points": [{"settings": {"n_layers": "3"}, "valid": [0.1, 0.0]}],
        "final": {"seeds": [1], "run_dir": "elsewhere/n_layers=3"}}))
    assert main(["report", str(grid), "--out", str(tmp_path / "rep")]) == 0
    final = json.loads((folders["lightgcn"] / "seed1" / "metrics.json").read_text())
    with open(tmp_path / "rep" / "test.csv") as fh:
        rows = {r["metric"]: r for r in csv.DictReader(fh)}
    assert rows["recall@20"]["run"] == "lightgcn" and rows["recall@20"]["seeds"] == "1"
    assert float(rows["recall@20"]["mean"]) == pytest.approx(final["test"]["recall@20"])


def test_labelled_arguments_name_runs_and_pool_the_seeds_of_several_folders(runs, tmp_path):
    import shutil

    _, folders = runs
    split = tmp_path / "split"  # lightgcn's two seeds in two bench-like folders, each holding a "lightgcn" folder
    for seed in (0, 1):
        shutil.copytree(folders["lightgcn"] / f"seed{seed}", split / f"s{seed}" / "lightgcn" / f"seed{seed}")
    assert main(["report", f"pooled={split / 's0' / 'lightgcn'},{split / 's1' / 'lightgcn'}",
                 f"one={split / 's0' / 'lightgcn'}", str(folders["bprmf"]), "--out", str(tmp_path / "rep")]) == 0
    with open(tmp_path / "rep" / "test.csv") as fh:
        rows = {(r["run"], r["metric"]): r for r in csv.DictReader(fh)}
    values = [json.loads((folders["lightgcn"] / f"seed{s}" / "metrics.json").read_text())["test"]["recall@20"]
              for s in (0, 1)]
    assert rows[("pooled", "recall@20")]["seeds"] == "2"
    assert float(rows[("pooled", "recall@20")]["mean"]) == pytest.approx(sum(values) / 2)
    assert float(rows[("one", "recall@20")]["mean"]) == pytest.approx(values[0])
    assert ("bprmf", "recall@20") in rows
    twice = f"twice={split / 's0' / 'lightgcn'},{split / 's0' / 'lightgcn'}"
    assert main(["report", twice, "--out", str(tmp_path / "rep2")]) == 2  # the same seed twice: refused
    again = [f"x={split / 's0' / 'lightgcn'}", f"x={split / 's1' / 'lightgcn'}"]
    assert main(["report", *again, "--out", str(tmp_path / "rep3")]) == 2  # one label twice: refused
