import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gtcrec.config import build_config, load_yaml_config
from gtcrec.data import SyntheticConfig, make_synthetic
from gtcrec.evaluation import Evaluator
from gtcrec.models import ModelInputs, build_model
from gtcrec.models.base import bpr_loss

# Importing these modules registers "bm3" and "vbpr"; models/__init__ does not import them yet.
from gtcrec.models.bm3 import BM3
from gtcrec.models.vbpr import VBPR
from gtcrec.train import train

N_USERS, N_ITEMS = 50, 40


def random_inputs(dims=(12, 7), seed=0, names=None) -> ModelInputs:
    """Random interactions (every user and item has an edge) and random features per modality."""
    rng = np.random.default_rng(seed)
    pairs = np.argwhere(rng.random((N_USERS, N_ITEMS)) < 0.15)
    extra = np.stack([np.arange(N_USERS), np.arange(N_USERS) % N_ITEMS], 1)
    extra2 = np.stack([np.arange(N_ITEMS) % N_USERS, np.arange(N_ITEMS)], 1)
    pairs = np.unique(np.concatenate([pairs, extra, extra2]), axis=0)
    names = names or [f"mod{k}" for k in range(len(dims))]
    feats = {n: rng.normal(size=(N_ITEMS, d)).astype(np.float32) for n, d in zip(names, dims)}
    return ModelInputs(N_USERS, N_ITEMS, pairs, feats)


def batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, N_USERS, (n,), generator=g), torch.randint(0, N_ITEMS, (n,), generator=g),
            torch.randint(0, N_ITEMS, (n,), generator=g))


def randomise(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


# --- VBPR ----------------------------------------------------------------------------------

def test_vbpr_dot_product_reps_reproduce_the_paper_formula():
    inputs = random_inputs(dims=(12, 7))
    model = build_model("vbpr", inputs, {"embedding_dim": 8, "content_dim": 5})
    randomise(model)
    f = torch.cat([torch.as_tensor(inputs.features[m]) for m in inputs.features], 1)  # (n_items, 19)
    E = model.content_proj.weight  # (5, 19)
    beta_i = model.item_bias.weight[:, 0]
    beta_prime = model.content_bias.weight[0]
    gamma_u, gamma_i, theta_u = model.user_embedding.weight, model.item_embedding.weight, model.user_content.weight
    expected = (beta_i[None, :] + gamma_u @ gamma_i.T + theta_u @ (f @ E.T).T + (f @ beta_prime)[None, :]).detach()
    u, i = model.representations()
    assert torch.allclose(model.score(u, i), expected, atol=1e-4)
    # recommend() ranks by the same formula
    users = torch.arange(10)
    _, top = model.recommend(users, 5)
    assert torch.equal(top, torch.topk(expected[users], 5, dim=1).indices)
    # and the training loss scores pairs by it too
    users, pos, neg = batch()
    terms = model.loss(users, pos, neg)
    assert torch.allclose(terms["bpr"], bpr_loss(expected[users, pos], expected[users, neg]), atol=1e-5)


def test_vbpr_without_modalities_is_bprmf_with_item_bias():
    inputs = random_inputs(dims=())
    model = build_model("vbpr", inputs, {"embedding_dim": 8})
    names = {n for n, _ in model.named_parameters()}
    assert names == {"user_embedding.weight", "item_embedding.weight", "item_bias.weight"}
    randomise(model)
    u, i = model.representations()
    expected = model.user_embedding.weight @ model.item_embedding.weight.T + model.item_bias.weight[:, 0][None, :]
    assert torch.allclose(model.score(u, i), expected.detach(), atol=1e-5)
    # the bias-free variant (MMRec's form) is plain BPR-MF
    plain = build_model("vbpr", inputs, {"embedding_dim": 8, "use_bias": False})
    u, i = plain.representations()
    assert torch.allclose(plain.score(u, i), plain.user_embedding.weight @ plain.item_embedding.weight.T)


def test_vbpr_regularises_the_batch_rows():
    inputs = random_inputs(dims=(6,))
    model = build_model("vbpr", inputs, {"embedding_dim": 4, "content_dim": 3, "reg_weight": 0.5})
    randomise(model)
    users, pos, neg = batch(16)
    rows = [model.user_embedding(users), model.user_content(users), model.item_embedding(pos),
            model.item_embedding(neg), model.item_bias(pos), model.item_bias(neg)]
    expected = 0.5 * sum(r.pow(2).sum() for r in rows) / (2 * 16)
    assert torch.allclose(model.loss(users, pos, neg)["reg"], expected)


# --- BM3 -----------------------------------------------------------------------------------

def test_bm3_ignores_negatives():
    model = build_model("bm3", random_inputs())
    users, pos, neg = batch(seed=1)
    other_neg = (neg + 1 + torch.randint(0, N_ITEMS - 1, neg.shape)) % N_ITEMS
    assert (other_neg != neg).all()
    torch.manual_seed(5)
    a = model.loss(users, pos, neg)["loss"]
    torch.manual_seed(5)
    b = model.loss(users, pos, other_neg)["loss"]
    assert torch.equal(a, b)


def test_bm3_forward_is_predictor_over_lightgcn_plus_item_id():
    inputs = random_inputs(dims=(5,))
    model = build_model("bm3", inputs, {"embedding_dim": 6, "n_layers": 2})
    dense = torch.tensor(inputs.norm_adjacency.toarray())
    ego = torch.cat([model.user_embedding.weight, model.item_embedding.weight]).detach()
    layers = [ego, dense @ ego, dense @ dense @ ego]
    mean = torch.stack(layers).mean(0)
    u_ref = model.predictor(mean[:N_USERS])
    i_ref = model.predictor(mean[N_USERS:] + model.item_embedding.weight)
    u, i = model.representations()
    assert torch.allclose(u, u_ref, atol=1e-5) and torch.allclose(i, i_ref, atol=1e-5)


@pytest.mark.parametrize("reg_scope", ["full", "batch"])
def test_bm3_loss_and_stop_gradient_match_a_reference(reg_scope):
    """With dropout 0 the targets equal the online reps; the gradient must treat them as constants."""
    inputs = random_inputs(dims=(12, 7))
    cfg = {"embedding_dim": 8, "dropout": 0.0, "reg_weight": 0.3, "cl_weight": 1.5, "reg_scope": reg_scope}
    model = build_model("bm3", inputs, cfg)
    users, pos, neg = batch(seed=2)

    def cos_loss(a, b):
        return 1 - F.cosine_similarity(a, b, dim=-1).mean()

    u_all, i_all = model.online()
    pred = model.predictor
    ref = cos_loss(pred(u_all[users]), i_all[pos].detach()) + cos_loss(pred(i_all[pos]), u_all[users].detach())
    cl = 0.0
    for m in inputs.features:
        f = model.project[m](torch.as_tensor(inputs.features[m]))
        cl = cl + cos_loss(pred(f[pos]), i_all[pos].detach()) + cos_loss(pred(f[pos]), f[pos].detach())
    if reg_scope == "full":
        reg = (u_all.norm() + i_all.norm()) / N_ITEMS
    else:
        reg = (u_all[users].norm() + i_all[pos].norm()) / len(pos)
    ref = ref + 0.3 * reg + 1.5 * cl
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    loss = model.loss(users, pos, neg)["loss"]
    grads = torch.autograd.grad(loss, list(model.parameters()))
    assert torch.allclose(loss, ref, atol=1e-5)
    for (name, _), g, r in zip(model.named_parameters(), grads, ref_grads):
        assert torch.allclose(g, r, atol=1e-5), name
    # without the stop-gradient the item ID gradient would differ: the check above has teeth
    leaky = cos_loss(pred(u_all[users]), i_all[pos]) + cos_loss(pred(i_all[pos]), u_all[users])
    leaky_grad = torch.autograd.grad(leaky, model.item_embedding.weight)[0]
    plain_grad = torch.autograd.grad(
        cos_loss(pred(u_all[users]), i_all[pos].detach()) + cos_loss(pred(i_all[pos]), u_all[users].detach()),
        model.item_embedding.weight)[0]
    assert not torch.allclose(leaky_grad, plain_grad, atol=1e-5)


def test_bm3_eval_is_deterministic_and_training_loss_is_stochastic():
    model = build_model("bm3", random_inputs())
    u1, i1 = model.representations()
    model.train()
    u2, i2 = model.forward()  # no dropout in forward, even in train mode
    assert torch.equal(u1, u2) and torch.equal(i1, i2)
    users, pos, neg = batch()
    losses = {float(model.loss(users, pos, neg)["loss"].detach()) for _ in range(4)}
    assert len(losses) > 1  # dropout targets
    no_dropout = build_model("bm3", random_inputs(), {"dropout": 0.0})
    assert len({float(no_dropout.loss(users, pos, neg)["loss"].detach()) for _ in range(3)}) == 1


def test_bm3_without_modalities_is_bootstrapped_lightgcn():
    model = build_model("bm3", random_inputs(dims=()))
    assert not any(n.startswith(("project", "features")) for n, _ in model.named_parameters())
    terms = model.loss(*batch())
    assert float(terms["align"]) == 0.0 and float(terms["mask"]) == 0.0
    assert torch.allclose(terms["loss"], terms["rec"] + terms["reg"])


def test_bm3_finetuned_features_are_trained_and_saved():
    inputs = random_inputs(dims=(6,), names=["image"])
    model = build_model("bm3", inputs, {"finetune_features": True})
    assert "features.image" in model.state_dict()
    users, pos, neg = batch()
    model.loss(users, pos, neg)["loss"].backward()
    grad = model.features["image"].grad
    touched = torch.zeros(N_ITEMS, dtype=torch.bool)
    touched[pos] = True
    assert grad[touched].abs().sum() > 0 and grad[~touched].abs().sum() == 0
    frozen = build_model("bm3", inputs)
    assert not any("feat" in k for k in frozen.state_dict())


# --- both ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["bm3", "vbpr"])
@pytest.mark.parametrize("dims", [(), (9,), (9, 4, 6)])
def test_every_parameter_gets_a_gradient_for_any_number_of_modalities(name, dims):
    inputs = random_inputs(dims=dims, names=["image", "audio", "text"][:len(dims)])
    torch.manual_seed(0)
    model = build_model(name, inputs)
    terms = model.loss(*batch())
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, pname
    u, i = model.representations()
    assert u.shape[0] == N_USERS and i.shape[0] == N_ITEMS
    assert model.score(u[:3], i).shape == (3, N_ITEMS)
    assert torch.equal(model.representations()[1], i)


@pytest.mark.parametrize("name", ["bm3", "vbpr"])
def test_preset_builds_the_model_with_every_default(name):
    import dataclasses

    preset = load_yaml_config(name)
    assert preset["model"] == name
    model = build_model(name, random_inputs(), preset["model_params"])
    assert isinstance(model, {"bm3": BM3, "vbpr": VBPR}[name])
    defaults = dataclasses.asdict(model.config_class())
    assert preset["model_params"] == defaults


@pytest.mark.parametrize("name,lr,epochs", [("vbpr", 0.01, 30), ("bm3", 0.01, 30)])
def test_brief_training_beats_a_random_ranker(name, lr, epochs, tmp_path):
    data = make_synthetic(SyntheticConfig(n_users=300, n_items=200, seed=3))
    cfg = build_config({"model": name, "seeds": [0], "output_dir": str(tmp_path),
                        "train": {"epochs": epochs, "batch_size": 256, "lr": lr, "patience": 10,
                                  "progress": False, "topk": [20], "checkpoint_every": 0}})
    result = train(cfg, data=data).seeds[0]
    rng = torch.Generator().manual_seed(0)
    random_ranker = Evaluator(data, "test", ks=[20]).evaluate_scores(
        lambda users: torch.rand(len(users), data.n_items, generator=rng)).metrics
    # random recall@20 is about 20 / 200 here; both models reach about 0.65 in this budget
    assert result.test["recall@20"] > 3 * random_ranker["recall@20"], (result.test, random_ranker)
    assert result.test["ndcg@20"] > 3 * random_ranker["ndcg@20"]


def test_vbpr_penalise_content_regularises_the_content_projection(small_synthetic):
    from gtcrec.models import ModelInputs, build_model

    inputs = ModelInputs.from_data(small_synthetic)
    users, pos, neg = torch.arange(32), torch.arange(32), torch.arange(32) + 40
    regs = {}
    for flag in (False, True):
        torch.manual_seed(0)
        model = build_model("vbpr", inputs, {"penalise_content": flag, "reg_weight": 1.0, "use_bias": False})
        model.content_proj.weight.grad = None
        reg = model.loss(users, pos, neg)["reg"]
        reg.backward()
        regs[flag] = reg.item()
        grad = model.content_proj.weight.grad
        assert (grad is not None and grad.abs().sum() > 0) == flag  # only the MMRec-style penalty reaches E
    assert regs[True] > regs[False]
