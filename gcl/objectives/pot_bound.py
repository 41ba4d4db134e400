"""POT's bound: the adjacency box of edge-dropping views, the parallel relaxation of the
activation and the closed-form node-compactness score (see :mod:`gcl.objectives.pot` for the
two semantics, the regularizer and how it reads the views).

Everything is sparse: on the edges plus self-loops, never ``N x N``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["AdjacencyBox", "drop_budget", "adjacency_box", "relaxation", "pot_score",
           "SPARSE_FEATURE_DENSITY"]


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
        view: ``(index, weight)`` of the sampled view's gcn-normalised adjacency on the batch,
            ``index[0]`` the rows (reference semantics; required when ``sound=False``; see
            :data:`ORIENTATIONS` for which way :class:`POT` orients it).
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
