"""Dataset-level transforms."""

from __future__ import annotations

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

__all__ = ["RowNormalize"]


class RowNormalize(BaseTransform):
    r"""Divide each feature row by its sum: ``x / x.sum(-1).clamp(min=1)`` (legacy semantics).

    These are the semantics of PyG's ``NormalizeFeatures`` before PyG 2.0.4, which GRACE, GCA
    and CSGCL were run with. PyG commit ``6008e30`` (first released in 2.0.4) changed it to
    ``(x - x.min()) / rowsum.clamp(min=1)``. For non-negative bag-of-words features (Cora,
    Amazon, Coauthor) the two agree; for dense *signed* features such as WikiCS's word
    embeddings the modern form shifts every row positive and rescales it to sum 1, which washes
    out the signal (the "WikiCS stuck near 30% accuracy" reports of CSGCL #5 and GCA #5).

    This transform keeps the old behaviour: no shift; a row whose sum is below 1 (including a
    zero row, or a signed row with a small or negative sum) is divided by 1, i.e. left as it
    is. Like every PyG transform, calling it (``transform(data)``) works on a shallow copy and
    assigns a new ``x``: the input graph and its tensors are never modified.

    Args:
        attrs: the node-feature attributes to normalise (default: ``["x"]``).

    Example:
        >>> data = Data(x=torch.tensor([[1.0, 3.0], [0.0, 0.0], [-0.5, 0.2]]))
        >>> RowNormalize()(data).x.tolist()
        [[0.25, 0.75], [0.0, 0.0], [-0.5, 0.20000000298023224]]
    """

    def __init__(self, attrs: list[str] | None = None) -> None:
        self.attrs = list(attrs) if attrs is not None else ["x"]

    def forward(self, data: Data) -> Data:
        """Replace each feature attribute of ``data`` by its row-normalised version.

        ``__call__`` passes a shallow copy here; the feature tensors are replaced, never
        modified in place.

        Args:
            data: the graph (``Data`` or ``HeteroData``).

        Returns:
            Data: the graph with normalised features.
        """
        for store in data.stores:
            for key in self.attrs:
                value = store.get(key, None)
                if isinstance(value, torch.Tensor) and value.is_floating_point():
                    store[key] = value / value.sum(dim=-1, keepdim=True).clamp(min=1)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(attrs={self.attrs})"

