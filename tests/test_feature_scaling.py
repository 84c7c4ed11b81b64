import importlib
import json

import numpy as np
import pytest

from gtcrec.cli import main
from gtcrec.config import ConfigError, build_config, parse_override
from gtcrec.data import SyntheticConfig, make_synthetic, write_mmrec
from gtcrec.data.dataset import scale_features
from gtcrec.train import train

run_module = importlib.import_module("gtcrec.train.run")  # the package re-exports a function named train


def offset_features(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(3.0, 0.5, size=(50, 6)).astype(np.float32)  # a large shared offset, like TikTok's images
    x[:, 2] = 7.0  # a constant dimension
    return x


def test_standardize_centres_and_scales_every_dimension():
    out = scale_features(offset_features(), "standardize")
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.delete(out.std(0), 2), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out[:, 2], 0.0)  # constant: zero, not NaN
    unit = out / np.linalg.norm(out, axis=1, keepdims=True)
    raw = offset_features() / np.linalg.norm(offset_features(), axis=1, keepdims=True)
    assert (raw @ raw.T).mean() > 0.9  # the offset makes all raw items alike ...
    assert (unit @ unit.T).mean() < 0.1  # ... and no longer after standardising


def test_l2_gives_unit_rows_and_keeps_zero_rows():
    x = offset_features()
    x[4] = 0.0
    out = scale_features(x, "l2")
    norms = np.linalg.norm(out, axis=1)
    np.testing.assert_allclose(np.delete(norms, 4), 1.0, rtol=1e-6)
    assert norms[4] == 0.0 and np.isfinite(out).all()


def test_with_feature_scaling_copies_and_none_is_the_identity(small_synthetic):
    before = {m: f.copy() for m, f in small_synthetic.features.items()}
    scaled = small_synthetic.with_feature_scaling("standardize")
    assert small_synthetic.with_feature_scaling("none") is small_synthetic
    for m, f in small_synthetic.features.items():
        np.testing.assert_array_equal(f, before[m])  # the source data is untouched
        np.testing.assert_allclose(scaled.features[m].mean(0), 0.0, atol=1e-4)
    np.testing.assert_array_equal(scaled.train, small_synthetic.train)
    with pytest.raises(ValueError, match="feature_scaling='zscore'"):
        small_synthetic.with_feature_scaling("zscore")


def test_config_rejects_an_unknown_scaling():
    with pytest.raises(ConfigError, match="feature_scaling"):
        build_config({}, parse_override("data.feature_scaling=zscore"))


def test_training_hands_the_model_scaled_features(small_synthetic, monkeypatch, tmp_path):
    seen = {}
    real_build = run_module.build_model

    def recording_build(name, inputs, params=None):
        seen.update(inputs.features)
        return real_build(name, inputs, params)

    monkeypatch.setattr(run_module, "build_model", recording_build)
    config = build_config({"model": "vbpr", "seeds": [1], "output_dir": str(tmp_path),
                           "data": {"feature_scaling": "l2"},
                           "train": {"epochs": 1, "progress": False, "batch_size": 512}})
    train(config, data=small_synthetic)
    assert seen and set(seen) == set(small_synthetic.features)
    for m, f in seen.items():
        np.testing.assert_allclose(np.linalg.norm(f, axis=1), 1.0, rtol=1e-5)
        assert not np.allclose(f, small_synthetic.features[m])


def test_evaluate_applies_the_runs_scaling(tmp_path, capsys):
    data = make_synthetic(SyntheticConfig(n_users=120, n_items=80, seed=1))
    data.features = {m: f * 5.0 + 2.0 for m, f in data.features.items()}  # raw and scaled differ
    folder = write_mmrec(data, tmp_path / "syn")
    assert main(["train", "--model", "vbpr", "--dataset", str(folder), "--epochs", "3", "--seeds", "1",
                 "--no-progress", "--output-dir", str(tmp_path / "runs"), "--name", "scaled",
                 "--set", "data.feature_scaling=standardize", "--set", "train.batch_size=256"]) == 0
    capsys.readouterr()
    seed_dir = tmp_path / "runs" / "scaled" / "seed1"
    saved = json.loads((seed_dir / "metrics.json").read_text())
    assert main(["evaluate", str(seed_dir), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(saved["test"])
