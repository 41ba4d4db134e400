"""Communities and community strength on a small graph with known communities."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from gcl.augment.communities import (
    Communities,
    clear_community_cache,
    communal_edge_weights,
    community_strength,
    detect_communities,
    get_communities,
    undirected_edges,
)

# Three communities: triangle A = {0,1,2}, triangle B = {3,4,5}, 4-clique C = {6,7,8,9};
# bridges 2-3 (A-B) and 5-6 (B-C). m = 3 + 3 + 6 + 2 = 14.
UNDIRECTED = [(0, 1), (0, 2), (1, 2), (3, 4), (3, 5), (4, 5),
              (6, 7), (6, 8), (6, 9), (7, 8), (7, 9), (8, 9), (2, 3), (5, 6)]
MEMBERSHIP = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
# By hand: L_A = 3, D_A = 2+2+3 = 7;  L_B = 3, D_B = 3+2+3 = 8;  L_C = 6, D_C = 4+3+3+3 = 13.
S_A = Fraction(3, 14) - Fraction(7, 28) ** 2   # 17/112
S_B = Fraction(3, 14) - Fraction(8, 28) ** 2   # 13/98
S_C = Fraction(6, 14) - Fraction(13, 28) ** 2  # 167/784
EXPECTED = [float(S_A), float(S_B), float(S_C)]


def three_communities() -> Data:
    ei = torch.tensor(UNDIRECTED).t()
    return Data(edge_index=to_undirected(ei), num_nodes=10)


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool(((a.unsqueeze(0) == a.unsqueeze(1)) == (b.unsqueeze(0) == b.unsqueeze(1))).all())


def test_hand_computed_fractions():
    assert S_A == Fraction(17, 112) and S_B == Fraction(13, 98) and S_C == Fraction(167, 784)


def test_strength_matches_hand_computed_values():
    data = three_communities()
    com, node = community_strength(data.edge_index, MEMBERSHIP)
    assert com.dtype == torch.float32 and node.dtype == torch.float32
    assert torch.allclose(com, torch.tensor(EXPECTED), atol=1e-7)
    assert torch.allclose(node, torch.tensor(EXPECTED)[MEMBERSHIP], atol=1e-7)


def test_strength_sums_to_networkx_modularity():
    nx = pytest.importorskip("networkx")
    g = nx.Graph(UNDIRECTED)
    parts = [set(torch.nonzero(MEMBERSHIP == c).flatten().tolist()) for c in range(3)]
    com, _ = community_strength(three_communities().edge_index, MEMBERSHIP)
    assert float(com.double().sum()) == pytest.approx(nx.community.modularity(g, parts), abs=1e-6)


def test_strength_is_the_same_for_one_or_both_directions_and_duplicates():
    one_dir = torch.tensor(UNDIRECTED).t()
    dup = torch.cat([three_communities().edge_index, one_dir], dim=1)
    a, _ = community_strength(one_dir, MEMBERSHIP)
    b, _ = community_strength(dup, MEMBERSHIP)
    assert torch.allclose(a, b) and torch.allclose(a, torch.tensor(EXPECTED))


def test_self_loop_counts_once_inside_and_twice_in_degree():
    # Two triangles joined by 2-3, plus a self-loop on node 0: m = 8.
    ei = to_undirected(torch.tensor([[0, 0, 1, 3, 3, 4, 2, 0], [1, 2, 2, 4, 5, 5, 3, 0]]))
    com, _ = community_strength(ei, torch.tensor([0, 0, 0, 1, 1, 1]))
    # A: L = 4 (self-loop counts 1), D = 2+2+3 + 2 = 9;  B: L = 3, D = 7.
    expected = [4 / 8 - (9 / 16) ** 2, 3 / 8 - (7 / 16) ** 2]
    assert torch.allclose(com, torch.tensor(expected))


def test_unassigned_nodes_get_zero_strength():
    com, node = community_strength(three_communities().edge_index,
                                   torch.tensor([0, 0, 0, 1, 1, 1, -1, -1, -1, -1]))
    assert com.numel() == 2 and bool((node[6:] == 0).all())


def test_membership_size_is_checked():
    with pytest.raises(ValueError, match="membership"):
        community_strength(three_communities().edge_index, torch.tensor([0, 1]))


@pytest.mark.parametrize("method", ["leiden", "louvain"])
def test_detection_finds_the_planted_communities(method):
    data = three_communities()
    membership = detect_communities(data.edge_index, 10, method=method, seed=0)
    assert membership.dtype == torch.long and membership.shape == (10,)
    assert same_partition(membership, MEMBERSHIP)
    assert int(membership.min()) == 0 and int(membership.max()) == 2


def test_detection_is_seeded_and_leaves_global_rng_alone():
    import random

    from gcl.data import synthetic

    data = synthetic(num_nodes=200, num_features=4, num_classes=4, p_intra=0.5, seed=1)
    random.seed(5)
    expected_next = random.random()
    random.seed(5)
    a = detect_communities(data.edge_index, 200, seed=3)
    assert random.random() == expected_next
    b = detect_communities(data.edge_index, 200, seed=3)
    assert torch.equal(a, b)


def test_bad_method_is_rejected():
    with pytest.raises(ValueError, match="method"):
        detect_communities(three_communities().edge_index, 10, method="cpm")


def test_edge_weights_hand_computed():
    data = three_communities()
    w = communal_edge_weights(data.edge_index, MEMBERSHIP, torch.tensor(EXPECTED))
    # raw (x 784): A 119, B 104, C 167, A-B -(119+104) = -223, B-C -(104+167) = -271.
    raw = {0: 119, 1: 104, 2: 167}
    src, dst = data.edge_index
    for k in range(src.numel()):
        cu, cv = int(MEMBERSHIP[src[k]]), int(MEMBERSHIP[dst[k]])
        r = raw[cu] if cu == cv else -(raw[cu] + raw[cv])
        assert float(w[k]) == pytest.approx((r + 271) / 438, abs=1e-6)
    assert float(w.min()) == 0.0 and float(w.max()) == 1.0


def test_edge_weights_constant_raw_gives_ones():
    ei = torch.tensor([[0, 1], [1, 0]])
    w = communal_edge_weights(ei, torch.tensor([0, 0]), torch.tensor([0.2]))
    assert w.tolist() == [1.0, 1.0]


def test_get_communities_is_cached_per_graph():
    clear_community_cache()
    data = three_communities()
    c = get_communities(data, seed=0)
    assert isinstance(c, Communities)
    assert get_communities(data.clone(), seed=0) is c  # same content: same entry
    assert get_communities(data, seed=1) is not c
    assert torch.allclose(c.node_strength, torch.tensor(EXPECTED)[MEMBERSHIP], atol=1e-7)
    assert c.modularity == pytest.approx(390 / 784, abs=1e-6)
    other = Data(edge_index=data.edge_index[:, 2:], num_nodes=10)
    assert get_communities(other, seed=0) is not c


def test_undirected_edges():
    assert undirected_edges(three_communities().edge_index, 10).size(1) == 14


def test_legacy_strength_doubles_the_intra_term():
    data = three_communities()
    com, node = community_strength(data.edge_index, MEMBERSHIP, legacy=True)
    # 2 L_c / m - (D_c / 2m)^2: the corrected value plus L_c / m
    expected = [float(S_A + Fraction(3, 14)), float(S_B + Fraction(3, 14)), float(S_C + Fraction(6, 14))]
    assert torch.allclose(com, torch.tensor(expected), atol=1e-7)
    c = Communities.from_membership(data.edge_index, MEMBERSHIP, legacy_strength=True)
    assert c.legacy_strength and c.modularity == pytest.approx(390 / 784, abs=1e-6)
    clear_community_cache()
    assert get_communities(data, legacy_strength=True) is not get_communities(data)


# A graph on which igraph's own Leiden loop (n_iterations=-1) never ends: it keeps reporting a
# change while the partition stays [0, 0, 0, 0, 1, 1, 1].
LEIDEN_LOOP_EDGES = [(0, 2), (1, 3), (1, 6), (2, 3), (2, 5), (3, 5), (4, 4), (4, 5), (4, 6),
                     (5, 6), (6, 6)]


def test_leiden_terminates_where_igraphs_own_loop_does_not():
    import json
    import subprocess
    import sys

    pytest.importorskip("igraph")
    code = ("import torch; from gcl.augment.communities import detect_communities; "
            f"ei = torch.tensor({LEIDEN_LOOP_EDGES}).t(); "
            "print(detect_communities(ei, 7, seed=0).tolist())")
    # a subprocess, so that a regression fails the test instead of hanging the suite
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    membership = json.loads(out.stdout.strip().splitlines()[-1])
    assert membership == [0, 0, 0, 0, 1, 1, 1]


def test_same_partition_ignores_community_ids():
    from gcl.augment.community_detection import _same_partition

    assert _same_partition([0, 0, 1, 2], [2, 2, 0, 1])
    assert not _same_partition([0, 0, 1, 1], [0, 1, 1, 1])
    assert not _same_partition([0, 1, 2], [0, 0, 1])
    assert not _same_partition([0, 0, 1], [0, 1, 2])
