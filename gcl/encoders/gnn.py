"""Encoders from PyG's message-passing layers (GCN, GAT, GraphSAGE, GIN), with exact layer-wise
inference in blocks of target nodes for graphs whose full-graph pass does not fit.

:class:`GNNEncoder` stacks ``num_layers`` convolutions (optionally batch norm, then the
activation, after each; ``activate_last`` says whether the output gets them too).
:meth:`GNNEncoder.inference` computes the same output one layer at a time for ``batch_size``
target nodes at once, each with all its incoming edges, so no ``[E, d]`` message tensor of the
whole graph is ever built (:meth:`gcl.Pipeline.embed` uses it after mini-batch training).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_self_loops, remove_self_loops

from .._utils import check_choice, check_positive
from .gcn import ACTIVATIONS, _SparseInputLinear, make_activation

__all__ = ["GNNEncoder", "GATEncoder", "SAGEEncoder", "GINEncoder", "CONVS", "target_blocks"]

#: The layer types :class:`GNNEncoder` builds.
CONVS = ("gcn", "gat", "sage", "gin")


def target_blocks(edge_index: Tensor, num_nodes: int, batch_size: int
                  ) -> Iterator[tuple[int, int, Tensor]]:
    """Blocks of target nodes with the positions of all their incoming edges.

    Args:
        edge_index: ``[2, E]`` edges (``edge_index[1]`` receives).
        num_nodes: ``N``.
        batch_size: targets per block.

    Yields:
        (int, int, Tensor): the block ``start:end`` and the positions (into ``edge_index``) of
        the edges whose target lies in it.

    Example:
        >>> ei = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> [(s, e, p.tolist()) for s, e, p in target_blocks(ei, 3, 2)]
        [(0, 2, [2, 0]), (2, 3, [1])]
    """
    order = torch.argsort(edge_index[1], stable=True)
    counts = torch.bincount(edge_index[1], minlength=num_nodes)
    ptr = torch.zeros(num_nodes + 1, dtype=torch.long)
    torch.cumsum(counts.cpu(), 0, out=ptr[1:])
    for s in range(0, num_nodes, batch_size):
        e = min(s + batch_size, num_nodes)
        yield s, e, order[int(ptr[s]):int(ptr[e])]


class GNNEncoder(nn.Module):
    """A stack of PyG convolutions: ``gcn`` (``GCNConv``), ``gat`` (``GATConv``, heads
    concatenated), ``sage`` (``SAGEConv``, mean aggregation) or ``gin`` (``GINConv`` over a
    two-layer MLP).

    Sizes are ``in_channels -> hidden_channels -> ... -> out_channels``. After every layer but
    the last come batch norm (``batch_norm``) and the activation; ``activate_last`` applies them
    after the last layer too. Self-loops are added by the encoder (GCN and GAT, as their PyG
    layers do by default), so the layers see exactly the edges they aggregate, in a full pass
    and in :meth:`inference` alike. GCN with ``normalize=False`` sums ``edge_weight``-weighted
    neighbours without normalisation or self-loops: the encoder of a view that already is a
    propagation matrix (:class:`gcl.augment.NormalizedAdjacency`,
    :class:`gcl.augment.PPRDiffusion`).

    Args:
        in_channels: input feature dimension.
        hidden_channels: width of the inner layers.
        out_channels: output dimension (default: ``hidden_channels``).
        conv: ``"gcn"``, ``"gat"``, ``"sage"`` or ``"gin"`` (default: ``"gcn"``).
        num_layers: number of layers, at least 1 (default: 2).
        activation: ``relu``, ``prelu`` (one slope per layer), ``rrelu`` or ``elu``
            (default: ``relu``).
        activate_last: batch norm (if any) and activation after the last layer too
            (default: ``False``).
        batch_norm: ``BatchNorm1d`` before each activation (default: ``False``).
        bn_momentum: the batch norms' momentum (default: 0.1, PyTorch's).
        heads: attention heads of GAT layers; widths must be multiples of it (default: 1).
        normalize: GCN only: symmetric normalisation with self-loops (default: ``True``).

    Example:
        >>> enc = GNNEncoder(8, 16, conv="gat", heads=2)
        >>> x, ei = torch.randn(5, 8), torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        >>> enc(x, ei).shape
        torch.Size([5, 16])
        >>> torch.allclose(enc.eval()(x, ei), enc.inference(x, ei, batch_size=2), atol=1e-6)
        True
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 *, conv: str = "gcn", num_layers: int = 2, activation: str = "relu",
                 activate_last: bool = False, batch_norm: bool = False,
                 bn_momentum: float = 0.1, heads: int = 1, normalize: bool = True) -> None:
        super().__init__()
        owner = type(self).__name__
        for value, name in ((in_channels, "in_channels"), (hidden_channels, "hidden_channels"),
                            (num_layers, "num_layers"), (heads, "heads")):
            check_positive(value, name, owner, integer=True)
        out_channels = hidden_channels if out_channels is None else out_channels
        check_positive(out_channels, "out_channels", owner, integer=True)
        self.conv = check_choice(conv, "conv", CONVS, owner)
        check_choice(activation, "activation", ACTIVATIONS, owner)
        dims = [in_channels] + [hidden_channels] * (num_layers - 1) + [out_channels]
        if self.conv == "gat" and any(d % heads for d in dims[1:]):
            raise ValueError(f"{owner}: with conv='gat' every layer width ({dims[1:]}) must be a "
                             f"multiple of heads={heads}")
        self.in_channels, self.out_channels, self.num_layers = in_channels, out_channels, num_layers
        self.heads, self.normalize = heads, bool(normalize)
        self.activate_last = bool(activate_last)
        self.convs = nn.ModuleList(self._make_conv(a, b) for a, b in zip(dims[:-1], dims[1:]))
        if self.conv == "gcn":  # bag-of-words inputs enter through a sparse product
            self.convs[0].lin.__class__ = _SparseInputLinear
        acts = num_layers if activate_last else num_layers - 1
        self.norms = nn.ModuleList(nn.BatchNorm1d(dims[i + 1], momentum=bn_momentum)
                                   for i in range(acts)) if batch_norm else None
        self.acts = nn.ModuleList(make_activation(activation) for _ in range(acts))

    def _make_conv(self, a: int, b: int) -> nn.Module:
        if self.conv == "gcn":
            return GCNConv(a, b, cached=False, normalize=False)
        if self.conv == "gat":
            return GATConv(a, b // self.heads, heads=self.heads, add_self_loops=False)
        if self.conv == "sage":
            return SAGEConv(a, b)
        return GINConv(nn.Sequential(nn.Linear(a, b), nn.ReLU(), nn.Linear(b, b)))

    def _edges(self, edge_index: Tensor, edge_weight: Tensor | None, n: int, dtype
               ) -> tuple[Tensor, Tensor | None]:
        """The edges (and weights) every layer aggregates: normalised with self-loops for GCN,
        self-loops added for GAT, as given otherwise."""
        if self.conv == "gcn":
            if not self.normalize:
                w = edge_weight if edge_weight is not None else torch.ones(
                    edge_index.size(1), dtype=dtype, device=edge_index.device)
                return edge_index, w
            return gcn_norm(edge_index, edge_weight, n, add_self_loops=True, dtype=dtype)
        if self.conv == "gat":
            ei, _ = remove_self_loops(edge_index)
            return add_self_loops(ei, num_nodes=n)[0], None
        return edge_index, None

    @staticmethod
    def _aggregate(src: Tensor, edge_index: Tensor, weight: Tensor, n_dst: int) -> Tensor:
        """``out[i] = sum_j w_ji src[j]`` as one sparse product (no ``[E, d]`` messages); edges
        already sorted by target (the fixed views' order) skip the sort."""
        dst, col = edge_index[1], edge_index[0]
        weight = weight.to(src.dtype)
        if dst.numel() == 0 or bool((dst[1:] >= dst[:-1]).all()):
            crow = torch.zeros(n_dst + 1, dtype=torch.long, device=dst.device)
            torch.cumsum(torch.bincount(dst, minlength=n_dst), 0, out=crow[1:])
            adj = torch.sparse_csr_tensor(crow, col, weight, (n_dst, src.size(0)),
                                          check_invariants=False)
        else:
            adj = torch.sparse_coo_tensor(torch.stack([dst, col]), weight, (n_dst, src.size(0)),
                                          check_invariants=False).coalesce()
        return torch.sparse.mm(adj, src)

    def _layer(self, i: int, x, edge_index: Tensor, weight: Tensor | None, n_dst: int) -> Tensor:
        """Layer ``i`` on ``x`` (a tensor, or ``(sources, targets)``; for GCN the already
        transformed source features ``lin(x)`` of every node)."""
        conv = self.convs[i]
        if self.conv == "gcn":
            src = x if isinstance(x, Tensor) else x[0]
            out = self._aggregate(src, edge_index, weight, n_dst)
            return out if conv.bias is None else out + conv.bias
        return conv(x, edge_index)

    def _post(self, i: int, h: Tensor) -> Tensor:
        if i < len(self.acts):
            if self.norms is not None:
                h = self.norms[i](h)
            h = self.acts[i](h)
        return h

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects x of shape [N, {self.in_channels}], "
                             f"got {list(x.shape)}")
        n = x.size(0)
        ei, w = self._edges(edge_index, edge_weight, n, x.dtype)
        for i in range(self.num_layers):
            h = self.convs[i].lin(x) if self.conv == "gcn" else x
            x = self._post(i, self._layer(i, h, ei, w, n))
        return x

    @torch.no_grad()
    def inference(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, *,
                  batch_size: int = 1024) -> Tensor:
        """The forward pass computed one layer at a time, ``batch_size`` target nodes at once
        (each with all its incoming edges): the same output as ``forward`` in eval mode, with
        message tensors of one block only.

        Args:
            x: ``[N, in_channels]`` features.
            edge_index: ``[2, E]`` edges.
            edge_weight: ``[E]`` weights (GCN only) or ``None``.
            batch_size: target nodes per block (default: 1024).

        Returns:
            Tensor: ``[N, out_channels]``.
        """
        check_positive(batch_size, "batch_size", "inference", integer=True)
        n = x.size(0)
        ei, w = self._edges(edge_index, edge_weight, n, x.dtype)
        blocks = list(target_blocks(ei, n, batch_size))
        for i in range(self.num_layers):
            h = self.convs[i].lin(x) if self.conv == "gcn" else x  # once per layer
            parts = []
            for s, e, pos in blocks:
                local = torch.stack([ei[0, pos], ei[1, pos] - s])
                part = self._layer(i, (h, h[s:e]), local, None if w is None else w[pos], e - s)
                parts.append(self._post(i, part))
            x = torch.cat(parts)
        return x

    def extra_repr(self) -> str:
        return (f"conv={self.conv}, layers={self.num_layers}, activate_last={self.activate_last},"
                f" batch_norm={self.norms is not None}")


class GATEncoder(GNNEncoder):
    """:class:`GNNEncoder` of ``GATConv`` layers (heads concatenated, ELU by default).

    Args:
        in_channels, hidden_channels, out_channels, num_layers: sizes (see :class:`GNNEncoder`).
        heads: attention heads per layer (default: 4).
        **kwargs: the other :class:`GNNEncoder` arguments (default activation: ``elu``).

    Example:
        >>> GATEncoder(8, 16, heads=4)(torch.randn(3, 8), torch.tensor([[0], [1]])).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 *, num_layers: int = 2, heads: int = 4, **kwargs) -> None:
        kwargs.setdefault("activation", "elu")
        super().__init__(in_channels, hidden_channels, out_channels, conv="gat",
                         num_layers=num_layers, heads=heads, **kwargs)


class SAGEEncoder(GNNEncoder):
    """:class:`GNNEncoder` of ``SAGEConv`` layers (mean aggregation).

    Args:
        in_channels, hidden_channels, out_channels, num_layers: sizes (see :class:`GNNEncoder`).
        **kwargs: the other :class:`GNNEncoder` arguments.

    Example:
        >>> SAGEEncoder(8, 16)(torch.randn(3, 8), torch.tensor([[0], [1]])).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 *, num_layers: int = 2, **kwargs) -> None:
        super().__init__(in_channels, hidden_channels, out_channels, conv="sage",
                         num_layers=num_layers, **kwargs)


class GINEncoder(GNNEncoder):
    """:class:`GNNEncoder` of ``GINConv`` layers (sum aggregation, two-layer MLP each).

    Args:
        in_channels, hidden_channels, out_channels, num_layers: sizes (see :class:`GNNEncoder`).
        **kwargs: the other :class:`GNNEncoder` arguments.

    Example:
        >>> GINEncoder(8, 16)(torch.randn(3, 8), torch.tensor([[0], [1]])).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int | None = None,
                 *, num_layers: int = 2, **kwargs) -> None:
        super().__init__(in_channels, hidden_channels, out_channels, conv="gin",
                         num_layers=num_layers, **kwargs)
