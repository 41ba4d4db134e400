"""POT (Yu et al., NeurIPS 2023): the node-compactness regularizer for 2-layer GCN encoders.

For every node ``i`` of a batch ``S`` (size ``n``) POT bounds ``g_i = z_i . c_i``, the encoder
output of one view times ``c_i = zh_i - mean_{j != i} zh_j`` (``zh``: the other view's
L2-normalised encoder output), over the range of edge-dropping views, by interval bounds and a
CROWN-style linear relaxation of the activation, and pushes the bound ("compactness") positive
with ``BCE(score, 1)``.

The pieces, all sparse (on the edges plus self-loops, never ``N x N``):

* :func:`drop_budget` and :func:`adjacency_box`: each node ``i`` of degree ``d_i`` loses at most
  ``m_i = min(max(d_i - 1, 0), round(r_i))`` incident edges, with ``r_i`` the expected number of
  drops (``p * d_i`` for uniform dropping, the sum of the per-edge drop probabilities for
  GCA-style dropping); with ``u_i = (d_i + 1 - m_i)^-1/2`` an edge entry of the gcn-normalised
  adjacency lies in ``[0, u_i u_j]`` and a diagonal entry in ``[1 / (d_i + 1), u_i^2]``.
* :func:`relaxation`: parallel linear bounds of ReLU / PReLU on ``[l, u]`` (slope
  ``s = (u - a l) / (u - l)``, upper offset ``beta = (a - 1) u l / (u - a l)`` inside the bracket).
* :func:`pot_score`: the closed-form score.

Two semantics (``sound`` argument):

* ``sound=False`` (default, the reference code's semantics, so published numbers are
  comparable): the layer-2 interval is computed from the hidden state of the *clean* graph, the
  backward pass uses node-indexed weights, and the resulting 2-hop linear form
  ``score = A (A t + b1~) + b2~`` is evaluated at the sampled view's adjacency ``A``. This is a
  heuristic, not a certified bound.
* ``sound=True``: layer 1's interval is propagated through the activation to the layer-2
  interval, the layer-2 backward pass is exact per path, and the linear form is minimised over
  the whole adjacency box (edge by edge). The score is then a certified lower bound of ``g_i``
  for every view that respects the drop budget (features fixed). It costs ``O(E h1)`` memory for
  the per-edge terms.

Feature masking is not modelled (features are fixed at the clean ``x``), nor is edge adding.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._utils import check_positive
from .base import Regularizer, Step

__all__ = ["AdjacencyBox", "drop_budget", "adjacency_box", "relaxation", "pot_score", "POT",
           "add_pot", "find_edge_drop_probs"]


# -- the adjacency box -------------------------------------------------------------------------
def _no_self_loops(edge_index: Tensor) -> Tensor:
    return edge_index[:, edge_index[0] != edge_index[1]]


def drop_budget(edge_index: Tensor, num_nodes: int, drop_prob: float | Tensor) -> tuple[Tensor, Tensor]:
    """Degrees and per-node drop budgets ``m_i = min(max(d_i - 1, 0), round(r_i))``.

    ``d_i`` is the number of edges into node ``i`` (self-loops excluded; for an undirected graph
    its degree) and ``r_i`` the expected number of those edges dropped: ``p * d_i`` for one
    uniform rate, the sum of the per-edge probabilities for a ``[E]`` tensor (GCA-style).
    Rounding is half to even, as ``numpy.round``.

    Args:
        edge_index: ``[2, E]`` edges of the clean graph.
        num_nodes: number of nodes ``N``.
        drop_prob: a rate in [0, 1] or ``[E]`` per-edge drop probabilities.

    Returns:
        (Tensor, Tensor): degrees ``d`` and budgets ``m``, both ``[N]`` float tensors.

    Example:
        >>> ei = torch.tensor([[0, 1, 0, 2, 0, 3], [1, 0, 2, 0, 3, 0]])
        >>> d, m = drop_budget(ei, 4, 0.5)
        >>> d.tolist(), m.tolist()
        ([3.0, 1.0, 1.0, 1.0], [2.0, 0.0, 0.0, 0.0])
    """
    keep = edge_index[0] != edge_index[1]
    col = edge_index[1][keep]
    deg = torch.zeros(num_nodes, device=edge_index.device).index_add_(
        0, col, torch.ones(col.numel(), device=edge_index.device))
    if isinstance(drop_prob, Tensor) and drop_prob.dim() > 0:
        if drop_prob.numel() != edge_index.size(1):
            raise ValueError(
                f"drop_prob has {drop_prob.numel()} entries but the graph has "
                f"{edge_index.size(1)} edges; give one probability per edge (or one rate)")
        probs = drop_prob.detach().to(deg.dtype)[keep]
        expected = torch.zeros_like(deg).index_add_(0, col, probs)
    else:
        expected = float(drop_prob) * deg
    budget = torch.minimum((deg - 1).clamp(min=0), torch.round(expected))
    return deg, budget


@dataclass
class AdjacencyBox:
    """Entry-wise bounds of the gcn-normalised adjacency of every view within the drop budget,
    stored on the edges plus the self-loops (row = target node, column = source node).

    Attributes:
        index: ``[2, E' + N]`` (row, column) positions; entries elsewhere are exactly 0.
        lower: ``[E' + N]`` lower bounds.
        upper: ``[E' + N]`` upper bounds.
        num_nodes: ``N``.

    Example:
        >>> box = adjacency_box(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 3, 0.0)
        >>> box.index.shape, box.num_nodes
        (torch.Size([2, 7]), 3)
        >>> [round(v, 4) for v in box.lower_diagonal().tolist()]
        [0.5, 0.3333, 0.5]
        >>> lower, upper = box.matrices()  # no drops: upper is D^-1/2 (A + I) D^-1/2 itself
        >>> [round(v, 4) for v in upper.to_dense()[1].tolist()]
        [0.4082, 0.3333, 0.4082]
        >>> box.subgraph(torch.tensor([0, 1])).num_nodes
        2
    """

    index: Tensor
    lower: Tensor
    upper: Tensor
    num_nodes: int

    def matrices(self) -> tuple[Tensor, Tensor]:
        """Sparse ``[N, N]`` lower and upper matrices (built once, cached); the lower one keeps
        only its non-zero entries (the diagonal)."""
        cached = self.__dict__.get("_matrices")
        if cached is None:
            n = self.num_nodes
            nz = self.lower != 0
            cached = (_sparse(self.index[:, nz], self.lower[nz], n),
                      _sparse(self.index, self.upper, n))
            self.__dict__["_matrices"] = cached
        return cached

    def lower_diagonal(self) -> Tensor | None:
        """The lower bounds as an ``[N]`` diagonal when they vanish off the diagonal (always for
        :func:`adjacency_box`), else ``None``."""
        cached = self.__dict__.get("_lower_diag", False)
        if cached is False:
            row, col = self.index
            off = row != col
            cached = None
            if not bool((self.lower[off] != 0).any()):
                cached = torch.zeros(self.num_nodes, dtype=self.lower.dtype,
                                     device=self.lower.device).index_add_(
                    0, row[~off], self.lower[~off])
            self.__dict__["_lower_diag"] = cached
        return cached

    def to(self, device) -> AdjacencyBox:
        """A copy on ``device``."""
        return AdjacencyBox(self.index.to(device), self.lower.to(device), self.upper.to(device),
                            self.num_nodes)

    def subgraph(self, nodes: Tensor | None) -> AdjacencyBox:
        """The box restricted to ``nodes x nodes`` (re-indexed ``0..n-1``); ``None``: all."""
        if nodes is None:
            return self
        index, mask = _restrict(self.index, nodes, self.num_nodes)
        return AdjacencyBox(index, self.lower[mask], self.upper[mask], int(nodes.numel()))


def _restrict(index: Tensor, nodes: Tensor, num_nodes: int) -> tuple[Tensor, Tensor]:
    new_id = torch.full((num_nodes,), -1, dtype=torch.long, device=index.device)
    new_id[nodes] = torch.arange(nodes.numel(), device=index.device)
    mapped = new_id[index]
    mask = (mapped >= 0).all(0)
    return mapped[:, mask], mask


def adjacency_box(edge_index: Tensor, num_nodes: int, drop_prob: float | Tensor) -> AdjacencyBox:
    """The adjacency box of a drop scheme: edges ``[0, u_i u_j]``, diagonal
    ``[1 / (d_i + 1), u_i^2]`` with ``u_i = (d_i + 1 - m_i)^-1/2`` (see :func:`drop_budget`).

    Args:
        edge_index: ``[2, E]`` edges of the clean graph (existing self-loops are ignored).
        num_nodes: number of nodes ``N``.
        drop_prob: a rate or ``[E]`` per-edge drop probabilities.

    Returns:
        AdjacencyBox: the bounds on the ``E' + N`` positions (edges without self-loops, then
        the diagonal).

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> box = adjacency_box(ei, 2, 0.0)
        >>> box.lower.tolist(), [round(v, 6) for v in box.upper.tolist()]
        ([0.0, 0.0, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5])
    """
    deg, budget = drop_budget(edge_index, num_nodes, drop_prob)
    u = (deg + 1 - budget).pow(-0.5)
    edges = _no_self_loops(edge_index)
    row, col = edges[1], edges[0]
    loops = torch.arange(num_nodes, device=edge_index.device)
    index = torch.cat([torch.stack([row, col]), torch.stack([loops, loops])], dim=1)
    lower = torch.cat([torch.zeros(row.numel(), device=u.device), 1.0 / (deg + 1)])
    upper = torch.cat([u[row] * u[col], u * u])
    return AdjacencyBox(index, lower, upper, num_nodes)


# -- sparse helpers ----------------------------------------------------------------------------
def _sparse(index: Tensor, value: Tensor, n: int) -> Tensor:
    return torch.sparse_coo_tensor(index, value, (n, n), check_invariants=False).coalesce()


def _spmm(adj: Tensor, dense: Tensor) -> Tensor:
    return torch.sparse.mm(adj, dense)


_EPS = 1e-12
#: Features with at most this fraction of non-zeros are multiplied as a sparse matrix.
SPARSE_FEATURE_DENSITY = 0.1


# -- relaxation --------------------------------------------------------------------------------
def relaxation(lower: Tensor, upper: Tensor,
               slope: float | Tensor = 0.0) -> tuple[Tensor, Tensor]:
    """Parallel linear bounds of ``sigma(z) = max(z, a z)`` on ``[l, u]``.

    ``s z <= sigma(z) <= s (z + beta)``: stable active entries get ``s = 1``, stable inactive
    ``s = a``, both with ``beta = 0``; unstable ones ``s = (u - a l) / (u - l)`` and
    ``beta = (a - 1) u l / (u - a l)`` (the chord through ``(l, a l)`` and ``(u, u)``).

    Args:
        lower: lower bounds ``l``.
        upper: upper bounds ``u`` (same shape).
        slope: the negative-side slope ``a``: a number (0 for ReLU), or a PReLU's weight as a
            0-dim tensor, used where it lies (no value read back from the device).

    Returns:
        (Tensor, Tensor): slopes ``s`` and upper offsets ``beta``, differentiable in the bounds.

    Example:
        >>> s, b = relaxation(torch.tensor([-1.0, 1.0]), torch.tensor([1.0, 2.0]))
        >>> s.tolist(), (b + 0.0).tolist()
        ([0.5, 1.0], [1.0, 0.0])
    """
    a = _slope(slope)
    # one expression for the three cases: with lc = min(l, 0) and uc = max(u, 0) the stable
    # active entries get s = uc / uc = 1, the stable inactive ones s = -a lc / -lc = a, and beta
    # vanishes on both (fewer elementwise passes than masking, which matters on large graphs)
    lc, uc = lower.clamp(max=0), upper.clamp(min=0)
    if not isinstance(a, Tensor) and a == 0.0:  # ReLU: s = u / (u - l), beta = -l (unstable)
        s = uc / (uc - lc).clamp(min=_EPS)
        return s, (-lc).masked_fill(uc <= 0, 0.0)
    s = (uc - a * lc) / (uc - lc).clamp(min=_EPS)
    beta = (a - 1) * uc * lc / (uc - a * lc).clamp(min=_EPS)
    return s, beta


def _interval(box: AdjacencyBox, low: Tensor, high: Tensor) -> tuple[Tensor, Tensor]:
    """Bounds of ``A M`` for ``A`` in the (non-negative) box and ``M`` in ``[low, high]``:
    ``L M+ + U M-`` and ``U M+ + L M-`` (one product with each of ``U`` and ``L``)."""
    lo_adj, up_adj = box.matrices()
    h = low.size(1)
    by_up = _spmm(up_adj, torch.cat([low.clamp(max=0), high.clamp(min=0)], 1))
    by_lo = _spmm(lo_adj, torch.cat([low.clamp(min=0), high.clamp(max=0)], 1))
    # split (not slicing): its backward concatenates instead of zero-filling full-size buffers
    up_l, up_u = by_up.split([h, h], dim=1)
    lo_l, lo_u = by_lo.split([h, h], dim=1)
    return lo_l + up_l, up_u + lo_u


def _fixed_intervals(box: AdjacencyBox, mats: Sequence[Tensor]) -> list[tuple[Tensor, Tensor]]:
    """Bounds ``C M -/+ R |M|`` (``C``, ``R``: the box's center and radius) of several fixed
    matrices ``M``, with one sparse product by ``U`` and one by ``L``."""
    lo_adj, up_adj = box.matrices()
    widths = [m.size(1) for m in mats]
    stacked = torch.cat([*mats, *(m.abs() for m in mats)], 1)
    # the sum and difference first, then one split (its backward does not zero-fill buffers)
    by_up = _spmm(up_adj, stacked)
    diag = box.lower_diagonal()
    by_lo = diag.unsqueeze(1) * stacked if diag is not None else _spmm(lo_adj, stacked)
    total = sum(widths)
    up_val, up_abs = by_up.split([total, total], dim=1)
    lo_val, lo_abs = by_lo.split([total, total], dim=1)
    mid, spread = (up_val + lo_val) / 2, (up_abs - lo_abs) / 2
    lows, highs = (mid - spread).split(widths, dim=1), (mid + spread).split(widths, dim=1)
    return list(zip(lows, highs))


def _slope(slope: float | Tensor) -> float | Tensor:
    """A number as a float; a (0-dim or one-element) tensor kept as a 0-dim tensor."""
    return slope.reshape(()) if isinstance(slope, Tensor) else float(slope)


def _activate(z: Tensor, a: float | Tensor) -> Tensor:
    return torch.where(z >= 0, z, a * z)


def pot_score(box: AdjacencyBox, xw1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, c: Tensor,
              slope: float | Tensor = 0.0, *, hw2: Tensor | None = None,
              view: tuple[Tensor, Tensor] | None = None, sound: bool = False) -> Tensor:
    """The per-node compactness score of one view on a batch of ``n`` nodes.

    Args:
        box: the adjacency box restricted to the batch (``n`` nodes).
        xw1: ``[n, h1]`` the batch rows of ``X W1`` (layer 1 without bias).
        b1: ``[h1]`` layer-1 bias.
        w2: ``[d, h1]`` layer-2 weight (``torch.nn.Linear`` layout).
        b2: ``[d]`` layer-2 bias.
        c: ``[n, d]`` the backward weights (positive minus mean negative, other view).
        slope: the activation's negative slope ``a`` (0: ReLU; a 0-dim tensor: a PReLU weight,
            see :func:`relaxation`).
        hw2: ``[n, d]`` the batch rows of ``H W2`` with ``H`` the clean graph's hidden state
            (reference semantics; required when ``sound=False``).
        view: ``(index, weight)`` of the sampled view's gcn-normalised adjacency on the batch
            (reference semantics; required when ``sound=False``).
        sound: certified lower bound over the whole box instead (see the module docstring).

    Returns:
        Tensor: ``[n]`` scores.

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> box = adjacency_box(ei, 2, 0.5)
        >>> g = torch.Generator().manual_seed(0)
        >>> xw1, w2, c = (torch.randn(2, 4, generator=g), torch.randn(3, 4, generator=g),
        ...               torch.randn(2, 3, generator=g))
        >>> pot_score(box, xw1, torch.zeros(4), w2, torch.zeros(3), c, sound=True).shape
        torch.Size([2])
    """
    n = box.num_nodes
    a = _slope(slope)
    if sound and not 0.0 <= float(a) <= 1.0:
        raise ValueError(f"the sound POT bound needs a monotone activation (slope in [0, 1]), "
                         f"got a PReLU slope of {float(a):.4g}; use sound=False or a ReLU")
    if not sound and (hw2 is None or view is None):
        raise ValueError("pot_score with sound=False needs hw2 (clean hidden state times W2) "
                         "and view (the sampled view's normalised adjacency)")
    if sound:
        ((l1, u1),) = _fixed_intervals(box, [xw1])
    else:
        (l1, u1), (l2, u2) = _fixed_intervals(box, [xw1, hw2])
    l1, u1 = l1 + b1, u1 + b1
    if sound:
        h_lo, h_hi = _activate(l1, a), _activate(u1, a)
        center, radius = (h_hi + h_lo) / 2, (h_hi - h_lo) / 2
        m_lo = center @ w2.t() - radius @ w2.abs().t()
        m_hi = center @ w2.t() + radius @ w2.abs().t()
        l2, u2 = _interval(box, m_lo, m_hi)
    l2, u2 = l2 + b2, u2 + b2
    s2, beta2 = relaxation(l2, u2, a)
    lam2 = s2 * c
    bias2 = (lam2 * (beta2.masked_fill(c >= 0, 0.0) + b2)).sum(1)
    wt2 = lam2 @ w2  # [n, h1]
    if sound:
        row, col = box.index
        v = (wt2.clamp(min=0)[row] * h_lo[col]).sum(1) + (wt2.clamp(max=0)[row] * h_hi[col]).sum(1)
        contrib = torch.minimum(box.lower * v, box.upper * v)
        return bias2 + torch.zeros(n, dtype=v.dtype, device=v.device).index_add(0, row, contrib)
    s1, beta1 = relaxation(l1, u1, a)
    lam1 = s1 * wt2
    bias1 = (lam1 * (beta1.masked_fill(wt2 >= 0, 0.0) + b1)).sum(1)
    t = (lam1 * xw1).sum(1)
    adj = _sparse(view[0], view[1], n)
    hidden = _spmm(adj, t.unsqueeze(1)).squeeze(1) + bias1
    return _spmm(adj, hidden.unsqueeze(1)).squeeze(1) + bias2


# -- which augmentations drop edges ------------------------------------------------------------
def find_edge_drop_probs(augmentation, data) -> tuple[Tensor, bool]:
    """Per-edge drop probabilities of one view's augmentation, and whether it masks features.

    Walks :class:`~gcl.augment.Compose` chains. Anything exposing ``edge_drop_prob(data)``
    (``DropEdge``, GCA's adaptive and CSGCL's communal dropping) is an edge drop; feature masks
    (``MaskFeature`` and anything exposing ``feature_drop_prob(data)``) are noted (POT ignores
    them); identities pass. Anything else (edge adding, diffusion, subgraphs) raises. Two edge
    drops in one chain combine as ``1 - (1 - p)(1 - q)``.

    Args:
        augmentation: one view's augmentation (a single one, a :class:`~gcl.augment.Compose`
            chain, or ``None`` for no augmentation).
        data: the clean graph; its ``edge_index`` fixes ``E`` and is passed to
            ``edge_drop_prob``.

    Returns:
        (Tensor, bool): ``[E]`` drop probabilities (zeros without edge dropping) and whether a
        feature mask was found.

    Raises:
        ValueError: for an augmentation POT cannot bound.

    Example:
        >>> from gcl.augment import Compose, DropEdge, MaskFeature
        >>> from torch_geometric.data import Data
        >>> d = Data(x=torch.ones(2, 2), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> p, masked = find_edge_drop_probs(Compose([DropEdge(0.3), MaskFeature(0.2)]), d)
        >>> [round(v, 4) for v in p.tolist()], masked
        ([0.3, 0.3], True)
    """
    from ..augment.base import Compose, Identity

    num_edges = data.edge_index.size(1)
    probs = torch.zeros(num_edges, device=data.edge_index.device)
    masked = False
    stack = [augmentation]
    while stack:
        aug = stack.pop()
        if aug is None or isinstance(aug, Identity):
            continue
        if isinstance(aug, Compose):
            stack.extend(aug.augmentations)
            continue
        if callable(getattr(aug, "edge_drop_prob", None)):
            p = torch.as_tensor(aug.edge_drop_prob(data), dtype=probs.dtype, device=probs.device)
            p = p.expand(num_edges) if p.dim() == 0 else p
            if p.numel() != num_edges:
                raise ValueError(f"{aug!r}.edge_drop_prob returned {p.numel()} values for "
                                 f"{num_edges} edges")
            # two successive drops keep an edge with probability (1 - p)(1 - q)
            probs = 1 - (1 - probs) * (1 - p.detach())
            continue
        from ..augment.basic import MaskFeature

        if isinstance(aug, MaskFeature) or callable(getattr(aug, "feature_drop_prob", None)):
            # feature masks (uniform, or with per-dimension probabilities: GCA, CSGCL's CAV)
            masked = masked or float(getattr(aug, "p", 1.0)) > 0
            continue
        raise ValueError(
            f"POT can only bound edge-dropping views (augmentations with edge_drop_prob(data), "
            f"plus feature masks, which it ignores); got {aug!r}. Remove POT or use DropEdge-"
            "like augmentations.")
    return probs, masked


def _check_encoder(encoder: nn.Module) -> None:
    from torch_geometric.nn import GCNConv

    convs = getattr(encoder, "convs", None)
    if convs is None or len(convs) != 2 or not all(isinstance(c, GCNConv) for c in convs):
        raise ValueError(
            f"POT supports a 2-layer GCN encoder (gcl.encoders.GCNEncoder with num_layers=2); "
            f"got {type(encoder).__name__}"
            + (f" with {len(convs)} layers" if convs is not None else ""))
    for conv in convs:
        if not conv.normalize or not conv.add_self_loops or conv.improved:
            raise ValueError("POT needs GCNConv layers with the symmetric normalisation and "
                             "self-loops (normalize=True, add_self_loops=True, improved=False)")
    act = getattr(encoder, "activation", None)
    if isinstance(act, nn.ReLU):
        return
    if isinstance(act, nn.PReLU) and act.weight.numel() == 1:
        return
    name = getattr(encoder, "activation_name", type(act).__name__)
    raise ValueError(
        f"POT supports the relu and single-slope prelu activations only, got {name!r} "
        "(rrelu and elu have no parallel linear relaxation here); set activation='relu' or "
        "'prelu'")


def _activation_slope(encoder: nn.Module) -> float | Tensor:
    """0.0 for ReLU; a PReLU's (detached) weight as a 0-dim tensor, not read back to the host."""
    act = encoder.activation
    return act.weight.detach().reshape(()) if isinstance(act, nn.PReLU) else 0.0


# -- the regularizer ---------------------------------------------------------------------------
class POT(Regularizer):
    """The POT loss term, combined as ``(1 - kappa) * objective + kappa * value`` with
    ``value = (BCE(score_1, 1) + BCE(score_2, 1)) / 2``.

    ``score_v`` bounds the compactness of view ``v``'s nodes with the other view's normalised
    encoder outputs as the backward weights (not detached). The adjacency boxes are computed once
    per graph in :meth:`setup` from the views' drop probabilities: given as ``drop_probs``, or read
    from ``augment`` (the pipeline's two view augmentations; :func:`add_pot` wires this).

    Args:
        kappa: weight of the POT term in the convex combination, in [0, 1] (default: 0.5).
        augment: the two views' augmentations, inspected in :meth:`setup` (default: none).
        drop_probs: the two views' drop rates (floats) or ``[E]`` per-edge probabilities,
            instead of ``augment`` (default: none).
        pot_batch: run POT on a chunk of this many nodes of an epoch-wise node permutation
            (chunk ``epoch % num_chunks``), within the step's nodes; ``None`` or ``-1``: all.
        sound: certified bound over the box instead of the reference semantics (default: False).

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import DropEdge
        >>> from gcl.encoders import GCNEncoder
        >>> from gcl.objectives import InfoNCE
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> views = (DropEdge(0.2), DropEdge(0.4))
        >>> pipe = Pipeline(GCNEncoder(8, 8, activation="relu"), InfoNCE(tau=0.5), augment=views,
        ...                 regularizers=[POT(kappa=0.4, augment=views)], device="cpu",
        ...                 progress=False)
        >>> _ = pipe.fit(data, epochs=2)
        >>> "pot" in pipe.history.epochs[-1]
        True
    """

    def __init__(self, kappa: float = 0.5, *, augment: Sequence | None = None,
                 drop_probs: Sequence | None = None, pot_batch: int | None = None,
                 sound: bool = False) -> None:
        super().__init__(weight=kappa)
        if not 0.0 <= float(kappa) <= 1.0:
            raise ValueError(f"POT: kappa must be in [0, 1], got {kappa}")
        self.kappa = float(kappa)
        if augment is None and drop_probs is None:
            raise ValueError("POT needs the views' drop scheme: pass augment=(view1, view2) (the "
                             "pipeline's augmentations) or drop_probs=(p1, p2)")
        for name, pair in (("augment", augment), ("drop_probs", drop_probs)):
            if pair is not None and (not isinstance(pair, (list, tuple)) or len(pair) != 2):
                raise ValueError(f"POT: {name} must be a pair (view 1, view 2), got {pair!r}")
        if pot_batch is not None and int(pot_batch) != -1:
            check_positive(pot_batch, "pot_batch", "POT", integer=True)
            pot_batch = int(pot_batch)
        else:
            pot_batch = None
        self.augment = tuple(augment) if augment is not None else None
        self.drop_probs = tuple(drop_probs) if drop_probs is not None else None
        self.pot_batch = pot_batch
        self.sound = bool(sound)
        self.boxes: tuple[AdjacencyBox, AdjacencyBox] | None = None
        self._clean: Tensor | None = None
        self._warned = False

    def setup(self, data) -> None:
        """Compute the two views' adjacency boxes (and the clean normalised adjacency) once."""
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        n = data.num_nodes
        probs = []
        for v in range(2):
            if self.drop_probs is not None:
                p = self.drop_probs[v]
                p = p.to(data.edge_index.device) if isinstance(p, Tensor) else float(p)
            else:
                p, masked = find_edge_drop_probs(self.augment[v], data)
                if masked and not self._warned:
                    warnings.warn("POT ignores feature masking: its bound keeps the clean features "
                                  "fixed (as the reference code, which trains without masks)",
                                  stacklevel=2)
                    self._warned = True
            probs.append(p)
        dtype = data.x.dtype
        # sparse features (bag-of-words) make the extra X W1 of the bound a sparse product
        density = float((data.x != 0).sum()) / max(data.x.numel(), 1)
        self._x_sparse = (data.x.to_sparse().coalesce()
                          if density <= SPARSE_FEATURE_DENSITY else None)
        boxes = [adjacency_box(data.edge_index, n, p) for p in probs]
        self.boxes = tuple(AdjacencyBox(b.index, b.lower.to(dtype), b.upper.to(dtype), n)
                           for b in boxes)
        index, weight = gcn_norm(data.edge_index, None, n, add_self_loops=True, dtype=dtype)
        self._clean = _sparse(torch.stack([index[1], index[0]]), weight, n)

    def _nodes(self, step: Step, n_all: int, device) -> Tensor | None:
        nodes = step.nodes
        if self.pot_batch is None:
            return nodes
        pool = nodes if nodes is not None else torch.arange(n_all, device=device)
        if self.pot_batch >= pool.numel():
            return nodes
        num_chunks = -(-pool.numel() // self.pot_batch)
        perm = pool[torch.randperm(pool.numel(), device=device)]
        k = step.epoch % num_chunks
        return perm[k * self.pot_batch:(k + 1) * self.pot_batch].sort().values

    def scores(self, step: Step) -> tuple[Tensor, Tensor]:
        """The two views' ``[n]`` compactness scores for this step."""
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        if self.boxes is None:
            raise RuntimeError("POT.setup(data) must run before training (gcl.Pipeline does it)")
        encoder = step.encoder
        _check_encoder(encoder)
        a = _activation_slope(encoder)
        data = step.data
        n_all = data.num_nodes
        nodes = self._nodes(step, n_all, data.x.device)
        conv1, conv2 = encoder.convs
        x_sparse = getattr(self, "_x_sparse", None)
        if x_sparse is not None and x_sparse.shape == data.x.shape:
            xw1_all = _spmm(x_sparse, conv1.lin.weight.t())
        else:
            xw1_all = conv1.lin(data.x)
        b1 = conv1.bias if conv1.bias is not None else xw1_all.new_zeros(xw1_all.size(1))
        b2 = conv2.bias if conv2.bias is not None else xw1_all.new_zeros(conv2.out_channels)
        w2 = conv2.lin.weight
        xw1 = xw1_all if nodes is None else xw1_all[nodes]
        hw2 = None
        if not self.sound:
            hidden = encoder.activation(_spmm(self._clean, xw1_all) + b1)
            hw2 = conv2.lin(hidden if nodes is None else hidden[nodes])
        zs = [F.normalize(z if nodes is None else z[nodes], dim=1) for z in step.z]
        n = zs[0].size(0)
        if n < 2:
            raise ValueError("POT needs at least 2 nodes in a batch (pot_batch >= 2)")
        out = []
        for v in range(2):
            other = zs[1 - v]
            c = other * (n / (n - 1)) - other.sum(0, keepdim=True) / (n - 1)
            box = self.boxes[v].subgraph(nodes)
            view = None
            if not self.sound:
                index, weight = gcn_norm(step.views[v].edge_index, None, n_all, add_self_loops=True,
                                         dtype=xw1.dtype)
                index = torch.stack([index[1], index[0]])
                if nodes is not None:
                    index, mask = _restrict(index, nodes, n_all)
                    weight = weight[mask]
                view = (index, weight)
            out.append(pot_score(box, xw1, b1, w2, b2, c, a, hw2=hw2, view=view, sound=self.sound))
        return out[0], out[1]

    def forward(self, step: Step) -> Tensor:
        s1, s2 = self.scores(step)
        step.log("pot_nodes", s1.numel())
        return 0.5 * (F.softplus(-s1).mean() + F.softplus(-s2).mean())

    def combine(self, loss: Tensor, value: Tensor) -> Tensor:
        """``(1 - kappa) * loss + kappa * value``."""
        return (1 - self.kappa) * loss + self.kappa * value

    def extra_repr(self) -> str:
        return f"kappa={self.kappa}, pot_batch={self.pot_batch}, sound={self.sound}"


def add_pot(pipeline, kappa: float = 0.5, pot_batch: int | None = None,
            sound: bool = False) -> POT:
    """Add POT to a built pipeline whose encoder is a 2-layer GCN and whose views drop edges.

    The regularizer reads the drop probabilities from the pipeline's two augmentations when
    training starts.

    Args:
        pipeline: a :class:`gcl.Pipeline` (GRACE, GCA, CSGCL, ... recipes).
        kappa: weight of the POT term (default: 0.5).
        pot_batch: POT node-chunk size (default: all nodes).
        sound: certified-bound variant (default: the reference semantics).

    Returns:
        POT: the added regularizer.

    Raises:
        ValueError: for an unsupported encoder or activation.

    Example:
        >>> from gcl.methods.grace import grace
        >>> pipe = grace(8, hidden=8, proj_hidden=8, device="cpu", progress=False)
        >>> add_pot(pipe, kappa=0.4)
        POT(kappa=0.4, pot_batch=None, sound=False)
    """
    _check_encoder(pipeline.encoder)
    reg = POT(kappa, augment=(pipeline.augment1, pipeline.augment2), pot_batch=pot_batch,
              sound=sound)
    reg.to(pipeline.device)
    pipeline.regularizers.append(reg)
    return reg
