"""POT: the sparse implementation against a naive dense transcription of the formulas, and the
soundness of the certified variant on sampled views within the drop budget."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch_geometric.data import Data

from gcl import Pipeline
from gcl.augment import Compose, DropEdge, MaskFeature
from gcl.data import synthetic
from gcl.encoders import GCNEncoder
from gcl.objectives import POT, InfoNCE, Step, add_pot
from gcl.objectives.pot import adjacency_box, drop_budget, find_edge_drop_probs, relaxation

DT = torch.float64


# -- random graphs and models ------------------------------------------------------------------
def random_graph(n: int, p: float, seed: int, features: int = 5, density: float = 1.0) -> Data:
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, 1)
    adj = upper | upper.T
    rows, cols = np.nonzero(adj)
    edge_index = torch.tensor(np.stack([rows, cols]), dtype=torch.long)
    x = torch.tensor(rng.random((n, features)) * (rng.random((n, features)) < density), dtype=DT)
    return Data(x=x, edge_index=edge_index, num_nodes=n)


def random_encoder(features: int, hidden: int, activation: str, seed: int) -> GCNEncoder:
    torch.manual_seed(seed)
    enc = GCNEncoder(features, hidden, activation=activation).to(DT)
    with torch.no_grad():
        for conv in enc.convs:
            conv.lin.weight.normal_()
            conv.bias.normal_(std=0.5)
    return enc


# -- the naive dense reference (written from the formulas, loops where it is clearer) -----------
def dense_adjacency(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """A[i, j] = 1 for an edge j -> i (message from j to i), no self-loops."""
    a = torch.zeros(n, n, dtype=DT)
    for j, i in edge_index.t().tolist():
        if i != j:
            a[i, j] = 1.0
    return a


def dense_gcn_norm(edge_index: torch.Tensor, n: int) -> torch.Tensor:
    """The propagation matrix of a GCN layer: row = target (the clean hidden state's matrix)."""
    a = dense_adjacency(edge_index, n) + torch.eye(n, dtype=DT)
    dinv = a.sum(1).pow(-0.5)
    return dinv[:, None] * a * dinv[None, :]


def reference_view_matrix(edge_index: torch.Tensor, n: int, idx: torch.Tensor) -> torch.Tensor:
    """The reference's ``An_ptb`` (POT-GCL ``GRACE/model.py``, ``pot_loss``), step by step:
    ``gcn_norm(edge_index_1)`` adds a self-loop to every node, counts each node's degree over the
    entries it is the target of, and weighs the entry (source s, target t) by
    ``deg_s^-1/2 * deg_t^-1/2``; ``sparse_coo_tensor(edge_index, weight)`` puts that weight at
    row s, column t; ``index_select(0, nodes).index_select(1, nodes)`` keeps the batch."""
    src = [s for s, t in edge_index.t().tolist() if s != t] + list(range(n))
    tgt = [t for s, t in edge_index.t().tolist() if s != t] + list(range(n))
    deg = [0.0] * n
    for t in tgt:
        deg[t] += 1.0
    m = torch.zeros(n, n, dtype=DT)
    for s_, t in zip(src, tgt):
        m[s_, t] += deg[s_] ** -0.5 * deg[t] ** -0.5
    return m.index_select(0, idx).index_select(1, idx)


def dense_box(edge_index: torch.Tensor, n: int, drop) -> tuple[torch.Tensor, torch.Tensor]:
    a = dense_adjacency(edge_index, n)
    d = a.sum(1)
    if isinstance(drop, torch.Tensor):
        r = torch.zeros(n, dtype=DT)
        for e, (j, i) in enumerate(edge_index.t().tolist()):
            if i != j:
                r[i] += float(drop[e])
    else:
        r = drop * d
    m = torch.tensor([min(max(d[i].item() - 1, 0), float(np.round(r[i].item()))) for i in range(n)],
                     dtype=DT)
    u = (d + 1 - m).pow(-0.5)
    upper = a * u[:, None] * u[None, :] + torch.diag(u * u)
    lower = torch.diag(1.0 / (d + 1))
    return lower, upper


def act(z, a):
    return torch.where(z >= 0, z, a * z)


def naive_relax(l, u, a):
    flat_s, flat_b = [], []
    for lv, uv in zip(l.reshape(-1), u.reshape(-1)):
        if lv >= 0:
            flat_s.append(torch.ones((), dtype=DT))
            flat_b.append(torch.zeros((), dtype=DT))
        elif uv <= 0:
            flat_s.append(torch.tensor(a, dtype=DT))
            flat_b.append(torch.zeros((), dtype=DT))
        else:
            flat_s.append((uv - a * lv) / (uv - lv))
            flat_b.append((a - 1) * uv * lv / (uv - a * lv))
    s = torch.stack(flat_s).reshape(l.shape)
    b = torch.stack(flat_b).reshape(l.shape)
    return s, b


def naive_score(x, enc, lower, upper, a_view, a_clean, c, a, sound):
    w1, b1 = enc.convs[0].lin.weight, enc.convs[0].bias
    w2, b2 = enc.convs[1].lin.weight, enc.convs[1].bias
    cen, rad = (upper + lower) / 2, (upper - lower) / 2
    xw = x @ w1.t()
    l1 = cen @ xw - rad @ xw.abs() + b1
    u1 = cen @ xw + rad @ xw.abs() + b1
    if sound:
        hl, hu = act(l1, a), act(u1, a)
        m_lo = (hl + hu) / 2 @ w2.t() - (hu - hl) / 2 @ w2.abs().t()
        m_hi = (hl + hu) / 2 @ w2.t() + (hu - hl) / 2 @ w2.abs().t()
        l2 = lower @ m_lo.clamp(min=0) + upper @ m_lo.clamp(max=0) + b2
        u2 = upper @ m_hi.clamp(min=0) + lower @ m_hi.clamp(max=0) + b2
    else:
        hw = enc.activation(a_clean @ xw + b1) @ w2.t()  # the module: gradient reaches a here
        l2 = cen @ hw - rad @ hw.abs() + b2
        u2 = cen @ hw + rad @ hw.abs() + b2
    s2, beta2 = naive_relax(l2, u2, a)
    lam2 = s2 * c
    delta2 = torch.where(c >= 0, torch.zeros_like(beta2), beta2)
    bt2 = torch.diag(lam2 @ (delta2 + b2).t())
    wt2 = lam2 @ w2
    if sound:
        n = x.size(0)
        rows = []
        for i in range(n):
            acc = bt2[i]
            for j in range(n):
                v = wt2[i].clamp(min=0) @ hl[j] + wt2[i].clamp(max=0) @ hu[j]
                acc = acc + torch.minimum(lower[i, j] * v, upper[i, j] * v)
            rows.append(acc)
        return torch.stack(rows)
    s1, beta1 = naive_relax(l1, u1, a)
    lam1 = s1 * wt2
    delta1 = torch.where(wt2 >= 0, torch.zeros_like(beta1), beta1)
    bt1 = torch.diag(lam1 @ (delta1 + b1).t())
    wt1 = lam1 @ w1  # the dense n x F matrix of the reference
    t = (x * wt1).sum(1)
    return a_view @ (a_view @ t + bt1) + bt2


def c_weights(z_other):
    zh = torch.nn.functional.normalize(z_other, dim=1)
    n = zh.size(0)
    return torch.stack([zh[i] - (zh.sum(0) - zh[i]) / (n - 1) for i in range(n)])


def drop_view(data, p, seed):
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(data.edge_index.size(1), generator=g) >= p
    return Data(x=data.x, edge_index=data.edge_index[:, keep], num_nodes=data.num_nodes)


# -- tests ---------------------------------------------------------------------------------------
def test_budget_and_box_match_dense():
    data = random_graph(15, 0.3, seed=1)
    n = data.num_nodes
    for drop in (0.0, 0.3, 0.5, torch.rand(data.edge_index.size(1), dtype=DT)):
        box = adjacency_box(data.edge_index, n, drop)
        lower, upper = dense_box(data.edge_index, n, drop)
        sl = torch.zeros(n, n, dtype=DT).index_put_(tuple(box.index), box.lower.to(DT), accumulate=True)
        su = torch.zeros(n, n, dtype=DT).index_put_(tuple(box.index), box.upper.to(DT), accumulate=True)
        torch.testing.assert_close(sl, lower, atol=1e-6, rtol=0)
        torch.testing.assert_close(su, upper, atol=1e-6, rtol=0)
        assert box.index.size(1) == data.edge_index.size(1) + n  # edges plus self-loops only


def test_budget_rounds_half_to_even_and_keeps_one_neighbour():
    ei = torch.tensor([[1, 2, 3, 4, 0, 0, 0, 0], [0, 0, 0, 0, 1, 2, 3, 4]])
    d, m = drop_budget(ei, 5, 0.625)  # r_0 = 2.5 -> 2 ; leaves: r = 0.625 -> 1 but d - 1 = 0
    assert d.tolist() == [4, 1, 1, 1, 1]
    assert m.tolist() == [2, 0, 0, 0, 0]
    _, m = drop_budget(ei, 5, 1.0)
    assert m.tolist() == [3, 0, 0, 0, 0]


def test_relaxation_matches_naive_and_bounds_the_activation():
    g = torch.Generator().manual_seed(0)
    l = torch.randn(200, generator=g, dtype=DT)
    u = l + torch.rand(200, generator=g, dtype=DT) * 3
    for a in (0.0, 0.25):
        s, b = relaxation(l, u, a)
        ns, nb = naive_relax(l, u, a)
        torch.testing.assert_close(s, ns)
        torch.testing.assert_close(b, nb)
        z = l[:, None] + (u - l)[:, None] * torch.linspace(0, 1, 11, dtype=DT)[None, :]
        y = act(z, a)
        assert (s[:, None] * z <= y + 1e-12).all()
        assert (y <= s[:, None] * (z + b[:, None]) + 1e-12).all()


def _step(data, enc, views, z, nodes=None, epoch=1):
    return Step(epoch=epoch, data=data, views=views, z=z, h=z, encoder=enc, nodes=nodes)


@pytest.mark.parametrize("activation", ["relu", "prelu"])
@pytest.mark.parametrize("sound,orientation", [(False, "reference"), (False, "propagation"),
                                               (True, "reference")])
@pytest.mark.parametrize("subset", [False, True])
def test_sparse_equals_naive_dense_values_and_gradients(activation, sound, orientation, subset):
    # a batch subset also exercises sparse features (density below SPARSE_FEATURE_DENSITY)
    data = random_graph(14, 0.3, seed=3, features=40 if subset else 5,
                        density=0.05 if subset else 1.0)
    n = data.num_nodes
    enc = random_encoder(data.num_features, 3, activation, seed=4)
    a = float(enc.activation.weight.detach()) if activation == "prelu" else 0.0
    probs = (0.3, torch.rand(data.edge_index.size(1), dtype=DT) * 0.6)
    views = (drop_view(data, 0.3, 5), drop_view(data, 0.4, 6))
    g = torch.Generator().manual_seed(7)
    z1 = torch.randn(n, 3, generator=g, dtype=DT, requires_grad=True)
    z2 = torch.randn(n, 3, generator=g, dtype=DT, requires_grad=True)
    nodes = torch.tensor([0, 2, 3, 5, 6, 8, 9, 11, 13]) if subset else None
    weights = torch.randn(2, n, generator=g, dtype=DT)

    pot = POT(kappa=0.4, drop_probs=probs, sound=sound, orientation=orientation)
    pot.setup(data)
    s1, s2 = pot.scores(_step(data, enc, views, (z1, z2), nodes))
    k = s1.numel()
    sparse_loss = (s1 * weights[0, :k]).sum() + (s2 * weights[1, :k]).sum()
    params = [z1, z2, *enc.parameters()]
    sparse_grads = torch.autograd.grad(sparse_loss, params, allow_unused=True)

    idx = torch.arange(n) if nodes is None else nodes
    a_clean = dense_gcn_norm(data.edge_index, n)
    ref = []
    for v in range(2):
        lower, upper = dense_box(data.edge_index, n, probs[v])
        # the reference's matrix (row = source); "propagation" is its transpose (row = target)
        a_view = reference_view_matrix(views[v].edge_index, n, idx)
        if orientation == "propagation":
            a_view = a_view.t()
        other = (z1, z2)[1 - v][idx]
        c = c_weights(other)
        lower, upper = (m[idx][:, idx] for m in (lower, upper))
        # the clean hidden state uses the whole graph
        score = naive_score_subset(data.x, enc, lower, upper, a_view, a_clean, idx, c, a, sound)
        ref.append(score)
    torch.testing.assert_close(s1, ref[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(s2, ref[1], atol=1e-5, rtol=1e-5)
    dense_loss = (ref[0] * weights[0, :k]).sum() + (ref[1] * weights[1, :k]).sum()
    dense_grads = torch.autograd.grad(dense_loss, params, allow_unused=True)
    for p, gs, gd in zip(params, sparse_grads, dense_grads):
        if gd is None:
            assert gs is None or float(gs.abs().max()) == 0.0
            continue
        assert gs is not None, f"missing gradient for a parameter of shape {tuple(p.shape)}"
        torch.testing.assert_close(gs, gd, atol=1e-5, rtol=1e-5)
    assert any(float(g.abs().sum()) > 0 for g in dense_grads[2:] if g is not None)


def naive_score_subset(x, enc, lower, upper, a_view, a_clean, idx, c, a, sound):
    """The naive score on a node batch: bounds and views on the induced subgraph, the clean
    hidden state from the whole graph (then restricted)."""
    if sound:
        return naive_score(x[idx], enc, lower, upper, a_view, None, c, a, sound=True)
    # layer-2 interval from the clean graph's hidden state restricted to the batch
    w1, b1 = enc.convs[0].lin.weight, enc.convs[0].bias
    hidden = enc.activation(a_clean @ (x @ w1.t()) + b1)  # gradient reaches a here
    x_sub = x[idx]
    # transcribe naive_score with H given
    w2, b2 = enc.convs[1].lin.weight, enc.convs[1].bias
    cen, rad = (upper + lower) / 2, (upper - lower) / 2
    xw = x_sub @ w1.t()
    l1, u1 = cen @ xw - rad @ xw.abs() + b1, cen @ xw + rad @ xw.abs() + b1
    hw = hidden[idx] @ w2.t()
    l2, u2 = cen @ hw - rad @ hw.abs() + b2, cen @ hw + rad @ hw.abs() + b2
    s2, beta2 = naive_relax(l2, u2, a)
    lam2 = s2 * c
    bt2 = torch.diag(lam2 @ (torch.where(c >= 0, torch.zeros_like(beta2), beta2) + b2).t())
    wt2 = lam2 @ w2
    s1, beta1 = naive_relax(l1, u1, a)
    lam1 = s1 * wt2
    bt1 = torch.diag(lam1 @ (torch.where(wt2 >= 0, torch.zeros_like(beta1), beta1) + b1).t())
    t = (x_sub * (lam1 @ w1)).sum(1)
    return a_view @ (a_view @ t + bt1) + bt2


def test_naive_full_graph_helper_agrees_with_subset_helper():
    # the two naive transcriptions agree on the full batch (guards the test itself)
    data = random_graph(10, 0.35, seed=11)
    n = data.num_nodes
    enc = random_encoder(5, 3, "relu", seed=12)
    lower, upper = dense_box(data.edge_index, n, 0.4)
    a_view = reference_view_matrix(drop_view(data, 0.4, 1).edge_index, n, torch.arange(n))
    a_clean = dense_gcn_norm(data.edge_index, n)
    c = c_weights(torch.randn(n, 3, dtype=DT))
    full = naive_score(data.x, enc, lower, upper, a_view, a_clean, c, 0.0, sound=False)
    sub = naive_score_subset(data.x, enc, lower, upper, a_view, a_clean, torch.arange(n), c, 0.0,
                             sound=False)
    torch.testing.assert_close(full, sub)


def sample_view_within_budget(data, budget, gen):
    """Drop, for every node, a random number (up to its budget) of its incoming edges."""
    ei = data.edge_index
    keep = torch.ones(ei.size(1), dtype=torch.bool)
    for i in range(data.num_nodes):
        incoming = (ei[1] == i).nonzero().flatten()
        k = int(budget[i])
        if k == 0 or incoming.numel() == 0:
            continue
        k = int(torch.randint(0, k + 1, (1,), generator=gen)) if torch.rand(1, generator=gen) < 0.5 \
            else k  # half the views use the full budget (the extreme corners)
        chosen = incoming[torch.randperm(incoming.numel(), generator=gen)[:k]]
        keep[chosen] = False
    return ei[:, keep]


@pytest.mark.parametrize("activation,p", [("relu", 0.4), ("prelu", 0.3), ("relu", 0.7)])
def test_sound_score_never_above_sampled_view_compactness(activation, p):
    data = random_graph(16, 0.3, seed=21)
    n = data.num_nodes
    enc = random_encoder(5, 4, activation, seed=22)
    z_other = torch.randn(n, 4, dtype=DT, generator=torch.Generator().manual_seed(23))
    c = c_weights(z_other)
    pot = POT(drop_probs=(p, p), sound=True)
    pot.setup(data)
    with torch.no_grad():
        # view 2's score uses view 1's embeddings for c: put z_other there
        step = _step(data, enc, (data, data), (z_other, torch.zeros(n, 4, dtype=DT)))
        _, score = pot.scores(step)
        _, budget = drop_budget(data.edge_index, n, p)
        assert budget.sum() > 0
        gen = torch.Generator().manual_seed(24)
        gaps = []
        for _ in range(300):
            edges = sample_view_within_budget(data, budget, gen)
            g = (enc(data.x, edges) * c).sum(1)
            gaps.append(g - score)
        gaps = torch.stack(gaps)
    assert float(gaps.min()) >= -1e-9, "the certified score exceeded a view's compactness"
    # and the bound is not vacuous: it is finite and within the range of the sampled scores
    assert torch.isfinite(score).all()


def test_pot_batch_chunks_and_combine():
    data = random_graph(20, 0.25, seed=31)
    enc = random_encoder(5, 3, "relu", seed=32)
    pot = POT(kappa=0.3, drop_probs=(0.2, 0.4), pot_batch=6)
    pot.setup(data)
    z = (torch.randn(20, 3, dtype=DT), torch.randn(20, 3, dtype=DT))
    sizes = []
    for epoch in range(1, 5):
        torch.manual_seed(epoch)
        s1, _ = pot.scores(_step(data, enc, (data, data), z, epoch=epoch))
        sizes.append(s1.numel())
    assert sizes == [6, 6, 2, 6]  # chunk epoch % 4 of a 6/6/6/2 partition
    out = pot.combine(torch.tensor(2.0), torch.tensor(1.0))
    assert float(out) == pytest.approx(0.7 * 2.0 + 0.3 * 1.0)


def test_guards():
    data = random_graph(10, 0.3, seed=41)
    with pytest.raises(ValueError, match="relu and single-slope prelu"):
        add_pot(Pipeline(GCNEncoder(5, 4, activation="rrelu"), InfoNCE(), device="cpu"))
    with pytest.raises(ValueError, match="relu and single-slope prelu"):
        add_pot(Pipeline(GCNEncoder(5, 4, activation="elu"), InfoNCE(), device="cpu"))
    with pytest.raises(ValueError, match="2-layer GCN"):
        add_pot(Pipeline(GCNEncoder(5, 4, num_layers=3), InfoNCE(), device="cpu"))
    with pytest.raises(ValueError, match="drop scheme"):  # no views to bound
        pot = POT()
        pot.setup(synthetic(num_nodes=30, num_features=5, seed=0))
        pot._ensure_boxes(Step(epoch=1))
    with pytest.raises(ValueError, match="kappa"):
        POT(kappa=1.5, drop_probs=(0.1, 0.1))

    class AddEdges:
        def __call__(self, d):
            return d

    with pytest.raises(ValueError, match="edge-dropping"):
        find_edge_drop_probs(AddEdges(), data)
    class WeightedMask:  # a feature mask with per-dimension probabilities (GCA, CSGCL)
        p = 0.2

        def __call__(self, d):
            return d

        def feature_drop_prob(self, d):
            return torch.full((d.num_features,), self.p)

    assert find_edge_drop_probs(WeightedMask(), data)[1] is True
    pot = POT(augment=(Compose([DropEdge(0.2), MaskFeature(0.3)]), DropEdge(0.1)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pot.setup(data)
        pot.setup(data)
    assert sum("feature masking" in str(w.message) for w in caught) == 1


def test_pipeline_with_pot_trains_and_logs():
    from gcl.data import synthetic

    data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
    views = (DropEdge(0.3), DropEdge(0.2))
    pipe = Pipeline(GCNEncoder(8, 8, activation="prelu"), InfoNCE(tau=0.5), augment=views,
                    lr=0.01, device="cpu", progress=False, seed=0)
    pot = add_pot(pipe, kappa=0.4)
    hist = pipe.fit(data, epochs=3)
    last = hist.epochs[-1]
    assert {"objective", "pot"} <= set(last)
    assert last["loss"] == pytest.approx(0.6 * last["objective"] + 0.4 * last["pot"], rel=1e-5)
    assert pot.boxes is not None


def test_cli_train_and_reproduce_with_pot(tmp_path, capsys):
    import json

    from gcl.cli import main
    from gcl.results import read_result

    fast = ["--epochs", "2", "--device", "cpu", "--set", "probe_epochs=20", "--set", "hidden=8",
            "--set", "proj_hidden=8", "--set", "clustering=false"]
    out = tmp_path / "r.json"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(["train", "--method", "grace", "--dataset", "synthetic", "--pot", "--kappa",
                     "0.3", "--pot-batch", "64", "--out", str(out), "--quiet", *fast]) == 0
        record = read_result(out)
        assert record["config"]["pot"] is True and record["config"]["kappa"] == 0.3
        assert record["config"]["pot_batch"] == 64
        results, docs = tmp_path / "results", tmp_path / "repro.md"
        assert main(["reproduce", "--method", "grace", "--dataset", "synthetic", "--seeds", "1",
                     "--pot", "--kappa", "0.4", "--results-dir", str(results), "--docs",
                     str(docs), "--set", "epochs=2", *fast[2:]]) == 0
    files = list((results / "grace").glob("*.json"))
    assert len(files) == 1 and files[0].name.startswith("grace-pot-synthetic")
    assert json.loads(files[0].read_text())["label"] == "GRACE+POT"
    assert "GRACE+POT" in docs.read_text()


def test_views_are_asymmetric_and_the_orientations_differ():
    """Edge dropping keeps the two directions of an edge independently: the reference's matrix
    (row = source) is then not the propagation matrix (row = target) but its transpose."""
    data = random_graph(14, 0.3, seed=3)
    view = drop_view(data, 0.4, 5)
    idx = torch.arange(14)
    ref = reference_view_matrix(view.edge_index, 14, idx)
    torch.testing.assert_close(ref.t(), dense_gcn_norm(view.edge_index, 14))
    assert not torch.allclose(ref, ref.t())
    enc = random_encoder(5, 3, "relu", seed=4)
    g = torch.Generator().manual_seed(7)
    z = (torch.randn(14, 3, generator=g, dtype=DT), torch.randn(14, 3, generator=g, dtype=DT))
    scores = {}
    for orientation in ("reference", "propagation"):
        pot = POT(drop_probs=(0.4, 0.4), orientation=orientation)
        pot.setup(data)
        scores[orientation] = pot.scores(_step(data, enc, (view, view), z))[0]
    assert float((scores["reference"] - scores["propagation"]).abs().max()) > 1e-3
    assert repr(pot).endswith("orientation='propagation')")
    with pytest.raises(ValueError, match="'orientation' of POT must be one of"):
        POT(drop_probs=(0.4, 0.4), orientation="columns")


def random_digraph(n: int, p: float, seed: int, features: int = 5) -> Data:
    rng = np.random.default_rng(seed)
    adj = (rng.random((n, n)) < p) & ~np.eye(n, dtype=bool)
    rows, cols = np.nonzero(adj)
    return Data(x=torch.tensor(rng.random((n, features)), dtype=DT),
                edge_index=torch.tensor(np.stack([rows, cols]), dtype=torch.long), num_nodes=n)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_sound_box_is_in_the_propagation_orientation(seed):
    """On a directed graph the certified score holds with the box in the encoder's propagation
    orientation (row = target, in-degree budgets), and a box built the other way round (from the
    reversed edges) is exceeded by some view's compactness: the orientation of the sound
    variant is not a choice."""
    data = random_digraph(16, 0.25, seed=seed)
    n = data.num_nodes
    enc = random_encoder(5, 4, "relu", seed=22)
    z_other = torch.randn(n, 4, dtype=DT, generator=torch.Generator().manual_seed(23))
    c = c_weights(z_other)
    _, budget = drop_budget(data.edge_index, n, 0.4)
    worst = {}
    for name, edges in (("propagation", data.edge_index), ("transposed", data.edge_index.flip(0))):
        pot = POT(drop_probs=(0.4, 0.4), sound=True)
        pot.setup(Data(x=data.x, edge_index=edges, num_nodes=n))
        with torch.no_grad():
            _, score = pot.scores(_step(data, enc, (data, data), (z_other, torch.zeros_like(z_other))))
            gen = torch.Generator().manual_seed(24)
            worst[name] = min(float(((enc(data.x, sample_view_within_budget(data, budget, gen)) * c)
                                     .sum(1) - score).min()) for _ in range(300))
    assert worst["propagation"] >= -1e-9
    assert worst["transposed"] < -1e-3
