"""Team-up objective against a naive implementation of CSGCL's formula (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gcl.objectives import InfoNCE, Step
from gcl.objectives.teamup import TeamUp, team_up_gamma


def naive_team_up(h1, h2, s, gamma, tau):
    """The spec's formula, literally: exp of (cosine + γ(s_i + s_j)) / τ, both views, mean."""
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    n = z1.size(0)
    boost = gamma * (s.unsqueeze(1) + s.unsqueeze(0))  # γ(s_i + s_j)

    def one_side(a, b):
        inter = torch.exp((a @ b.t() + boost) / tau)
        intra = torch.exp((a @ a.t() + boost) / tau)
        off = 1 - torch.eye(n, dtype=a.dtype)
        denom = inter.sum(1) + (intra * off).sum(1)
        return -torch.log(inter.diagonal() / denom)

    return 0.5 * (one_side(z1, z2) + one_side(z2, z1)).mean()


def step_at(epoch):
    return Step(epoch=epoch, data=None, views=(None, None), z=(None, None), h=(None, None))


def test_schedule():
    assert team_up_gamma(1, 1000, 10) == 0.0
    assert team_up_gamma(1000, 1000, 10) == 0.0
    assert team_up_gamma(1001, 1000, 10) == pytest.approx(0.01)
    assert team_up_gamma(1100, 1000, 10) == pytest.approx(1.0)
    assert team_up_gamma(2000, 1000, 10) == pytest.approx(10.0)
    assert team_up_gamma(2500, 1000, 10) == 10.0
    # Computers: t0 = 2000, gamma = 5, 2500 epochs -> saturates exactly at the last epoch
    assert team_up_gamma(2500, 2000, 5) == 5.0 and team_up_gamma(2499, 2000, 5) < 5.0
    assert TeamUp(gamma_max=1, t0=3).gamma(None) == 1.0


@pytest.mark.parametrize("block_size", [0, 3])
@pytest.mark.parametrize("gamma", [0.3, 2.0, 10.0])
def test_matches_naive_values_and_gradients(gamma, block_size):
    torch.manual_seed(0)
    n, d, tau = 9, 5, 0.6
    s = torch.randn(n, dtype=torch.float64) * 0.2  # strengths can be negative
    h1 = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    h2 = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    loss_fn = TeamUp(tau=tau, gamma_max=gamma, t0=0, ramp=1.0, node_strength=s,
                     block_size=block_size)
    ours = loss_fn(h1, h2, step_at(1000))
    g_ours = torch.autograd.grad(ours, (h1, h2))
    ref = naive_team_up(h1, h2, s, gamma, tau)
    g_ref = torch.autograd.grad(ref, (h1, h2))
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-5, abs=1e-6)
    for a, b in zip(g_ours, g_ref):
        assert torch.allclose(a.double(), b, rtol=1e-4, atol=1e-6)


def test_float32_blockwise_matches_naive():
    torch.manual_seed(1)
    n, d, tau = 40, 8, 0.3
    s = torch.rand(n) * 0.3
    h1 = torch.randn(n, d, requires_grad=True)
    h2 = torch.randn(n, d, requires_grad=True)
    ours = TeamUp(tau=tau, gamma_max=1.0, node_strength=s, block_size=16)(h1, h2, step_at(150))
    g = torch.autograd.grad(ours, (h1, h2))
    h1d, h2d = h1.detach().double().requires_grad_(), h2.detach().double().requires_grad_()
    ref = naive_team_up(h1d, h2d, s.double(), 1.0, tau)  # gamma(150) = min(150 / 100, 1) = 1
    g_ref = torch.autograd.grad(ref, (h1d, h2d))
    assert float(ours.detach()) == pytest.approx(float(ref.detach()), rel=1e-4)
    for a, b in zip(g, g_ref):
        assert torch.allclose(a.double(), b, rtol=1e-3, atol=1e-5)


def test_gamma_zero_is_exactly_infonce():
    torch.manual_seed(2)
    h1, h2 = torch.randn(7, 4, requires_grad=True), torch.randn(7, 4)
    s = torch.rand(7)
    warm = TeamUp(tau=0.4, gamma_max=5, t0=100, node_strength=s)
    base = InfoNCE(tau=0.4)
    for epoch in (1, 50, 100):
        a = warm(h1, h2, step_at(epoch))
        b = base(h1, h2)
        assert torch.equal(a, b)
        ga, = torch.autograd.grad(a, h1)
        gb, = torch.autograd.grad(b, h1)
        assert torch.equal(ga, gb)
    assert not torch.equal(warm(h1, h2, step_at(101)), base(h1, h2))
    # gamma_max = 0 as well
    assert torch.equal(TeamUp(tau=0.4, gamma_max=0.0)(h1, h2, step_at(10)), base(h1, h2))


def test_large_gamma_is_stable():
    torch.manual_seed(3)
    h1, h2 = torch.randn(6, 4), torch.randn(6, 4)
    loss = TeamUp(tau=0.05, gamma_max=100.0, node_strength=torch.rand(6))(h1, h2)
    assert torch.isfinite(loss)


def test_strength_from_setup_and_errors():
    from gcl.augment.communities import get_communities
    from gcl.data import synthetic

    data = synthetic(num_nodes=50, num_features=4, num_classes=2, seed=0)
    loss_fn = TeamUp(tau=0.5, gamma_max=1.0)
    with pytest.raises(ValueError, match="setup"):
        loss_fn(torch.randn(50, 3), torch.randn(50, 3))
    loss_fn.setup(data)
    assert torch.equal(loss_fn.node_strength, get_communities(data).node_strength)
    with pytest.raises(ValueError, match="node_strength"):
        loss_fn(torch.randn(10, 3), torch.randn(10, 3))
    step = step_at(500)
    step.nodes = torch.arange(10)
    assert torch.isfinite(loss_fn(torch.randn(10, 3), torch.randn(10, 3), step))
    assert step.logs["gamma"] == 1.0


def test_loss_falls_under_gradient_steps():
    torch.manual_seed(4)
    h1 = torch.randn(20, 6, requires_grad=True)
    h2 = torch.randn(20, 6, requires_grad=True)
    loss_fn = TeamUp(tau=0.5, gamma_max=2.0, node_strength=torch.rand(20) * 0.3)
    opt = torch.optim.SGD([h1, h2], lr=0.5)
    losses = []
    for _ in range(30):
        loss = loss_fn(h1, h2, step_at(1000))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < losses[0] - 0.1


def test_runs_in_a_pipeline_with_the_schedule():
    from gcl import Pipeline
    from gcl.augment import Compose, DropEdge, MaskFeature
    from gcl.data import synthetic
    from gcl.encoders import GCNEncoder, ProjectionHead

    data = synthetic(num_nodes=60, num_features=12, num_classes=3, seed=0)
    pipe = Pipeline(GCNEncoder(12, 16), TeamUp(tau=0.5, gamma_max=0.02, t0=2, ramp=100),
                    augment=Compose([DropEdge(0.2), MaskFeature(0.2)]),
                    head=ProjectionHead(16, 16, 16), lr=0.01, device="cpu", seed=0, progress=False)
    history = pipe.fit(data, epochs=5)
    assert [e["gamma"] for e in history.epochs] == pytest.approx([0.0, 0.0, 0.01, 0.02, 0.02])
