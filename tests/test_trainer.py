import dataclasses
import json
import shutil

import numpy as np
import pytest
import torch

from gtcrec.config import RunConfig, TrainConfig, build_config
from gtcrec.data import write_mmrec
from gtcrec.data.dataset import InteractionData
from gtcrec.data.errors import DataError
from gtcrec.evaluation import EvalResult, Evaluator
from gtcrec.models import ModelInputs, build_model
from gtcrec.train import Trainer, train, train_seed
from gtcrec.train import run as run_module
from gtcrec.train import trainer as trainer_module


def quick_config(**train_overrides) -> RunConfig:
    train_cfg = {"epochs": 3, "batch_size": 256, "progress": False, "lr": 0.01, **train_overrides}
    return build_config({"model": "lightgcn", "train": train_cfg, "seeds": [0]})


class ScriptedEvaluator:
    """Validation 'metrics' that follow a script, whatever the model does; records its calls."""

    def __init__(self, script):
        self.script = list(script)
        self.ks = [20]
        self.calls = 0

    def evaluate(self, model):
        value = self.script[self.calls]
        self.calls += 1
        return EvalResult({"recall@20": value, "ndcg@20": value}, 1)


def test_early_stopping_picks_the_best_validation_epoch_and_restores_it(small_synthetic):
    script = [0.1, 0.3, 0.2, 0.25, 0.29, 0.1, 0.1, 0.1]
    cfg = TrainConfig(epochs=20, patience=3, batch_size=512, progress=False)
    model = build_model("lightgcn", ModelInputs.from_data(small_synthetic))
    snapshots = {}
    trainer = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu"),
                      valid_evaluator=ScriptedEvaluator(script))
    original = trainer.train_epoch

    def recording_epoch(epoch):
        out = original(epoch)
        snapshots[epoch] = model.user_embedding.weight.detach().clone()
        return out

    trainer.train_epoch = recording_epoch
    fit = trainer.fit()
    assert fit.best_epoch == 2
    assert fit.epochs_run == 5  # epochs 3, 4, 5 did not beat 0.3: patience 3 reached
    assert fit.stopped_early
    assert torch.equal(model.user_embedding.weight, snapshots[2])


def test_test_split_is_evaluated_once_after_training(small_synthetic, monkeypatch, tmp_path):
    events = []

    class SpyEvaluator(Evaluator):
        def evaluate(self, model, **kw):
            events.append(self.split)
            return super().evaluate(model, **kw)

    monkeypatch.setattr(run_module, "Evaluator", SpyEvaluator)
    monkeypatch.setattr(trainer_module, "Evaluator", SpyEvaluator)
    train_seed(quick_config(epochs=4), small_synthetic, 0, tmp_path)
    assert events == ["valid"] * 4 + ["test"]


def test_lightgcn_beats_a_random_ranker_on_planted_data(small_synthetic, tmp_path):
    cfg = quick_config(epochs=30, patience=10)
    cfg.output_dir = str(tmp_path)
    result = train(cfg, data=small_synthetic).seeds[0]
    rng = torch.Generator().manual_seed(0)
    evaluator = Evaluator(small_synthetic, "test", ks=[20])
    random_ranker = evaluator.evaluate_scores(
        lambda users: torch.rand(len(users), small_synthetic.n_items, generator=rng)).metrics
    assert result.test["recall@20"] > 2 * random_ranker["recall@20"]
    assert result.test["ndcg@20"] > 2 * random_ranker["ndcg@20"]


def test_same_seed_gives_identical_runs(small_synthetic, tmp_path):
    cfg = quick_config(epochs=3, deterministic=True)
    a = train_seed(cfg, small_synthetic, 7, tmp_path / "a")
    b = train_seed(cfg, small_synthetic, 7, tmp_path / "b")
    c = train_seed(cfg, small_synthetic, 8, tmp_path / "c")
    assert a.test == b.test and a.valid == b.valid
    assert a.test != c.test


def test_run_writes_checkpoint_metrics_and_summary(small_synthetic, tmp_path):
    cfg = build_config({"model": "bprmf", "train": {"epochs": 2, "progress": False}, "seeds": [1, 2],
                        "output_dir": str(tmp_path), "name": "r"})
    result = train(cfg, data=small_synthetic)
    root = tmp_path / "r"
    for seed in (1, 2):
        metrics = json.loads((root / f"seed{seed}" / "metrics.json").read_text())
        assert metrics["best_epoch"] in (1, 2) and "recall@20" in metrics["test"]
        assert (root / f"seed{seed}" / "best.safetensors").exists()
    summary = (root / "summary.md").read_text()
    assert "± " in summary and "recall" in summary
    csv_lines = (root / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("model,dataset,split,metric,mean,std,n_seeds,seed_1,seed_2")
    mean, std = result.mean_std("recall@20")
    values = [s.test["recall@20"] for s in result.seeds]
    assert mean == pytest.approx(np.mean(values)) and std == pytest.approx(np.std(values, ddof=1))


def test_load_trained_run_takes_the_lowest_numbered_seed(small_synthetic, tmp_path):
    cfg = build_config({"model": "bprmf", "train": {"epochs": 1, "progress": False}, "seeds": [10, 2],
                        "output_dir": str(tmp_path), "name": "r"})
    train(cfg, data=small_synthetic)
    folder = write_mmrec(small_synthetic, tmp_path / "syn")
    seed_dir, config, _, model = run_module.load_trained_run(tmp_path / "r", dataset=str(folder))
    assert seed_dir.name == "seed2"  # numeric, not lexicographic ("seed10" < "seed2")
    assert config.model == "bprmf" and not model.training


def test_resume_continues_exactly_where_it_stopped(small_synthetic, tmp_path):
    full = quick_config(epochs=6, checkpoint_every=1, patience=100)
    straight = train_seed(full, small_synthetic, 3, tmp_path / "straight")
    interrupted = quick_config(epochs=3, checkpoint_every=1, patience=100)
    train_seed(interrupted, small_synthetic, 3, tmp_path / "resumed")
    resumed = train_seed(full, small_synthetic, 3, tmp_path / "resumed", resume=True)
    history_a = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    history_b = json.loads((tmp_path / "resumed" / "metrics.json").read_text())["history"]
    assert [h["loss"] for h in history_a] == pytest.approx([h["loss"] for h in history_b], rel=1e-6)
    assert resumed.test == pytest.approx(straight.test)
    assert resumed.best_epoch == straight.best_epoch


def test_an_unusable_checkpoint_names_the_way_out_and_a_removed_seed_folder_trains_afresh(small_synthetic, tmp_path):
    # e.g. a checkpoint written by an older version: bench and grid (which have no --restart) retrain a removed seed
    config = quick_config(epochs=2, checkpoint_every=1, patience=100)
    seed_dir = tmp_path / "seed3"
    seed_dir.mkdir()
    (seed_dir / "last.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match="delete this seed folder and re-run"):
        train_seed(config, small_synthetic, 3, seed_dir, resume=True)
    shutil.rmtree(seed_dir)
    assert train_seed(config, small_synthetic, 3, seed_dir, resume=True).best_epoch >= 1


def test_unknown_valid_metric_is_rejected(small_synthetic):
    model = build_model("bprmf", ModelInputs.from_data(small_synthetic))
    with pytest.raises(ValueError, match="valid_metric"):
        Trainer(model, small_synthetic, TrainConfig(valid_metric="recall@7"), seed=0, device=torch.device("cpu"))


@pytest.mark.parametrize("negatives,cold_item_moves", [("all", True), ("train", False)])
def test_negative_pool_decides_whether_cold_items_are_trained_as_negatives(negatives, cold_item_moves):
    # items 20..29 have no training interaction (they occur in valid/test only)
    rng = np.random.default_rng(0)
    train_pairs = np.argwhere(rng.random((40, 20)) < 0.3)
    held_out = np.stack([np.arange(40), 20 + np.arange(40) % 10], axis=1)
    data = InteractionData("cold", 40, 30, train_pairs, held_out[:20], held_out[20:])
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, progress=False, negatives=negatives)
    model = build_model("bprmf", ModelInputs.from_data(data))
    before = model.item_embedding.weight.detach().clone()
    Trainer(model, data, cfg, seed=0, device=torch.device("cpu")).fit()
    after = model.item_embedding.weight.detach()
    assert not torch.equal(after[:20], before[:20])
    assert (not torch.equal(after[20:], before[20:])) == cold_item_moves


def test_a_non_finite_loss_stops_training_and_names_the_first_bad_batch(small_synthetic, monkeypatch):
    cfg = TrainConfig(epochs=3, batch_size=256, progress=False)
    model = build_model("bprmf", ModelInputs.from_data(small_synthetic))
    trainer = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu"))
    assert len(small_synthetic.train) > 4 * 256  # batches 2 and 3 exist
    original, calls = model.loss, []

    def loss_going_bad_at_batch_2(users, pos, neg):
        terms = original(users, pos, neg)
        calls.append(None)
        if len(calls) >= 3:  # batches 2, 3, ... of epoch 1
            terms["loss"] = terms["loss"] * float("nan")
        return terms

    monkeypatch.setattr(model, "loss", loss_going_bad_at_batch_2)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 2:"):
        trainer.fit()


def test_epoch_losses_are_the_means_of_the_batch_terms(small_synthetic, monkeypatch):
    cfg = TrainConfig(epochs=1, batch_size=300, progress=False)
    model = build_model("bprmf", ModelInputs.from_data(small_synthetic))
    trainer = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu"))
    original, seen, batch_sizes = model.loss, [], []

    def recording_loss(users, pos, neg):
        terms = original(users, pos, neg)
        seen.append({name: float(value.detach()) for name, value in terms.items()})
        batch_sizes.append(len(users))
        assert not trainer.sampler.is_positive(users, neg).any()
        return terms

    monkeypatch.setattr(model, "loss", recording_loss)
    means = trainer.train_epoch(1)
    assert sum(batch_sizes) == len(small_synthetic.train)
    assert set(means) == {"loss", "bpr", "reg"}
    for name, mean in means.items():
        assert mean == pytest.approx(np.mean([terms[name] for terms in seen]), rel=1e-5)


@pytest.mark.parametrize("enabled", [True, False])
def test_model_diagnostics_are_recorded_after_each_validation(enabled, small_synthetic):
    model = build_model("gtc", ModelInputs.from_data(small_synthetic),
                        {"diffusion_steps": 20, "generation_steps": 2, "denoiser_hidden": [16], "partial_t": 5})
    cfg = TrainConfig(epochs=2, batch_size=512, progress=False, diagnostics=enabled)
    history = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu")).fit().history
    for record in history:
        assert ("diagnostics" in record) == enabled
        if enabled:
            assert "gate_mean" in record["diagnostics"] and "align_raw" in record and "align_chance" in record


def test_batches_per_epoch_grows_the_batch_and_scales_the_learning_rate(small_synthetic):
    import math

    from gtcrec.config import TrainConfig
    from gtcrec.models import ModelInputs, build_model
    from gtcrec.train.trainer import Trainer, effective_batch_and_lr

    n = len(small_synthetic.train)
    cfg = TrainConfig(batch_size=256, lr=0.01, batches_per_epoch=2, progress=False)
    batch, lr = effective_batch_and_lr(cfg, n)
    assert batch == math.ceil(n / 2) and lr == pytest.approx(0.01 * (batch / 256) ** 0.5)
    assert effective_batch_and_lr(TrainConfig(batch_size=256, lr=0.01, batches_per_epoch=1000), n) == (256, 0.01)
    assert effective_batch_and_lr(TrainConfig(batch_size=256, lr=0.01), n) == (256, 0.01)
    linear = TrainConfig(batch_size=256, lr=0.01, batches_per_epoch=2, lr_scaling="linear")
    assert effective_batch_and_lr(linear, n)[1] == pytest.approx(0.01 * batch / 256)

    model = build_model("lightgcn", ModelInputs.from_data(small_synthetic))
    trainer = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu"))
    calls = []
    original = model.loss
    model.loss = lambda *args: calls.append(len(args[0])) or original(*args)
    trainer.train_epoch(1)
    assert calls == [batch, n - batch]  # two propagations per epoch, whatever the data size
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(lr)


@pytest.mark.parametrize("flush", [True, False])
def test_a_run_flushes_subnormal_floats_as_configured_and_restores_the_callers_mode(small_synthetic, tmp_path,
                                                                                    monkeypatch, flush):
    from gtcrec.train.run import flushes_subnormals

    if not torch.set_flush_denormal(not flush):
        pytest.skip("this CPU cannot flush subnormal floats")
    seen = []
    original = trainer_module.Trainer.train_epoch
    monkeypatch.setattr(trainer_module.Trainer, "train_epoch",
                        lambda self, *a, **k: seen.append(flushes_subnormals()) or original(self, *a, **k))
    try:
        train(quick_config(epochs=1, flush_denormal=flush), data=small_synthetic, restart_dir=tmp_path / "run")
        assert seen == [flush]  # during training: as configured
        assert flushes_subnormals() is (not flush)  # afterwards: the caller's mode again
        assert json.loads((tmp_path / "run" / "seed0" / "metrics.json").read_text())["flush_denormal"] is flush
    finally:
        torch.set_flush_denormal(False)  # torch's default


def test_a_large_exact_epoch_suggests_the_linear_cost_option(small_synthetic, monkeypatch, caplog):
    from gtcrec.config import TrainConfig
    from gtcrec.models import ModelInputs, build_model

    monkeypatch.setattr(trainer_module, "MANY_BATCHES", 3)
    model = build_model("lightgcn", ModelInputs.from_data(small_synthetic))
    n_batches = -(-len(small_synthetic.train) // 64)
    assert n_batches > 3
    n = len(small_synthetic.train)
    for cfg, warned, batch in ((TrainConfig(batch_size=64, batches_per_epoch=None, progress=False), True, 64),
                               (TrainConfig(batch_size=64, batches_per_epoch=4, progress=False), False,  # 4 > 3 too
                                -(-n // 4)),
                               (TrainConfig(batch_size=64, progress=False), False, -(-n // 3)),  # auto: capped at 3
                               (TrainConfig(batch_size=n, batches_per_epoch=None, progress=False), False, n)):
        caplog.clear()
        with caplog.at_level("WARNING", logger="gtcrec"):
            trainer = Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu"))
        assert any("train.batches_per_epoch" in r.message for r in caplog.records) is warned
        assert trainer.batch_size == batch


def test_batches_per_epoch_auto_is_exact_up_to_the_threshold_and_capped_above(monkeypatch):
    from gtcrec.train.trainer import effective_batch_and_lr, resolved_batches_per_epoch

    monkeypatch.setattr(trainer_module, "MANY_BATCHES", 4)
    auto = TrainConfig(batch_size=10, lr=0.01, progress=False)
    assert auto.batches_per_epoch == "auto"  # the default
    assert effective_batch_and_lr(auto, 40) == (10, 0.01)  # 4 batches: exact
    assert resolved_batches_per_epoch(auto, 40) is None
    assert resolved_batches_per_epoch(auto, 41) == 4
    batch, lr = effective_batch_and_lr(auto, 400)  # 40 exact batches -> 4 of 100, lr x sqrt(10)
    assert (batch, lr) == (100, pytest.approx(0.01 * 10 ** 0.5))
    assert effective_batch_and_lr(TrainConfig(batch_size=10, lr=0.01, batches_per_epoch=None), 400) == (10, 0.01)


def test_each_seed_records_the_batch_and_learning_rate_it_trained_with(small_synthetic, tmp_path):
    import math

    train(quick_config(epochs=1, batches_per_epoch=2), data=small_synthetic, restart_dir=tmp_path / "run")
    metrics = json.loads((tmp_path / "run" / "seed0" / "metrics.json").read_text())
    batch = math.ceil(len(small_synthetic.train) / 2)
    assert metrics["batch_size_used"] == batch
    assert metrics["lr_used"] == pytest.approx(0.01 * (batch / 256) ** 0.5)


def test_a_run_saved_before_auto_existed_resumes_exact(small_synthetic, tmp_path, capsys):
    import yaml

    from gtcrec.cli import main

    train(quick_config(epochs=1), data=small_synthetic, restart_dir=tmp_path / "run")
    saved = tmp_path / "run" / "config.yaml"
    config = yaml.safe_load(saved.read_text())
    assert config["train"].pop("batches_per_epoch") == "auto"
    saved.write_text(yaml.safe_dump(config))  # as an older version wrote it: no such key
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path / "run"), "--print-config"]) == 0
    assert "batches_per_epoch: null" in capsys.readouterr().out


def test_each_seed_records_which_data_it_trained_on(small_synthetic, tmp_path):
    config = quick_config(epochs=1)
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, feature_scaling="l2"))
    train(config, data=small_synthetic, restart_dir=tmp_path / "run")
    recorded = json.loads((tmp_path / "run" / "seed0" / "metrics.json").read_text())["data_fingerprint"]
    assert recorded == small_synthetic.fingerprint()  # of the files, before the run's scaling
    assert recorded != small_synthetic.with_feature_scaling("l2").fingerprint()
    assert set(recorded) == {"interactions", *small_synthetic.features}
    # the last bit of one feature changes that modality's digest only
    feature = next(iter(small_synthetic.features))
    nudged = {**small_synthetic.features, feature: small_synthetic.features[feature].copy()}
    nudged[feature][0, 0] = np.nextafter(nudged[feature][0, 0], np.float32(np.inf))
    changed = dataclasses.replace(small_synthetic, features=nudged).fingerprint()
    assert {k for k in recorded if recorded[k] != changed[k]} == {feature}


def test_a_seed_is_not_resumed_on_other_data(small_synthetic, tmp_path):
    config = quick_config(epochs=3)
    run_dir = tmp_path / "run"
    train(quick_config(epochs=1), data=small_synthetic, restart_dir=run_dir)  # seed 0 checkpointed, unfinished
    (run_dir / "seed0" / "metrics.json").unlink()
    feature = next(iter(small_synthetic.features))
    rebuilt = {**small_synthetic.features, feature: small_synthetic.features[feature] * np.float32(1.0001)}
    other = dataclasses.replace(small_synthetic, features=rebuilt)
    with pytest.raises(DataError, match=f"started on other data \\({feature} differ"):
        train(config, data=other, resume_dir=run_dir)
    result = train(config, data=small_synthetic, resume_dir=run_dir)  # the same data resumes
    assert result.seeds[0].epochs_run == 3
