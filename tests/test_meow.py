"""MEOW/AdaMEOW: preprocessing, encoder and both losses against naive dense implementations on a
tiny hand-made heterogeneous graph; a HeteroData built here runs end to end."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from gcl.data import from_hetero_data
from gcl.data.hetero import MetaPathGraph, scipy_to_torch
from gcl.data.metapath_ops import mask_metapath_edges, normalize_metapath_adj, pathsim_topk
from gcl.encoders.meow import MEOWEncoder
from gcl.methods.meow import evaluate_meow, meow_callbacks
from gcl.modules.metapath import prepare_inputs
from gcl.objectives.meow import (
    AdaMEOWLoss,
    MEOWLoss,
    cluster_concentration,
    proto_nce,
    weighted_info_nce,
)

# -- a tiny hand-made heterogeneous graph: 6 papers, 4 authors, 2 subjects ---------------------
PA = np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]],
              dtype=float)
PS = np.array([[1, 0], [1, 0], [1, 0], [0, 1], [0, 1], [1, 0]], dtype=float)


def tiny_graph() -> MetaPathGraph:
    gen = torch.Generator().manual_seed(0)
    x = {"p": torch.rand(6, 5, generator=gen), "a": torch.rand(4, 3, generator=gen),
         "s": torch.eye(2)}
    adjs = [scipy_to_torch(sp.csr_matrix(PA @ PA.T)), scipy_to_torch(sp.csr_matrix(PS @ PS.T))]
    contexts = [[("a", scipy_to_torch(sp.csr_matrix(PA)))], [("s", scipy_to_torch(sp.csr_matrix(PS)))]]
    y = torch.tensor([0, 0, 0, 1, 1, 1])
    idx = torch.arange(6)
    return MetaPathGraph("tiny", "p", x, ["pap", "psp"], adjs, contexts, y,
                         {1: (idx[[0, 3]], idx[[1, 4]], idx[[2, 5]])})


# -- preprocessing --------------------------------------------------------------------------------


def naive_topk(m: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros_like(m)
    for i in range(m.shape[0]):
        cand = []
        for j in range(m.shape[1]):
            if m[i, j] != 0:
                den = m[i, i] + m[j, j]
                s = 2 * m[i, j] / den if den else 0.0
                cand.append((-s, j != i, j))
        for _, _, j in sorted(cand)[:k]:
            out[i, j] = m[i, j]
    return out


def test_pathsim_topk_matches_naive_with_documented_ties():
    rng = np.random.default_rng(0)
    pa = (rng.random((30, 12)) < 0.2).astype(float)
    for m in (pa @ pa.T, (pa @ pa.T > 0).astype(float)):  # counts, and binary (all ties)
        for k in (1, 3, 8):
            np.testing.assert_array_equal(pathsim_topk(sp.csr_matrix(m), k).toarray(),
                                          naive_topk(m, k))
    binary = (pa @ pa.T > 0).astype(float)
    top = pathsim_topk(sp.csr_matrix(binary), 2).toarray()
    nonempty = binary.diagonal() > 0
    assert (top.diagonal()[nonempty] > 0).all()  # the node itself wins its ties


def naive_reference_topk(m, k):
    """The reference code's rule: numpy's argsort of the dense PathSim row, reversed."""
    d = m.diagonal()
    s = np.zeros_like(m)
    nz = m != 0
    den = d[:, None] + d[None, :]
    s[nz] = 2 * m[nz] / den[nz]
    out = np.zeros_like(m)
    for i in range(m.shape[0]):
        for j in np.argsort(s[i])[::-1][:k]:
            out[i, j] = m[i, j]
    return out


def test_pathsim_topk_reference_and_random_ties():
    rng = np.random.default_rng(0)
    pa = (rng.random((300, 12)) < 0.2).astype(float)
    binary = (pa @ pa.T > 0).astype(float)  # every neighbour ties at S = 1
    counts = pa @ pa.T
    for m in (counts, binary):
        for k in (1, 7, 40):
            ref = pathsim_topk(sp.csr_matrix(m), k, ties="reference").toarray()
            np.testing.assert_array_equal(ref, naive_reference_topk(m, k))
    k = 40
    index = pathsim_topk(sp.csr_matrix(binary), k).toarray()
    rand = [pathsim_topk(sp.csr_matrix(binary), k, ties="random",
                         rng=np.random.default_rng(s)).toarray() for s in (0, 0, 1)]
    np.testing.assert_array_equal(rand[0], rand[1])  # seeded
    assert (rand[0] != rand[2]).any()
    for top in (index, rand[0]):
        # same count per row (the row's non-zeros, at most k), the node itself always kept,
        # only entries of the matrix
        np.testing.assert_array_equal((top > 0).sum(1), np.minimum((binary > 0).sum(1), k))
        nonempty = binary.diagonal() > 0
        assert (top.diagonal()[nonempty] > 0).all()
        assert (top[binary == 0] == 0).all()
    # the index rule keeps the lowest columns; a random order spreads over the row
    cols = np.nonzero(index)[1].mean(), np.nonzero(rand[0])[1].mean()
    assert cols[0] < 0.8 * cols[1]
    with pytest.raises(ValueError, match="ties"):
        pathsim_topk(sp.csr_matrix(binary), 2, ties="stable")


def test_model_config_selects_the_tie_order():
    from gcl.methods import get_method, load_config

    g = tiny_graph()  # PSP is binary: papers 0, 1, 2, 5 tie in every row of subject 0
    base = {**load_config("meow", "acm"), "nei_max": [3, 2], "num_clusters": [2, 3],
            "hidden": 8, "proj_dim": 8, "device": "cpu", "seed": 0}
    build = get_method("meow").build
    psp = sp.csr_matrix(PS @ PS.T)
    for ties in ("index", "random", "reference"):
        model = build({**base, "pathsim_ties": ties}, g)
        rng = np.random.default_rng([0, 1])
        rng.permutation(int((PA @ PA.T != 0).sum()))  # the PAP top-k draws first (random only)
        top = pathsim_topk(psp, 2, ties=ties, rng=rng)
        expected = normalize_metapath_adj(top).toarray()
        got = model.inputs_for(g)["adjs"][1].to_dense().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the default keeps paper 5's lowest-index tie (paper 0)
    default = build(base, g).inputs_for(g)["adjs"][1].to_dense().numpy()
    assert default[0, 5] > 0 and default[1, 5] == 0 and default[2, 5] == 0
    with pytest.raises(ValueError, match="ties must be one of"):
        build({**base, "pathsim_ties": "stable"}, g).inputs_for(g)


def test_normalisation_and_edge_mask_match_dense():
    rng = np.random.default_rng(1)
    m = rng.integers(0, 3, (7, 7)).astype(float)
    m[3] = 0  # an empty row
    d = m.sum(1)
    inv = np.where(d > 0, 1 / np.sqrt(np.where(d > 0, d, 1)), 0)
    np.testing.assert_allclose(normalize_metapath_adj(sp.csr_matrix(m)).toarray(),
                               (np.diag(inv) @ m.T @ np.diag(inv)), rtol=1e-12)
    masked = mask_metapath_edges(sp.csr_matrix(m), 0.5, np.random.default_rng(0)).toarray()
    off = int(((m != 0) & ~np.eye(7, dtype=bool)).sum())
    assert int((masked > 0).sum()) == off - int(0.5 * off) + 7
    assert (np.diag(masked) > 0).all()


# -- encoder --------------------------------------------------------------------------------------


def naive_encoder(enc: MEOWEncoder, g: MetaPathGraph, inp: dict):
    """The same computation with dense matrices and explicit loops (dropout off)."""
    def proj(t, x):
        return F.elu(x @ enc.proj[t].weight.T + enc.proj[t].bias)

    def gcn(x, a):
        h = F.prelu(a @ (x @ enc.gcn.w1), enc.gcn.act.weight)
        z = a @ (h @ enc.gcn.w2)
        return (z - z.mean()) / torch.sqrt(z.var(unbiased=False) + 1e-5)

    def lin(x, layer):
        return F.elu(x.to_dense() @ layer.weight.T + layer.bias)

    h = {t: proj(t, g.x_dict[t].to_dense()) for t in enc.proj}
    if enc.path_proj is None:
        h_paths = [h["p"]] * len(g.contexts)
        h_masks = [proj("p", inp["x_masked"].to_dense())] * len(g.contexts)
        h_coarse = h["p"]
    else:  # one target matrix and one layer per meta-path; the coarse view reads their mean
        h_paths = [lin(x, layer) for x, layer in zip(inp["x_paths"], enc.path_proj)]
        h_masks = [lin(x, layer) for x, layer in zip(inp["x_masked_paths"], enc.path_proj)]
        h_coarse = sum(h_paths) / len(h_paths)
    def dense_of(a):
        if isinstance(a, tuple):  # (A, Aᵀ) CSR pair
            torch.testing.assert_close(a[1].to_dense(), a[0].to_dense().T)
            return a[0].to_dense()
        return a.to_dense()

    dense = [dense_of(a) for a in inp["adjs"]]
    dmask = [dense_of(a) for a in inp["adjs_masked"]]
    zc = gcn(h_coarse, sum(dense) / len(dense))
    zs = []
    for p, ctx in enumerate(g.contexts):
        c = 0
        for q, (t, inc) in enumerate(ctx):
            inc = inc.to_dense()
            rows = []
            for i in range(inc.shape[0]):
                members = torch.nonzero(inc[i]).view(-1)
                rows.append(h[t][members].mean(0) if len(members) else torch.zeros(h[t].shape[1]))
            c = c + torch.stack(rows) @ enc.ctx[p][q].weight.T
        zs.append((F.normalize(gcn(F.elu(h_paths[p] + c), dense[p]), dim=1),
                   F.normalize(gcn(F.elu(h_masks[p] + c), dmask[p]), dim=1)))
    views = [z for z, _ in zs] + [z for _, z in zs]
    a = enc.attention.att
    scores = torch.stack([(a * torch.tanh(enc.attention.fc(z)).mean(0)).sum() for z in views])
    beta = torch.softmax(scores, 0)
    z = sum(b * v for b, v in zip(beta, views))
    u = F.normalize(torch.tanh(enc.head(zc)), dim=1)
    v = F.normalize(torch.tanh(enc.head(z)), dim=1)
    return zc, z, u, v


@pytest.mark.parametrize("csr", [True, False])
def test_encoder_matches_dense_reference_values_and_gradients(csr):
    torch.manual_seed(0)
    g = tiny_graph()
    inp = prepare_inputs(g, nei_max=[3, 4], adj_mask=[0.3, 0.5], feat_mask=0.3, seed=0, csr=csr)
    enc = MEOWEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, "p", [["a"], ["s"]],
                      hidden=8, dropout=0.0)
    enc.eval()
    outs = enc(inp)
    ref = naive_encoder(enc, g, inp)
    for a, b in zip(outs, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    w = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad((outs[1] * w).sum() + outs[2].sum() * 0.3,
                                list(enc.parameters()))
    ref_grads = torch.autograd.grad((ref[1] * w).sum() + ref[2].sum() * 0.3,
                                    list(enc.parameters()))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_per_path_target_features_match_dense_reference():
    import dataclasses

    gen = torch.Generator().manual_seed(5)
    g = dataclasses.replace(tiny_graph(), x_paths=[torch.rand(6, 4, generator=gen),
                                                   torch.rand(6, 3, generator=gen)])
    inp = prepare_inputs(g, nei_max=[3, 4], adj_mask=[0.3, 0.5], feat_mask=0.25, seed=0)
    assert inp["x_masked"] is None
    for x, xm in zip(g.x_paths, inp["x_masked_paths"]):  # a quarter of each matrix zeroed
        assert int((xm == 0).sum()) == int(0.25 * x.numel())
        assert torch.equal(xm[xm != 0], x[xm != 0])
    torch.manual_seed(0)
    enc = MEOWEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, "p", [["a"], ["s"]],
                      hidden=8, dropout=0.0, path_dims=[4, 3])
    assert "p" not in enc.proj and len(enc.path_proj) == 2
    enc.eval()
    outs = enc(inp)
    ref = naive_encoder(enc, g, inp)
    for a, b in zip(outs, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    grads = torch.autograd.grad(outs[1].sum() + outs[2].sum(), list(enc.parameters()))
    ref_grads = torch.autograd.grad(ref[1].sum() + ref[2].sum(), list(enc.parameters()))
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="2 meta-paths"):
        MEOWEncoder({"a": 3, "s": 2}, "p", [["a"], ["s"]], path_dims=[4])
    with pytest.raises(ValueError, match="per-path"):
        dataclasses.replace(g, x_paths=[torch.rand(6, 4)])
    with pytest.raises(ValueError, match="5 rows"):
        dataclasses.replace(g, x_paths=[torch.rand(6, 4), torch.rand(5, 4)])


def test_cpu_csr_product_backward_reads_the_matrix_in_place():
    from gcl.encoders.meow import _sparse_t_mm, spmm

    rng = np.random.default_rng(0)
    m = sp.random(30, 20, density=0.3, format="csr", random_state=rng, dtype=np.float32)
    a = torch.sparse_csr_tensor(torch.from_numpy(m.indptr.astype(np.int32)),
                                torch.from_numpy(m.indices.astype(np.int32)),
                                torch.from_numpy(m.data), m.shape)
    dense = torch.from_numpy(m.toarray())
    x = torch.randn(20, 5, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_(True)
    w = torch.randn(30, 5)
    out = spmm(a, x)
    (out * w).sum().backward()
    (dense @ x_ref * w).sum().backward()
    torch.testing.assert_close(out, dense @ x_ref.detach())
    torch.testing.assert_close(x.grad, x_ref.grad)
    g = torch.randn(30, 5).t().contiguous().t()  # a non-contiguous gradient
    torch.testing.assert_close(_sparse_t_mm(a, g), dense.T @ g)
    torch.testing.assert_close(_sparse_t_mm(a.to_sparse_coo(), g), dense.T @ g)
    prepared = prepare_inputs(tiny_graph(), nei_max=3, adj_mask=0.3, feat_mask=0.0)
    assert all(t.layout == torch.sparse_csr for t in prepared["adjs"] + prepared["adjs_masked"])


def test_context_mean_counts_rows_in_every_layout():
    from gcl.encoders.meow import context_mean

    rng = np.random.default_rng(3)
    inc = torch.from_numpy((rng.random((7, 5)) < 0.4).astype(np.float32))
    inc[2] = 0  # an empty context set: mean 0, not NaN
    h = torch.randn(5, 3)
    rows = [inc[i].nonzero().view(-1) for i in range(7)]
    naive = torch.stack([h[r].mean(0) if len(r) else torch.zeros(3) for r in rows])
    for layout in (inc.to_sparse(), inc.to_sparse_csr(), inc,
                   (inc.to_sparse_csr(), inc.t().to_sparse_csr())):
        hg = h.clone().requires_grad_(True)
        out = context_mean(layout, hg)
        torch.testing.assert_close(out, naive)
        out.sum().backward()
        counts = inc.sum(1, keepdim=True).clamp(min=1)
        torch.testing.assert_close(hg.grad, (inc / counts).sum(0).unsqueeze(1).expand(5, 3))


def test_sparse_features_match_dense_features():
    g = tiny_graph()
    gs = tiny_graph()
    gs.x_dict = {t: x.to_sparse() for t, x in g.x_dict.items()}
    inp = prepare_inputs(g, nei_max=[3, 4], adj_mask=0.3, feat_mask=0.3, seed=0)
    inp_s = prepare_inputs(gs, nei_max=[3, 4], adj_mask=0.3, feat_mask=0.3, seed=0)
    xm = inp_s["x_masked"]
    assert xm.is_sparse and bool((xm.values() != 0).all())  # masked entries are not stored
    assert xm._nnz() < gs.x._nnz()
    torch.testing.assert_close(xm.to_dense(), inp["x_masked"])
    runs = []
    for prepared in (inp, inp_s):
        torch.manual_seed(0)
        enc = MEOWEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, "p", [["a"], ["s"]],
                          hidden=8, dropout=0.0)
        outs = enc(prepared)
        grads = torch.autograd.grad((outs[1] * outs[0]).sum() + outs[2].sum(),
                                    list(enc.parameters()))
        runs.append(outs + grads)
    for a, b in zip(*runs):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)  # dense vs sparse rounding


def test_checkpointed_encoder_gives_the_same_values_and_gradients():
    g = tiny_graph()
    inp = prepare_inputs(g, nei_max=[3, 4], adj_mask=[0.3, 0.5], feat_mask=0.3, seed=0)
    runs = []
    for ckpt in (False, True):
        torch.manual_seed(0)
        enc = MEOWEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, "p", [["a"], ["s"]],
                          hidden=8, dropout=0.3, checkpoint=ckpt)
        torch.manual_seed(1)  # dropout on: the recomputation must replay the same masks
        outs = enc(inp)
        w = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
        loss = (outs[1] * w).sum() + (outs[2] * outs[3]).sum()
        grads = torch.autograd.grad(loss, list(enc.parameters()))
        runs.append((outs, grads, torch.rand(3)))  # the random stream after the step
    (outs0, grads0, after0), (outs1, grads1, after1) = runs
    for a, b in zip(outs0 + grads0 + (after0,), outs1 + grads1 + (after1,)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


# -- losses ---------------------------------------------------------------------------------------


def naive_meow_info(u, v, assigns, tau):
    n = u.shape[0]
    w = torch.zeros(n, n)
    for a in assigns:
        w += (a.view(-1, 1) != a.view(1, -1)).float()
    sim = torch.exp(u @ v.T / tau)
    return -torch.log(sim.diag() / (w * sim).sum(1)).mean()


def naive_proto(u, cent, phi, assign):
    total = 0.0
    for i in range(u.shape[0]):
        logits = torch.stack([u[i] @ cent[k] / phi[k] for k in range(cent.shape[0])])
        total = total - torch.log(torch.exp(logits[assign[i]]) / torch.exp(logits).sum())
    return total / u.shape[0]


def test_meow_loss_matches_dense_reference():
    gen = torch.Generator().manual_seed(0)
    u = F.normalize(torch.randn(9, 4, generator=gen), dim=1).requires_grad_()
    v = F.normalize(torch.randn(9, 4, generator=gen), dim=1).requires_grad_()
    a1 = torch.tensor([0, 0, 1, 1, 2, 2, 0, 1, 2])
    a2 = torch.tensor([0, 1, 1, 1, 2, 3, 0, 3, 2])
    for chunk, assigns in [(2, [a1, a2]), (1024, [a1, a2]), (4, [a2]), (3, [a1, a2, a1])]:
        got = weighted_info_nce(u, v, assigns, 0.4, chunk_size=chunk)
        want = naive_meow_info(u, v, assigns, 0.4)
        torch.testing.assert_close(got, want)
        g1 = torch.autograd.grad(got, [u, v])
        g2 = torch.autograd.grad(want, [u, v])
        for a, b in zip(g1, g2):
            torch.testing.assert_close(a, b)
    cent = F.normalize(torch.randn(4, 4, generator=gen), dim=1)
    phi = torch.tensor([0.3, 0.5, 0.4, 0.6])
    got, want = proto_nce(u, cent, phi, a2), naive_proto(u, cent, phi, a2)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(torch.autograd.grad(got, u)[0], torch.autograd.grad(want, u)[0])
    # the full objective with given clusterings = info + λ * mean proto
    loss = MEOWLoss(tau=0.4, num_clusters=(3, 4), proto_weight=0.5)
    clusters = [(a1, cent[:3], phi[:3]), (a2, cent, phi)]
    total = loss.with_clusters(u, v, clusters)
    ref = naive_meow_info(u, v, [a1, a2], 0.4) + 0.5 * (
        naive_proto(u, cent[:3], phi[:3], a1) + naive_proto(u, cent, phi, a2)) / 2
    torch.testing.assert_close(total, ref)


def test_concentration_matches_loop():
    gen = torch.Generator().manual_seed(0)
    score = torch.rand(20, generator=gen, dtype=torch.float64)
    assign = torch.tensor([0] * 6 + [1] * 5 + [2] * 4 + [3] * 3 + [4] * 1 + [5] * 1)
    phi = []
    for c in range(7):  # cluster 6 is empty
        members = score[assign == c]
        phi.append(float(members.sqrt().mean() / np.log(len(members) + 5)) if len(members) > 1
                   else None)
    top = max(p for p in phi if p is not None)
    phi = np.array([top if p is None else p for p in phi])
    phi = np.clip(phi, np.percentile(phi, 10), np.percentile(phi, 90))
    phi = 0.7 * phi / phi.mean()
    np.testing.assert_allclose(cluster_concentration(score, assign, 7, 0.7).numpy(), phi)


def naive_adameow(loss: AdaMEOWLoss, v, u):
    n, d = v.shape
    pair = v.unsqueeze(1).expand(n, n, d) + u.unsqueeze(0).expand(n, n, d)  # the N×N×d tensor
    w = torch.sigmoid(loss.w2(torch.tanh(loss.w1(pair)))).squeeze(-1)
    sim = torch.exp(v @ u.T / loss.tau)
    return -torch.log(sim.diag() / (w * sim).sum(1)).mean()


@pytest.mark.parametrize("chunk", [1, 3, 7, 64])
def test_adameow_loss_matches_pair_tensor_reference(chunk):
    torch.manual_seed(0)
    v = F.normalize(torch.randn(7, 6), dim=1).requires_grad_()
    u = F.normalize(torch.randn(7, 6), dim=1).requires_grad_()
    loss = AdaMEOWLoss(6, hidden=4, tau=0.9, chunk_size=chunk)
    with torch.no_grad():  # wide pre-activations: tanh saturates for some pairs
        loss.w1.weight.mul_(4)
    got, want = loss(u, v), naive_adameow(loss, v, u)
    torch.testing.assert_close(got, want)
    params = [v, u, *loss.parameters()]
    # an upstream gradient other than 1 (the loss inside a larger objective)
    outer = torch.tensor(2.5)
    for a, b in zip(torch.autograd.grad(outer * got + v.sum(), params, allow_unused=True),
                    torch.autograd.grad(outer * want + v.sum(), params, allow_unused=True)):
        torch.testing.assert_close(a, b)
    with torch.no_grad():
        torch.testing.assert_close(loss(u, v), want.detach())
    # second derivatives are not computed: an error, not silently wrong values
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(loss(u, v), [v], create_graph=True)


# -- end to end -----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_heterodata_end_to_end(method):
    from torch_geometric.data import HeteroData

    from gcl.methods import get_method, load_config

    torch.manual_seed(0)
    d = HeteroData()
    n = 40
    d["paper"].x = torch.rand(n, 10)
    d["paper"].y = torch.arange(n) % 2
    d["author"].x = torch.rand(15, 6)
    d["subject"].num_nodes = 3
    pa = torch.stack([torch.arange(n).repeat(2), torch.randint(0, 15, (2 * n,))])
    ps = torch.stack([torch.arange(n), torch.arange(n) % 3])
    d["paper", "written_by", "author"].edge_index = pa
    d["paper", "about", "subject"].edge_index = ps
    idx = torch.randperm(n)
    g = from_hetero_data(d, [("paper", "author", "paper"), ("paper", "subject", "paper")],
                         splits={2: (idx[:4], idx[4:20], idx[20:])})
    cfg = load_config(method, "acm", overrides={"epochs": 3, "hidden": 8, "proj_dim": 8,
                                                "eval_heads": 2, "eval_steps": 5,
                                                "cluster_fits": 1})
    if method == "meow":
        cfg.update(num_clusters=[3, 5], kmeans_nredo=1, patience=2)
    cfg["device"] = "cpu"
    model = get_method(method).build(cfg, g)
    history = model.fit(g, epochs=cfg["epochs"], callbacks=meow_callbacks(cfg, g))
    assert 1 <= len(history.epochs) <= 3 and np.isfinite(history.losses).all()
    scores = evaluate_meow(model, g, cfg, seed=0)
    assert set(scores) == {"macro_f1@2", "micro_f1@2", "auc@2", "nmi", "ari"}
    assert all(0.0 <= s["mean"] <= 1.0 for k, s in scores.items() if k != "ari")
    z = model.embed(g)
    assert z.shape == (n, 8) and torch.isfinite(z).all()


def test_adameow_never_builds_a_pair_tensor():
    from torch.utils._python_dispatch import TorchDispatchMode

    class Largest(TorchDispatchMode):
        biggest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in out if isinstance(out, (tuple, list)) else (out,):
                if isinstance(t, torch.Tensor):
                    Largest.biggest = max(Largest.biggest, t.numel())
            return out

    n, d, chunk = 300, 64, 32
    v = F.normalize(torch.randn(n, d), dim=1).requires_grad_()
    u = F.normalize(torch.randn(n, d), dim=1).requires_grad_()
    loss = AdaMEOWLoss(d, hidden=16, tau=0.9, chunk_size=chunk)
    with Largest():
        loss(u, v).backward()
    assert Largest.biggest <= chunk * n * 16 < n * n * d


def _toy_meow(method, tmp_path=None, resume=False):
    from gcl import seed_everything
    from gcl.methods import get_method, load_config

    rng = np.random.default_rng(0)
    pa = sp.csr_matrix((rng.random((30, 8)) < 0.3).astype(float))
    g = MetaPathGraph("toy", "p", {"p": torch.rand(30, 6, generator=torch.Generator().manual_seed(1)),
                                   "a": torch.eye(8)}, ["pap"], [scipy_to_torch(pa @ pa.T)],
                      [[("a", scipy_to_torch(pa))]])
    cfg = load_config(method, "acm", overrides={"nei_max": 5, "adj_mask": 0.2, "hidden": 8,
                                                "proj_dim": 8, "epochs": 12})
    if method == "meow":
        cfg.update(num_clusters=[2, 3], kmeans_nredo=1, patience=8)  # stops at 10
    cfg = {**cfg, "device": "cpu", "seed": 0}
    seed_everything(3)
    model = get_method(method).build(cfg, g)
    if tmp_path is not None:
        model.configure_checkpoints(tmp_path, 2, resume)
    return model, g, cfg


def _fit(model, g, cfg, extra=()):
    return model.fit(g, epochs=cfg["epochs"], callbacks=[*meow_callbacks(cfg, g), *extra])


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_meow_checkpoint_resume_is_exact(method, tmp_path):
    from gcl import LambdaCallback

    ref, g, cfg = _toy_meow(method)
    ref_hist = _fit(ref, g, cfg)

    class Crash(Exception):
        pass

    def crash(module, epoch, logs):
        if epoch == 6:
            raise Crash

    crashed, _, _ = _toy_meow(method, tmp_path)
    with pytest.raises(Crash):
        _fit(crashed, g, cfg, [LambdaCallback(crash)])
    saved = torch.load(tmp_path / "last.pt", weights_only=True)
    assert saved["epoch"] == 4 and not saved["stopped"]
    if method == "meow":  # the early-stopping counters travel with the checkpoint
        stopper = saved["callbacks"][0]["state"]
        assert stopper["best_epoch"] <= 4 and stopper["best_state"] is not None

    with pytest.raises(ValueError, match="already exists"):
        _fit(_toy_meow(method, tmp_path)[0], g, cfg)
    resumed, _, _ = _toy_meow(method, tmp_path, resume=True)
    hist = _fit(resumed, g, cfg)
    assert hist.losses == ref_hist.losses
    assert len(hist.losses) == (10 if method == "meow" else 12)  # MEOW stopped early
    assert hist.meta["resumes"] == [{"epoch": 4, "train_s": saved["history"]["meta"]["train_s"]}]
    assert torch.equal(resumed.embed(g), ref.embed(g))
    # resuming a finished run trains nothing and gives the same (best-state) model
    again, _, _ = _toy_meow(method, tmp_path, resume=True)
    assert _fit(again, g, cfg).losses == ref_hist.losses
    assert torch.equal(again.embed(g), ref.embed(g))


@pytest.mark.parametrize("method", ["meow", "adameow"])
def test_monitor_scores_the_current_state_and_leaves_training_unchanged(method):
    from gcl.methods.meow import monitor_meow

    ref, g, cfg = _toy_meow(method)
    cfg = {**cfg, "restore_best": False, "eval_steps": 20, "monitor_heads": 2,
           "monitor_cluster_fits": 1}
    ref_hist = _fit(ref, g, cfg)
    with pytest.raises(ValueError, match="labels and splits"):
        _fit(_toy_meow(method)[0], g, {**cfg, "monitor_every": 4})

    mon, g2, _ = _toy_meow(method)
    g2.y = torch.arange(30) % 3
    idx = torch.randperm(30, generator=torch.Generator().manual_seed(0))
    g2.splits = {2: (idx[:6], idx[6:12], idx[12:])}
    hist = _fit(mon, g2, {**cfg, "monitor_every": 4})
    assert hist.losses == ref_hist.losses
    assert torch.equal(mon.embed(g2), ref.embed(g))
    last = 10 if method == "meow" else 12
    assert [e["epoch"] for e in hist.evals] == [4, 8, last]
    assert set(hist.evals[-1]) == {"epoch", "macro_f1@2", "micro_f1@2", "auc@2", "nmi", "ari"}
    # the last check scored the final (last, not restored) state
    assert {"epoch": last, **monitor_meow(mon, g2, cfg)} == hist.evals[-1]
    # train-mode embeddings draw dropout masks: the random state is put back after each check
    mon_t, g3, _ = _toy_meow(method)
    g3.y, g3.splits = g2.y, g2.splits
    hist_t = _fit(mon_t, g3, {**cfg, "monitor_every": 4, "embed_mode": "train"})
    assert hist_t.losses == ref_hist.losses


def test_sparse_constructions_opt_out_of_invariant_checks_explicitly():
    # torch warns once per process ("Sparse invariant checks are implicitly disabled") for every
    # sparse tensor built without saying whether to check it; loading and training on a
    # meta-path graph must not print it. A fresh process, since the warning fires only once.
    code = """
import numpy as np, scipy.sparse as sp, torch
from torch_geometric.data import HeteroData
from gcl.data import from_hetero_data
from gcl.data.hetero import scipy_to_torch
from gcl.data.metapath_ops import mask_feature_entries
from gcl.methods import get_method, load_config
from gcl.objectives.pamc import restrict_sparse
torch.manual_seed(0)
d = HeteroData()
d["paper"].x = torch.rand(20, 5); d["paper"].y = torch.arange(20) % 2
d["author"].x = torch.rand(8, 3)
d["paper", "by", "author"].edge_index = torch.stack([torch.arange(20), torch.arange(20) % 8])
g = from_hetero_data(d, [("paper", "author", "paper")],
                     splits={2: (torch.arange(4), torch.arange(4, 8), torch.arange(8, 20))})
for method in ("meow", "adameow"):
    cfg = load_config(method, "acm", overrides={"hidden": 4, "proj_dim": 4, "nei_max": 5,
                                                "adj_mask": 0.2})
    cfg.update(device="cpu", num_clusters=[2, 3])
    module = get_method(method).build(cfg, g)
    module.setup(g)
    module.training_step(g, 1).loss.backward()
x = scipy_to_torch(sp.random(6, 6, density=0.5, random_state=0))
mask_feature_entries(x, 0.5, torch.Generator().manual_seed(0))
restrict_sparse(x, torch.tensor([0, 2, 3]))
print("ok")
"""
    proc = subprocess.run([sys.executable, "-W", "error:Sparse invariant:UserWarning", "-c", code],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_init_option_picks_the_linear_initialisation():
    """``init="reference"`` leaves the projections, context maps and head at PyTorch's default
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; ``"xavier"`` (gain 1.414) draws far outside that
    range at these widths. The GCN and the attention are the same under both."""
    from gcl.methods import get_method, load_config

    base = {**load_config("meow", "acm"), "nei_max": [3, 2], "num_clusters": [2, 3],
            "hidden": 64, "proj_dim": 64, "device": "cpu", "seed": 0}
    build = get_method("meow").build
    encoders = {init: build({**base, "init": init}, tiny_graph()).encoder
                for init in ("xavier", "reference")}
    for init, enc in encoders.items():
        square = [*(lin for group in enc.ctx for lin in group), enc.head]  # 64 x 64
        layers = [*enc.proj.values(), *square]
        outside = [float(lin.weight.abs().max() * lin.in_features ** 0.5) for lin in layers]
        if init == "reference":
            assert max(outside) <= 1.0
        else:
            assert min(outside[len(enc.proj):]) > 1.5
            for lin in layers:  # xavier_normal: std = 1.414 * sqrt(2 / (fan_in + fan_out))
                std = 1.414 * (2 / (lin.in_features + lin.out_features)) ** 0.5
                assert 0.7 < float(lin.weight.std()) / std < 1.3
    for enc in encoders.values():  # the GCN's own U(-1/8, 1/8) either way
        for w in (enc.gcn.w1, enc.gcn.w2):
            assert float(w.abs().max()) <= 64 ** -0.5
    with pytest.raises(ValueError, match="'init' of MEOWEncoder must be one of"):
        build({**base, "init": "kaiming"}, tiny_graph())


def test_concentration_without_any_member_in_front_of_its_centroid_is_tau():
    """One-dimensional unit embeddings of both signs can leave every centroid at the origin:
    every score is 0, and φ = τ·0/0 was NaN (a case the property test drew)."""
    from gcl.objectives.meow import cluster_concentration

    phi = cluster_concentration(torch.zeros(6), torch.tensor([0, 0, 1, 1, 2, 2]), 3, 0.05)
    assert torch.equal(phi, torch.full((3,), 0.05))
    h1 = torch.tensor([[-6.79e-05], [5.07e-05], [5.64e-05], [-6.06e-05], [8.17e-05], [9.82e-05]])
    h2 = torch.tensor([[-3.94e-05], [-2.80e-05], [4.98e-05], [-7.83e-05], [3.95e-05], [2.33e-05]])
    loss = MEOWLoss(0.05, num_clusters=(2, 3), nredo=2, normalize=True)
    assert torch.isfinite(loss(h1, h2))
