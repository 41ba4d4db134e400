"""CAV, CED (CSGCL) and GCA's adaptive augmentations against hand-computed probabilities."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from gcl.augment import Compose
from gcl.augment.adaptive import (
    AdaptiveEdgeDropping,
    AdaptiveFeatureMasking,
    adaptive_drop_probabilities,
    adaptive_edge_weights,
    adaptive_feature_weights,
    eigenvector_centrality,
    node_centrality,
    pagerank,
)
from gcl.augment.communal import (
    CommunalAttributeVoting,
    CommunalEdgeDropping,
    cav_drop_probabilities,
    ced_drop_probabilities,
)
from gcl.augment.communities import Communities
from tests.test_communities import MEMBERSHIP, three_communities

# Node strengths x 784: A = 119, B = 104, C = 167 (see tests/test_communities.py).
S784 = {0: 119, 1: 104, 2: 167}


def graph_with_features() -> Data:
    data = three_communities()
    x = torch.zeros(10, 4)
    x[0, 0] = 1.0          # f0: node 0 (A)          -> vote 119
    x[6, 1] = x[7, 1] = 1  # f1: nodes 6, 7 (C)      -> vote 2 * 167 = 334
    x[3, 2] = 1.0          # f2: node 3 (B)          -> vote 104
    # f3: unused                                     -> vote 0
    data.x = x
    return data


def communities() -> Communities:
    return Communities.from_membership(three_communities().edge_index, MEMBERSHIP)


def test_cav_probabilities_hand_computed():
    data = graph_with_features()
    s = communities().node_strength
    p = 0.2
    # sparse variant: zero vote -> max vote (334), so f3 gets u = 0.
    u0 = math.log(334 / 119) / math.log(334 / 104)
    u = [u0, 0.0, 1.0, 0.0]
    expected = [ui / (sum(u) / 4) * p for ui in u]
    got = cav_drop_probabilities(data.x, s, p)
    assert got.tolist() == pytest.approx(expected, abs=1e-5)
    assert expected[0] == pytest.approx(0.37551, abs=1e-4)  # the numbers, worked by hand
    assert expected[2] == pytest.approx(0.42450, abs=1e-4)
    # dense variant: no patch; the zero vote is guarded to the smallest positive vote (u = 1).
    u = [u0, 0.0, 1.0, 1.0]
    expected = [ui / (sum(u) / 4) * p for ui in u]
    assert cav_drop_probabilities(data.x, s, p, dense=True).tolist() == pytest.approx(expected, abs=1e-5)


def test_cav_threshold_and_mean():
    data = graph_with_features()
    s = communities().node_strength
    capped = cav_drop_probabilities(data.x, s, 0.2, threshold=0.4)
    assert float(capped.max()) == pytest.approx(0.4)
    # before clamping, the mean drop probability is p
    assert float(cav_drop_probabilities(data.x, s, 0.2).mean()) == pytest.approx(0.2, abs=1e-6)


def test_cav_guards_non_positive_votes():
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 1.0]])
    s = torch.tensor([0.3, -0.1])  # node 1 in a community of negative strength
    probs = cav_drop_probabilities(x, s, 0.3)
    assert bool(torch.isfinite(probs).all())
    # votes (0.3, -0.1, 0.5): the negative vote takes the lowest positive vote (0.3), so it gets
    # the highest probability, tied with f0: u = (1, 1, 0), mean 2/3.
    assert probs.tolist() == pytest.approx([0.45, 0.45, 0.0])


def test_cav_equal_votes_give_uniform_probability():
    x = torch.ones(3, 4)
    probs = cav_drop_probabilities(x, torch.full((3,), 0.2), 0.3)
    assert probs.tolist() == pytest.approx([0.3] * 4)


def test_cav_checks_arguments():
    with pytest.raises(ValueError, match="'p'"):
        CommunalAttributeVoting(p=1.5)
    with pytest.raises(ValueError, match="node_strength"):
        cav_drop_probabilities(torch.ones(3, 2), torch.ones(2), 0.1)


def test_cav_masks_columns_with_the_probabilities():
    data = graph_with_features()
    data.x = data.x + 0.5  # every column used, so a dropped column is visible
    cav = CommunalAttributeVoting(p=0.2, communities=communities(), seed=0)
    cav.setup(data)
    probs = cav.feature_drop_prob(data)
    before = data.x.clone()
    trials = 4000
    dropped = torch.zeros(4)
    for _ in range(trials):
        out = cav(data)
        dropped += (out.x == 0).all(dim=0).float()
    assert torch.equal(data.x, before)  # never in place
    assert torch.allclose(dropped / trials, probs, atol=0.03)


def test_cav_is_seeded():
    data = graph_with_features()
    a = CommunalAttributeVoting(p=0.5, communities=communities(), seed=3)
    b = CommunalAttributeVoting(p=0.5, communities=communities(), seed=3)
    assert all(torch.equal(a(data).x, b(data).x) for _ in range(5))


def ced_expected(p: float, threshold: float = 1.0) -> list[float]:
    """Per-edge drop probabilities of the three-community graph, by hand."""
    data = three_communities()
    raw = []
    for u, v in data.edge_index.t().tolist():
        cu, cv = int(MEMBERSHIP[u]), int(MEMBERSHIP[v])
        raw.append(S784[cu] if cu == cv else -(S784[cu] + S784[cv]))
    lo, hi = min(raw), max(raw)  # -271 (B-C) and 167 (C)
    w = [(r - lo) / (hi - lo) for r in raw]
    mean = sum(w) / len(w)  # 9942 / (438 * 28)
    assert mean == pytest.approx(9942 / (438 * 28))
    return [1 - min(max((1 - p) * wi / mean, 1 - threshold), 1.0) for wi in w]


@pytest.mark.parametrize("p,threshold", [(0.5, 1.0), (0.2, 1.0), (0.5, 0.7)])
def test_ced_probabilities_hand_computed(p, threshold):
    data = three_communities()
    w = communities().edge_weights(data.edge_index)
    got = ced_drop_probabilities(w, p, threshold)
    assert got.tolist() == pytest.approx(ced_expected(p, threshold), abs=1e-6)


def test_ced_always_drops_the_weakest_edges_with_threshold_one():
    data = three_communities()
    ced = CommunalEdgeDropping(p=0.2, communities=communities(), seed=0)
    probs = ced.edge_drop_prob(data)
    src, dst = data.edge_index
    bridge_bc = ((src == 5) & (dst == 6)) | ((src == 6) & (dst == 5))
    assert bool((probs[bridge_bc] == 1.0).all())
    for _ in range(20):
        out = ced(data)
        assert not bool(((out.edge_index[0] == 5) & (out.edge_index[1] == 6)).any())
    # intra-community edges of the strongest community: keep (1 - p) / mean(w) = 0.8 / 0.81067
    in_c = (MEMBERSHIP[src] == 2) & (MEMBERSHIP[dst] == 2)
    assert probs[in_c].tolist() == pytest.approx([1 - 0.8 * 438 * 28 / 9942] * 12, abs=1e-6)
    # ... and with p = 0.1 the keep probability saturates at 1: never dropped
    probs = CommunalEdgeDropping(p=0.1, communities=communities()).edge_drop_prob(data)
    assert bool((probs[in_c] == 0.0).all())


def test_ced_sampling_frequencies_and_no_in_place():
    data = three_communities()
    data.edge_weight = torch.arange(data.edge_index.size(1), dtype=torch.float32)
    ced = CommunalEdgeDropping(p=0.5, communities=communities(), seed=1)
    ced.setup(data)
    before = data.edge_index.clone()
    counts = torch.zeros(data.edge_index.size(1))
    trials = 3000
    for _ in range(trials):
        out = ced(data)
        counts[out.edge_weight.long()] += 1  # edge_weight filtered with the edges
    assert torch.equal(data.edge_index, before)
    assert (1 - counts / trials).tolist() == pytest.approx(ced_expected(0.5), abs=0.04)


def test_ced_detects_communities_when_none_given():
    data = graph_with_features()
    ced = CommunalEdgeDropping(p=0.5, seed=0)
    cav = CommunalAttributeVoting(p=0.2, seed=0)
    Compose([ced, cav]).setup(data)
    # both read the same cached detection on the clean graph
    assert ced.communities is cav.communities
    assert ced.edge_drop_prob(data).tolist() == pytest.approx(ced_expected(0.5), abs=1e-6)


def test_communal_augmentations_reject_other_graph_sizes():
    ced = CommunalEdgeDropping(p=0.5, communities=communities())
    other = Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2)
    with pytest.raises(ValueError, match="setup"):
        ced(other)


def test_communal_under_grace_pipeline():
    from gcl.data import synthetic
    from gcl.methods import grace

    data = synthetic(num_nodes=60, num_features=12, num_classes=3, seed=0)
    pipe = grace(12, hidden=8, proj_hidden=8, device="cpu", progress=False)
    pipe.augment1 = Compose([CommunalEdgeDropping(0.2), CommunalAttributeVoting(0.1)])
    pipe.augment2 = Compose([CommunalEdgeDropping(0.4), CommunalAttributeVoting(0.2)])
    history = pipe.fit(data, epochs=3)
    assert len(history.epochs) == 3 and all(math.isfinite(v) for v in history.losses)


# -- GCA's adaptive augmentations -----------------------------------------------------------

def star() -> Data:
    # centre 0 joined to 1, 2, 3; plus 1-2.
    ei = torch.tensor([[0, 1, 0, 2, 0, 3, 1, 2], [1, 0, 2, 0, 3, 0, 2, 1]])
    x = torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 1, 0], [0, 0, 1]])
    return Data(edge_index=ei, num_nodes=4, x=x)


def test_degree_edge_weights_hand_computed():
    data = star()
    # degrees 3, 2, 2, 1; targets of the edges: 1, 0, 2, 0, 3, 0, 2, 1
    deg = {0: 3, 1: 2, 2: 2, 3: 1}
    s = [math.log(deg[t]) for t in data.edge_index[1].tolist()]
    hi, mean = max(s), sum(s) / len(s)
    expected = [(hi - v) / (hi - mean) for v in s]
    assert adaptive_edge_weights(data, "degree").tolist() == pytest.approx(expected, abs=1e-6)
    probs = adaptive_drop_probabilities(torch.tensor(expected), 0.3, 0.7)
    manual = [min(w / (sum(expected) / 8) * 0.3, 0.7) for w in expected]
    assert probs.tolist() == pytest.approx(manual, abs=1e-6)
    assert float(probs.max()) == pytest.approx(0.7)  # the edge into the leaf is capped


def test_feature_weights_hand_computed():
    data = star()
    c = node_centrality(data, "degree")
    assert c.tolist() == [3.0, 2.0, 2.0, 1.0]
    # usage: f0 = 3 + 2 = 5, f1 = 2 + 2 = 4, f2 = 1
    s = [math.log(5), math.log(4), math.log(1)]
    hi, mean = max(s), sum(s) / 3
    expected = [(hi - v) / (hi - mean) for v in s]
    assert adaptive_feature_weights(data.x, c).tolist() == pytest.approx(expected, abs=1e-6)
    dense = adaptive_feature_weights(-2 * data.x, c, dense=True)
    assert dense.tolist() == pytest.approx(expected, abs=1e-6)  # |x| scales every usage by 2


def test_pagerank_hand_iteration():
    data = star()
    deg_out = torch.tensor([3.0, 2, 2, 1])
    x = torch.ones(4)
    for _ in range(10):
        agg = torch.zeros(4)
        for u, v in data.edge_index.t().tolist():
            agg[v] += x[u] / deg_out[u]
        x = 0.15 * x + 0.85 * agg
    assert torch.allclose(pagerank(data.edge_index, 4), x, atol=1e-6)


def test_eigenvector_centrality_matches_networkx():
    nx = pytest.importorskip("networkx")
    data = star()
    g = nx.Graph(data.edge_index.t().tolist())
    ref = nx.eigenvector_centrality_numpy(g)
    got = eigenvector_centrality(data.edge_index, 4)
    assert got.tolist() == pytest.approx([ref[i] for i in range(4)], abs=1e-5)


@pytest.mark.parametrize("centrality", ["degree", "eigenvector", "pagerank"])
def test_adaptive_augmentations_run_and_respect_threshold(centrality):
    from gcl.data import synthetic

    data = synthetic(num_nodes=80, num_features=16, num_classes=3, seed=0)
    edges = AdaptiveEdgeDropping(0.4, centrality=centrality, seed=0)
    feats = AdaptiveFeatureMasking(0.4, centrality=centrality, seed=0)
    edges.setup(data)
    feats.setup(data)
    pe, pf = edges.edge_drop_prob(data), feats.feature_drop_prob(data)
    assert float(pe.max()) <= 0.7 + 1e-6 and float(pf.max()) <= 0.7 + 1e-6
    assert bool(torch.isfinite(pe).all()) and bool(torch.isfinite(pf).all())
    before_x, before_e = data.x.clone(), data.edge_index.clone()
    out = feats(edges(data))
    assert torch.equal(data.x, before_x) and torch.equal(data.edge_index, before_e)
    assert out.edge_index.size(1) < data.edge_index.size(1)


def test_adaptive_bad_centrality():
    with pytest.raises(ValueError, match="centrality"):
        AdaptiveEdgeDropping(0.2, centrality="betweenness")
