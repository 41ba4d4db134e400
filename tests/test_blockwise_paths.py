"""The blockwise InfoNCE's two exponential paths, against a naive float64 reference.

The one-exponential path (``E = exp(S)`` without a shift, both softmax directions read from it)
is exact only while ``1/τ`` plus the bias spread stays inside the float range; the general path
(running maxima, two exponentials) covers the rest. Both are checked against a reference written
from the loss's definition, a plain loop over anchors in float64.
"""

import math

import pytest
import torch
import torch.nn.functional as F

import gcl.objectives.blockwise as bw
from gcl.objectives import info_nce


def _reference_loss(h1, h2, tau, bias=None, intra=True, symmetric=True):
    """Mean InfoNCE from the definition, one anchor at a time, in float64."""
    z1 = F.normalize(h1.double(), dim=1)
    z2 = F.normalize(h2.double(), dim=1)
    n = z1.size(0)
    b = torch.zeros(n, dtype=torch.float64) if bias is None else bias.double()

    def anchor_loss(za, zb, i):
        logits = [float(za[i] @ zb[j]) / tau + float(b[j]) for j in range(n)]
        if intra:
            logits += [float(za[i] @ za[j]) / tau + float(b[j]) for j in range(n) if j != i]
        m = max(logits)
        lse = m + math.log(sum(math.exp(x - m) for x in logits))
        return lse - logits[i]

    total = 0.0
    for i in range(n):
        one = anchor_loss(z1, z2, i)
        total += 0.5 * (one + anchor_loss(z2, z1, i)) if symmetric else one
    return total / n


def _close(a, b, rtol):
    return (a - b).abs().max() <= rtol * b.abs().max()


@pytest.mark.parametrize("tau,bias_scale", [(0.5, 0.0), (0.5, 3.0), (1 / 50, 0.0), (1 / 40, 1.5),
                                            (1e-3, 0.0), (0.5, 80.0)])
@pytest.mark.parametrize("intra,symmetric", [(True, True), (True, False), (False, True)])
def test_each_path_matches_the_reference(tau, bias_scale, intra, symmetric):
    g = torch.Generator().manual_seed(7)
    n, d = 23, 5
    h1 = torch.randn(n, d, generator=g)
    h2 = torch.randn(n, d, generator=g)
    bias = bias_scale * torch.rand(n, generator=g) if bias_scale else None
    ref = _reference_loss(h1, h2, tau, bias, intra, symmetric)
    for dtype, rtol in [(torch.float64, 1e-10), (torch.float32, 2e-5)]:
        got = info_nce(h1.to(dtype), h2.to(dtype), tau, col_bias=None if bias is None
                       else bias.to(dtype), intra_view=intra, symmetric=symmetric, block_size=6)
        assert float(got) == pytest.approx(ref, rel=rtol), (dtype, tau, bias_scale)


def _plan_single(n, tau, bias, dtype=torch.float32):
    u = torch.zeros(n, 3, dtype=dtype)
    return bw._Plan(u, bias, tau, True, True, 4, "fp32", None).single


def test_path_choice_follows_the_float_range():
    limit = bw.single_exp_range(torch.float32, 100)
    assert 55 < limit < 71
    assert _plan_single(100, 0.5, None) and _plan_single(100, 1 / (limit - 1), None)
    assert not _plan_single(100, 1 / (limit + 1), None)
    spread = torch.tensor([0.0, (limit - 2.0 - 1) / 2])  # 1/τ + 2R just inside
    assert _plan_single(100, 0.5, spread.repeat(50))
    assert not _plan_single(100, 0.5, (spread + torch.tensor([0.0, 1.0])).repeat(50))
    # float64 keeps the one-exponential path down to far smaller temperatures
    assert _plan_single(100, 1e-2, None, torch.float64) and not _plan_single(100, 1e-2, None)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("intra,symmetric", [(True, True), (True, False), (False, True),
                                             (False, False)])
def test_general_path_equals_the_one_exponential_path(monkeypatch, bias, intra, symmetric):
    """Values and gradients of both paths agree on inputs either can take (float64)."""
    g = torch.Generator().manual_seed(8)
    n = 57
    h1 = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
    h2 = torch.randn(n, 6, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.rand(n, generator=g, dtype=torch.float64) if bias else None
    out = []
    for limit in (math.inf, -math.inf):  # every call one-exponential, then every call general
        monkeypatch.setattr(bw, "single_exp_range", lambda dtype, n, limit=limit: limit)
        for keep in (0, 2**24):
            loss = info_nce(h1, h2, 0.3, col_bias=b, intra_view=intra, symmetric=symmetric,
                            block_size=16, keep_bytes=keep)
            out.append((loss.detach(), *torch.autograd.grad(loss, (h1, h2))))
    for other in out[1:]:
        for x, y in zip(other, out[0]):
            torch.testing.assert_close(x, y, rtol=1e-11, atol=1e-13)


def test_bias_spread_given_or_read_gives_the_same_loss():
    g = torch.Generator().manual_seed(9)
    u1 = F.normalize(torch.randn(40, 4, generator=g), dim=1)
    u2 = F.normalize(torch.randn(40, 4, generator=g), dim=1)
    b = 2.0 * torch.rand(40, generator=g)
    read = bw.blockwise_info_nce_normalized(u1, u2, 0.5, col_bias=b, block_size=8)
    given = bw.blockwise_info_nce_normalized(u1, u2, 0.5, col_bias=b, block_size=8,
                                             bias_spread=2.0)
    torch.testing.assert_close(read, given, rtol=0, atol=0)
    with pytest.raises(ValueError, match="bias_spread"):
        bw.blockwise_info_nce_normalized(u1, u2, 0.5, col_bias=b, bias_spread=-1.0)


def test_one_exponential_path_exponentiates_each_entry_once_per_pass(monkeypatch):
    """The forward pass exponentiates every computed similarity once, the backward pass once
    more: 2 (N² + 2 · triangle) exponentials in all, half of the general path's."""
    counted = []
    for name in ("exp_", "exp2_"):  # base 2 in full precision (faster on the CPU)
        real = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, real=real: counted.append(
            self.numel()) or real(self))
    n, block = 64, 16
    g = torch.Generator().manual_seed(10)
    h1 = torch.randn(n, 8, generator=g, requires_grad=True)
    h2 = torch.randn(n, 8, generator=g, requires_grad=True)
    info_nce(h1, h2, 0.5, block_size=block).backward()
    entries = n * n + 2 * bw._triangle_elements(n, block)
    assert sum(counted) == 2 * entries
