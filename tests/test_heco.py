"""HeCo: the co-contrastive loss and its positives against naive transcriptions of the paper and
the reference code, the schema view's neighbour sampling, the encoder's parts, the module."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from gcl.data import synthetic_metapath_graph
from gcl.encoders.heco import HeCoEncoder, MetaPathViewEncoder, NeighborAttention
from gcl.methods import get_method, load_config
from gcl.modules.heco import row_normalize, sample_fixed_neighbors, schema_neighbors
from gcl.objectives.heco import CoContrastiveLoss, co_contrastive_loss, heco_positives


def naive_heco_loss(z_mp, z_sc, pos, tau, lam):
    """HeCo's Contrast.forward written out (eq. 9-11 of the paper): cosine / τ exponentiated,
    each row divided by its sum, the positives' share, -log, both directions."""
    n = z_mp.shape[0]
    sim = torch.empty(n, n, dtype=z_mp.dtype)
    for i in range(n):
        for j in range(n):
            sim[i, j] = torch.exp(torch.dot(z_mp[i], z_sc[j])
                                  / (z_mp[i].norm() * z_sc[j].norm()) / tau)
    mp2sc = sim / sim.sum(1, keepdim=True)
    sc2mp = sim.t() / sim.t().sum(1, keepdim=True)
    l_mp = -torch.log((mp2sc * pos).sum(1)).mean()
    l_sc = -torch.log((sc2mp * pos).sum(1)).mean()
    return lam * l_mp + (1 - lam) * l_sc


def _random_positives(n, per_row, seed):
    gen = torch.Generator().manual_seed(seed)
    pos = torch.zeros(n, n, dtype=torch.bool)
    for i in range(n):
        pos[i, torch.randperm(n, generator=gen)[:per_row]] = True
    return pos


@pytest.mark.parametrize("tau,per_row", [(0.8, 2), (0.5, 9), (0.02, 3)])
def test_loss_matches_the_reference_formula_in_value_and_gradient(tau, per_row):
    """Few positives (row dot products), many (read from the matrix) and a tiny τ (the
    max-shifted path) all equal the written-out formula."""
    torch.manual_seed(0)
    n, d = 12, 5
    a = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    b = torch.randn(n, d, dtype=torch.float64, requires_grad=True)
    pos = _random_positives(n, per_row, seed=1)
    ours = co_contrastive_loss(a, b, pos, tau=tau, lam=0.3)
    ref = naive_heco_loss(a, b, pos.double(), tau, 0.3)
    ga = torch.autograd.grad(ours, (a, b))
    gr = torch.autograd.grad(ref, (a, b))
    assert torch.allclose(ours, ref, rtol=1e-10, atol=1e-10)
    for x, y in zip(ga, gr):
        assert torch.allclose(x, y, rtol=1e-8, atol=1e-10)


def test_loss_accepts_an_index_and_refuses_a_row_without_positives():
    torch.manual_seed(0)
    a, b = torch.randn(6, 3), torch.randn(6, 3)
    pos = _random_positives(6, 2, seed=0)
    assert torch.allclose(co_contrastive_loss(a, b, pos), co_contrastive_loss(a, b, pos.nonzero().t()))
    pos[3] = False
    with pytest.raises(ValueError, match="at least one positive"):
        co_contrastive_loss(a, b, pos)


def naive_positives(adjs, pos_num):
    """data/pos.py of the reference, on dense 0/1 matrices, ties to the lower column."""
    all_ = sum(a / a.sum(1, keepdims=True) for a in adjs).astype(np.float32)
    out = np.zeros_like(all_)
    for i in range(len(all_)):
        one = all_[i].nonzero()[0]
        if len(one) > pos_num:
            order = sorted(range(len(one)), key=lambda k: (-all_[i, one[k]], one[k]))
            out[i, one[order[:pos_num]]] = 1
        else:
            out[i, one] = 1
    return out


def test_positives_follow_the_reference_rule():
    rng = np.random.default_rng(0)
    n = 30
    adjs = []
    for density in (0.2, 0.5):
        m = (rng.random((n, n)) < density).astype(float)
        m = np.maximum(m, m.T)
        np.fill_diagonal(m, 1.0)
        adjs.append(m)
    counts = [sp.csr_matrix(m * rng.integers(1, 5, size=(n, n))) for m in adjs]  # path counts
    got = heco_positives(counts, 4).toarray()
    assert np.array_equal(got, naive_positives(adjs, 4))
    assert (got.sum(1) <= 4).all() and (got.sum(1) >= 1).all()


def test_a_node_without_candidates_is_its_own_positive():
    m = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]))
    assert heco_positives([m], 2).toarray().tolist() == [[1, 1, 0], [1, 1, 0], [0, 0, 1]]


@pytest.mark.slow
@pytest.mark.parametrize("name,pos_num", [("heco-acm", 5), ("heco-dblp", 1000)])
def test_positives_select_the_scores_of_the_release(name, pos_num, require_dataset):
    """HeCo's released pos.npz was made by data/pos.py with numpy's unstable sort: the rule
    selects, row by row, exactly the scores the release selected (the sets differ only in the
    order of equal scores), and release_positives reads the file after its checksum."""
    root = require_dataset(name)
    from gcl.data import load_hetero
    from gcl.modules.heco import release_positives

    graph = load_hetero(name, root)
    ours, ref = heco_positives(graph, pos_num), release_positives(graph)
    assert ours.shape == ref.shape and np.array_equal(np.diff(ours.indptr), np.diff(ref.indptr))
    score = None
    for a in graph.adjs:
        m = sp.csr_matrix(a.coalesce().to_dense().numpy() != 0, dtype=np.float64)
        m = sp.csr_matrix(sp.diags(1.0 / np.asarray(m.sum(1)).ravel()) @ m)
        score = m if score is None else score + m
    score = sp.csr_matrix(score, dtype=np.float32)
    for i in range(0, graph.num_nodes, 7):
        row = score[i].toarray().ravel()
        assert np.array_equal(np.sort(row[ours[i].indices]), np.sort(row[ref[i].indices])), i


def test_fixed_neighbour_sampling_follows_hecos_rule():
    # rows: 5 neighbours (k=3: 3 distinct), 2 neighbours (with replacement), none
    m = sp.csr_matrix(np.array([[1, 1, 1, 1, 1, 0], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 0, 0]]))
    rowptr, cols = torch.from_numpy(m.indptr).long(), torch.from_numpy(m.indices).long()
    counts = torch.zeros(3, 6)
    repeats = 0
    gen = torch.Generator().manual_seed(0)
    for _ in range(2000):
        idx, has = sample_fixed_neighbors(rowptr, cols, 3, generator=gen)
        assert idx.shape == (3, 3) and has.tolist() == [True, True, False]
        assert len(set(idx[0].tolist())) == 3 and set(idx[0].tolist()) <= {0, 1, 2, 3, 4}
        assert set(idx[1].tolist()) <= {4, 5}
        repeats += len(set(idx[1].tolist())) < 3
        for r in range(2):
            counts[r].index_add_(0, idx[r], torch.ones(3))
    assert repeats == 2000  # 3 draws from 2 neighbours always repeat one
    # uniform: each of row 0's 5 neighbours in 3/5 of the draws, row 1's two in half
    assert torch.allclose(counts[0, :5] / 2000, torch.full((5,), 0.6), atol=0.05)
    assert torch.allclose(counts[1, 4:] / 6000, torch.full((2,), 0.5), atol=0.03)


def test_neighbour_attention_equals_the_concatenation_formula():
    torch.manual_seed(0)
    att = NeighborAttention(4, attn_drop=0.0)
    h, h_ref = torch.randn(5, 4), torch.randn(3, 4)
    idx = torch.tensor([[0, 1], [2, 2], [4, 3]])
    out = att(idx, h, h_ref)
    for i in range(3):
        pairs = torch.cat([h_ref[i].expand(2, 4), h[idx[i]]], 1)
        w = torch.softmax(F.leaky_relu(pairs @ att.att[0]), 0)
        assert torch.allclose(out[i], (w[:, None] * h[idx[i]]).sum(0), atol=1e-6)


def test_metapath_view_is_a_gcn_per_path_fused_by_attention():
    torch.manual_seed(0)
    enc = MetaPathViewEncoder(3, 2)
    h = torch.randn(4, 3)
    adjs = [torch.rand(4, 4), torch.rand(4, 4)]
    z = enc(h, [a.to_sparse() for a in adjs])
    outs = [g.act(a @ (h @ g.lin.weight.t()) + g.bias) for g, a in zip(enc.gcns, adjs)]
    att = enc.attention
    scores = torch.stack([(att.att[0] * torch.tanh(att.fc(o)).mean(0)).sum() for o in outs])
    beta = torch.softmax(scores, 0)
    assert torch.allclose(z, beta[0] * outs[0] + beta[1] * outs[1], atol=1e-6)


def test_row_normalize_dense_and_sparse_agree():
    x = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 0.0, 2.0]])
    want = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0], [0.5, 0.0, 0.5]])
    assert torch.equal(row_normalize(x), want)
    assert torch.equal(row_normalize(x.to_sparse()).to_dense(), want)
    assert torch.equal(row_normalize(x.to_sparse_csr()).to_dense(), want)


def test_schema_types_come_from_the_first_context_and_unknown_ones_are_named():
    g = synthetic_metapath_graph(num_nodes=20, seed=0)
    assert [t for t, _ in schema_neighbors(g, ["s"])] == ["s"]
    with pytest.raises(ValueError, match=r"reaches type\(s\) \['x'\]"):
        schema_neighbors(g, ["x"])


def test_heco_trains_through_the_one_loop_and_embeds_the_metapath_view():
    g = synthetic_metapath_graph(num_nodes=40, seed=0)
    spec = get_method("heco")
    cfg = load_config("heco", "acm", overrides={"hidden": 8, "sample_rate": [2, 1],
                                                "pos_num": 3})
    module = spec.build({**cfg, "device": "cpu", "progress": False, "seed": 0}, g)
    history = module.fit(g, epochs=30)
    assert history.losses[-1] < history.losses[0]
    z = module.embed(g)
    assert z.shape == (40, 8) and torch.equal(z, module.embed(g))  # eval mode: deterministic
    assert isinstance(module.objective, CoContrastiveLoss) and isinstance(module.encoder,
                                                                          HeCoEncoder)


def test_sample_rate_must_match_the_schema_types():
    g = synthetic_metapath_graph(num_nodes=20, seed=0)
    module = get_method("heco").build({**load_config("heco", "acm"), "sample_rate": [2],
                                       "device": "cpu"}, g)
    with pytest.raises(ValueError, match="sample_rate has 1 values for the 2 schema types"):
        module.fit(g, epochs=1)
