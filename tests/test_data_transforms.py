"""RowNormalize: the legacy (PyG < 2.0.4) row normalisation."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform, NormalizeFeatures

from gcl.data import RowNormalize


def test_row_normalize_exact_values():
    x = torch.tensor([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 4.0], [0.25, 0.25, 0.0]])
    out = RowNormalize()(Data(x=x)).x
    expected = torch.tensor([[0.25, 0.75, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5],
                             [0.25, 0.25, 0.0]])  # row sum 0.5 < 1: divided by 1
    assert torch.allclose(out, expected)


def test_row_normalize_keeps_signed_features():
    # WikiCS-like signed rows: the legacy form keeps signs; modern PyG shifts by x.min().
    x = torch.tensor([[-0.5, 0.2, 0.1], [1.5, -0.5, 1.0]])
    out = RowNormalize()(Data(x=x)).x
    assert torch.allclose(out[0], x[0])  # sum -0.2 -> clamp(min=1) -> unchanged
    assert torch.allclose(out[1], x[1] / 2.0)
    assert bool((torch.sign(out) == torch.sign(x)).all())
    modern = NormalizeFeatures()(Data(x=x)).x
    assert bool((modern >= 0).all()) and not torch.allclose(modern, out)


def test_row_normalize_agrees_with_pyg_on_nonnegative_features():
    x = torch.rand(20, 7)
    x[3] = 0
    ours = RowNormalize()(Data(x=x)).x
    theirs = NormalizeFeatures()(Data(x=x)).x
    assert torch.allclose(ours, theirs)


def test_row_normalize_never_modifies_input():
    x = torch.tensor([[1.0, 3.0]])
    data = Data(x=x, edge_index=torch.tensor([[0], [0]]))
    out = RowNormalize()(data)
    assert out is not data
    assert data.x is x and x.tolist() == [[1.0, 3.0]]
    assert out.edge_index is data.edge_index


def test_row_normalize_is_a_pyg_transform_with_repr():
    t = RowNormalize(attrs=["x", "feat"])
    assert isinstance(t, BaseTransform)
    assert repr(t) == "RowNormalize(attrs=['x', 'feat'])"
    data = Data(x=torch.ones(2, 2), feat=torch.full((2, 4), 2.0), mask=torch.ones(2, 2).bool())
    out = t(data)
    assert torch.allclose(out.feat, torch.full((2, 4), 0.25))
    assert torch.equal(out.mask, data.mask)  # non-float attributes untouched
