"""The planted-partition generator."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.utils import contains_self_loops, is_undirected

from gcl._utils import validate_graph
from gcl.data import load, synthetic
from gcl.data.synthetic import balanced_communities, planted_partition_edges


def test_shapes_and_dtypes():
    data = synthetic(num_nodes=300, num_classes=4, num_features=32, avg_degree=6, seed=1)
    assert data.x.shape == (300, 32) and data.x.dtype == torch.float32
    assert data.edge_index.dtype == torch.long and data.edge_index.size(0) == 2
    assert data.y.shape == (300,) and data.y.dtype == torch.long
    assert torch.equal(data.y, data.community)
    assert sorted(data.y.unique().tolist()) == [0, 1, 2, 3]
    assert torch.bincount(data.y).tolist() == [75, 75, 75, 75]
    assert bool((data.x >= 0).all()) and bool((data.x.sum(1) > 0).all())
    for mask in (data.train_mask, data.val_mask, data.test_mask):
        assert mask.dtype == torch.bool and mask.shape == (300,)
    assert (int(data.train_mask.sum()), int(data.val_mask.sum())) == (30, 30)
    assert data.name == "synthetic" and data.split_name == "random-0.1-0.1"
    validate_graph(data, require_y=True)


def test_graph_is_simple_undirected_and_coalesced():
    data = synthetic(num_nodes=500, avg_degree=8, seed=2)
    ei = data.edge_index
    assert is_undirected(ei, num_nodes=500)
    assert not contains_self_loops(ei)
    key = ei[0] * 500 + ei[1]
    assert torch.equal(key, key.unique())  # sorted and duplicate-free = coalesced
    assert ei.size(1) == 500 * 8  # exactly N * avg_degree directed pairs


def test_intra_fraction_follows_p_intra():
    for p in (0.2, 0.9):
        data = synthetic(num_nodes=2000, avg_degree=10, p_intra=p, seed=0)
        ei = data.edge_index
        frac = (data.y[ei[0]] == data.y[ei[1]]).float().mean().item()
        assert abs(frac - p) < 0.01


def test_determinism_under_a_seed():
    a, b = synthetic(seed=11), synthetic(seed=11)
    c = synthetic(seed=12)
    for key in ("x", "edge_index", "y", "train_mask", "test_mask"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a.edge_index, c.edge_index) or not torch.equal(a.x, c.x)


def test_split_seed_changes_only_the_split():
    a, b = synthetic(seed=0), synthetic(seed=0, split_seed=5)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    assert not torch.equal(a.train_mask, b.train_mask)
    multi = synthetic(seed=0, num_splits=3)
    assert multi.train_mask.shape == (1000, 3)


def _nearest_centroid_accuracy(data) -> float:
    x, y = data.x, data.y
    k = int(y.max()) + 1
    tr, te = data.train_mask, data.test_mask
    centroids = torch.stack([x[tr & (y == c)].mean(0) for c in range(k)])
    pred = torch.cdist(x[te], centroids).argmin(1)
    return (pred == y[te]).float().mean().item()


def test_features_carry_class_signal():
    data = synthetic(num_nodes=1000, num_classes=5, seed=0)
    acc = _nearest_centroid_accuracy(data)
    assert acc > 0.2 + 0.4  # chance is 0.2
    flat = synthetic(num_nodes=1000, num_classes=5, feature_signal=0.0, seed=0)
    assert _nearest_centroid_accuracy(flat) < 0.35


def test_hundred_thousand_nodes_build_fast(cpu_seconds):
    data, elapsed = cpu_seconds(synthetic, num_nodes=100_000, avg_degree=10, seed=0)
    assert data.num_nodes == 100_000
    assert data.edge_index.size(1) == 1_000_000
    assert elapsed < 10.0, f"100k-node synthetic graph took {elapsed:.1f}s"


def test_edge_cases():
    one = synthetic(num_nodes=50, num_classes=1, num_features=8, avg_degree=4, seed=0)
    assert one.edge_index.size(1) == 200 and not contains_self_loops(one.edge_index)
    few = synthetic(num_nodes=60, num_classes=6, num_features=3, seed=0)  # F < K
    assert few.x.shape == (60, 3)
    empty = synthetic(num_nodes=40, avg_degree=0, seed=0)
    assert empty.edge_index.shape == (2, 0)


@pytest.mark.parametrize("kwargs", [
    {"num_nodes": 0}, {"num_classes": 0}, {"num_features": -1}, {"p_intra": 1.5},
    {"feature_signal": -0.1}, {"avg_degree": 2000}, {"num_nodes": 3, "num_classes": 5},
    {"seed": -3}, {"num_nodes": 10.5},
])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic(**kwargs)


def test_planted_partition_edges_saturates_gracefully():
    gen = torch.Generator().manual_seed(0)
    community = torch.tensor([0, 0, 0, 1, 1, 1])
    e = planted_partition_edges(community, 100, 1.0, gen)  # only 6 intra pairs exist
    assert e.size(1) == 6
    assert bool((community[e[0]] == community[e[1]]).all())
    assert torch.bincount(balanced_communities(7, 3, gen)).tolist() in ([3, 2, 2], [2, 3, 2],
                                                                        [2, 2, 3])


def test_load_synthetic_forwards_kwargs():
    data = load("synthetic", num_nodes=200, num_classes=3, seed=4, split="random:0.2:0.1",
                split_seed=1, num_splits=2)
    ref = synthetic(num_nodes=200, num_classes=3, seed=4, train_ratio=0.2, val_ratio=0.1,
                    num_splits=2, split_seed=1)
    assert torch.equal(data.edge_index, ref.edge_index)
    assert torch.equal(data.train_mask, ref.train_mask)
    assert data.train_mask.shape == (200, 2) and int(data.train_mask[:, 0].sum()) == 40
    assert data.split_name == "random-0.2-0.1"
    with pytest.raises(TypeError, match="split"):
        load("synthetic", train_ratio=0.3)
    with pytest.raises(ValueError, match="public"):
        load("synthetic", split="public")
