"""Fixed structural views: the GCN-normalised adjacency and the personalised-PageRank diffusion.

Both replace a graph's edges by a propagation matrix (``edge_weight`` holds its entries; an
encoder with ``normalize=False`` sums ``w_ji x_j`` into node ``i``), so a sub-sampled view keeps
the weights of the whole graph, as MVGRL slices its precomputed matrices. The diffusion is
computed once per graph and stays sparse: column blocks of ``S = α (I - (1 - α) T)^-1`` by a
truncated power series (``O(N · block)`` memory, never an ``N x N`` matrix), thresholded (or
top-``k``) per node as PyG's ``GDC`` sparsifies, then optionally min-max scaled per column as
MVGRL's reference code does with scikit-learn's ``MinMaxScaler``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.utils import add_self_loops, coalesce

from .._utils import check_positive, check_probability
from .base import Augmentation, edge_attribute_keys

__all__ = ["FixedView", "NormalizedAdjacency", "PPRDiffusion", "ppr_diffusion",
           "column_minmax", "MVGRL_EPSILONS"]

#: The thresholds MVGRL's reference code chooses from: the one whose kept entries per node come
#: closest to the graph's average degree.
MVGRL_EPSILONS = (1e-5, 1e-4, 1e-3, 1e-2)


class FixedView(Augmentation):
    """A deterministic view of a graph (a propagation matrix as weighted edges), computed once
    per graph and applied in training and in evaluation alike (``train(False)`` does not turn
    it off: it is the view an encoder was trained on, not a random perturbation).

    Subclasses implement :meth:`compute` (``data -> (edge_index, edge_weight)``); the result is
    cached per graph and sorted by target node.

    Example:
        >>> class SelfLoops(FixedView):
        ...     def compute(self, data):
        ...         loops = torch.arange(data.num_nodes).repeat(2, 1)
        ...         return loops, torch.ones(data.num_nodes)
        >>> d = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0], [1]]))
        >>> SelfLoops()(d).edge_index.tolist()
        [[0, 1, 2], [0, 1, 2]]
    """

    def __init__(self) -> None:
        super().__init__(None)
        self._cache: tuple | None = None

    @staticmethod
    def _key(data: Data) -> tuple:
        ei = data.edge_index
        return (int(data.num_nodes), ei.data_ptr(), ei.size(1), str(ei.device))

    def compute(self, data: Data) -> tuple[Tensor, Tensor]:  # pragma: no cover - abstract
        """The view's ``(edge_index, edge_weight)`` for ``data``."""
        raise NotImplementedError

    def setup(self, data: Data) -> None:
        """Compute the view of ``data`` once (later calls on the same graph reuse it)."""
        key = self._key(data)
        if self._cache is None or self._cache[0] != key:
            ei, w = self.compute(data)
            # sorted by target, then source: sub-samples keep the order and the encoder's
            # sparse product needs no sort
            order = torch.argsort(ei[1] * data.num_nodes + ei[0])
            self._cache = (key, ei[:, order], w[order])

    def __call__(self, data: Data) -> Data:
        if not isinstance(data, Data):
            raise ValueError(f"{type(self).__name__} expects a torch_geometric.data.Data, got "
                             f"{type(data).__name__}")
        self.setup(data)
        out = copy.copy(data)
        num_nodes = data.num_nodes
        for key in edge_attribute_keys(data):
            del out[key]
        out.edge_index, out.edge_weight = self._cache[1], self._cache[2]
        out.num_nodes = num_nodes
        return out


class NormalizedAdjacency(FixedView):
    """The GCN propagation matrix ``D^-1/2 (A + w I) D^-1/2`` as weighted edges (PyG's
    ``gcn_norm``), with ``w = 1`` or ``w = 2`` (``improved=True``: MVGRL's reference adds the
    identity twice, once before and once inside its ``normalize_adj``).

    Args:
        improved: self-loop weight 2 instead of 1 (default: ``False``).

    Example:
        >>> d = Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> [round(w, 4) for w in NormalizedAdjacency()(d).edge_weight.tolist()]
        [0.5, 0.5, 0.5, 0.5]
    """

    def __init__(self, improved: bool = False) -> None:
        super().__init__()
        self.improved = bool(improved)

    def compute(self, data: Data) -> tuple[Tensor, Tensor]:
        dtype = data.x.dtype if data.x is not None else torch.float32
        w = getattr(data, "edge_weight", None)
        if w is None:  # gcn_norm ignores improved's self-loop weight 2 without edge weights
            w = torch.ones(data.edge_index.size(1), dtype=dtype, device=data.edge_index.device)
        return gcn_norm(data.edge_index, w, data.num_nodes, improved=self.improved,
                        add_self_loops=True, dtype=dtype)

    def extra_repr(self) -> str:
        return f"improved={self.improved}"


def _transition(edge_index: Tensor, edge_weight: Tensor | None, n: int, self_loop_weight: float,
                dtype: torch.dtype) -> Tensor:
    """``T^T`` for ``T = D^-1/2 (A + wI) D^-1/2`` (row = target), as a sparse CSR tensor."""
    w = torch.ones(edge_index.size(1), dtype=dtype, device=edge_index.device) \
        if edge_weight is None else edge_weight.to(dtype)
    ei, w = add_self_loops(edge_index, w, fill_value=float(self_loop_weight), num_nodes=n)
    ei, w = coalesce(ei, w, num_nodes=n)
    src, dst = ei
    deg = torch.zeros(n, dtype=dtype, device=ei.device).index_add_(0, dst, w)
    dinv = deg.pow(-0.5).masked_fill_(deg == 0, 0.0)
    w = dinv[dst] * w * dinv[src]
    # T[dst, src] = w, so T^T[src, dst] = w
    return torch.sparse_coo_tensor(torch.stack([src, dst]), w, (n, n),
                                   check_invariants=False).coalesce().to_sparse_csr()


def column_minmax(edge_index: Tensor, edge_weight: Tensor, num_nodes: int) -> Tensor:
    """Min-max scale a sparse matrix per column, as scikit-learn's ``MinMaxScaler`` scales the
    dense matrix (its zeros count: a column with fewer than ``N`` entries has minimum 0).

    The matrix is ``M[i, j] = w`` for an edge ``j -> i`` (row = target), so a column is one
    source node.

    Args:
        edge_index: ``[2, E]`` edges ``j -> i``.
        edge_weight: ``[E]`` entries.
        num_nodes: ``N``.

    Returns:
        Tensor: the scaled ``[E]`` entries ``(w - min_j) / (max_j - min_j)`` (a constant column
        becomes 0, as ``MinMaxScaler`` does).

    Example:
        >>> ei = torch.tensor([[0, 0, 1], [0, 1, 1]])
        >>> column_minmax(ei, torch.tensor([0.5, 0.25, 1.0]), 3).tolist()
        [1.0, 0.5, 1.0]
    """
    src = edge_index[0]
    n = num_nodes
    col_max = torch.zeros(n, dtype=edge_weight.dtype, device=edge_weight.device)
    col_max = col_max.scatter_reduce(0, src, edge_weight, reduce="amax", include_self=False)
    col_min = torch.zeros_like(col_max).scatter_reduce(0, src, edge_weight, reduce="amin",
                                                       include_self=False)
    full = torch.bincount(src, minlength=n) >= n
    # a column with an implicit zero has minimum min(0, stored)
    col_min = torch.where(full, col_min, torch.minimum(col_min, torch.zeros_like(col_min)))
    col_max = torch.where(full, col_max, torch.maximum(col_max, torch.zeros_like(col_max)))
    span = col_max - col_min
    span = torch.where(span == 0, torch.ones_like(span), span)
    return (edge_weight - col_min[src]) / span[src]


def ppr_diffusion(edge_index: Tensor, num_nodes: int, alpha: float = 0.2, *,
                  edge_weight: Tensor | None = None, self_loop_weight: float = 1.0,
                  threshold: float | str | None = "auto", top_k: int | None = None,
                  candidates: Sequence[float] = MVGRL_EPSILONS, tol: float = 1e-6,
                  block_size: int = 256, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
    r"""Sparse personalised-PageRank diffusion :math:`S = \alpha (I - (1-\alpha) T)^{-1}` with
    :math:`T = D^{-1/2} (A + wI) D^{-1/2}` (MVGRL's ``compute_ppr``; PyG's ``GDC`` with
    symmetric normalisation).

    Computed for ``block_size`` nodes at a time by the power series
    :math:`\alpha \sum_{k \le K} (1-\alpha)^k T^k` truncated where :math:`(1-\alpha)^{K+1}
    \le` ``tol`` (every entry of :math:`T^k` is at most 1, so no entry is off by more than
    ``tol``); only the kept entries of each block survive it.

    Args:
        edge_index: ``[2, E]`` edges (messages ``edge_index[0] -> edge_index[1]``).
        num_nodes: ``N``.
        alpha: teleport (restart) probability α in (0, 1] (default: 0.2, MVGRL's).
        edge_weight: ``[E]`` weights of ``A`` (default: ones).
        self_loop_weight: ``w`` (default: 1).
        threshold: keep entries ``>= threshold``; ``"auto"`` picks from ``candidates`` the one
            whose kept entries per node are closest to the graph's average degree ``E / N``
            (MVGRL's rule); ``None`` keeps every entry above ``tol`` (default: ``"auto"``).
        top_k: keep the ``k`` largest entries of each node's row instead (default: none).
        candidates: the thresholds ``"auto"`` chooses from (default: :data:`MVGRL_EPSILONS`).
        tol: accuracy of every entry (default: 1e-6).
        block_size: nodes per block (default: 256).
        dtype: computation type (default: float32).

    Returns:
        (Tensor, Tensor): edges ``j -> i`` and their weights ``S[i, j]``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> ei2, w = ppr_diffusion(ei, 3, 0.2, threshold=None, dtype=torch.float64)
        >>> ei2.size(1), round(float(w[(ei2[0] == 0) & (ei2[1] == 0)]), 4)
        (9, 0.4902)
    """
    check_positive(num_nodes, "num_nodes", "ppr_diffusion", integer=True)
    alpha = check_probability(alpha, "alpha", "ppr_diffusion")
    if alpha == 0.0:
        raise ValueError("argument 'alpha' of ppr_diffusion must be > 0 (the series diverges at 0)")
    check_positive(tol, "tol", "ppr_diffusion")
    check_positive(block_size, "block_size", "ppr_diffusion", integer=True)
    if top_k is not None:
        check_positive(top_k, "top_k", "ppr_diffusion", integer=True)
        if threshold not in (None, "auto"):
            raise ValueError("ppr_diffusion takes either a threshold or top_k, not both")
        threshold = None
    if isinstance(threshold, str) and threshold != "auto":
        raise ValueError(f"threshold must be a number, 'auto' or None, got {threshold!r}")
    if threshold is not None and threshold != "auto":
        check_positive(threshold, "threshold", "ppr_diffusion")
    n = num_nodes
    dev = edge_index.device
    tt = _transition(edge_index, edge_weight, n, self_loop_weight, dtype)
    steps = max(0, math.ceil(math.log(tol) / math.log(1.0 - alpha)) - 1) if alpha < 1 else 0
    floor = min(candidates) if threshold == "auto" else (threshold or tol)
    rows, cols, vals = [], [], []
    for s in range(0, n, block_size):
        e = min(s + block_size, n)
        x = torch.zeros(n, e - s, dtype=dtype, device=dev)
        x[torch.arange(s, e, device=dev), torch.arange(e - s, device=dev)] = alpha
        acc = x.clone()
        for _ in range(steps):
            x = torch.sparse.mm(tt, x).mul_(1.0 - alpha)
            acc.add_(x)
        # acc[j, c] = S[s + c, j]: column c holds row s + c of S (node s + c's sources j)
        if top_k is not None:
            k = min(top_k, n)
            val, src = torch.topk(acc, k, dim=0)
            dst = torch.arange(s, e, device=dev).expand(k, -1)
            rows.append(dst.reshape(-1))
            cols.append(src.reshape(-1))
            vals.append(val.reshape(-1))
            continue
        src, c = (acc >= floor).nonzero(as_tuple=True)
        rows.append(c + s)
        cols.append(src)
        vals.append(acc[src, c])
    dst, src, w = torch.cat(rows), torch.cat(cols), torch.cat(vals)
    if threshold == "auto":
        avg_degree = (edge_index.size(1) if edge_weight is None else float(edge_weight.sum())) / n
        counts = [float((w >= eps).sum()) / n for eps in candidates]
        best = min(range(len(candidates)), key=lambda i: abs(avg_degree - counts[i]))
        keep = w >= candidates[best]
        dst, src, w = dst[keep], src[keep], w[keep]
    return torch.stack([src, dst]), w


class PPRDiffusion(FixedView):
    """MVGRL's diffusion view: the graph's edges replaced by its sparse personalised-PageRank
    matrix (see :func:`ppr_diffusion`), computed once per graph, optionally min-max scaled per
    column (:func:`column_minmax`, MVGRL's reference on CiteSeer).

    Args:
        alpha: teleport probability α (default: 0.2).
        threshold: ``"auto"`` (MVGRL's rule), a number, or ``None`` (default: ``"auto"``).
        top_k: keep the ``k`` largest entries per node instead (default: none).
        minmax: min-max scale each column after sparsifying (default: ``True``).
        tol: accuracy of every entry (default: 1e-6).
        block_size: nodes per block of the computation (default: 256).

    Example:
        >>> d = Data(x=torch.ones(3, 1), edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> view = PPRDiffusion(threshold=0.05)(d)
        >>> view.edge_index.size(1), float(view.edge_weight.max())
        (9, 1.0)
    """

    def __init__(self, alpha: float = 0.2, threshold: float | str | None = "auto",
                 top_k: int | None = None, minmax: bool = True, tol: float = 1e-6,
                 block_size: int = 256) -> None:
        super().__init__()
        self.alpha = check_probability(alpha, "alpha", "PPRDiffusion")
        self.threshold = threshold
        self.top_k = top_k
        self.minmax = bool(minmax)
        self.tol = tol
        self.block_size = block_size
        # check the arguments now, on a one-node graph, rather than at the first epoch
        ppr_diffusion(torch.zeros(2, 0, dtype=torch.long), 1, self.alpha,
                      threshold=threshold if threshold != "auto" else None, top_k=top_k,
                      tol=tol, block_size=block_size)

    def compute(self, data: Data) -> tuple[Tensor, Tensor]:
        dtype = data.x.dtype if data.x is not None else torch.float32
        ei, w = ppr_diffusion(data.edge_index, data.num_nodes, self.alpha,
                              edge_weight=getattr(data, "edge_weight", None),
                              threshold=self.threshold, top_k=self.top_k, tol=self.tol,
                              block_size=self.block_size, dtype=dtype)
        if self.minmax:
            w = column_minmax(ei, w, data.num_nodes)
        return ei, w

    def extra_repr(self) -> str:
        sparsify = f"top_k={self.top_k}" if self.top_k is not None else \
            f"threshold={self.threshold!r}"
        return f"alpha={self.alpha}, {sparsify}, minmax={self.minmax}"
