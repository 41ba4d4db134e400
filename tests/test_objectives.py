"""InfoNCE against a naive implementation of GRACE's formula, a closed form, symmetry, stability
and the "loss falls under gradient steps" check."""

import math

import pytest
import torch
import torch.nn.functional as F

from gcl.objectives import InfoNCE, Regularizer, Step, info_nce


def naive_grace_loss(h1, h2, tau, col_bias=None, intra_view=True, symmetric=True):
    """GRACE's loss written literally with exp / sum / log and explicit loops over anchors."""
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    n = z1.size(0)
    b = torch.zeros(n, dtype=h1.dtype) if col_bias is None else col_bias

    def direction(a, o):
        losses = []
        for i in range(n):
            pos = torch.exp((a[i] @ o[i]) / tau + b[i])
            denom = sum(torch.exp((a[i] @ o[j]) / tau + b[j]) for j in range(n))
            if intra_view:
                denom = denom + sum(torch.exp((a[i] @ a[j]) / tau + b[j])
                                    for j in range(n) if j != i)
            losses.append(-torch.log(pos / denom))
        return torch.stack(losses)

    loss = direction(z1, z2)
    if symmetric:
        loss = 0.5 * (loss + direction(z2, z1))
    return loss.mean()


@pytest.mark.parametrize("n,d,tau", [(7, 5, 0.5), (12, 3, 0.2), (2, 4, 1.0)])
@pytest.mark.parametrize("intra_view,symmetric", [(True, True), (False, True), (True, False)])
def test_matches_naive_values_and_gradients(n, d, tau, intra_view, symmetric):
    g = torch.Generator().manual_seed(n * 100 + d)
    h1 = torch.randn(n, d, dtype=torch.float64, generator=g, requires_grad=True)
    h2 = torch.randn(n, d, dtype=torch.float64, generator=g, requires_grad=True)
    bias = torch.randn(n, dtype=torch.float64, generator=g)
    for cb in (None, bias):
        ours = info_nce(h1, h2, tau, col_bias=cb, intra_view=intra_view, symmetric=symmetric)
        ref = naive_grace_loss(h1, h2, tau, cb, intra_view, symmetric)
        assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-12)
        g_ours = torch.autograd.grad(ours, (h1, h2))
        g_ref = torch.autograd.grad(ref, (h1, h2))
        for a, b in zip(g_ours, g_ref):
            assert torch.allclose(a, b, rtol=1e-8, atol=1e-10)


def test_closed_form_identical_orthogonal_views():
    # N orthonormal embeddings, identical views: every positive has cosine 1, every other pair 0.
    n, tau = 4, 0.5
    h = torch.eye(n)
    e = math.exp(1 / tau)
    expected = -math.log(e / (e + (n - 1) + (n - 1)))
    assert info_nce(h, h, tau).item() == pytest.approx(expected, rel=1e-6)
    expected_no_intra = -math.log(e / (e + (n - 1)))
    assert info_nce(h, h, tau, intra_view=False).item() == pytest.approx(expected_no_intra, rel=1e-6)


def test_symmetric_in_the_two_views():
    h1, h2 = torch.randn(20, 8), torch.randn(20, 8)
    assert torch.allclose(info_nce(h1, h2, 0.3), info_nce(h2, h1, 0.3), atol=1e-6)


def test_scale_invariant_because_cosine():
    h1, h2 = torch.randn(10, 6), torch.randn(10, 6)
    assert torch.allclose(info_nce(h1, h2, 0.4), info_nce(3 * h1, 0.5 * h2, 0.4), atol=1e-6)


def test_constant_column_bias_cancels():
    h1, h2 = torch.randn(10, 6), torch.randn(10, 6)
    shifted = info_nce(h1, h2, 0.4, col_bias=torch.full((10,), 3.0))
    assert torch.allclose(info_nce(h1, h2, 0.4), shifted, atol=1e-5)


def test_stable_for_tiny_temperature():
    torch.manual_seed(1)
    h1, h2 = torch.randn(30, 16), torch.randn(30, 16)
    # exp(1 / 1e-3) overflows float32 (and float64), so the literal formula cannot be used here;
    # the log-sum-exp form must stay finite and agree with a float64 evaluation of itself.
    assert not torch.isfinite(torch.exp(torch.tensor(1 / 1e-3))).item()
    loss = info_nce(h1, h2, tau=1e-3)
    assert torch.isfinite(loss)
    ref = info_nce(h1.double(), h2.double(), tau=1e-3)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-4)


def test_loss_falls_under_gradient_steps_on_embeddings():
    torch.manual_seed(0)
    h1 = torch.randn(32, 8, requires_grad=True)
    h2 = torch.randn(32, 8, requires_grad=True)
    loss_fn = InfoNCE(tau=0.5)
    initial = loss_fn(h1, h2).item()
    for _ in range(30):
        loss = loss_fn(h1, h2)
        loss.backward()
        with torch.no_grad():
            h1 -= 0.5 * h1.grad
            h2 -= 0.5 * h2.grad
        h1.grad = h2.grad = None
    assert loss_fn(h1, h2).item() < initial - 0.5


def test_single_node_is_finite():
    h = torch.randn(1, 4, requires_grad=True)
    loss = info_nce(h, h * 2, 0.5)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(h.grad).all()


def test_module_matches_functional_and_repr():
    h1, h2 = torch.randn(9, 4), torch.randn(9, 4)
    assert torch.allclose(InfoNCE(tau=0.3)(h1, h2), info_nce(h1, h2, 0.3))
    assert repr(InfoNCE(tau=0.3)) == "InfoNCE(tau=0.3, intra_view=True, symmetric=True)"


@pytest.mark.parametrize("call,match", [
    (lambda: info_nce(torch.randn(3, 2), torch.randn(4, 2)), "same shape"),
    (lambda: info_nce(torch.randn(3), torch.randn(3)), r"\[N, d\]"),
    (lambda: info_nce(torch.randn(0, 2), torch.randn(0, 2)), "empty"),
    (lambda: info_nce(torch.randn(3, 2), torch.randn(3, 2), tau=0), "tau"),
    (lambda: info_nce(torch.randn(3, 2), torch.randn(3, 2), col_bias=torch.ones(2)), "col_bias"),
    (lambda: InfoNCE(tau=-1.0), "tau"),
    (lambda: info_nce(torch.randn(3, 2), torch.randn(3, 2), reduction="max"), "reduction"),
])
def test_argument_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_regularizer_default_combination_and_step_logs():
    class Square(Regularizer):
        def forward(self, step):
            return step.z[0].pow(2).mean()

    z = torch.ones(2, 2)
    step = Step(epoch=1, data=None, views=(None, None), z=(z, z), h=(z, z))
    reg = Square(weight=0.5)
    assert reg.combine(torch.tensor(1.0), reg(step)).item() == pytest.approx(1.5)
    step.log("part", torch.tensor(2.0))
    assert step.logs == {"part": 2.0}
    with pytest.raises(ValueError, match="weight"):
        Square(weight=-1.0)
