"""benchmarks/paper_comparison.py: the page's numbers are the runs' own, and published numbers sit beside them."""

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("paper_comparison", ROOT / "benchmarks" / "paper_comparison.py")
paper_comparison = importlib.util.module_from_spec(spec)
spec.loader.exec_module(paper_comparison)


def fake_run(folder: Path, recalls: dict[int, float]) -> Path:
    for seed, recall in recalls.items():
        (folder / f"seed{seed}").mkdir(parents=True)
        test = {f"{m}@{k}": 0.0 for m in ("recall", "ndcg", "map") for k in (5, 10, 20, 50)}
        test["recall@20"], test["ndcg@20"] = recall, recall / 2
        (folder / f"seed{seed}" / "metrics.json").write_text(json.dumps({"seed": seed, "test": test}))
    return folder


def test_page_shows_each_runs_mean_and_its_difference_from_the_published_number(tmp_path):
    run = fake_run(tmp_path / "lightgcn", {1: 0.08, 2: 0.10})
    (run / "config.yaml").write_text("train:\n  patience: 50\n")  # a bench run with its own patience
    longer = {"runs": [str(fake_run(tmp_path / "gtc-a", {2: 0.1, 3: 0.2})), str(fake_run(tmp_path / "gtc-b", {4: 0.3}))],
              "selection": "grid point, patience 20"}
    manifest = {"datasets": {"TikTok": {"LightGCN": str(run), "GRCN": str(tmp_path / "absent"), "GTC": longer}},
                "published": {"TikTok": {"source": "Some paper, Table 1", "protocol": "Three modalities.",
                                         "metrics": ["recall@20", "ndcg@20"],
                                         "models": {"LightGCN": [0.06, 0.05], "GRCN": [0.08, 0.035]}}},
                "notes": {"TikTok": "A note under the table."}}
    page = paper_comparison.render(manifest, "abc1234", "2026-11-30")
    lines = page.splitlines()
    ours = next(line for line in lines if line.startswith("| LightGCN | 1, 2 | preset, patience 50 |"))
    assert "0.0900 ± 0.0141" in ours  # R@20 mean and sample std of the two seeds
    assert any(line.startswith("| GRCN | – | no run folder in this checkout") for line in lines)
    pooled = next(line for line in lines if line.startswith("| GTC | 2, 3, 4 | grid point, patience 20 |"))
    assert "0.2000 ± 0.1000" in pooled  # the seeds of both folders
    beside = next(line for line in lines if line.startswith("| LightGCN | 0.0600 |"))
    cells = [cell.strip() for cell in beside.strip("|").split("|")]
    assert cells == ["LightGCN", "0.0600", "0.0900 ± 0.0141", "+50.0%", "0.0500", "0.0450 ± 0.0071", "-10.0%"]
    assert "| GRCN | 0.0800 | no run here | – |" in page
    assert "Some paper, Table 1" in page and "Three modalities." in page and "A note under the table." in page


def test_figures_are_embedded_from_each_report_named_in_the_manifest(tmp_path):
    manifest = {"datasets": {"TikTok": {}},
                "figures": {"TikTok": [{"report": "figures/rq3/report.md", "caption": "RQ3, impact of content",
                                        "images": ["test.png"]},
                                       {"report": "figures/rq6/report.md", "caption": "RQ6, sensitivity",
                                        "images": ["grid-1-gtc/sensitivity.png", "curves.png"]}]}}
    lines = paper_comparison.render(manifest, "abc1234", "2026-11-30").splitlines()
    assert "Figures ([report](figures/rq3/report.md)): RQ3, impact of content." in lines
    assert "![test](figures/rq3/test.png)" in lines
    assert "![sensitivity](figures/rq6/grid-1-gtc/sensitivity.png)" in lines and "![curves](figures/rq6/curves.png)" in lines
    assert not any("figures/rq3/curves.png" in line for line in lines)


def test_aggregate_runs_pools_folders_and_compares_each_row_with_the_reference(tmp_path):
    import subprocess
    import sys

    from scipy import stats

    a = fake_run(tmp_path / "a", {1: 0.10, 2: 0.12})
    b = fake_run(tmp_path / "b", {3: 0.11})
    c = fake_run(tmp_path / "c", {1: 0.05, 2: 0.06, 3: 0.04})
    for folder in (a, b, c):
        for path in folder.glob("seed*/metrics.json"):
            m = json.loads(path.read_text())
            m.update(valid={"recall@20": 0.1}, epoch_seconds=1.0, best_epoch=3, epochs_run=5)
            path.write_text(json.dumps(m))
    script = str(ROOT / "benchmarks" / "aggregate_runs.py")
    out = subprocess.run([sys.executable, script, f"A={a},{b}", f"C={c}", "--reference", "A"],
                         capture_output=True, text=True, check=True).stdout
    row = next(line for line in out.splitlines() if line.startswith("| C |"))
    expected = stats.ttest_ind([0.10, 0.12, 0.11], [0.05, 0.06, 0.04], equal_var=False).pvalue
    assert row.endswith(f" {expected:.3f} | {expected:.3f} |")  # N@20 is R@20 / 2 here: the same p
    assert next(line for line in out.splitlines() if line.startswith("| A |")).startswith("| A | 1,2,3 |")
    twice = subprocess.run([sys.executable, script, f"A={a}", f"A={b}"], capture_output=True, text=True, check=False)
    assert twice.returncode != 0 and "given twice" in twice.stderr


def test_pooled_folders_that_share_a_seed_are_refused(tmp_path):
    import pytest

    entry = {"runs": [str(fake_run(tmp_path / "a", {2: 0.1})), str(fake_run(tmp_path / "b", {2: 0.2}))],
             "selection": "x"}
    with pytest.raises(SystemExit, match="a seed appears twice"):
        paper_comparison.Measured(entry)


def test_a_grid_row_names_its_finals_patience(tmp_path):
    grid = tmp_path / "grid"
    fake_run(grid / "final-patience-20" / "lr=1e-3", {2: 0.1, 3: 0.3})
    (grid / "grid.json").write_text(json.dumps({"final": {"seeds": [2, 3], "patience": 20,
                                                           "run_dir": "elsewhere/final-patience-20/lr=1e-3"}}))
    seeds, selection = paper_comparison.source(grid)
    assert selection == "grid: chosen point, final seeds with patience 20" and seeds.seeds == (2, 3)
    (grid / "grid.json").write_text(json.dumps({"final": {"seeds": [2, 3], "run_dir": "elsewhere/points/lr=1e-3"}}))
    (grid / "points").mkdir()
    assert paper_comparison.source(grid)[1] == "grid: chosen point, final seeds"
