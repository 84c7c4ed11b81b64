import itertools
import math

import pytest
import torch
from torch.nn import functional as F

from gtcrec.models.alignment import (
    MAX_N_SQUARED_LOGITS,
    PairwiseInfoNCELoss,
    TotalCorrelationLoss,
    max_n_squared_rows,
)


def mip(*vectors):
    out = vectors[0]
    for v in vectors[1:]:
        out = out * v
    return out.sum()


def brute_force_tc(views, scale, negatives, perms=None):
    """Per-definition Symile loss with explicit loops; ``perms[a][o]`` are the shuffles for anchor a."""
    views = [F.normalize(v, dim=-1) for v in views]
    n = views[0].shape[0]
    total = 0.0
    for a, anchor in enumerate(views):
        others = [v for o, v in enumerate(views) if o != a]
        loss = 0.0
        for i in range(n):
            if negatives == "n":
                cands = []
                for j in range(n):
                    rows = [i] * len(others) if j == i else [perms[a][o][j] for o in range(len(others))]
                    cands.append(mip(anchor[i], *[other[r] for other, r in zip(others, rows)]))
                target = i
            else:
                combos = list(itertools.product(range(n), repeat=len(others)))
                cands = [mip(anchor[i], *[other[r] for other, r in zip(others, combo)]) for combo in combos]
                target = combos.index(tuple([i] * len(others)))
            logits = scale * torch.stack(cands)
            loss = loss - torch.log_softmax(logits, 0)[target]
        total = total + loss / n
    return total / len(views)


@pytest.mark.parametrize("n_views", [3, 4])
def test_tc_n_squared_equals_brute_force(n_views):
    torch.manual_seed(0)
    views = [torch.randn(5, 4) for _ in range(n_views)]
    loss_fn = TotalCorrelationLoss("n_squared")
    scale = loss_fn.logit_scale().item()
    assert loss_fn(views).item() == pytest.approx(brute_force_tc(views, scale, "n_squared").item(), rel=1e-5)


def test_tc_n_equals_brute_force_with_the_same_shuffles():
    torch.manual_seed(0)
    views = [torch.randn(6, 4) for _ in range(3)]
    loss_fn = TotalCorrelationLoss("n")
    got = loss_fn(views, generator=torch.Generator().manual_seed(11)).item()
    gen = torch.Generator().manual_seed(11)
    perms = [[torch.randperm(6, generator=gen).tolist() for _ in range(2)] for _ in range(3)]
    expected = brute_force_tc(views, loss_fn.logit_scale().item(), "n", perms).item()
    assert got == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("negatives", ["n", "n_squared"])
def test_tc_is_lower_for_aligned_than_for_shuffled_triples(negatives):
    torch.manual_seed(0)
    a, b = torch.randn(32, 8), torch.randn(32, 8)
    aligned = [a, b, a * b + 0.1 * torch.randn(32, 8)]  # MIP(a, b, a*b) = sum a^2 b^2 > 0
    shuffled = [aligned[0], aligned[1][torch.randperm(32)], aligned[2][torch.randperm(32)]]
    loss_fn = TotalCorrelationLoss(negatives)
    assert loss_fn(aligned).item() < loss_fn(shuffled).item() - 1.0


def test_tc_sees_higher_order_dependence_that_pairwise_misses():
    """c = a * b (signs): every pair is independent, the triple is not (Symile's motivating case)."""
    torch.manual_seed(0)
    n, d = 64, 16
    a = torch.randint(0, 2, (n, d)).float() * 2 - 1
    b = torch.randint(0, 2, (n, d)).float() * 2 - 1
    c = a * b
    tc = TotalCorrelationLoss("n")
    pairwise = PairwiseInfoNCELoss()
    chance = math.log(n)
    assert tc([a, b, c], generator=torch.Generator().manual_seed(0)).item() < chance - 1.0
    assert pairwise([a, b, c]).item() > chance - 0.5


def test_logit_scale_is_learnable_and_clamped():
    loss_fn = TotalCorrelationLoss(max_scale=100.0)
    with torch.no_grad():
        loss_fn.logit_scale.log_scale.fill_(10.0)
    assert loss_fn.logit_scale().item() == pytest.approx(100.0)
    views = [torch.randn(8, 4, requires_grad=True) for _ in range(3)]
    with torch.no_grad():
        loss_fn.logit_scale.log_scale.fill_(1.0)
    loss_fn(views).backward()
    assert loss_fn.logit_scale.log_scale.grad is not None
    assert all(v.grad is not None and v.grad.abs().sum() > 0 for v in views)


def test_two_views_reduce_to_symmetric_infonce():
    torch.manual_seed(0)
    a, b = torch.randn(10, 4), torch.randn(10, 4)
    tc = TotalCorrelationLoss("n_squared")
    pw = PairwiseInfoNCELoss()
    assert tc([a, b]).item() == pytest.approx(pw([a, b]).item(), rel=1e-5)


@pytest.mark.parametrize("loss_cls", [TotalCorrelationLoss, PairwiseInfoNCELoss])
def test_logit_scale_above_the_cap_still_gets_a_gradient(loss_cls):
    # A clamp inside the graph has zero gradient above the cap: the scale could never come back down.
    loss_fn = loss_cls(max_scale=100.0)
    with torch.no_grad():
        loss_fn.logit_scale.log_scale.fill_(10.0)  # e^10 >> 100, e.g. after an optimiser step
    torch.manual_seed(0)
    loss_fn([torch.randn(8, 4) for _ in range(3)]).backward()
    assert loss_fn.logit_scale.log_scale.item() == pytest.approx(math.log(100.0))  # capped in place
    assert loss_fn.logit_scale.log_scale.grad.abs().item() > 0


def test_n_squared_refuses_a_batch_whose_logits_would_not_fit():
    assert max_n_squared_rows(3) ** 3 <= MAX_N_SQUARED_LOGITS < (max_n_squared_rows(3) + 1) ** 3
    assert max_n_squared_rows(3) == 256
    views = [torch.randn(max_n_squared_rows(3) + 1, 4) for _ in range(3)]
    with pytest.raises(ValueError, match="expected at most 256 rows"):
        TotalCorrelationLoss("n_squared")(views)


def test_dim_mip_scaling_leaves_two_views_alone_and_scales_three():
    torch.manual_seed(0)
    views = [torch.randn(6, 16) for _ in range(3)]
    plain, scaled = TotalCorrelationLoss("n_squared"), TotalCorrelationLoss("n_squared", mip_scaling="dim")
    assert scaled(views[:2]).item() == pytest.approx(plain(views[:2]).item(), rel=1e-6)
    with torch.no_grad():  # the same loss with the scale multiplied by sqrt(d) = 4
        plain.logit_scale.log_scale.add_(math.log(4.0))
    assert scaled(views).item() == pytest.approx(plain(views).item(), rel=1e-5)


def test_unknown_choices_are_refused():
    with pytest.raises(ValueError, match="negatives"):
        TotalCorrelationLoss("n_cubed")
    with pytest.raises(ValueError, match="mip_scaling"):
        TotalCorrelationLoss(mip_scaling="sqrt")
