"""InfoNCE's options (label positives, debiased and hardness-weighted negatives) against literal
transcriptions of SupCon's, Chuang et al.'s and Robinson et al.'s formulas, on the dense and
the blockwise path (values and gradients)."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch_geometric.data import Data

from gcl.objectives import InfoNCE, Step, info_nce
from gcl.objectives.infonce_variants import info_nce_variant


def naive_variant(h1, h2, tau, labels=None, tau_plus=0.0, beta=0.0, intra_view=True,
                  symmetric=True):
    """Per anchor i, with explicit loops: candidates = the other view's nodes and (intra_view)
    its own view's other nodes; positives = the other view's copy of i plus every candidate
    whose label equals i's (labels >= 0); negatives = the rest (M of them).
    Hardness (Robinson et al. eq. 4 with the importance weights of their code):
    Ng = sum_n w_n e^{s_n}, w_n = e^{beta s_n} / mean_n' e^{beta s_n'};
    debiasing (Chuang et al. eq. 6): Ng = max((Ng - tau+ M mean_p e^{s_p}) / (1 - tau+),
    M e^{-1/tau}); loss_i = -1/|P| sum_p log(e^{s_p} / (sum_p' e^{s_p'} + Ng))."""
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    n = z1.size(0)

    def direction(a, o):
        out = []
        for i in range(n):
            cands = [(o[j], j == i or (labels is not None and labels[i] >= 0
                                       and labels[j] == labels[i])) for j in range(n)]
            if intra_view:
                cands += [(a[j], labels is not None and labels[i] >= 0 and labels[j] == labels[i])
                          for j in range(n) if j != i]
            sims = [torch.dot(a[i], c) / tau for c, _ in cands]
            pos = [s for s, (_, p) in zip(sims, cands) if p]
            neg = [s for s, (_, p) in zip(sims, cands) if not p]
            m = len(neg)
            if beta > 0:
                imp = [torch.exp(beta * s) for s in neg]
                mean_imp = sum(imp) / m
                ng = sum(w * torch.exp(s) for w, s in zip(imp, neg)) / mean_imp
            else:
                ng = sum(torch.exp(s) for s in neg)
            if tau_plus > 0:
                pos_mean = sum(torch.exp(s) for s in pos) / len(pos)
                ng = torch.clamp((ng - tau_plus * m * pos_mean) / (1 - tau_plus),
                                 min=m * math.exp(-1 / tau))
            den = sum(torch.exp(s) for s in pos) + ng
            out.append(-sum(torch.log(torch.exp(s) / den) for s in pos) / len(pos))
        return torch.stack(out)

    loss = direction(z1, z2)
    if symmetric:
        loss = 0.5 * (loss + direction(z2, z1))
    return loss.mean()


CASES = [dict(), dict(tau_plus=0.1), dict(beta=1.0), dict(tau_plus=0.2, beta=0.5),
         dict(labels=True), dict(labels=True, tau_plus=0.1, beta=1.0)]


@pytest.mark.parametrize("opts", CASES)
@pytest.mark.parametrize("intra_view,symmetric", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("block_size", [0, 3])
def test_matches_naive(opts, intra_view, symmetric, block_size):
    g = torch.Generator().manual_seed(7)
    n, d, tau = 7, 4, 0.5
    h1 = torch.randn(n, d, dtype=torch.float64, generator=g, requires_grad=True)
    h2 = torch.randn(n, d, dtype=torch.float64, generator=g, requires_grad=True)
    labels = torch.tensor([0, 1, 0, -1, 1, 2, 0]) if opts.get("labels") else None
    kw = {k: v for k, v in opts.items() if k != "labels"}
    ours = info_nce_variant(h1, h2, tau, positives=labels, intra_view=intra_view,
                            symmetric=symmetric, block_size=block_size, **kw)
    ref = naive_variant(h1, h2, tau, labels, intra_view=intra_view, symmetric=symmetric, **kw)
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, (h1, h2)), torch.autograd.grad(ref, (h1, h2))):
        assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def test_no_option_is_grace_infonce_and_mask_equals_labels():
    g = torch.Generator().manual_seed(1)
    h1, h2 = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    assert torch.allclose(info_nce_variant(h1, h2, 0.4), info_nce(h1, h2, 0.4), atol=1e-6)
    y = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2])
    mask = y[:, None] == y[None, :]
    assert torch.allclose(info_nce_variant(h1, h2, 0.4, positives=y, block_size=4),
                          info_nce_variant(h1, h2, 0.4, positives=mask), atol=1e-6)


def test_infonce_reads_labels_from_the_step():
    g = torch.Generator().manual_seed(2)
    h1, h2 = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 1, 0, 1, 2, 2])
    train = torch.tensor([True, True, True, False, False, True])
    step = Step(epoch=1, data=Data(y=y, train_mask=train, num_nodes=6))
    semi = InfoNCE(0.5, positives="train_labels", beta=0.5)(h1, h2, step)
    expected = info_nce_variant(h1, h2, 0.5, positives=torch.where(train, y, -1), beta=0.5)
    assert torch.allclose(semi, expected)
    full = InfoNCE(0.5, positives="labels")(h1, h2, step)
    assert torch.allclose(full, info_nce_variant(h1, h2, 0.5, positives=y))
    assert "tau_plus=0.1" in repr(InfoNCE(tau_plus=0.1))


def test_option_errors():
    with pytest.raises(ValueError, match="tau_plus"):
        InfoNCE(tau_plus=1.0)
    with pytest.raises(ValueError, match="positives"):
        InfoNCE(positives="y")
    with pytest.raises(ValueError, match="needs node labels"):
        InfoNCE(positives="labels")(torch.randn(3, 2), torch.randn(3, 2), Step(epoch=1))
    with pytest.raises(ValueError, match="positives must be"):
        info_nce_variant(torch.randn(3, 2), torch.randn(3, 2), positives=torch.zeros(4))


def test_blockwise_is_used_above_the_dense_limit(monkeypatch):
    import gcl.objectives.infonce as mod

    monkeypatch.setattr(mod, "DENSE_MAX_NODES", 4)
    g = torch.Generator().manual_seed(3)
    h1 = torch.randn(10, 3, generator=g, requires_grad=True)
    h2 = torch.randn(10, 3, generator=g)
    auto = info_nce_variant(h1, h2, 0.5, tau_plus=0.1)
    dense = info_nce_variant(h1, h2, 0.5, tau_plus=0.1, block_size=0)
    assert torch.allclose(auto, dense, atol=1e-6)
