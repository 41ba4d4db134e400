"""The plain-torch neighbour sampler: valid subgraphs, exact fan-outs, uniform choices."""

import pytest
import torch

from gcl.data import synthetic
from gcl.data.sampler import NeighborSampler


def _graph():
    return synthetic(num_nodes=300, num_features=5, num_classes=3, seed=1)


def test_batches_cover_the_seeds_once_and_edges_exist():
    data = _graph()
    edges = set(map(tuple, data.edge_index.t().tolist()))
    loader = NeighborSampler(data, [4, 3], batch_size=64, seed=0)
    seen = []
    for batch in loader:
        seeds = batch.n_id[:batch.batch_size]
        seen += seeds.tolist()
        assert batch.n_id.unique().numel() == batch.n_id.numel()
        assert torch.equal(batch.x, data.x[batch.n_id])
        assert torch.equal(batch.y, data.y[batch.n_id])
        g = batch.n_id[batch.edge_index]
        assert all((int(s), int(t)) in edges for s, t in g.t())
        assert torch.equal(data.edge_index[:, batch.e_id], g)
    assert sorted(seen) == list(range(data.num_nodes))
    assert len(loader) == 5


def test_fanout_is_min_of_degree_and_k():
    data = _graph()
    deg = torch.bincount(data.edge_index[1], minlength=data.num_nodes)
    loader = NeighborSampler(data, [3], batch_size=300, shuffle=False)
    batch = next(iter(loader))
    got = torch.bincount(batch.edge_index[1], minlength=batch.num_nodes)[:300]
    assert torch.equal(got, deg.clamp(max=3))


def test_all_neighbours_with_minus_one():
    data = _graph()
    batch = NeighborSampler(data, [-1], batch_size=10, shuffle=False).sample(torch.arange(10))
    into_seeds = (data.edge_index[1] < 10).sum()
    assert batch.edge_index.size(1) == int(into_seeds)


def test_choices_are_uniform_without_replacement():
    # node 0 has ten in-neighbours; sampling 3 of them picks each with probability 0.3
    src = torch.arange(1, 11)
    from torch_geometric.data import Data

    data = Data(x=torch.zeros(11, 1), edge_index=torch.stack([src, torch.zeros(10, dtype=torch.long)]))
    loader = NeighborSampler(data, [3], batch_size=1, input_nodes=torch.tensor([0]), seed=0)
    counts = torch.zeros(11)
    trials = 3000
    for _ in range(trials):
        batch = next(iter(loader))
        picked = batch.n_id[batch.edge_index[0]]
        assert picked.unique().numel() == 3  # without replacement
        counts[picked] += 1
    freq = counts[1:] / trials
    assert torch.allclose(freq, torch.full_like(freq, 0.3), atol=0.04)


def test_seeded_sampler_is_deterministic():
    data = _graph()
    a = [b.n_id for b in NeighborSampler(data, [5, 5], batch_size=50, seed=3)]
    b = [b.n_id for b in NeighborSampler(data, [5, 5], batch_size=50, seed=3)]
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("kwargs,match", [
    ({"num_neighbors": []}, "num_neighbors"),
    ({"num_neighbors": [0]}, "num_neighbors"),
    ({"batch_size": 0}, "batch_size"),
    ({"input_nodes": torch.tensor([], dtype=torch.long)}, "empty"),
    ({"input_nodes": torch.tensor([400])}, "input_nodes"),
    ({"backend": "dgl"}, "backend"),
])
def test_errors(kwargs, match):
    args = {"num_neighbors": [2], "batch_size": 8, **kwargs}
    with pytest.raises(ValueError, match=match):
        NeighborSampler(_graph(), args.pop("num_neighbors"), args.pop("batch_size"), **args)
