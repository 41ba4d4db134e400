"""A GCN with a normalisation layer and its own PReLU after every convolution (BGRL's encoder)."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv

from .._utils import check_choice, check_positive, check_probability
from .gcn import _SparseInputLinear, propagation_matrix

__all__ = ["GCNNormEncoder", "NORMS"]

#: Normalisations of :class:`GCNNormEncoder`: batch norm over the nodes, layer norm per node, none.
NORMS = ("batch", "layer", "none")


class GCNNormEncoder(nn.Module):
    """``GCNConv -> norm -> PReLU`` for each pair of consecutive ``sizes``, output included.

    The BGRL encoder (Thakoor et al., 2022): batch norm and a separate one-slope PReLU after
    every layer. Message passing is one sparse product per layer with the normalised adjacency,
    as in :class:`~gcl.encoders.GCNEncoder` (same sums up to float rounding), and sparse input
    features enter the first layer through a sparse product.

    Args:
        sizes: layer sizes ``[in, h_1, ..., h_L]``, at least two (e.g. ``[745, 256, 128]``).
        norm: ``"batch"`` (default), ``"layer"`` (per node) or ``"none"``.
        bn_momentum: PyTorch's batch-norm momentum, the weight of each new batch in the running
            statistics (default: 0.01, the decay 0.99 of the BGRL paper in PyTorch's
            convention; the BGRL reference code passes 0.99, which keeps mostly the last batch).

    Shapes:
        ``forward(x [N, in], edge_index [2, E], edge_weight [E] | None) -> [N, h_L]``.

    Example:
        >>> enc = GCNNormEncoder([6, 8, 4])
        >>> x, ei = torch.randn(5, 6), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> enc(x, ei).shape
        torch.Size([5, 4])
    """

    def __init__(self, sizes, norm: str = "batch", bn_momentum: float = 0.01) -> None:
        super().__init__()
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2:
            raise ValueError(f"GCNNormEncoder needs at least two sizes [in, out], got {sizes}")
        for s in sizes:
            check_positive(s, "sizes", "GCNNormEncoder", integer=True)
        self.sizes = sizes
        self.norm_name = check_choice(norm, "norm", NORMS, "GCNNormEncoder")
        self.bn_momentum = check_probability(bn_momentum, "bn_momentum", "GCNNormEncoder")
        self.convs = nn.ModuleList(GCNConv(a, b, cached=False) for a, b in zip(sizes, sizes[1:]))
        self.convs[0].lin.__class__ = _SparseInputLinear
        self.norms = nn.ModuleList(self._norm(b) for b in sizes[1:])
        self.activations = nn.ModuleList(nn.PReLU() for _ in sizes[1:])

    def _norm(self, dim: int) -> nn.Module:
        if self.norm_name == "batch":
            return nn.BatchNorm1d(dim, momentum=self.bn_momentum)
        if self.norm_name == "layer":
            return nn.LayerNorm(dim)
        return nn.Identity()

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.sizes[0]:
            raise ValueError(f"GCNNormEncoder expects x of shape [N, {self.sizes[0]}], got "
                             f"{list(x.shape)}")
        adj = propagation_matrix(edge_index, edge_weight, x.size(0), dtype=x.dtype)
        for conv, norm, act in zip(self.convs, self.norms, self.activations):
            out = torch.sparse.mm(adj, conv.lin(x))
            x = act(norm(out if conv.bias is None else out + conv.bias))
        return x

    def reset_parameters(self) -> None:
        """Draw every layer afresh (convolutions, norms, PReLU slopes at 0.25)."""
        for module in (*self.convs, *self.norms):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if hasattr(module, "reset_running_stats"):
                module.reset_running_stats()
        for act in self.activations:
            nn.init.constant_(act.weight, 0.25)

    def extra_repr(self) -> str:
        return f"sizes={self.sizes}, norm={self.norm_name}"
