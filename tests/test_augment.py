"""Augmentations: no in-place changes, statistics, seeding, train/eval, repr, errors."""

import pytest
import torch
from torch_geometric.data import Data
from torch_geometric.utils import erdos_renyi_graph

from gcl.augment import (
    Augmentation,
    Compose,
    DropEdge,
    Identity,
    MaskFeature,
    RandomChoice,
    drop_edges,
    mask_columns,
)


def _graph(n=40, f=30, p=0.2, seed=0):
    torch.manual_seed(seed)
    ei = erdos_renyi_graph(n, p)
    return Data(x=torch.rand(n, f) + 0.1, edge_index=ei, edge_weight=torch.rand(ei.size(1)))


def _snapshot(data):
    return {k: v.clone() for k, v in data.items() if isinstance(v, torch.Tensor)}


@pytest.mark.parametrize("aug", [DropEdge(0.5), MaskFeature(0.5), Compose([DropEdge(0.3),
                                 MaskFeature(0.3)]), RandomChoice([DropEdge(0.5), MaskFeature(0.5)])])
def test_never_in_place(aug):
    data = _graph()
    before = _snapshot(data)
    out = aug(data)
    assert out is not data
    for key, value in before.items():
        assert torch.equal(data[key], value), f"{aug!r} modified data.{key}"


def test_drop_edge_statistics_and_edge_attributes():
    data = _graph(n=200, p=0.1)
    aug = DropEdge(0.3, seed=1)
    kept = []
    for _ in range(50):
        out = aug(data)
        kept.append(out.edge_index.size(1) / data.edge_index.size(1))
        assert out.edge_weight.size(0) == out.edge_index.size(1)
    mean = sum(kept) / len(kept)
    assert abs(mean - 0.7) < 0.01
    # Kept weights belong to the kept edges.
    out = DropEdge(0.5, seed=3)(data)
    lookup = {tuple(e): w for e, w in zip(data.edge_index.t().tolist(), data.edge_weight.tolist())}
    for e, w in zip(out.edge_index.t().tolist(), out.edge_weight.tolist()):
        assert lookup[tuple(e)] == w


def test_drop_edge_extremes_and_num_nodes():
    data = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=5)
    assert DropEdge(0.0)(data).edge_index.size(1) == 2
    out = DropEdge(1.0)(data)
    assert out.edge_index.size(1) == 0
    assert out.num_nodes == 5


def test_mask_feature_columns_shared_by_all_nodes():
    data = _graph(n=50, f=400)
    out = MaskFeature(0.25, seed=0)(data)
    zero_cols = (out.x == 0).all(dim=0)
    # every column is either entirely zeroed or entirely untouched
    assert torch.equal(out.x[:, ~zero_cols], data.x[:, ~zero_cols])
    frac = zero_cols.float().mean().item()
    assert 0.18 < frac < 0.32


def test_functional_primitives_accept_per_item_probabilities():
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    kept, mask = drop_edges(ei, torch.tensor([0.0, 1.0, 0.0, 1.0]))
    assert mask.tolist() == [True, False, True, False]
    assert kept.tolist() == [[0, 2], [1, 3]]
    x = torch.ones(2, 3)
    y, keep = mask_columns(x, torch.tensor([1.0, 0.0, 1.0]))
    assert keep.tolist() == [False, True, False]
    assert y.tolist() == [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]


def test_seeded_augmentations_are_reproducible():
    data = _graph()
    a, b = DropEdge(0.5, seed=7), DropEdge(0.5, seed=7)
    for _ in range(3):
        assert torch.equal(a(data).edge_index, b(data).edge_index)
    # successive calls differ (the stream advances)
    c = DropEdge(0.5, seed=7)
    assert not torch.equal(c(data).edge_index, c(data).edge_index)
    # reseed restarts the stream
    first = DropEdge(0.5, seed=11)(data).edge_index
    d = DropEdge(0.5, seed=99).reseed(11)
    assert torch.equal(d(data).edge_index, first)


def test_unseeded_uses_global_rng():
    data = _graph()
    torch.manual_seed(5)
    x1 = MaskFeature(0.5)(data).x
    torch.manual_seed(5)
    x2 = MaskFeature(0.5)(data).x
    assert torch.equal(x1, x2)


def test_eval_mode_is_identity():
    data = _graph()
    aug = Compose([DropEdge(0.9), MaskFeature(0.9)]).eval()
    out = aug(data)
    assert torch.equal(out.edge_index, data.edge_index) and torch.equal(out.x, data.x)
    aug.train()
    assert aug(data).edge_index.size(1) < data.edge_index.size(1)


def test_random_choice_applies_exactly_k():
    calls = []

    class Tag(Augmentation):
        def __init__(self, name):
            super().__init__()
            self.name = name

        def forward(self, data):
            calls.append(self.name)
            return data

    aug = RandomChoice([Tag("a"), Tag("b"), Tag("c")], num_choices=2, seed=0)
    for _ in range(20):
        calls.clear()
        aug(_graph(n=5))
        assert len(calls) == 2 and len(set(calls)) == 2
        assert calls == sorted(calls)  # listed order kept


def test_repr_shows_parameters():
    assert repr(DropEdge(0.2)) == "DropEdge(p=0.2)"
    assert repr(MaskFeature(0.3, seed=1)) == "MaskFeature(p=0.3, seed=1)"
    assert repr(Compose([DropEdge(0.1), Identity()])) == "Compose([DropEdge(p=0.1), Identity()])"
    assert "num_choices=1" in repr(RandomChoice([DropEdge(0.1)]))


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "0.3", None])
def test_probability_out_of_range_is_one_clear_error(bad):
    with pytest.raises(ValueError, match=r"argument 'p' of DropEdge"):
        DropEdge(bad)
    with pytest.raises(ValueError, match=r"argument 'p' of MaskFeature"):
        MaskFeature(bad)


def test_other_argument_errors():
    with pytest.raises(ValueError, match="num_choices"):
        RandomChoice([DropEdge(0.1)], num_choices=2)
    with pytest.raises(ValueError, match="callables"):
        Compose([DropEdge(0.1), 3])
    with pytest.raises(ValueError, match="seed"):
        DropEdge(0.1, seed=-1)
    with pytest.raises(ValueError, match="expects a torch_geometric.data.Data"):
        DropEdge(0.1)(torch.zeros(2, 2))
