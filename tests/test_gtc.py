import pytest
import torch

from gtcrec.config import ConfigError, build_config, load_yaml_config
from gtcrec.data import SyntheticConfig, make_synthetic
from gtcrec.models import ModelInputs, build_model
from gtcrec.train import train

SMALL = {"diffusion_steps": 50, "generation_steps": 5, "denoiser_hidden": [32, 16], "partial_t": 10}
VARIANTS = {
    "full": {},
    "base": {"use_diffusion": False, "alignment": "none", "fusion": "concat"},
    "base_dn": {"alignment": "none", "fusion": "concat"},
    "base_tc": {"use_diffusion": False, "fusion": "concat"},
    "wo_tc": {"alignment": "pairwise"},
    "shared_denoiser": {"share_denoiser": True},
    "n_squared": {"tc_negatives": "n_squared", "tc_max_items": 16},
    "ancestral": {"generation": "ancestral"},
    "partial": {"generation": "partial"},
    "homogeneous_graphs": {"item_knn_k": 5, "user_knn_k": 5},
    "tc_on_outputs": {"tc_on": "outputs"},
    "gate_no_rescale": {"gate_rescale": False},
}


def gtc(data, **params):
    torch.manual_seed(0)
    return build_model("gtc", ModelInputs.from_data(data), {**SMALL, **params})


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_parameter_gets_a_gradient(variant, small_synthetic):
    model = gtc(small_synthetic, **VARIANTS[variant])
    model.train()
    model.on_epoch_start(1)
    users = torch.arange(64)
    terms = model.loss(users, torch.arange(64) % 200, (torch.arange(64) + 3) % 200)
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing
    expected_terms = {"full": {"align", "diff"}, "base": set(), "base_dn": {"diff"}, "base_tc": {"align"}}
    if variant in expected_terms:
        assert set(terms) == {"loss", "bpr", "reg"} | expected_terms[variant]
    assert terms["loss"].item() == pytest.approx(sum(v.item() for k, v in terms.items() if k != "loss"), rel=1e-5)


def test_shapes_and_fusion_width(small_synthetic):
    full = gtc(small_synthetic)
    users, items = full.representations()
    assert users.shape == (300, 64 * 3) and items.shape == (200, 64 * 3)  # [refined id, visual, textual]
    base = gtc(small_synthetic, **VARIANTS["base"])
    assert base.representations()[1].shape == (200, 64 * 3)  # id + 2 content views concatenated


def test_denoisers_are_registered_saved_and_counted(small_synthetic):
    model = gtc(small_synthetic)
    keys = model.state_dict().keys()
    for m in ("visual", "textual"):
        assert any(k.startswith(f"denoisers.{m}.") for k in keys)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.startswith("denoisers.visual.") for n in names)
    shared = gtc(small_synthetic, share_denoiser=True)
    assert shared.denoisers["visual"] is shared.denoisers["textual"]
    n_own = sum(p.numel() for p in model.parameters())
    n_shared = sum(p.numel() for p in shared.parameters())
    assert n_shared < n_own
    assert not any(k.startswith("schedule.") for k in keys)  # derived from the config, not state


def test_denoiser_is_trained_by_the_optimizer(small_synthetic):
    model = gtc(small_synthetic)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("denoisers.")}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.on_epoch_start(1)
    model.loss(torch.arange(32), torch.arange(32), torch.arange(32) + 40)["loss"].backward()
    opt.step()
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


def test_two_evaluations_give_identical_rankings(small_synthetic):
    model = gtc(small_synthetic)
    model.train()
    model.on_epoch_start(1)  # a training cache exists; evaluation must not depend on it
    u1, i1 = model.representations()
    model.loss(torch.arange(16), torch.arange(16), torch.arange(16) + 1)  # draws fresh training noise
    u2, i2 = model.representations()
    assert torch.equal(u1, u2) and torch.equal(i1, i2)
    assert model.training


def test_generated_content_depends_on_the_interaction_condition(small_synthetic):
    model = gtc(small_synthetic)
    a = model.generate_content()["visual"]
    with torch.no_grad():
        model.item_id.weight.mul_(3.0)
    b = model.generate_content()["visual"]
    assert not torch.allclose(a, b)


def test_interaction_only_reduces_to_lightgcn_shape(small_synthetic):
    model = gtc(small_synthetic.with_modalities([]))
    assert not hasattr(model, "denoisers") and model.alignment is None
    _users, items = model.representations()
    assert items.shape == (200, 64)


def test_bad_options_are_rejected(small_synthetic):
    with pytest.raises(ConfigError, match=r"model_params \(gtc\): GTC option generation='euler'"):
        gtc(small_synthetic, generation="euler")
    with pytest.raises(ConfigError, match="partial_t=60"):
        gtc(small_synthetic, generation="partial", partial_t=60)


@pytest.mark.parametrize("preset", ["gtc", "gtc-base", "gtc-base-dn", "gtc-base-tc", "gtc-wo-tc", "gtc-concat", "gtc-cpu"])
def test_presets_build(preset, small_synthetic):
    cfg = build_config(load_yaml_config(preset))
    assert cfg.model == "gtc"
    build_model("gtc", ModelInputs.from_data(small_synthetic), cfg.model_params)


def test_gtc_beats_lightgcn_on_planted_multimodal_data(tmp_path):
    # Sparse histories (4-10 items per user, 8 clusters per modality): content must fill the gaps.
    data = make_synthetic(SyntheticConfig(n_users=400, n_items=600, n_clusters=8, min_interactions=4,
                                          max_interactions=10, seed=5))
    common = {"train": {"epochs": 60, "batch_size": 512, "lr": 0.01, "patience": 10, "progress": False},
              "seeds": [0], "output_dir": str(tmp_path)}
    lightgcn = train(build_config({**common, "model": "lightgcn", "model_params": {"n_layers": 2}}), data=data)
    full = train(build_config({**common, "model": "gtc", "model_params": {**SMALL, "lambda_diff": 0.3}}), data=data)
    assert full.seeds[0].test["recall@20"] > lightgcn.seeds[0].test["recall@20"]
    assert full.seeds[0].test["ndcg@20"] > lightgcn.seeds[0].test["ndcg@20"]


def test_generation_is_reused_only_while_the_weights_are_unchanged(small_synthetic):
    model = gtc(small_synthetic)
    calls = []
    original = model.generate_content
    model.generate_content = lambda: calls.append(1) or original()
    model.eval()
    first = model.generated_content()["visual"]
    assert model.generated_content()["visual"] is first and len(calls) == 1  # evaluation, then the next epoch
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.loss(torch.arange(16), torch.arange(16), torch.arange(16) + 1)["loss"].backward()
    optimizer.step()  # any weight update must invalidate the cache
    after_step = model.generated_content()["visual"]
    assert len(calls) == 2 and not torch.equal(first, after_step)
    assert torch.equal(after_step, original()["visual"])  # the cached content is what sampling gives now
    model.load_state_dict(model.state_dict())
    model.generated_content()
    assert len(calls) == 3  # load_state_dict copies in place: invalidated too
