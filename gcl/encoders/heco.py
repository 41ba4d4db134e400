"""HeCo's two views of a heterogeneous graph (Wang et al., KDD 2021).

* the **meta-path view** (:class:`MetaPathViewEncoder`): one GCN layer per meta-path on its
  symmetric-normalised adjacency, fused by semantic attention;
* the **network-schema view** (:class:`SchemaViewEncoder`): for each neighbour type, attention
  over a fixed number of sampled direct neighbours, then attention over the types.

:class:`HeCoEncoder` projects every node type's features (``ELU(Dropout(W x + b))``) and runs
both views. Sparse throughout: adjacencies are torch sparse tensors, inputs may be sparse.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._utils import check_positive, check_probability
from .meow import SemanticAttention, sparse_linear, spmm

__all__ = ["HeCoEncoder", "MetaPathViewEncoder", "SchemaViewEncoder", "NeighborAttention"]


def _xavier(weight: Tensor) -> Tensor:
    return nn.init.xavier_normal_(weight, gain=1.414)


class _MetaPathGCN(nn.Module):
    """``PReLU(Â (H W) + b)``: HeCo's one-layer GCN for one meta-path (no bias in ``W``, a bias
    starting at 0 after the propagation)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(dim, dim, bias=False)
        _xavier(self.lin.weight)
        self.bias = nn.Parameter(torch.zeros(dim))
        self.act = nn.PReLU()

    def forward(self, h: Tensor, adj) -> Tensor:
        return self.act(spmm(adj, self.lin(h)) + self.bias)


class MetaPathViewEncoder(nn.Module):
    """HeCo's meta-path view: a GCN layer per meta-path, fused by semantic attention.

    Args:
        dim: embedding width.
        num_metapaths: number of meta-paths ``P``.
        attn_drop: dropout on the attention vector (default: 0).

    Example:
        >>> enc = MetaPathViewEncoder(4, 2)
        >>> adj = torch.eye(3).to_sparse()
        >>> enc(torch.randn(3, 4), [adj, adj]).shape
        torch.Size([3, 4])
    """

    def __init__(self, dim: int, num_metapaths: int, attn_drop: float = 0.0) -> None:
        super().__init__()
        check_positive(num_metapaths, "num_metapaths", "MetaPathViewEncoder", integer=True)
        self.gcns = nn.ModuleList(_MetaPathGCN(dim) for _ in range(num_metapaths))
        self.attention = SemanticAttention(dim, attn_drop)

    def forward(self, h: Tensor, adjs: list) -> Tensor:
        if len(adjs) != len(self.gcns):
            raise ValueError(f"MetaPathViewEncoder has {len(self.gcns)} meta-paths, got "
                             f"{len(adjs)} adjacencies")
        z, self.last_beta = self.attention([gcn(h, a) for gcn, a in zip(self.gcns, adjs)])
        return z


class NeighborAttention(nn.Module):
    """Node-level attention over sampled neighbours of one type (HeCo's ``intra_att``):
    ``α_ij = softmax_j LeakyReLU(aᵀ [h_i ‖ h_j])``, output ``Σ_j α_ij h_j``.

    Args:
        dim: embedding width.
        attn_drop: dropout on the attention vector ``a`` (default: 0).

    Example:
        >>> att = NeighborAttention(4)
        >>> att(torch.tensor([[0, 1], [1, 1]]), torch.randn(2, 4), torch.randn(2, 4)).shape
        torch.Size([2, 4])
    """

    def __init__(self, dim: int, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.att = nn.Parameter(torch.empty(1, 2 * dim))
        _xavier(self.att)
        self.dropout = nn.Dropout(check_probability(attn_drop, "attn_drop", "NeighborAttention"))

    def forward(self, neighbors: Tensor, h: Tensor, h_ref: Tensor) -> Tensor:
        """``neighbors [N, k]`` indices into ``h [M, d]``; ``h_ref [N, d]`` the target nodes."""
        a = self.dropout(self.att)
        d = h.shape[1]
        emb = h[neighbors]  # [N, k, d]
        # aᵀ[h_i ‖ h_j] = a_refᵀ h_i + a_nbrᵀ h_j, without building the [N, k, 2d] pairs
        score = F.leaky_relu((h_ref @ a[0, :d]).unsqueeze(1) + emb @ a[0, d:])
        alpha = torch.softmax(score, dim=1)
        return (alpha.unsqueeze(-1) * emb).sum(1)


class SchemaViewEncoder(nn.Module):
    """HeCo's network-schema view: :class:`NeighborAttention` per neighbour type, ELU, then
    semantic attention over the types. A node with no neighbour of a type gets zeros for it.

    Args:
        dim: embedding width.
        num_types: number of neighbour types.
        attn_drop: dropout on the attention vectors (default: 0).

    Example:
        >>> enc = SchemaViewEncoder(4, 1)
        >>> idx = torch.tensor([[0, 1], [1, 1], [0, 0]])
        >>> enc(torch.randn(3, 4), [torch.randn(2, 4)], [idx], [None]).shape
        torch.Size([3, 4])
    """

    def __init__(self, dim: int, num_types: int, attn_drop: float = 0.0) -> None:
        super().__init__()
        check_positive(num_types, "num_types", "SchemaViewEncoder", integer=True)
        self.intra = nn.ModuleList(NeighborAttention(dim, attn_drop) for _ in range(num_types))
        self.attention = SemanticAttention(dim, attn_drop)

    def forward(self, h_target: Tensor, h_types: list, samples: list, has: list) -> Tensor:
        """``samples[t]``: ``[N, k_t]`` sampled neighbour indices into ``h_types[t]``;
        ``has[t]``: ``[N]`` bool (the node has neighbours of type ``t``) or ``None`` (all do)."""
        embeds = []
        for att, h, idx, mask in zip(self.intra, h_types, samples, has, strict=True):
            e = F.elu(att(idx, h, h_target))
            embeds.append(e if mask is None else e * mask.unsqueeze(1).to(e.dtype))
        z, self.last_beta = self.attention(embeds)
        return z


class HeCoEncoder(nn.Module):
    """HeCo's encoder: per-type projections and the two views.

    ``forward(inputs, samples)`` returns ``(z_mp, z_sc)`` from ``inputs`` (a dict with ``x``:
    features per type, ``adjs``: normalised sparse meta-path adjacencies, ``has``: per schema
    type the ``[N]`` mask of nodes with neighbours, or ``None``) and ``samples`` (per schema
    type, ``[N, k]`` sampled neighbour indices); :meth:`embed` returns ``z_mp`` without
    feature dropout.

    Args:
        in_dims: input width per node type.
        target: the target node type.
        schema_types: the neighbour types of the schema view, in order.
        num_metapaths: number of meta-paths.
        hidden: embedding width (default: 64).
        feat_drop: dropout after the projections (default: 0.3).
        attn_drop: dropout on every attention vector (default: 0.5).

    Example:
        >>> enc = HeCoEncoder({"p": 3, "a": 2}, "p", ["a"], 1, hidden=4)
        >>> inputs = {"x": {"p": torch.eye(3), "a": torch.eye(2)},
        ...           "adjs": [torch.eye(3).to_sparse()], "has": [None]}
        >>> z_mp, z_sc = enc(inputs, [torch.tensor([[0], [1], [1]])])
        >>> z_mp.shape, z_sc.shape
        (torch.Size([3, 4]), torch.Size([3, 4]))
    """

    def __init__(self, in_dims: dict, target: str, schema_types: list, num_metapaths: int, *,
                 hidden: int = 64, feat_drop: float = 0.3, attn_drop: float = 0.5) -> None:
        super().__init__()
        check_positive(hidden, "hidden", "HeCoEncoder", integer=True)
        missing = [t for t in [target, *schema_types] if t not in in_dims]
        if missing:
            raise ValueError(f"HeCoEncoder: no input width for node type(s) {missing}")
        self.target = target
        self.schema_types = list(schema_types)
        types = [target] + [t for t in self.schema_types if t != target]
        self.proj = nn.ModuleDict({t: nn.Linear(int(in_dims[t]), hidden) for t in types})
        for lin in self.proj.values():
            _xavier(lin.weight)
        self.feat_drop = nn.Dropout(check_probability(feat_drop, "feat_drop", "HeCoEncoder"))
        self.mp = MetaPathViewEncoder(hidden, num_metapaths, attn_drop)
        self.sc = SchemaViewEncoder(hidden, len(self.schema_types), attn_drop)

    def project(self, t: str, x: Tensor, *, dropout: bool = True) -> Tensor:
        """``ELU(Dropout(W_t x + b))`` for node type ``t`` (dense or sparse ``x``)."""
        h = sparse_linear(x, self.proj[t])
        return F.elu(self.feat_drop(h) if dropout else h)

    def forward(self, inputs: dict, samples: list) -> tuple[Tensor, Tensor]:
        h = {t: self.project(t, inputs["x"][t]) for t in self.proj}
        z_mp = self.mp(h[self.target], inputs["adjs"])
        z_sc = self.sc(h[self.target], [h[t] for t in self.schema_types], samples,
                       inputs.get("has") or [None] * len(self.schema_types))
        return z_mp, z_sc

    def embed(self, inputs: dict) -> Tensor:
        """The meta-path view's embeddings (no feature dropout), HeCo's output."""
        return self.mp(self.project(self.target, inputs["x"][self.target], dropout=False),
                       inputs["adjs"])
