"""Modality balance (RQ4) and preference consistency (RQ5): formulas, model parts, trainer recording, report."""

import csv
import json
from pathlib import Path

import pytest
import torch

from gtcrec.config import ConfigError, build_config
from gtcrec.data import SyntheticConfig, make_synthetic
from gtcrec.evaluation.analysis import (
    ModalityViews,
    modality_balance,
    place_in_block,
    preference_consistency,
    views_of,
)
from gtcrec.models import ModelInputs, build_model
from gtcrec.train import train


def test_balance_and_consistency_formulas_on_hand_made_views():
    users = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    views = ModalityViews(users, {"interaction": users, "a": torch.tensor([[1.0, 0.0], [1.0, 0.0]]),
                                  "b": torch.tensor([[0.0, 2.0], [0.0, 1.0]])},
                          {"a": torch.tensor([[2.0, 0.0]]), "b": torch.tensor([[0.0, 3.0]])})
    out = modality_balance(views, torch.tensor([0, 1]))
    # user 0: cosines 1 and 0 -> 0.5; user 1: both 1/sqrt(2) -> 1
    assert out["balance"] == pytest.approx(0.75)
    assert out["cos_a"] == pytest.approx((1 + 2 ** -0.5) / 2) and "cos_interaction" not in out
    pairs = torch.tensor([[0, 0], [1, 0]])
    assert preference_consistency(views, pairs) == pytest.approx({"consistency_a": 2.0, "consistency_b": 1.5})
    assert torch.equal(place_in_block(torch.ones(1, 2), 1, 3), torch.tensor([[0.0, 0, 1, 1, 0, 0]]))


@pytest.mark.parametrize("name", ["gtc", "dragon", "mgcn"])
def test_models_give_their_parts_in_the_final_space(small_synthetic, name):
    model = build_model(name, ModelInputs.from_data(small_synthetic))
    views = views_of(model)
    users, items = model.representations()
    torch.testing.assert_close(views.users, users)
    assert set(views.item_parts) >= set(small_synthetic.features)
    for part in [*views.user_parts.values(), *views.item_parts.values()]:
        assert part.shape[1] == users.shape[1]
    if name == "dragon":  # concatenated blocks: the parts' scores add up to the score
        total = sum(views.users @ part.T for part in views.item_parts.values())
        torch.testing.assert_close(total, users @ items.T)


def _config(tmp_path, model, analysis, name):
    return build_config({"model": model, "seeds": [0], "output_dir": str(tmp_path), "name": name,
                         "train": {"epochs": 2, "batch_size": 512, "progress": False,
                                   "modality_analysis": analysis}})


def test_recording_the_analysis_changes_nothing_in_training(tmp_path):
    data = make_synthetic(SyntheticConfig(n_users=120, n_items=80, seed=2))
    on = json.loads((Path(train(_config(tmp_path, "dragon", True, "on"), data=data).run_dir) / "seed0" / "metrics.json")
                    .read_text())
    off = json.loads((Path(train(_config(tmp_path, "dragon", False, "off"), data=data).run_dir) / "seed0" / "metrics.json")
                     .read_text())
    assert [h["valid"] for h in on["history"]] == [h["valid"] for h in off["history"]]
    assert on["test"] == off["test"]
    for record in on["history"]:
        assert 0 <= record["analysis"]["balance"] <= 1
        assert {"consistency_visual", "consistency_textual"} <= set(record["analysis"])
    assert "analysis" not in off["history"][0]


def test_analysis_on_a_model_without_modality_parts_is_refused(tmp_path):
    data = make_synthetic(SyntheticConfig(n_users=60, n_items=40, seed=2))
    with pytest.raises(ConfigError, match="lightgcn has no modality-specific representations"):
        train(_config(tmp_path, "lightgcn", True, "x"), data=data)


def test_report_draws_the_recorded_analysis_with_the_runs_numbers(tmp_path):
    pytest.importorskip("matplotlib", reason="gtcrec report needs matplotlib (pip install 'gtcrec[plot]')")
    from gtcrec.cli import main

    data = make_synthetic(SyntheticConfig(n_users=60, n_items=40, seed=4))
    run = Path(train(_config(tmp_path, "mgcn", True, "mgcn"), data=data).run_dir)
    assert main(["report", str(run), "--out", str(tmp_path / "rep")]) == 0
    assert (tmp_path / "rep" / "analysis.png").stat().st_size > 0
    history = json.loads((run / "seed0" / "metrics.json").read_text())["history"]
    with open(tmp_path / "rep" / "analysis.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["series"] == "balance"]
    assert [float(r["value"]) for r in rows] == pytest.approx([h["analysis"]["balance"] for h in history])
    assert "![analysis](analysis.png)" in (tmp_path / "rep" / "report.md").read_text()
