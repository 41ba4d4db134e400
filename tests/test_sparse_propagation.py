"""The GCN encoder's sparse-matrix propagation and PamC's pair dot products against the
gather/scatter computations they replace (values and gradients, float64)."""

import pytest
import torch
from torch_geometric.nn import GCNConv

from gcl.encoders import GCNEncoder, propagation_matrix
from gcl.objectives.pamc import pair_dot


def _graph(n=60, e=400, seed=0):
    gen = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=gen)
    # a self-loop and a duplicated edge: GCNConv keeps the loop's weight and sums duplicates
    ei = torch.cat([ei, torch.tensor([[3, 5, 5], [3, 7, 7]])], 1)
    return ei, torch.rand(ei.size(1), generator=gen, dtype=torch.float64) + 0.1


@pytest.mark.parametrize("weighted", [False, True])
def test_propagation_matrix_matches_gcnconv(weighted):
    ei, w = _graph()
    conv = GCNConv(6, 6, bias=False).double()
    with torch.no_grad():
        conv.lin.weight.copy_(torch.eye(6, dtype=torch.float64))
    x = torch.randn(60, 6, dtype=torch.float64)
    ew = w if weighted else None
    adj = propagation_matrix(ei, ew, 60, dtype=torch.float64)
    assert adj.layout == torch.sparse_csr
    torch.testing.assert_close(torch.sparse.mm(adj, x), conv(x, ei, ew), rtol=0, atol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("activation", ["prelu", "relu"])
def test_encoder_sparse_propagation_equals_gcnconv_path(weighted, activation):
    ei, w = _graph(seed=1)
    torch.manual_seed(0)
    enc = GCNEncoder(12, 8, activation=activation).double()
    x = torch.randn(60, 12, dtype=torch.float64, requires_grad=True)
    ew = w if weighted else None
    results = []
    for sparse in (True, False):
        enc.sparse_propagation = sparse
        out = enc(x, ei, ew)
        grads = torch.autograd.grad((out.sin() * torch.arange(8.0, dtype=out.dtype)).sum(),
                                    [x, *enc.parameters()])
        results.append((out, grads))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for p, q in zip(ga, gb):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-10)


def test_encoder_uses_gcnconv_when_edge_weights_need_grad():
    ei, w = _graph(seed=2)
    enc = GCNEncoder(5, 4).double()
    w = w.clone().requires_grad_(True)
    out = enc(torch.randn(60, 5, dtype=torch.float64), ei, w)
    (g,) = torch.autograd.grad(out.sum(), [w])
    assert g.shape == w.shape and bool(g.abs().sum() > 0)


def test_pair_dot_equals_gather_values_and_gradients():
    gen = torch.Generator().manual_seed(3)
    a = torch.randn(30, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(25, 7, dtype=torch.float64, generator=gen, requires_grad=True)
    pairs = torch.stack([torch.randint(0, 30, (120,), generator=gen),
                         torch.randint(0, 25, (120,), generator=gen)])
    row, col = torch.sparse_coo_tensor(pairs, torch.ones(120), (30, 25)).coalesce().indices()
    ref = (a[row] * b[col]).sum(-1)
    got = pair_dot(a, b, row, col)
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-12)
    weights = torch.randn(row.numel(), dtype=torch.float64, generator=gen)
    g_ref = torch.autograd.grad((ref * weights).sum(), [a, b])
    g_got = torch.autograd.grad((got * weights).sum(), [a, b])
    for p, q in zip(g_got, g_ref):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    assert torch.autograd.gradcheck(lambda u, v: pair_dot(u, v, row, col), (a, b))


def test_pair_dot_unsorted_and_empty_pairs():
    a, b = torch.randn(4, 3), torch.randn(5, 3)
    row, col = torch.tensor([2, 0, 3]), torch.tensor([4, 1, 0])  # not sorted by row
    torch.testing.assert_close(pair_dot(a, b, row, col), (a[row] * b[col]).sum(-1))
    empty = torch.zeros(0, dtype=torch.long)
    assert pair_dot(a, b, empty, empty).shape == (0,)
