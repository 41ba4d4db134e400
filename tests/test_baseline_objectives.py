"""DGI's, MVGRL's, G-BT's and CCA-SSG's objectives against literal transcriptions of their
papers' formulas (values and gradients), plus their contracts."""

import math

import pytest
import torch

from gcl.objectives import (
    BarlowTwins,
    CCALoss,
    DGIObjective,
    MVGRLObjective,
    Step,
    barlow_twins_loss,
    cca_loss,
)
from gcl.objectives.infomax import BilinearDiscriminator, Readout


def _sigmoid(v):
    return 1.0 / (1.0 + torch.exp(-v))


def naive_dgi(h, h_neg, W, b):
    """DGI eq. (1): -1/(N+M) (sum log D(h_i, s) + sum log(1 - D(h~_j, s))), D = sigma(h^T W s),
    s = sigma(mean h), written with explicit loops."""
    n, d = h.shape
    s = _sigmoid(sum(h[i] for i in range(n)) / n)
    terms = []
    for i in range(n):
        score = sum(h[i, a] * W[a, c] * s[c] for a in range(d) for c in range(d)) + b
        terms.append(torch.log(_sigmoid(score)))
    for j in range(n):
        score = sum(h_neg[j, a] * W[a, c] * s[c] for a in range(d) for c in range(d)) + b
        terms.append(torch.log(1 - _sigmoid(score)))
    return -sum(terms) / (2 * n)


def naive_mvgrl(h1, h2, n1, n2, W, b, graphs):
    """MVGRL eq. (4)-(5) with the BCE estimator of its code: per graph g, summaries
    s_v = sigma(mean over g's nodes of h_v); positives D(h2_i, s1), D(h1_i, s2); negatives
    D(n2_i, s1), D(n1_i, s2); the mean binary cross-entropy over all 4N scores."""
    n, d = h1.shape

    def score(x, s):
        return sum(x[a] * W[a, c] * s[c] for a in range(d) for c in range(d)) + b

    def summary(h, g):
        rows = [h[i] for i in range(n) if graphs[i] == g]
        return _sigmoid(sum(rows) / len(rows))

    total = 0.0
    for i in range(n):
        s1, s2 = summary(h1, graphs[i]), summary(h2, graphs[i])
        total = total - torch.log(_sigmoid(score(h2[i], s1))) - torch.log(_sigmoid(score(h1[i], s2)))
        total = total - torch.log(1 - _sigmoid(score(n2[i], s1))) \
            - torch.log(1 - _sigmoid(score(n1[i], s2)))
    return total / (4 * n)


def naive_barlow(h1, h2, lambd, eps=1e-15):
    """G-BT eq. (3): standardise each column (unbiased std), C_kl = 1/N sum_i z1_ik z2_il,
    L = sum_k (1 - C_kk)^2 + lambda sum_{k != l} C_kl^2."""
    n, d = h1.shape

    def standardize(h):
        cols = []
        for k in range(d):
            col = h[:, k]
            mu = sum(col) / n
            sd = torch.sqrt(sum((col[i] - mu) ** 2 for i in range(n)) / (n - 1))
            cols.append((col - mu) / (sd + eps))
        return torch.stack(cols, dim=1)

    z1, z2 = standardize(h1), standardize(h2)
    loss = 0.0
    for k in range(d):
        for m in range(d):
            c = sum(z1[i, k] * z2[i, m] for i in range(n)) / n
            loss = loss + ((1 - c) ** 2 if k == m else lambd * c ** 2)
    return loss


def naive_cca(h1, h2, lambd):
    """CCA-SSG eq. (5): Z~ = (H - mu) / (sigma sqrt(N)), L = ||Z~1 - Z~2||_F^2
    + lambda (||Z~1^T Z~1 - I||_F^2 + ||Z~2^T Z~2 - I||_F^2), in the trace form of the code:
    the invariance term is -tr(Z~1^T Z~2) (= ||Z~1 - Z~2||^2 / 2 - d (N-1)/N)."""
    n, d = h1.shape

    def standardize(h):
        mu = h.mean(0)
        sd = torch.sqrt(((h - mu) ** 2).sum(0) / (n - 1))
        return (h - mu) / sd / math.sqrt(n)

    z1, z2 = standardize(h1), standardize(h2)
    inv = -sum(sum(z1[i, k] * z2[i, k] for i in range(n)) for k in range(d))
    dec = 0.0
    for z in (z1, z2):
        for k in range(d):
            for m in range(d):
                c = sum(z[i, k] * z[i, m] for i in range(n))
                dec = dec + ((1.0 if k == m else 0.0) - c) ** 2
    return inv + lambd * dec, z1, z2


def _pair(n, d, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, dtype=torch.float64, generator=g, requires_grad=True)
            for _ in range(4)]


def _check(ours, ref, inputs):
    assert torch.allclose(ours, ref, rtol=1e-9, atol=1e-12)
    for a, b in zip(torch.autograd.grad(ours, inputs, retain_graph=True),
                    torch.autograd.grad(ref, inputs)):
        assert torch.allclose(a, b, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("n,d", [(5, 3), (8, 4)])
def test_dgi_matches_naive(n, d):
    h, h_neg, _, _ = _pair(n, d, n + d)
    obj = DGIObjective(d).double()
    W = obj.discriminator.bilinear.weight[0]
    with torch.no_grad():
        obj.discriminator.bilinear.bias.fill_(0.3)
    ours = obj(h, h_neg)
    ref = naive_dgi(h, h_neg, W, obj.discriminator.bilinear.bias[0])
    _check(ours, ref, (h, h_neg, obj.discriminator.bilinear.weight))


def test_dgi_per_graph_summaries():
    """With step.data.batch, each node is scored against its own graph's summary."""
    from torch_geometric.data import Data

    h, h_neg, _, _ = _pair(6, 3, 1)
    obj = DGIObjective(3).double()
    batch = torch.tensor([0, 0, 0, 1, 1, 1])
    step = Step(epoch=1, data=Data(batch=batch, num_nodes=6))
    whole = (obj(h[:3], h_neg[:3]) + obj(h[3:], h_neg[3:])) / 2
    assert torch.allclose(obj(h, h_neg, step), whole)


@pytest.mark.parametrize("graphs", [[0, 0, 0, 0, 0], [0, 0, 1, 1, 1]])
def test_mvgrl_matches_naive(graphs):
    from torch_geometric.data import Data

    h1, h2, n1, n2 = _pair(5, 3, 7)
    obj = MVGRLObjective(3).double()
    batch = torch.tensor(graphs)
    step = Step(epoch=1, data=Data(batch=batch, num_nodes=5), negatives=(n1, n2))
    ours = obj(h1, h2, step)
    ref = naive_mvgrl(h1, h2, n1, n2, obj.discriminator.bilinear.weight[0],
                      obj.discriminator.bilinear.bias[0], graphs)
    _check(ours, ref, (h1, h2, n1, n2, obj.discriminator.bilinear.weight))


def test_mvgrl_needs_negatives():
    h = torch.randn(4, 3)
    with pytest.raises(ValueError, match="step.negatives"):
        MVGRLObjective(3)(h, h, Step(epoch=1))


def test_bilinear_discriminator_equals_torch_bilinear():
    disc = BilinearDiscriminator(4)
    h, s = torch.randn(6, 4), torch.randn(2, 4)
    batch = torch.tensor([0, 1, 1, 0, 1, 0])
    expected = disc.bilinear(h, s[batch]).squeeze(-1)
    assert torch.allclose(disc(h, s, batch), expected, atol=1e-6)
    assert torch.allclose(Readout()(h, batch)[1], torch.sigmoid(h[batch == 1].mean(0)))


@pytest.mark.parametrize("n,d,lambd", [(6, 3, None), (9, 4, 0.05)])
def test_barlow_twins_matches_naive(n, d, lambd):
    h1, h2, _, _ = _pair(n, d, 3 * n)
    ours, _, _ = barlow_twins_loss(h1, h2, lambd)
    ref = naive_barlow(h1, h2, 1.0 / d if lambd is None else lambd)
    _check(ours, ref, (h1, h2))


@pytest.mark.parametrize("n,d,lambd", [(6, 3, 1e-3), (9, 4, 0.5)])
def test_cca_matches_naive(n, d, lambd):
    h1, h2, _, _ = _pair(n, d, 5 * n)
    ours, _, _ = cca_loss(h1, h2, lambd)
    ref, z1, z2 = naive_cca(h1, h2, lambd)
    _check(ours, ref, (h1, h2))
    # the trace form is the paper's ||Z1 - Z2||^2 / 2 up to the constant d (N - 1) / N
    paper = (z1 - z2).pow(2).sum() / 2
    inv = cca_loss(h1, h2, 0.0)[1]
    assert float((paper - inv).detach()) == pytest.approx(d * (n - 1) / n, rel=1e-9)


def test_feature_losses_log_their_terms_and_fall():
    torch.manual_seed(0)
    x = torch.randn(40, 6)
    for obj in (BarlowTwins(), CCALoss(1e-2)):
        lin = torch.nn.Linear(6, 4)
        opt = torch.optim.Adam(lin.parameters(), lr=0.05)
        losses = []
        for _ in range(30):
            step = Step(epoch=1)
            loss = obj(lin(x + 0.1 * torch.randn(40, 6)), lin(x + 0.1 * torch.randn(40, 6)), step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert len(step.logs) == 2
        assert losses[-1] < losses[0]


@pytest.mark.parametrize("fn", [barlow_twins_loss, cca_loss])
def test_feature_losses_refuse_bad_shapes(fn):
    with pytest.raises(ValueError, match="same shape|N >= 2"):
        fn(torch.randn(3, 2), torch.randn(3, 4))
    with pytest.raises(ValueError, match="N >= 2"):
        fn(torch.randn(1, 2), torch.randn(1, 2))
