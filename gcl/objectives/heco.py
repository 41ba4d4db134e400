"""HeCo's co-contrastive objective and its positives from meta-path counts (Wang et al., KDD
2021).

Positives (:func:`heco_positives`, the reference's ``data/pos.py``): each binary meta-path
adjacency is row-normalised, the results are summed into a score ``C_i(j)``; node ``i``'s
positives are the ``pos_num`` nodes with the highest score among those with ``C_i(j) > 0``
(all of them when there are fewer). Everything else is a negative.

Loss (:func:`co_contrastive_loss`): with ``s_ij = cos(h1_i, h2_j) / τ`` between the projected
meta-path view ``h1`` and network-schema view ``h2``,
``L_mp = mean_i [logsumexp_j s_ij - logsumexp_{j∈P_i} s_ij]``,
``L_sc = mean_i [logsumexp_j s_ji - logsumexp_{j∈P_i} s_ji]`` and ``L = λ L_mp + (1-λ) L_sc``
(the reference's ``-log(Σ_{j∈P_i} e^{s_ij} / Σ_j e^{s_ij})``, in log-sum-exp form without its
``1e-8`` in the denominator).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils import check_positive, check_probability
from .base import Objective, Step

__all__ = ["CoContrastiveLoss", "co_contrastive_loss", "heco_positives"]


def _scipy(a):
    import scipy.sparse as sp

    if isinstance(a, Tensor):
        from ..data.hetero import torch_to_scipy

        return torch_to_scipy(a)
    return sp.csr_matrix(a)


def heco_positives(adjs, pos_num: int):
    """HeCo's positive set from meta-path adjacencies.

    Each adjacency is binarised and row-normalised (each row divided by its number of
    neighbours); the sum over meta-paths, rounded to float32 as in the reference, scores the
    candidates ``j`` of row ``i``. Rows with more than ``pos_num`` candidates keep the
    ``pos_num`` highest scores (equal scores: lower column first); other rows keep all their
    candidates. A row with no candidate at all gets the node itself, so that every node has a
    positive (the reference's loss is infinite there).

    Args:
        adjs: the meta-path adjacencies (scipy or torch sparse, ``[N, N]``; counts or 0/1), or a
            :class:`gcl.data.MetaPathGraph` (its ``adjs``).
        pos_num: the threshold ``T_pos`` (HeCo: ACM 5, DBLP 1000, AMiner 15).

    Returns:
        scipy.sparse.csr_matrix: ``[N, N]`` with ones at the positives.

    Raises:
        ValueError: no adjacency, shapes that differ or are not square, ``pos_num < 1``.

    Example:
        >>> import numpy as np, scipy.sparse as sp
        >>> a = sp.csr_matrix(np.array([[1., 1, 0], [1, 1, 1], [0, 1, 1]]))
        >>> heco_positives([a], 2).toarray().tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]
    """
    import numpy as np
    import scipy.sparse as sp

    check_positive(pos_num, "pos_num", "heco_positives", integer=True)
    adjs = list(getattr(adjs, "adjs", adjs))
    if not adjs:
        raise ValueError("heco_positives needs at least one meta-path adjacency")
    score = None
    for a in adjs:
        m = _scipy(a).astype(np.float64)
        if m.shape[0] != m.shape[1] or (score is not None and m.shape != score.shape):
            raise ValueError(f"heco_positives: adjacencies must be square and of one shape, got "
                             f"{[tuple(x.shape) for x in adjs]}")
        m.sum_duplicates()
        m.data[:] = (m.data != 0).astype(np.float64)
        m.eliminate_zeros()
        deg = np.asarray(m.sum(1)).ravel()
        inv = np.divide(1.0, deg, out=np.zeros_like(deg), where=deg > 0)
        m = sp.csr_matrix(sp.diags(inv) @ m)
        score = m if score is None else score + m
    score = sp.csr_matrix(score)
    score.sum_duplicates()
    score.eliminate_zeros()
    n = score.shape[0]
    rows, cols = [], []
    for i in range(n):
        lo, hi = score.indptr[i], score.indptr[i + 1]
        cand, val = score.indices[lo:hi], score.data[lo:hi].astype(np.float32)
        if cand.size == 0:
            cand = np.array([i])
        elif cand.size > pos_num:
            order = np.lexsort((cand, -val))  # highest score first, lower column on ties
            cand = cand[order[:pos_num]]
        rows.append(np.full(cand.size, i))
        cols.append(cand)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, n))


def _positive_index(positives: Tensor, n: int) -> Tensor:
    """``positives`` as a ``[2, P]`` index (rows, columns), from a bool mask or an index."""
    if positives.dtype == torch.bool:
        if tuple(positives.shape) != (n, n):
            raise ValueError(f"co_contrastive_loss: the positive mask must be [{n}, {n}], got "
                             f"{list(positives.shape)}")
        return positives.nonzero().t()
    if positives.dim() != 2 or positives.shape[0] != 2 or positives.is_floating_point():
        raise ValueError(f"co_contrastive_loss: positives must be a [N, N] bool mask or a "
                         f"[2, P] integer index, got {list(positives.shape)} {positives.dtype}")
    return positives.long()


#: Largest ``2 / τ`` for which ``exp((cos - 1) / τ)`` stays a normal float32 for every pair
#: (above it, the loss takes the max-shifted log-sum-exp path).
_SHIFTED_MAX = 60.0


def co_contrastive_loss(h1: Tensor, h2: Tensor, positives: Tensor, tau: float = 0.8,
                        lam: float = 0.5) -> Tensor:
    """HeCo's cross-view loss of ``h1`` (meta-path view) and ``h2`` (schema view).

    Since ``s_ij = cos / τ`` is at most ``1/τ``, the sums of exponentials are taken of
    ``exp(s_ij - 1/τ)``, in ``[e^{-2/τ}, 1]``: one exponential of the ``N×N`` matrix serves both
    directions, with no overflow and (for ``τ > 1/30``) no underflow in float32; smaller ``τ``
    uses max-shifted log-sum-exps.

    Args:
        h1, h2: ``[N, d]`` projected embeddings of the two views.
        positives: ``[N, N]`` boolean mask (``positives[i, j]``: ``j`` is a positive of ``i``)
            or the ``[2, P]`` index of its non-zeros; every row needs one.
        tau: temperature (default: 0.8).
        lam: weight ``λ`` of the meta-path-view term (default: 0.5).

    Returns:
        Tensor: the scalar loss.

    Raises:
        ValueError: for shapes that do not match or a row without positives.

    Example:
        >>> h = torch.eye(3)
        >>> round(float(co_contrastive_loss(h, h, torch.eye(3, dtype=torch.bool), tau=1.0)), 4)
        0.5514
    """
    if h1.dim() != 2 or h1.shape != h2.shape:
        raise ValueError(f"co_contrastive_loss: h1 and h2 must be [N, d] of one shape, got "
                         f"{list(h1.shape)} and {list(h2.shape)}")
    n = h1.shape[0]
    rows, cols = _positive_index(positives.to(h1.device), n)
    if rows.numel() == 0 or int(torch.bincount(rows, minlength=n).min()) == 0 or \
            int(rows.max()) >= n or int(cols.max()) >= n or int(cols.min()) < 0:
        raise ValueError("co_contrastive_loss: every node needs at least one positive, and "
                         f"positive indices must lie in [0, {n})")
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    cos = z1 @ z2.t()
    if 2.0 / tau <= _SHIFTED_MAX:
        e = (cos - 1.0).mul_(1.0 / tau).exp()
        if rows.numel() * z1.shape[1] <= n * n:  # few positives: their cosines from the rows
            e_mp = torch.exp(((z1[rows] * z2[cols]).sum(1) - 1.0) / tau)
            e_sc = torch.exp(((z1[cols] * z2[rows]).sum(1) - 1.0) / tau)
        else:  # many (DBLP: ~1000 per node): read them from the matrix
            e_mp, e_sc = e[rows, cols], e[cols, rows]
        l_mp = (e.sum(1).log() - e.new_zeros(n).index_add(0, rows, e_mp).log()).mean()
        l_sc = (e.sum(0).log() - e.new_zeros(n).index_add(0, rows, e_sc).log()).mean()
    else:
        s = cos / tau
        mask = torch.zeros(n, n, dtype=torch.bool, device=s.device)
        mask[rows, cols] = True
        low = torch.finfo(s.dtype).min

        def term(sim: Tensor) -> Tensor:
            return (torch.logsumexp(sim, 1) - torch.logsumexp(sim.masked_fill(~mask, low), 1)
                    ).mean()

        l_mp, l_sc = term(s), term(s.t())
    return lam * l_mp + (1.0 - lam) * l_sc


class CoContrastiveLoss(Objective):
    """HeCo's objective: ``h1`` (meta-path view) and ``h2`` (network-schema view), both
    projected by the module's head, contrasted with positives from meta-path counts.

    Args:
        tau: temperature (default: 0.8).
        lam: weight ``λ`` of the meta-path-view term (default: 0.5).
        pos_num: positives per node, see :func:`heco_positives` (default: 5).
        positives: a fixed positive set (``[N, N]`` bool tensor, torch sparse or scipy matrix),
            or a function ``graph -> positive set`` called in :meth:`setup` (e.g.
            :func:`gcl.modules.heco.release_positives`), instead of :func:`heco_positives` of
            the graph (default: ``None``).

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> g = synthetic_metapath_graph(num_nodes=20, seed=0)
        >>> loss = CoContrastiveLoss(tau=0.5, pos_num=3)
        >>> loss.setup(g)
        >>> h = torch.randn(20, 8)
        >>> bool(loss(h, h) > 0)
        True
    """

    def __init__(self, tau: float = 0.8, lam: float = 0.5, pos_num: int = 5,
                 positives: Any = None) -> None:
        super().__init__()
        self.tau = float(check_positive(tau, "tau", "CoContrastiveLoss"))
        self.lam = check_probability(lam, "lam", "CoContrastiveLoss")
        self.pos_num = int(check_positive(pos_num, "pos_num", "CoContrastiveLoss", integer=True))
        self.register_buffer("positives", None, persistent=False)
        self._source = positives if callable(positives) else None
        if positives is not None and self._source is None:
            self.positives = self._index(positives)
        self._fixed = positives is not None and self._source is None

    @staticmethod
    def _index(positives) -> Tensor:
        """A positive set (bool mask, torch sparse or scipy matrix) as a ``[2, P]`` index."""
        if isinstance(positives, Tensor):
            if positives.is_sparse:
                return positives.coalesce().indices()
            return positives.nonzero().t() if positives.dtype == torch.bool else positives.long()
        import numpy as np
        import scipy.sparse as sp

        coo = sp.coo_matrix(positives)
        keep = coo.data != 0
        return torch.from_numpy(np.vstack([coo.row[keep], coo.col[keep]]).astype(np.int64))

    def setup(self, data) -> None:
        """Compute the positives of ``data`` (a meta-path graph) unless they were given."""
        if not self._fixed:
            device = self.positives.device if self.positives is not None else "cpu"
            found = self._source(data) if self._source is not None else \
                heco_positives(data, self.pos_num)
            self.positives = self._index(found).to(device)

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        if self.positives is None:
            raise ValueError("CoContrastiveLoss has no positives: call setup(graph) first (a "
                             "training module does), or pass positives=")
        return co_contrastive_loss(h1, h2, self.positives.to(h1.device), self.tau, self.lam)

    def extra_repr(self) -> str:
        return f"tau={self.tau}, lam={self.lam}, pos_num={self.pos_num}"
