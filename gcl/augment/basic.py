"""The classic augmentations: uniform edge dropping and feature-column masking (GRACE)."""

from __future__ import annotations

import torch
from torch_geometric.data import Data

from .base import (
    Augmentation,
    check_drop_probability,
    edge_attribute_keys,
    edge_keep_mask,
    mask_columns,
)

__all__ = ["DropEdge", "MaskFeature", "apply_edge_mask"]


def apply_edge_mask(data: Data, keep) -> Data:
    """Keep the edges selected by the boolean mask ``keep`` in ``data`` (a shallow copy), filtering
    every per-edge attribute with them and pinning ``num_nodes`` so isolated nodes survive.

    Args:
        data: the graph to filter (modified: pass a copy, as augmentations receive).
        keep: boolean ``[E]`` mask of the edges to keep (or their positions, increasing).

    Returns:
        Data: ``data`` with the kept edges.

    Example:
        >>> import torch
        >>> d = Data(edge_index=torch.tensor([[0, 1], [1, 2]]), edge_weight=torch.tensor([1., 2.]),
        ...          num_nodes=4)
        >>> out = apply_edge_mask(d.clone(), torch.tensor([False, True]))
        >>> out.edge_index.tolist(), out.edge_weight.tolist(), out.num_nodes
        ([[1], [2]], [2.0], 4)
    """
    num_nodes = data.num_nodes
    # the kept positions once (a boolean mask is read back to the host to size its result: once
    # here, instead of once for the edges and once per edge attribute)
    kept = keep.nonzero().view(-1) if keep.dtype == torch.bool else keep
    for key in edge_attribute_keys(data):
        data[key] = data[key].index_select(0, kept)
    data.edge_index = data.edge_index.index_select(1, kept)
    if "x" not in data:
        data.num_nodes = num_nodes
    return data


class DropEdge(Augmentation):
    """Remove each (directed) edge independently with probability ``p``.

    The two directions of an undirected edge are dropped independently, as in GRACE. Per-edge
    attributes (``edge_weight``, ``edge_attr``) are filtered with the edges.

    Args:
        p: drop probability in [0, 1] (default: 0.2).
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> import torch
        >>> d = Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> DropEdge(p=1.0)(d).edge_index.shape
        torch.Size([2, 0])
        >>> DropEdge(p=0.5)
        DropEdge(p=0.5)
    """

    def __init__(self, p: float = 0.2, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "DropEdge")

    def edge_drop_prob(self, data: Data):
        """Per-edge drop probability on ``data`` (``[E]``, all equal to ``p``).

        Every edge-dropping augmentation exposes this, so bound-based regularizers (POT) can
        model the range of views it produces.
        """
        return torch.full((data.edge_index.size(1),), self.p, device=data.edge_index.device)

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        keep = edge_keep_mask(data.edge_index, self.p,
                              generator=self.generator(data.edge_index.device))
        return apply_edge_mask(data, keep)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MaskFeature(Augmentation):
    """Zero each feature column (dimension) with probability ``p``, for all nodes at once.

    This is GRACE's ``drop_feature``: the mask is shared by all nodes and surviving values are not
    rescaled.

    Args:
        p: masking probability per column, in [0, 1] (default: 0.3).
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> import torch
        >>> d = Data(x=torch.ones(2, 4), edge_index=torch.tensor([[0], [1]]))
        >>> out = MaskFeature(p=1.0)(d)
        >>> float(out.x.sum()), float(d.x.sum())
        (0.0, 8.0)
    """

    def __init__(self, p: float = 0.3, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "MaskFeature")

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        if data.x is None:
            raise ValueError("MaskFeature needs node features: data.x is missing")
        data.x, _ = mask_columns(data.x, self.p, generator=self.generator(data.x.device))
        return data

    def extra_repr(self) -> str:
        return f"p={self.p}"
