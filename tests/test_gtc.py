import math

import numpy as np
import pytest
import torch

from gtcrec.config import (
    PRESETS_DIR,
    ConfigError,
    TrainConfig,
    build_config,
    load_yaml_config,
)
from gtcrec.data import InteractionData, SyntheticConfig, make_synthetic
from gtcrec.diffusion import NoiseSchedule
from gtcrec.models import ModelInputs, build_model
from gtcrec.models import gtc as gtc_module
from gtcrec.train import Trainer, train

SMALL = {"diffusion_steps": 50, "generation_steps": 5, "denoiser_hidden": [32, 16], "partial_t": 10}
# The paper's wiring (docs/gtc.md): users' ID embeddings feed the content LightGCNs, the DDPM models every
# node's content view given its interaction view, TC aligns the generated content, the refined interaction
# view is the representation, and L2 covers every weight.
PAPER = {"user_content_input": "id", "diffusion_space": "views", "tc_on": "generated", "gate_output": "refined",
         "reg_scope": "all"}
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
    "paper": PAPER,
    "paper_base_tc": {**PAPER, "use_diffusion": False},
    "paper_tuned": {**PAPER, "diffusion_standardize": True, "beta_schedule": "linear_scaled",
                    "tc_mip_scaling": "dim", "tc_detach_interaction": True, "gate_learned_weight": True},
    "generated_item_inputs": {"tc_on": "generated", "diffusion_standardize": True},
}


def gtc(data, **params):
    torch.manual_seed(0)
    return build_model("gtc", ModelInputs.from_data(data), {**SMALL, **params})


def batch(n=64, n_items=200):
    return torch.arange(n), torch.arange(n) % n_items, (torch.arange(n) + 3) % n_items


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_parameter_gets_a_gradient(variant, small_synthetic):
    model = gtc(small_synthetic, **VARIANTS[variant])
    model.train()
    if model.config.gate_learned_weight:  # its scalar starts at 0, which blocks the gated path until one step
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        model.loss(*batch())["loss"].backward()
        optimizer.step()
        model.zero_grad()
    terms = model.loss(*batch())
    terms["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing
    expected_terms = {"full": {"align", "diff"}, "base": set(), "base_dn": {"diff"}, "base_tc": {"align"}}
    monitors = {"align_raw", "align_chance"} if "align" in terms else set()
    if variant in expected_terms:
        assert set(terms) == {"loss", "bpr", "reg"} | expected_terms[variant] | monitors
    optimised = sum(terms[k].item() for k in ("bpr", "reg", "diff", "align") if k in terms)
    assert terms["loss"].item() == pytest.approx(optimised, rel=1e-5)


def test_alignment_is_reported_against_chance(small_synthetic):
    model = gtc(small_synthetic)
    users, pos, neg = batch()
    terms = model.loss_terms(users, pos, neg)
    assert terms.align_chance.item() == pytest.approx(math.log(len(torch.unique(pos))))
    assert terms.align.item() == pytest.approx(0.4 * terms.align_raw.item(), rel=1e-5)  # lambda_tc = 0.4


def test_shapes_and_fusion_width(small_synthetic):
    full = gtc(small_synthetic)
    users, items = full.representations()
    assert users.shape == (300, 64 * 3) and items.shape == (200, 64 * 3)  # [refined id, visual, textual]
    base = gtc(small_synthetic, **VARIANTS["base"])
    assert base.representations()[1].shape == (200, 64 * 3)  # id + 2 content views concatenated
    paper = gtc(small_synthetic, **PAPER)
    assert paper.representations()[0].shape == (300, 64)  # the refined interaction view alone
    assert paper.generated()["visual"].shape == (300 + 200, 64)  # generated for every user and item


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
    assert not any(k.startswith(("schedule.", "generated_content_")) for k in keys)  # derived, not state


def test_denoiser_is_trained_by_the_optimizer(small_synthetic):
    model = gtc(small_synthetic)
    before = {n: p.detach().clone() for n, p in model.named_parameters() if n.startswith("denoisers.")}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.loss(torch.arange(32), torch.arange(32), torch.arange(32) + 40)["loss"].backward()
    opt.step()
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters() if n in before)


@pytest.mark.parametrize("tc_on,reaches", [("generated", True), ("inputs", False), ("outputs", False)])
def test_tc_trains_the_denoiser_only_when_it_aligns_generated_content(tc_on, reaches, small_synthetic):
    model = gtc(small_synthetic, tc_on=tc_on)
    model.loss_terms(*batch()).align.backward()
    grads = [p.grad for n, p in model.named_parameters() if n.startswith("denoisers.")]
    assert any(g is not None and g.abs().sum() > 0 for g in grads) == reaches


@pytest.mark.parametrize("tc_on", ["generated", "outputs"])
def test_detached_interaction_view_gets_no_alignment_gradient(tc_on, small_synthetic):
    # In the paper's wiring the users' ID embeddings also feed the content views: TC must not reach them there.
    model = gtc(small_synthetic, **{**PAPER, "tc_on": tc_on}, tc_detach_interaction=True)
    model.loss_terms(*batch()).align.backward()
    for table in (model.item_id, model.user_id):
        assert table.weight.grad is None or table.weight.grad.abs().sum() == 0
    assert model.project["visual"].weight.grad.abs().sum() > 0  # the content side still learns
    attached = gtc(small_synthetic, **{**PAPER, "tc_on": tc_on})
    attached.loss_terms(*batch()).align.backward()
    assert attached.user_id.weight.grad.abs().sum() > 0


def test_two_evaluations_give_identical_rankings(small_synthetic):
    model = gtc(small_synthetic)
    model.train()
    model.refresh()
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


def test_generated_content_changes_only_on_refresh(small_synthetic):
    model = gtc(small_synthetic)
    first = model.generated()["visual"].clone()
    with torch.no_grad():  # a .data-style edit bumps no optimiser state: only refresh() may pick it up
        model.item_id.weight.data.mul_(3.0)
    assert torch.equal(model.generated()["visual"], first)
    model.refresh()
    assert not torch.allclose(model.generated()["visual"], first)
    assert torch.equal(model.generated()["visual"], model.generate_content()["visual"])


def test_refresh_follows_a_changed_generation_method(small_synthetic):
    # The old cache was keyed on parameter versions: a new sampler on unchanged weights returned stale content.
    model = gtc(small_synthetic)
    ddim = model.generated()["visual"].clone()
    model.config.generation = "ancestral"
    model.refresh()
    assert not torch.allclose(model.generated()["visual"], ddim)


def test_load_state_dict_regenerates_from_the_loaded_weights(small_synthetic):
    source, target = gtc(small_synthetic), gtc(small_synthetic)
    with torch.no_grad():
        source.item_id.weight.mul_(2.0)
        for w in source.generated_weight.values():
            w.fill_(1.0)
    target.refresh()
    target.load_state_dict(source.state_dict())
    assert torch.equal(target.generated()["visual"], source.generate_content()["visual"])
    assert torch.equal(target.representations()[1], source.representations()[1])


def test_the_trainer_refreshes_after_every_epoch(small_synthetic):
    model = gtc(small_synthetic)
    calls = []
    original = model.refresh
    model.refresh = lambda: calls.append(1) or original()
    cfg = TrainConfig(epochs=2, batch_size=256, progress=False, patience=5)
    Trainer(model, small_synthetic, cfg, seed=0, device=torch.device("cpu")).fit()
    # on first use (no content yet), after each epoch, and when the best weights are restored
    assert len(calls) == 4
    assert torch.equal(model.generated()["visual"], model.generate_content()["visual"])


def test_a_modality_named_id_does_not_replace_the_interaction_view(small_synthetic):
    data = InteractionData("named", small_synthetic.n_users, small_synthetic.n_items, small_synthetic.train,
                           small_synthetic.valid, small_synthetic.test,
                           {"id": small_synthetic.features["visual"], "text": small_synthetic.features["textual"]})
    model = gtc(data, fusion="concat", use_diffusion=False, alignment="none")
    _, items = model.representations()
    _, item_interaction = model.encode_interaction()
    assert items.shape == (200, 64 * 3)
    assert torch.allclose(items[:, :64], item_interaction)  # the first block is the interaction view
    assert not torch.allclose(items[:, 64:128], item_interaction)  # the modality "id" is a content view


def test_users_share_their_id_embedding_across_views_in_the_paper_wiring(small_synthetic):
    model = gtc(small_synthetic, user_content_input="id")
    assert not hasattr(model, "user_content")
    enc = model.encode(None)
    enc.users.content["visual"].sum().backward()
    assert model.user_id.weight.grad.abs().sum() > 0


def test_reg_scope_all_penalises_every_weight(small_synthetic):
    embeddings_only, every_weight = gtc(small_synthetic), gtc(small_synthetic, reg_scope="all")
    every_weight.load_state_dict(embeddings_only.state_dict())
    users, pos, neg = batch()
    extra = every_weight.l2_terms(users, pos, neg) - embeddings_only.l2_terms(users, pos, neg)
    dense = [p for n, p in every_weight.named_parameters() if p.dim() > 0 and not n.endswith("_id.weight")
             and not n.startswith("user_content.")]
    assert extra.item() == pytest.approx(0.5 * sum(p.pow(2).sum().item() for p in dense), rel=1e-4)
    every_weight.l2_terms(users, pos, neg).backward()
    assert every_weight.denoisers["visual"].out.weight.grad.abs().sum() > 0
    assert every_weight.project["visual"].weight.grad.abs().sum() > 0


def test_standardised_targets_reach_the_ddpm(small_synthetic, monkeypatch):
    seen = []
    real = gtc_module.diffusion_loss
    monkeypatch.setattr(gtc_module, "diffusion_loss", lambda d, s, x0, c: seen.append(x0) or real(d, s, x0, c))
    model = gtc(small_synthetic, diffusion_standardize=True, diffusion_space="views", tc_max_items=1000)
    model.loss_terms(torch.arange(300), torch.randint(0, 200, (300,)), torch.zeros(300, dtype=torch.long))
    x0 = seen[0]  # the batch's users and items: near the statistics of all rows
    assert x0.mean(0).abs().mean() < 0.2 and (x0.std(0) - 1).abs().mean() < 0.2
    raw = gtc(small_synthetic, diffusion_space="views").encode(None).targets["visual"]
    assert raw.std(0).mean() < 0.5  # without standardising, the target's scale is whatever the encoder gives


def test_gate_learned_weight_starts_at_the_interaction_view(small_synthetic):
    model = gtc(small_synthetic, **PAPER, gate_learned_weight=True)
    users, _ = model.representations()
    assert torch.allclose(users, model.encode_interaction()[0])  # the gated term is scaled by 0 at first


def test_linear_scaled_schedule_ends_near_pure_noise_for_every_t():
    assert NoiseSchedule(100, kind="linear").alphas_cumprod[-1] > 0.3  # why linear_scaled exists
    for steps in (20, 100, 600, 1000):
        assert NoiseSchedule(steps, kind="linear_scaled").alphas_cumprod[-1] < 1e-3


def test_diagnostics_describe_each_part(small_synthetic):
    model = gtc(small_synthetic, gate_learned_weight=True)
    diag = model.diagnostics()
    assert {"tc_logit_scale", "generated_weight_visual", "gate_mean", "gate_std", "gate_weight",
            "score_share_interaction", "score_share_gated", "score_share_visual"} <= set(diag)
    shares = [v for k, v in diag.items() if k.startswith("score_share_")]
    assert sum(shares) == pytest.approx(1.0) and all(0 <= v <= 1 for v in shares)
    assert 0 <= diag["gate_mean"] <= 1
    assert diag["tc_logit_scale"] == pytest.approx(1 / 0.07, rel=1e-5)
    assert model.training  # restored


def test_interaction_only_reduces_to_lightgcn_shape(small_synthetic):
    model = gtc(small_synthetic.with_modalities([]))
    assert not hasattr(model, "denoisers") and model.alignment is None
    _users, items = model.representations()
    assert items.shape == (200, 64)


@pytest.mark.parametrize("params,match", [
    ({"generation": "euler"}, r"model_params \(gtc\).generation: expected one of \['ancestral', 'ddim', 'partial'\]"),
    ({"generation": "partial", "partial_t": 60}, "partial_t=60"),
    ({"tc_on": "everything"}, r"tc_on: expected one of .*got 'everything'"),
    ({"diffusion_space": "items"}, r"diffusion_space: expected one of .*got 'items'"),
    ({"generation_steps": 80}, "generation_steps=80: expected at most diffusion_steps=50"),
    ({"tc_on": "generated", "partial_t": 50}, "partial_t=50: expected 0 <= partial_t < diffusion_steps=50"),
    ({"lambda_tc": float("nan")}, "lambda_tc=nan"),
    ({"tc_negatives": "n_squared"}, r"tc_max_items=1024 .* expected tc_max_items <= 256"),
])
def test_bad_options_are_rejected(params, match, small_synthetic):
    with pytest.raises(ConfigError, match=match):
        gtc(small_synthetic, **params)


GTC_PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("gtc*.yaml"))


@pytest.mark.parametrize("preset", GTC_PRESETS)
def test_presets_build(preset, small_synthetic):
    cfg = build_config(load_yaml_config(preset))
    assert cfg.model == "gtc"
    build_model("gtc", ModelInputs.from_data(small_synthetic), {**cfg.model_params, "diffusion_steps": 600})


def test_ablation_presets_change_only_what_they_ablate():
    full = build_config(load_yaml_config("gtc"))
    for preset, changed in {"gtc-base": {"use_diffusion", "alignment", "fusion"},
                            "gtc-base-dn": {"alignment", "fusion"}, "gtc-base-tc": {"use_diffusion", "fusion"},
                            "gtc-wo-tc": {"alignment"}}.items():
        ablated = build_config(load_yaml_config(preset))
        differs = {k for k in set(full.model_params) | set(ablated.model_params)
                   if full.model_params.get(k) != ablated.model_params.get(k)}
        assert differs <= changed, preset
        assert ablated.train == full.train, preset


@pytest.mark.parametrize("params", [{}, PAPER], ids=["v1", "paper"])
def test_gtc_beats_lightgcn_on_planted_multimodal_data(params, tmp_path):
    # Sparse histories (4-10 items per user, 8 clusters per modality): content must fill the gaps.
    data = make_synthetic(SyntheticConfig(n_users=400, n_items=600, n_clusters=8, min_interactions=4,
                                          max_interactions=10, seed=5))
    common = {"train": {"epochs": 60, "batch_size": 512, "lr": 0.01, "patience": 10, "progress": False},
              "seeds": [0], "output_dir": str(tmp_path)}
    lightgcn = train(build_config({**common, "model": "lightgcn", "model_params": {"n_layers": 2}}), data=data)
    full = train(build_config({**common, "model": "gtc", "model_params": {**SMALL, "lambda_diff": 0.3, **params}}),
                 data=data)
    assert full.seeds[0].test["recall@20"] > lightgcn.seeds[0].test["recall@20"]
    assert full.seeds[0].test["ndcg@20"] > lightgcn.seeds[0].test["ndcg@20"]


def test_paper_wiring_beats_a_random_ranker(small_synthetic):
    model = gtc(small_synthetic, **PAPER)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    pairs = torch.as_tensor(small_synthetic.train)
    generator = torch.Generator().manual_seed(0)
    for _ in range(30):
        order = torch.randperm(len(pairs), generator=generator)[:512]
        neg = torch.randint(0, 200, (512,), generator=generator)
        loss = model.loss(pairs[order, 0], pairs[order, 1], neg)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.refresh()
    users, items = model.representations()
    scores = (users @ items.T).numpy()
    valid = small_synthetic.valid
    rank = (scores[valid[:, 0]] > scores[valid[:, 0], valid[:, 1]][:, None]).sum(1)
    assert np.mean(rank < 20) > 2 * 20 / 200  # a random ranker hits 10 % of the time


def test_options_are_checked_only_where_they_are_read(small_synthetic):
    # T = 100 (the paper's lower bound) with DDIM needs no partial_t below it; no DDPM needs no sampler.
    gtc(small_synthetic, diffusion_steps=100, partial_t=100, generation_steps=10)
    gtc(small_synthetic, use_diffusion=False, diffusion_steps=20, generation_steps=50)
    gtc(small_synthetic, generation="ancestral", diffusion_steps=30, generation_steps=50)


def test_gate_temperature_is_capped_in_place_and_keeps_its_gradient(small_synthetic):
    model = gtc(small_synthetic)
    with torch.no_grad():
        model.log_gate_temperature.fill_(10.0)  # above the cap of 100
    model.loss(*batch())["loss"].backward()
    assert model.log_gate_temperature.item() == pytest.approx(math.log(100.0))
    assert model.log_gate_temperature.grad.abs().item() > 0
