"""The blockwise InfoNCE equals the dense one (values and gradients), with and without bias."""

import pytest
import torch
import torch.nn.functional as F

from gcl.objectives import InfoNCE, info_nce
from gcl.objectives.blockwise import auto_block_size, blockwise_info_nce_normalized
from gcl.objectives.infonce import DENSE_MAX_NODES


def _inputs(n, d, dtype, seed, bias):
    g = torch.Generator().manual_seed(seed)
    h1 = torch.randn(n, d, dtype=dtype, generator=g, requires_grad=True)
    h2 = torch.randn(n, d, dtype=dtype, generator=g, requires_grad=True)
    b = torch.randn(n, dtype=dtype, generator=g) if bias else None
    return h1, h2, b


def _rel_close(a, b, rtol, atol=0.0):
    return (a - b).abs().max() <= max(rtol * float(b.abs().max()), atol)


@pytest.mark.parametrize("n,d,block", [(1, 3, 1), (5, 3, 2), (64, 16, 7), (300, 32, 64),
                                       (513, 24, 128), (1200, 64, 256)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
def test_blockwise_equals_dense(n, d, block, bias, dtype, rtol):
    h1, h2, b = _inputs(n, d, dtype, seed=n + d, bias=bias)
    # With one node the loss and its gradients are exactly zero in theory: compare in ulps there.
    atol = 4 * torch.finfo(dtype).eps if n == 1 else 0.0
    for intra, sym in [(True, True), (False, True), (True, False), (False, False)]:
        dense = info_nce(h1, h2, 0.4, col_bias=b, intra_view=intra, symmetric=sym, block_size=0)
        blk = info_nce(h1, h2, 0.4, col_bias=b, intra_view=intra, symmetric=sym, block_size=block)
        assert _rel_close(blk, dense, rtol, atol), (intra, sym, blk.item(), dense.item())
        gd = torch.autograd.grad(dense, (h1, h2))
        gb = torch.autograd.grad(blk, (h1, h2))
        for x, y in zip(gb, gd):
            assert _rel_close(x, y, rtol, atol), (intra, sym)


def test_scaled_upstream_gradient_and_sum_reduction():
    h1, h2, _ = _inputs(40, 8, torch.float64, seed=1, bias=False)
    dense = 3.0 * info_nce(h1, h2, 0.5, block_size=0, reduction="sum")
    blk = 3.0 * info_nce(h1, h2, 0.5, block_size=9, reduction="sum")
    assert torch.allclose(blk, dense)
    for x, y in zip(torch.autograd.grad(blk, (h1, h2)), torch.autograd.grad(dense, (h1, h2))):
        assert torch.allclose(x, y)


def test_small_temperature_is_stable_blockwise():
    h1, h2, b = _inputs(200, 16, torch.float32, seed=2, bias=True)
    loss = info_nce(h1, h2, 1e-3, col_bias=b * 100, block_size=32)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h1.grad).all() and torch.isfinite(h2.grad).all()
    ref = info_nce(h1.double(), h2.double(), 1e-3, col_bias=(b * 100).double(), block_size=0)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-4)


def test_automatic_selection_and_module_option(monkeypatch):
    calls = []
    import gcl.objectives.infonce as mod

    real = mod.blockwise_info_nce_normalized
    monkeypatch.setattr(mod, "blockwise_info_nce_normalized",
                        lambda *a, **k: calls.append(k["block_size"]) or real(*a, **k))
    small = torch.randn(DENSE_MAX_NODES, 4)
    info_nce(small, small, 0.5)
    assert calls == []  # dense up to the threshold
    big = torch.randn(DENSE_MAX_NODES + 1, 4)
    info_nce(big, big, 0.5)
    assert calls == [None]  # blockwise with the automatic block size above it
    InfoNCE(tau=0.5, block_size=16)(small, small)
    assert calls[-1] == 16
    info_nce(big, big, 0.5, reduction="none")  # per-node values need the dense path
    assert len(calls) == 2


def test_differentiable_bias_falls_back_to_dense_and_explicit_call_refuses():
    h1, h2, _ = _inputs(30, 4, torch.float64, seed=3, bias=False)
    b = torch.zeros(30, dtype=torch.float64, requires_grad=True)
    loss = info_nce(h1, h2, 0.5, col_bias=b, block_size=8)  # dense fallback: bias gets a gradient
    (gb,) = torch.autograd.grad(loss, (b,))
    assert gb.abs().max() > 1e-6  # the bias is trained through the dense path
    assert abs(float(gb.sum())) < 1e-10  # shifting every column by one constant changes nothing
    with pytest.raises(ValueError, match="detach"):
        blockwise_info_nce_normalized(F.normalize(h1), F.normalize(h2), 0.5, col_bias=b)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "auto"])
def test_block_size_errors(bad):
    with pytest.raises(ValueError, match="block_size"):
        info_nce(torch.randn(3, 2), torch.randn(3, 2), block_size=bad)


def test_auto_block_size():
    assert auto_block_size(100) == 100
    assert auto_block_size(13_752) == 256
    assert auto_block_size(10**7) >= 1
    assert auto_block_size(169_343, device="cuda") % 64 == 0


@pytest.mark.parametrize("intra,symmetric", [(True, True), (True, False), (False, True)])
def test_kept_blocks_equal_recomputed_blocks(monkeypatch, intra, symmetric):
    import gcl.objectives.blockwise as bw

    gen = torch.Generator().manual_seed(4)
    u1 = F.normalize(torch.randn(70, 6, generator=gen, dtype=torch.float64), dim=1)
    u2 = F.normalize(torch.randn(70, 6, generator=gen, dtype=torch.float64), dim=1)
    bias = torch.rand(70, generator=gen, dtype=torch.float64)
    results = []
    for limit in (256 * 2**20, 0):
        monkeypatch.setattr(bw, "KEEP_BLOCKS_BYTES", limit)
        a, b = u1.clone().requires_grad_(True), u2.clone().requires_grad_(True)
        loss = blockwise_info_nce_normalized(a, b, 0.4, col_bias=bias, intra_view=intra,
                                             symmetric=symmetric, block_size=16)
        results.append((loss.detach(), *torch.autograd.grad(loss, [a, b])))
    for kept, recomputed in zip(*results):
        torch.testing.assert_close(kept, recomputed, rtol=0, atol=1e-14)


def test_kept_blocks_survive_a_second_backward(monkeypatch):
    import gcl.objectives.blockwise as bw

    monkeypatch.setattr(bw, "KEEP_BLOCKS_BYTES", 256 * 2**20)
    gen = torch.Generator().manual_seed(5)
    u1 = F.normalize(torch.randn(40, 5, generator=gen), dim=1).requires_grad_(True)
    u2 = F.normalize(torch.randn(40, 5, generator=gen), dim=1)
    loss = blockwise_info_nce_normalized(u1, u2, 0.5, block_size=8)
    (g1,) = torch.autograd.grad(loss, [u1], retain_graph=True)
    (g2,) = torch.autograd.grad(loss, [u1])
    torch.testing.assert_close(g1, g2, rtol=0, atol=1e-6)


def test_keep_bytes_per_call_and_per_recipe():
    from gcl.data import synthetic
    from gcl.methods import get_method, load_config
    from gcl.objectives import InfoNCE

    gen = torch.Generator().manual_seed(6)
    u1 = F.normalize(torch.randn(50, 4, generator=gen, dtype=torch.float64), dim=1)
    u2 = F.normalize(torch.randn(50, 4, generator=gen, dtype=torch.float64), dim=1)
    out = []
    for keep in (0, 2**20):
        a = u1.clone().requires_grad_(True)
        loss = blockwise_info_nce_normalized(a, u2, 0.5, block_size=16, keep_bytes=keep)
        out.append((loss.detach(), *torch.autograd.grad(loss, [a])))
    for x, y in zip(*out):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="keep_bytes"):
        blockwise_info_nce_normalized(u1, u2, 0.5, keep_bytes=-1)
    with pytest.raises(ValueError, match="keep_blocks_mb"):
        InfoNCE(keep_blocks_mb=-1)
    data = synthetic(num_nodes=30, num_features=5, num_classes=2, seed=0)
    for method in ("grace", "gca", "csgcl"):
        cfg = load_config(method, "synthetic", overrides={"keep_blocks_mb": 2})
        assert get_method(method).build({**cfg, "device": "cpu"}, data).objective.keep_bytes == 2**21
        cfg = load_config(method, "synthetic")
        assert get_method(method).build({**cfg, "device": "cpu"}, data).objective.keep_bytes is None


@pytest.mark.parametrize("n,block", [(2, 1), (7, 1), (7, 3), (50, 16), (50, 50)])
@pytest.mark.parametrize("bias", [False, True])
def test_intra_view_log_sum_exp_from_the_upper_triangle(n, block, bias):
    """The intra-view row log-sum-exps, computed from row blocks ``S[s:e, s:]`` only (each entry
    once, sent to its row and its column), equal the dense ones without the diagonal."""
    from gcl.objectives.blockwise import _intra_lse, _triangle_elements

    gen = torch.Generator().manual_seed(n + block)
    u = F.normalize(torch.randn(n, 5, generator=gen, dtype=torch.float64), dim=1)
    b = torch.randn(n, generator=gen, dtype=torch.float64) if bias else None
    dense = u @ u.t() / 0.3 + (0 if b is None else b.unsqueeze(0))
    dense.fill_diagonal_(float("-inf"))
    kept: list = []
    got = _intra_lse(u, b, 1 / 0.3, block, kept)
    torch.testing.assert_close(got, torch.logsumexp(dense, dim=1), rtol=1e-12, atol=0)
    # the kept blocks are the upper triangle's row blocks: about half of the matrix
    assert sum(q.numel() for q in kept) == _triangle_elements(n, block)
    assert [q.shape for q in kept][0] == (min(block, n), n)
