"""MVGRL's diffusion view against a dense personalised PageRank on small graphs, its
sparsification (threshold, MVGRL's epsilon rule, top-k), the min-max scaling against
scikit-learn's MinMaxScaler, and the normalised adjacency view."""

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.transforms import GDC
from torch_geometric.utils import to_undirected

from gcl.augment import NormalizedAdjacency, PPRDiffusion, column_minmax, ppr_diffusion
from gcl.augment.diffusion import MVGRL_EPSILONS


def _graph(n=12, e=20, seed=0, directed=False):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    return ei if directed else to_undirected(ei, num_nodes=n)


def dense_ppr(ei, n, alpha, loop=1.0):
    """MVGRL's compute_ppr: a = A + wI (row = receiving node), T = D^-1/2 a D^-1/2,
    S = alpha (I - (1 - alpha) T)^-1, with a dense inverse."""
    a = torch.zeros(n, n, dtype=torch.float64)
    a.index_put_((ei[1], ei[0]), torch.ones(ei.size(1), dtype=torch.float64), accumulate=True)
    a = a + loop * torch.eye(n, dtype=torch.float64)
    dinv = a.sum(1).pow(-0.5)
    t = dinv[:, None] * a * dinv[None, :]
    return alpha * torch.linalg.inv(torch.eye(n, dtype=torch.float64) - (1 - alpha) * t)


def to_dense(ei, w, n):
    m = torch.zeros(n, n, dtype=w.dtype)
    m[ei[1], ei[0]] = w  # edge j -> i is entry (i, j)
    return m


@pytest.mark.parametrize("alpha,directed", [(0.2, False), (0.5, False), (0.15, True)])
def test_ppr_equals_dense_inverse(alpha, directed):
    n = 12
    ei = _graph(n, seed=3, directed=directed)
    ei2, w = ppr_diffusion(ei, n, alpha, threshold=None, tol=1e-12, block_size=5,
                           dtype=torch.float64)
    ours, ref = to_dense(ei2, w, n), dense_ppr(ei, n, alpha)
    assert torch.allclose(ours, ref, atol=1e-10)


def test_ppr_equals_pyg_gdc_exact():
    n, alpha = 10, 0.2
    ei = _graph(n, seed=5)
    gdc = GDC()
    loops = torch.cat([ei, torch.arange(n).repeat(2, 1)], dim=1)
    t_ei, t_w = gdc.transition_matrix(loops, torch.ones(loops.size(1), dtype=torch.float64), n,
                                      "sym")
    ref = gdc.diffusion_matrix_exact(t_ei, t_w, n, "ppr", alpha=alpha)  # dense, symmetric
    ei2, w = ppr_diffusion(ei, n, alpha, threshold=None, tol=1e-12, dtype=torch.float64)
    assert torch.allclose(to_dense(ei2, w, n), ref, atol=1e-8)


def test_threshold_topk_and_mvgrl_rule():
    n, alpha = 30, 0.2
    ei = _graph(n, e=60, seed=1)
    dense = dense_ppr(ei, n, alpha)
    ei2, w = ppr_diffusion(ei, n, alpha, threshold=0.01, tol=1e-12, dtype=torch.float64)
    assert torch.equal(to_dense(ei2, w, n) != 0, dense >= 0.01)
    # MVGRL's rule: the epsilon whose kept entries per node are closest to the average degree
    avg = ei.size(1) / n
    counts = [float((dense >= e).sum()) / n for e in MVGRL_EPSILONS]
    eps = MVGRL_EPSILONS[min(range(4), key=lambda i: abs(avg - counts[i]))]
    ei3, w3 = ppr_diffusion(ei, n, alpha, threshold="auto", tol=1e-12, dtype=torch.float64)
    assert torch.allclose(to_dense(ei3, w3, n), dense * (dense >= eps))
    # top-k per receiving node
    ei4, w4 = ppr_diffusion(ei, n, alpha, top_k=3, tol=1e-12, dtype=torch.float64)
    ours = to_dense(ei4, w4, n)
    assert int((ours != 0).sum(1).max()) == 3
    assert torch.allclose(ours.sort(1, descending=True).values[:, :3],
                          dense.sort(1, descending=True).values[:, :3])


def test_column_minmax_equals_sklearn():
    sklearn = pytest.importorskip("sklearn.preprocessing")
    n = 15
    ei = _graph(n, e=30, seed=2)
    dense = dense_ppr(ei, n, 0.2)
    dense = dense * (dense >= 0.02)
    idx = dense.nonzero().t()  # (i, j) entries -> edges j -> i
    ei2 = torch.stack([idx[1], idx[0]])
    w = column_minmax(ei2, dense[idx[0], idx[1]], n)
    ref = torch.from_numpy(sklearn.MinMaxScaler().fit_transform(dense.numpy()))
    assert torch.allclose(to_dense(ei2, w, n), ref * (dense != 0))


def test_views_are_fixed_cached_and_sorted():
    n = 12
    data = Data(x=torch.randn(n, 3), edge_index=_graph(n, seed=4))
    view = PPRDiffusion(threshold=1e-3)
    calls = []
    compute = view.compute
    view.compute = lambda d: calls.append(1) or compute(d)
    out1, out2 = view(data), view(data)
    assert len(calls) == 1 and out1.edge_index is out2.edge_index
    view.eval()  # a fixed view applies in evaluation too
    assert view(data).edge_index.size(1) == out1.edge_index.size(1)
    key = out1.edge_index[1] * n + out1.edge_index[0]
    assert bool((key[1:] > key[:-1]).all())
    assert data.edge_index.size(1) != out1.edge_index.size(1) and "edge_weight" not in data


@pytest.mark.parametrize("improved", [False, True])
def test_normalized_adjacency_equals_dense(improved):
    n = 9
    ei = _graph(n, seed=6)
    out = NormalizedAdjacency(improved=improved)(Data(x=torch.ones(n, 1), edge_index=ei))
    a = torch.zeros(n, n)
    a[ei[1], ei[0]] = 1
    a = a + (2.0 if improved else 1.0) * torch.eye(n)
    d = a.sum(1).pow(-0.5)
    assert torch.allclose(to_dense(out.edge_index, out.edge_weight, n), d[:, None] * a * d[None],
                          atol=1e-6)


def test_ppr_argument_errors():
    ei = _graph(5)
    with pytest.raises(ValueError, match="alpha"):
        ppr_diffusion(ei, 5, 0.0)
    with pytest.raises(ValueError, match="threshold or top_k"):
        ppr_diffusion(ei, 5, 0.2, threshold=0.1, top_k=2)
    with pytest.raises(ValueError, match="threshold"):
        PPRDiffusion(threshold="dense")
