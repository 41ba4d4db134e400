"""PamC loss vs. a naive dense implementation of the spec's formula (values and gradients)."""

from __future__ import annotations

import pytest
import torch

from gcl.objectives.pamc import (
    influence_matrix,
    meta_node_negative,
    node_pair_negative,
    pamc_loss,
    positive_term,
    student_t_assignment,
    target_distribution,
    temperature_from_multiplier,
)


@pytest.fixture(autouse=True)
def _float64():
    """Compare in double precision; restore the default dtype afterwards."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def naive_influence(edge_index, n, order, cumulative=True):
    """Dense S = sum_t Â^t, Â = rownorm(max(A, A^T) + I), by dense matrix powers."""
    a = torch.zeros(n, n)
    a[edge_index[0], edge_index[1]] = 1.0
    a = torch.maximum(a, a.t()) + torch.eye(n)
    a_hat = a / a.sum(1, keepdim=True)
    power, total = torch.eye(n), torch.zeros(n, n)
    for _ in range(order):
        power = power @ a_hat
        total = total + power
    return total if cumulative else power


def naive_cos(x, y=None):
    y = x if y is None else y
    return (x @ y.t()) / (x.norm(dim=1)[:, None] * y.norm(dim=1)[None, :])


def naive_pamc(z, S, labels, K, tau_mult, negatives="meta_node"):
    """The spec's formula, written with the reference's multiply-convention tau and the
    reference's N x K x d broadcast for meta-nodes; empty clusters are dropped explicitly."""
    n = z.size(0)
    s = naive_cos(z)
    s = s * (1 - torch.eye(n))  # diagonal forced to 0 before exp
    pos = (S * torch.exp(tau_mult * s)).sum(1)
    loss = -torch.log(pos + 1e-10).mean()
    if negatives == "node_pair":
        return loss + torch.log(torch.exp(tau_mult * s).sum(1)).mean()
    onehot = torch.nn.functional.one_hot(labels, K).to(z.dtype)
    meta = (z[:, None, :] * onehot[:, :, None]).sum(0)  # [K, d]
    present = [k for k in range(K) if int((labels == k).sum()) > 0]
    meta = meta[present]
    kk = len(present)
    m = naive_cos(meta) * (1 - torch.eye(kk))
    neg = torch.exp(tau_mult * m).sum(1)
    return loss + torch.log(neg + 1e-10).mean()


def _graph(n=12, seed=0, isolated=(10, 11)):
    gen = torch.Generator().manual_seed(seed)
    edges = torch.randint(0, n, (2, 20), generator=gen)
    keep = ~(torch.isin(edges[0], torch.tensor(isolated)) | torch.isin(edges[1],
                                                                       torch.tensor(isolated)))
    edges = edges[:, keep & (edges[0] != edges[1])]
    return edges


@pytest.mark.parametrize("order, cumulative", [(1, True), (3, True), (2, False)])
def test_influence_matrix_matches_dense_powers(order, cumulative):
    edges = _graph()
    S = influence_matrix(edges, 12, order, cumulative=cumulative)
    dense = naive_influence(edges, 12, order, cumulative)
    assert S.is_sparse
    assert torch.allclose(S.to_dense().double(), dense, atol=1e-6)
    expected_rows = float(order if cumulative else 1)
    assert torch.allclose(S.to_dense().sum(1).double(), torch.full((12,), expected_rows),
                          atol=1e-6)
    assert (torch.diagonal(S.to_dense()) > 0).all()


@pytest.mark.parametrize("negatives", ["meta_node", "node_pair"])
@pytest.mark.parametrize("tau_mult", [0.5, 1.5])
def test_loss_matches_naive_values_and_gradients(negatives, tau_mult):
    edges = _graph()
    n, K = 12, 4
    S = influence_matrix(edges, n, 2)
    S = torch.sparse_coo_tensor(S.indices(), S.values().double(), S.shape, check_invariants=False)
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(n, 5, generator=gen, requires_grad=True)
    labels = torch.arange(n) % K
    T = temperature_from_multiplier(tau_mult)
    ours = pamc_loss(z, S, labels, num_classes=K, temperature=T, negatives=negatives)
    (g_ours,) = torch.autograd.grad(ours, z)
    z2 = z.detach().clone().requires_grad_(True)
    ref = naive_pamc(z2, naive_influence(edges, n, 2), labels, K, tau_mult, negatives)
    (g_ref,) = torch.autograd.grad(ref, z2)
    assert torch.allclose(ours, ref, atol=1e-8)
    assert torch.allclose(g_ours, g_ref, atol=1e-8)


def test_soft_assignment_is_reduced_to_argmax():
    edges = _graph()
    S = influence_matrix(edges, 12)
    z = torch.randn(12, 3)
    q = torch.softmax(torch.randn(12, 3), 1)
    a = pamc_loss(z, S, q, temperature=2.0)
    b = pamc_loss(z, S, q.argmax(1), num_classes=3, temperature=2.0)
    assert torch.allclose(a, b)


def test_empty_clusters_are_left_out_without_nan():
    edges = _graph()
    n, K = 12, 6
    S = influence_matrix(edges, n)
    z = torch.randn(n, 4, requires_grad=True)
    labels = torch.tensor([0, 0, 2, 2, 2, 5, 5, 0, 2, 5, 0, 2])  # 1, 3, 4 empty (a low one too)
    loss = pamc_loss(z, S, labels, num_classes=K, temperature=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    ref = naive_pamc(z.detach(), naive_influence(edges, n, 1), labels, K, 1.0)
    assert torch.allclose(loss, ref, atol=1e-8)
    # the empty clusters change nothing: same as relabelling onto 3 clusters
    compact = torch.tensor([0, 1, 2])[torch.tensor([0, 0, 1, 1, 1, 2, 2, 0, 1, 2, 0, 1])]
    assert torch.allclose(loss, pamc_loss(z, S, compact, num_classes=3, temperature=1.0))


def test_single_cluster_and_k_equal_one_give_zero_negative_term():
    z = torch.randn(8, 3, requires_grad=True)
    single = meta_node_negative(z, torch.zeros(8, dtype=torch.long), 1, 0.5)
    assert float(single.detach()) == pytest.approx(0.0, abs=1e-9)  # log(1 + 1e-10)
    value = meta_node_negative(z, torch.full((8,), 2), 4, 0.5)
    assert float(value.detach()) == pytest.approx(0.0, abs=1e-9)
    value.backward()
    assert torch.equal(z.grad, torch.zeros_like(z))
    S = influence_matrix(torch.tensor([[0, 1], [1, 2]]), 8)
    loss = pamc_loss(z, S, torch.zeros(8, dtype=torch.long), num_classes=1)
    assert torch.isfinite(loss)


def test_isolated_nodes_get_no_positive_gradient():
    edges = torch.tensor([[0, 1, 2], [1, 2, 3]])
    S = influence_matrix(edges, 6, order=2)  # nodes 4 and 5 are isolated
    z = torch.randn(6, 3, requires_grad=True)
    loss = positive_term(z, S, 1.0)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.equal(z.grad[4:], torch.zeros(2, 3))
    assert z.grad[:4].abs().sum() > 0
    # Pos_i of an isolated node is its self-loop weight r = 2
    ref = -torch.log(torch.tensor([2.0]) + 1e-10)
    part = positive_term(z[4:], influence_matrix(torch.zeros(2, 0, dtype=torch.long), 2, 2), 1.0)
    assert torch.allclose(part, ref)


def test_two_view_terms_keep_the_self_pair():
    gen = torch.Generator().manual_seed(3)
    a, b = torch.randn(6, 3, generator=gen), torch.randn(6, 3, generator=gen)
    S = influence_matrix(torch.tensor([[0, 2], [1, 3]]), 6)
    Sd = S.to_dense().double()
    pos = (Sd * torch.exp(naive_cos(a, b) / 0.5)).sum(1)
    assert torch.allclose(positive_term(a, S, 0.5, other=b), -torch.log(pos + 1e-10).mean())
    neg = torch.log(torch.exp(naive_cos(a, b) / 0.5).sum(1)).mean()
    assert torch.allclose(node_pair_negative(a, 0.5, other=b), neg)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    onehot = torch.nn.functional.one_hot(labels, 3).double()
    m = naive_cos(onehot.t() @ a, onehot.t() @ b) * (1 - torch.eye(3))
    ref = torch.log(torch.exp(m / 0.5).sum(1) + 1e-10).mean()
    assert torch.allclose(meta_node_negative(a, labels, 3, 0.5, other=b), ref)
    soft = meta_node_negative(a, onehot, 3, 0.5, other=b, other_assignment=onehot)
    assert torch.allclose(soft, ref)


def test_dec_head_formulas():
    z, mu = torch.randn(5, 3), torch.randn(4, 3)
    q = student_t_assignment(z, mu)
    naive = 1.0 / (1.0 + ((z[:, None] - mu[None]) ** 2).sum(-1))
    assert torch.allclose(q, naive / naive.sum(1, keepdim=True))
    p = target_distribution(q)
    w = q ** 2 / q.sum(0)
    assert torch.allclose(p, w / w.sum(1, keepdim=True))


def test_bad_arguments_raise_clear_errors():
    S = influence_matrix(torch.tensor([[0], [1]]), 3)
    z = torch.randn(3, 2)
    with pytest.raises(ValueError, match="negatives"):
        pamc_loss(z, S, torch.tensor([0, 1, 0]), num_classes=2, negatives="nodes")
    with pytest.raises(ValueError, match="num_classes"):
        pamc_loss(z, S, torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="cluster ids"):
        pamc_loss(z, S, torch.tensor([0, 1, 5]), num_classes=2)
    with pytest.raises(ValueError, match="sparse"):
        pamc_loss(z, S.to_dense(), torch.tensor([0, 1, 0]), num_classes=2)
    with pytest.raises(ValueError, match="tau"):
        temperature_from_multiplier(0)
