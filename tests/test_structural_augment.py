"""Node dropping, edge adding, feature shuffling, random-walk subgraphs and node sub-sampling:
equal to PyG's utilities under the same global seed where they wrap one, their statistics, the
no-in-place contract and seeded reproducibility."""

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import dropout_node, shuffle_node, to_undirected

from gcl.augment import AddEdge, DropNode, NodeSubsample, RandomWalkSubgraph, ShuffleFeatures
from gcl.augment.structural import random_walk_nodes


def _graph(n=30, e=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = to_undirected(ei[:, ei[0] != ei[1]], num_nodes=n)
    return Data(x=torch.randn(n, 4, generator=g), edge_index=ei,
                edge_weight=torch.rand(ei.size(1), generator=g), y=torch.arange(n) % 3)


def test_drop_node_equals_pyg_dropout_node():
    data = _graph()
    torch.manual_seed(3)
    out = DropNode(0.4)(data)
    torch.manual_seed(3)
    ref, edge_mask, node_mask = dropout_node(data.edge_index, 0.4, data.num_nodes)
    assert torch.equal(out.edge_index, ref)
    assert torch.equal(out.edge_weight, data.edge_weight[edge_mask])
    assert out.num_nodes == data.num_nodes and torch.equal(out.x, data.x)
    kept = out.edge_index.unique()
    assert bool(node_mask[kept].all())


def test_shuffle_features_equals_pyg_shuffle_node():
    data = _graph()
    torch.manual_seed(4)
    out = ShuffleFeatures()(data)
    torch.manual_seed(4)
    ref, _ = shuffle_node(data.x)
    assert torch.equal(out.x, ref) and torch.equal(out.edge_index, data.edge_index)
    batched = Data(x=torch.arange(6.).view(6, 1), edge_index=torch.zeros(2, 0, dtype=torch.long),
                   batch=torch.tensor([0, 0, 0, 1, 1, 1]))
    torch.manual_seed(5)
    out = ShuffleFeatures()(batched)
    torch.manual_seed(5)
    assert torch.equal(out.x, shuffle_node(batched.x, batched.batch)[0])


def test_add_edge_statistics():
    data = _graph(n=50, e=80)
    existing = set(map(tuple, data.edge_index.t().tolist()))
    out = AddEdge(0.5, seed=0)(data)
    new = out.edge_index[:, data.edge_index.size(1):]
    assert new.size(1) == 2 * round(0.5 * data.edge_index.size(1) / 2)
    pairs = set(map(tuple, new.t().tolist()))
    assert len(pairs) == new.size(1) and not pairs & existing
    assert all((b, a) in pairs for a, b in pairs) and all(a != b for a, b in pairs)
    assert torch.equal(out.edge_weight[data.edge_index.size(1):], torch.ones(new.size(1)))
    directed = AddEdge(0.25, undirected=False, seed=1)(data)
    assert directed.edge_index.size(1) - data.edge_index.size(1) == round(
        0.25 * data.edge_index.size(1))
    # every node pair can be drawn: over many draws the last node gets new edges too
    hits = torch.cat([AddEdge(1.0, seed=s)(data).edge_index[:, data.edge_index.size(1):]
                      for s in range(5)], dim=1)
    assert int(hits.max()) == data.num_nodes - 1


def test_random_walks_and_subgraph():
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    assert random_walk_nodes(ei, 6, torch.tensor([0]), 2).tolist() == [True, True, True,
                                                                        False, False, False]
    data = _graph()
    out = RandomWalkSubgraph(walk_length=3, num_seeds=4, seed=0)(data)
    touched = out.edge_index.unique()
    assert out.num_nodes == data.num_nodes and out.edge_index.size(1) < data.edge_index.size(1)
    assert touched.numel() <= 4 * 4  # at most 4 walks of 4 nodes
    assert out.edge_weight.numel() == out.edge_index.size(1)


@pytest.mark.parametrize("aug", [DropNode(0.3, seed=1), AddEdge(0.3, seed=1),
                                 ShuffleFeatures(seed=1), RandomWalkSubgraph(3, seed=1),
                                 NodeSubsample(10, 2, seed=1)])
def test_no_in_place_and_seeded(aug):
    data = _graph()
    before = {k: v.clone() for k, v in data.items() if isinstance(v, torch.Tensor)}
    first = aug(data)
    for k, v in before.items():
        assert torch.equal(data[k], v)
    aug.reseed(1)
    again = aug(data)
    assert torch.equal(first.edge_index, again.edge_index) and torch.equal(first.x, again.x)
    assert "seed=1" in repr(aug)


@pytest.mark.parametrize("contiguous", [True, False])
def test_node_subsample_induces_subgraphs(contiguous):
    data = _graph(n=20, e=50)
    sampler = NodeSubsample(8, num_graphs=3, contiguous=contiguous, seed=0)
    nodes = sampler.sample(20)
    assert nodes.shape == (3, 8) and all(row.unique().numel() == 8 for row in nodes)
    if contiguous:
        assert bool((nodes[:, 1:] - nodes[:, :-1] == 1).all())
    out = sampler.restrict(data, nodes)
    assert out.num_nodes == 24 and torch.equal(out.x, data.x[nodes.reshape(-1)])
    assert torch.equal(out.y, data.y[nodes.reshape(-1)])
    expected = set()
    weights = {}
    for k, row in enumerate(nodes.tolist()):
        pos = {v: i for i, v in enumerate(row)}
        for e, (s, t) in enumerate(data.edge_index.t().tolist()):
            if s in pos and t in pos:
                edge = (pos[s] + 8 * k, pos[t] + 8 * k)
                expected.add(edge)
                weights[edge] = float(data.edge_weight[e])
    got = list(map(tuple, out.edge_index.t().tolist()))
    assert set(got) == expected
    assert all(weights[e] == w for e, w in zip(got, out.edge_weight.tolist()))
    assert out.batch.tolist() == [0] * 8 + [1] * 8 + [2] * 8
    assert NodeSubsample(50).sample(20).shape == (1, 20)
