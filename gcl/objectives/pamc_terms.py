"""PamC: the meta-node block contrastive loss, and the node-pair loss it replaces.

PamC (Kulatilleke et al., 2022, "Efficient block contrastive learning via parameter-free meta-node
approximation") keeps the influence-weighted positives of SCGC / Graph-MLP and replaces their
node-level negatives (all ``N^2`` pairs) by pairs of *meta-nodes*, the per-cluster sums of the
embeddings. With ``c_i`` the cluster of node ``i``, ``M_k = sum_{i: c_i = k} z_i`` and
``cos`` the cosine similarity:

.. code-block:: text

    Pos_i  = sum_j S_ij exp(cos(z_i, z_j) / T)      with cos(z_i, z_i) := 0
    Neg_k  = sum_l exp(cos(M_k, M_l) / T)           with cos(M_k, M_k) := 0
    L_PamC = -mean_i log(Pos_i + 1e-10) + mean_k log(Neg_k + 1e-10)

and the node-pair (SCGC* / Graph-MLP ``Ncontrast``) baseline replaces the second term by
``mean_i log sum_j exp(cos(z_i, z_j) / T)`` (dense, ``N x N``).

``S = sum_{t=1..r} Â^t`` is the r-hop influence matrix of :func:`influence_matrix`, kept sparse;
only its non-zeros are visited. Meta-nodes are built with ``index_add`` in ``O(N d)`` memory.

**Temperature convention.** The reference code multiplies the similarity by its ``tau``
(``exp(tau * cos)``): it is an *inverse* temperature. Here, as in the rest of the toolkit, the
similarity is *divided* by ``temperature`` (``exp(cos / T)``), so ``T = 1 / tau_reference``; use
:func:`temperature_from_multiplier` to convert published values (0.5 -> 2.0).

**Empty clusters.** The reference builds meta-nodes with ``F.one_hot(c)`` without
``num_classes``: a missing highest cluster silently shrinks ``K``, and a missing lower one gives a
zero meta-node whose cosine is ``0/0 = NaN``. Here ``num_classes`` is always explicit and empty
clusters (no node, or zero soft mass) are *left out* of the negative term: ``Neg_k`` sums over the
non-empty clusters only, and the mean is over the non-empty clusters. With one non-empty cluster
(including ``K = 1``) the negative term is ``log 1 = 0``.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils import check_choice, check_positive
from .pair_dot import pair_dot

__all__ = ["influence_matrix", "temperature_from_multiplier", "positive_term", "pair_dot",
           "meta_node_negative", "meta_negative", "node_pair_negative", "pamc_loss",
           "student_t_assignment", "target_distribution", "restrict_sparse", "NEGATIVES"]

#: the negative terms :func:`pamc_loss` offers
NEGATIVES = ("meta_node", "node_pair")
_LOG_EPS = 1e-10  # the reference's constant inside both logarithms


def temperature_from_multiplier(tau: float) -> float:
    """Convert the reference's similarity multiplier ``tau`` (``exp(tau * cos)``) into the
    toolkit's temperature ``T`` (``exp(cos / T)``): ``T = 1 / tau``.

    Args:
        tau: the published multiplier (PamC's ``--tau``), positive.

    Returns:
        float: the temperature.

    Example:
        >>> temperature_from_multiplier(0.5), temperature_from_multiplier(0.25)
        (2.0, 4.0)
    """
    check_positive(tau, "tau", "temperature_from_multiplier")
    return 1.0 / float(tau)


def influence_matrix(edge_index: Tensor, num_nodes: int, order: int = 1, *,
                     cumulative: bool = True) -> Tensor:
    """The r-hop influence target ``S = sum_{t=1..r} Â^t`` as a sparse COO matrix.

    ``Â = D^-1 (max(A, A^T) + I)``: the graph is symmetrised (an edge in either direction counts
    once, weight 1), self-loops are added and rows are normalised (a random-walk matrix). Powers
    are sparse-sparse products, so memory is ``O(nnz(S))``. Each row of ``S`` sums to ``r`` and
    ``S_ii > 0``; an isolated node has the single entry ``S_ii = r``.

    Args:
        edge_index: long ``[2, E]`` (any direction, duplicates allowed).
        num_nodes: ``N``.
        order: ``r >= 1`` (default: 1).
        cumulative: ``True`` for ``sum_{t<=r} Â^t`` (PamC's ``--influence``), ``False`` for
            ``Â^r`` alone (default: ``True``).

    Returns:
        Tensor: coalesced sparse COO ``[N, N]`` float32.

    Example:
        >>> S = influence_matrix(torch.tensor([[0], [1]]), 3, order=2)
        >>> S.to_dense().sum(1).tolist()
        [2.0, 2.0, 2.0]
    """
    check_positive(order, "order", "influence_matrix", integer=True)
    check_positive(num_nodes, "num_nodes", "influence_matrix", integer=True)
    device = edge_index.device
    loops = torch.arange(num_nodes, device=device)
    row = torch.cat([edge_index[0], edge_index[1], loops])
    col = torch.cat([edge_index[1], edge_index[0], loops])
    a = torch.sparse_coo_tensor(torch.stack([row, col]), torch.ones(row.numel(), device=device),
                                (num_nodes, num_nodes), check_invariants=True).coalesce()
    idx = a.indices()
    val = torch.ones_like(a.values())  # max(A, A^T) + I, binary
    deg = torch.zeros(num_nodes, device=device).index_add_(0, idx[0], val)
    a_hat = torch.sparse_coo_tensor(idx, val / deg[idx[0]], (num_nodes, num_nodes),
                                    check_invariants=False).coalesce()
    power, total = a_hat, a_hat
    for _ in range(order - 1):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
            power = torch.sparse.mm(power, a_hat).coalesce()
        total = (total + power).coalesce() if cumulative else power
    return total.coalesce()


def _target_parts(target: Tensor) -> tuple[Tensor, Tensor]:
    if isinstance(target, Tensor) and target.is_sparse:
        target = target.coalesce()
        return target.indices(), target.values()
    raise ValueError("target must be a sparse COO matrix from influence_matrix(...), got a dense "
                     "tensor; call .to_sparse() on small matrices")


def positive_term(z: Tensor, target: Tensor, temperature: float, *,
                  other: Tensor | None = None, rows: tuple[int, int] | None = None) -> Tensor:
    """``-mean_i log(Pos_i + 1e-10)``, ``Pos_i = sum_j S_ij exp(cos(z_i, o_j) / T)``.

    Only the non-zeros of ``S`` are visited (``O(nnz(S) d)``). With ``other=None`` the pairs are
    within ``z`` and ``cos(z_i, z_i) := 0`` (so ``S_ii`` contributes ``S_ii``); with ``other``
    (a second view) the pair ``(i, i)`` keeps its similarity.

    Args:
        z: embeddings ``[N, d]``.
        target: sparse ``[N, N]`` (:func:`influence_matrix`).
        temperature: ``T > 0``.
        other: embeddings of the second view ``[N, d]`` (default: ``None``).
        rows: only the anchors ``[start, stop)``: their share ``-sum_i log(Pos_i + 1e-10) / N``
            of the term (one rank's share in distributed training; default: all anchors).

    Returns:
        Tensor: scalar.

    Example:
        >>> S = influence_matrix(torch.tensor([[0], [1]]), 2)
        >>> round(float(positive_term(torch.eye(2), S, 1.0)), 4)  # orthogonal: Pos_i = 1
        -0.0
    """
    index, value = _target_parts(target)
    if rows is not None:  # the coalesced pairs are sorted by row: one contiguous run
        cut = torch.searchsorted(index[0], torch.tensor(rows, device=index.device))
        index, value = index[:, cut[0]:cut[1]], value[cut[0]:cut[1]]
    row, col = index
    zn = F.normalize(z, dim=1)
    on = zn if other is None else F.normalize(other, dim=1)
    sim = pair_dot(zn, on, row, col) / temperature
    if other is None:
        sim = sim.masked_fill(row == col, 0.0)
    pos = torch.zeros(z.size(0), dtype=z.dtype, device=z.device).index_add_(
        0, row, value.to(z.dtype) * sim.exp())
    if rows is not None:
        return -torch.log(pos[rows[0]:rows[1]] + _LOG_EPS).sum() / z.size(0)
    return -torch.log(pos + _LOG_EPS).mean()


def _meta_nodes(z: Tensor, assignment: Tensor, num_classes: int) -> tuple[Tensor, Tensor]:
    """Per-cluster sums (hard: index_add over labels; soft: Q^T z) and the non-empty mask."""
    if assignment.dim() == 1:
        if assignment.dtype not in (torch.long, torch.int32, torch.int64):
            raise ValueError("a 1-D assignment must hold integer cluster ids")
        if assignment.numel() and (int(assignment.min()) < 0
                                   or int(assignment.max()) >= num_classes):
            raise ValueError(f"cluster ids must lie in [0, num_classes={num_classes}), got "
                             f"[{int(assignment.min())}, {int(assignment.max())}]")
        meta = z.new_zeros(num_classes, z.size(1)).index_add_(0, assignment, z)
        active = torch.bincount(assignment, minlength=num_classes) > 0
        return meta, active
    if assignment.dim() != 2 or assignment.size(1) != num_classes:
        raise ValueError(f"a soft assignment must be [N, num_classes={num_classes}], got "
                         f"{tuple(assignment.shape)}")
    return assignment.t() @ z, assignment.sum(0) > 0


def meta_node_negative(z: Tensor, assignment: Tensor, num_classes: int, temperature: float, *,
                       other: Tensor | None = None,
                       other_assignment: Tensor | None = None) -> Tensor:
    """``mean_k log(sum_l exp(cos(M_k, M_l) / T) + 1e-10)`` over the non-empty clusters, with
    ``cos(M_k, M_k) := 0``.

    Args:
        z: embeddings ``[N, d]``.
        assignment: hard cluster ids long ``[N]`` (meta-node = sum of its members, built with
            ``index_add``), or soft assignments ``[N, K]`` (meta-node ``Q^T z``, differentiable
            through ``Q``).
        num_classes: ``K``.
        temperature: ``T > 0``.
        other: a second view's embeddings; then ``M_k`` comes from ``z`` and ``M_l`` from
            ``other`` (default: ``None``, both from ``z``).
        other_assignment: the second view's assignment (default: ``assignment``).

    Returns:
        Tensor: scalar (0 when fewer than two clusters are non-empty).

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> round(float(meta_node_negative(z, torch.tensor([0, 1]), 3, 1.0)), 4)  # log(1 + e^0)
        0.6931
    """
    meta, active = _meta_nodes(z, assignment, num_classes)
    if other is None:
        meta_o, active_o = meta, active
    else:
        meta_o, active_o = _meta_nodes(other, assignment if other_assignment is None
                                       else other_assignment, num_classes)
    return meta_negative(meta, active, meta_o, active_o, temperature)


def meta_negative(meta: Tensor, active: Tensor, meta_o: Tensor, active_o: Tensor,
                  temperature: float) -> Tensor:
    """The negative term of :func:`meta_node_negative` from given meta-nodes.

    Args:
        meta: ``[K, d]`` meta-nodes ``M`` of the anchors' view.
        active: ``[K]`` bool, the non-empty clusters of that view.
        meta_o: ``[K, d]`` meta-nodes of the other view (``meta`` for one view).
        active_o: ``[K]`` bool, its non-empty clusters.
        temperature: ``T > 0``.

    Returns:
        Tensor: scalar (0 when fewer than two clusters are non-empty).

    Example:
        >>> m = torch.eye(2); on = torch.tensor([True, True])
        >>> round(float(meta_negative(m, on, m, on, 1.0)), 4)  # log(1 + e^0)
        0.6931
    """
    num_classes = meta.size(0)
    mn, on = F.normalize(meta, dim=1), F.normalize(meta_o, dim=1)
    sim = (mn @ on.t()) / temperature
    eye = torch.eye(num_classes, dtype=torch.bool, device=meta.device)
    sim = sim.masked_fill(eye, 0.0)
    terms = sim.exp().masked_fill(~active_o[None, :], 0.0).sum(1)
    log_neg = torch.log(terms + _LOG_EPS)
    rows = active & active_o
    return log_neg[rows].mean() if bool(rows.any()) else meta.sum() * 0.0


def node_pair_negative(z: Tensor, temperature: float, *, other: Tensor | None = None,
                       rows: tuple[int, int] | None = None) -> Tensor:
    """The node-pair baseline's negatives: ``mean_i log sum_j exp(cos(z_i, z_j) / T)`` with
    ``cos(z_i, z_i) := 0`` (``other=None``), dense ``N x N`` as in SCGC* / Graph-MLP.

    Args:
        z: embeddings ``[N, d]``.
        temperature: ``T > 0``.
        other: a second view; the pair ``(i, i)`` then keeps its similarity (default: ``None``).
        rows: only the anchors ``[start, stop)`` against every column: their share
            ``sum_i ... / N`` of the term (default: all anchors).

    Returns:
        Tensor: scalar.

    Example:
        >>> round(float(node_pair_negative(torch.eye(2), 1.0)), 4)  # log(1 + 1)
        0.6931
    """
    zn = F.normalize(z, dim=1)
    on = zn if other is None else F.normalize(other, dim=1)
    start, stop = (0, z.size(0)) if rows is None else rows
    sim = (zn[start:stop] @ on.t()) / temperature
    if other is None:
        sim[:, start:stop].fill_diagonal_(0.0)
    return torch.logsumexp(sim, dim=1).sum() / z.size(0)


def pamc_loss(z: Tensor, target: Tensor, assignment: Tensor | None = None, *,
              num_classes: int | None = None, temperature: float = 2.0,
              negatives: str = "meta_node") -> Tensor:
    """The PamC loss (``negatives="meta_node"``) or its node-pair baseline (``"node_pair"``).

    Args:
        z: embeddings ``[N, d]``.
        target: the sparse influence matrix ``S`` (:func:`influence_matrix`).
        assignment: hard cluster ids ``[N]`` or soft assignments ``[N, K]``; soft ones are
            reduced to their argmax as in PamC (use :func:`meta_node_negative` directly for soft
            meta-nodes). Not needed for ``"node_pair"``.
        num_classes: ``K`` (default: the soft assignment's width; required for hard ids).
        temperature: ``T`` in ``exp(cos / T)`` (default: 2.0, the reference's ``tau = 0.5``).
        negatives: ``"meta_node"`` or ``"node_pair"`` (default: ``"meta_node"``).

    Returns:
        Tensor: scalar loss.

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
        >>> S = influence_matrix(torch.tensor([[0], [1]]), 3)
        >>> loss = pamc_loss(z, S, torch.tensor([0, 0, 1]), num_classes=2, temperature=1.0)
        >>> loss.shape
        torch.Size([])
    """
    negatives = check_choice(negatives, "negatives", NEGATIVES, "pamc_loss")
    check_positive(temperature, "temperature", "pamc_loss")
    pos = positive_term(z, target, temperature)
    if negatives == "node_pair":
        return pos + node_pair_negative(z, temperature)
    if assignment is None:
        raise ValueError("pamc_loss with negatives='meta_node' needs the cluster assignment")
    if assignment.dim() == 2:
        num_classes = assignment.size(1) if num_classes is None else num_classes
        assignment = assignment.detach().argmax(1)
    if num_classes is None:
        raise ValueError("pamc_loss: pass num_classes=K with hard cluster ids")
    return pos + meta_node_negative(z, assignment, int(num_classes), temperature)


def student_t_assignment(z: Tensor, centroids: Tensor, alpha: float = 1.0) -> Tensor:
    """DEC's soft assignment ``q_ik ∝ (1 + ||z_i - mu_k||^2 / alpha)^(-(alpha + 1) / 2)``.

    Args:
        z: ``[N, d]``.
        centroids: ``[K, d]``.
        alpha: Student-t degrees of freedom (default: 1, as DEC/SDCN/PamC).

    Returns:
        Tensor: ``[N, K]``, rows summing to 1.

    Example:
        >>> q = student_t_assignment(torch.zeros(1, 2), torch.tensor([[0.0, 0.0], [1.0, 0.0]]))
        >>> [round(v, 4) for v in q[0].tolist()]
        [0.6667, 0.3333]
    """
    d2 = torch.cdist(z, centroids).pow(2)
    q = (1.0 + d2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def target_distribution(q: Tensor) -> Tensor:
    """DEC's target ``p_ik ∝ q_ik^2 / f_k`` with ``f_k = sum_i q_ik``, rows normalised (detached).

    Args:
        q: soft assignments ``[N, K]``.

    Returns:
        Tensor: ``[N, K]``, no gradient.

    Example:
        >>> p = target_distribution(torch.tensor([[0.6, 0.4], [0.4, 0.6]]))
        >>> [round(v, 4) for v in p[0].tolist()]
        [0.6923, 0.3077]
    """
    q = q.detach()
    weight = q.pow(2) / q.sum(0).clamp_min(1e-12)
    return weight / weight.sum(1, keepdim=True)


def restrict_sparse(matrix: Tensor, nodes: Tensor) -> Tensor:
    """The square submatrix ``matrix[nodes][:, nodes]`` of a sparse COO matrix, in O(nnz).

    Args:
        matrix: a coalesced sparse COO ``[N, N]`` tensor.
        nodes: ``[B]`` distinct node ids; row/column ``k`` of the result is ``nodes[k]``.

    Returns:
        Tensor: a coalesced sparse COO ``[B, B]`` tensor.

    Example:
        >>> m = torch.tensor([[1.0, 2.0, 0.0], [0.0, 3.0, 4.0], [5.0, 0.0, 6.0]]).to_sparse()
        >>> restrict_sparse(m, torch.tensor([2, 0])).to_dense().tolist()
        [[6.0, 5.0], [0.0, 1.0]]
    """
    matrix = matrix.coalesce()
    n = matrix.size(0)
    local = torch.full((n,), -1, dtype=torch.long, device=nodes.device)
    local[nodes] = torch.arange(nodes.numel(), device=nodes.device)
    row, col = local[matrix.indices()[0]], local[matrix.indices()[1]]
    keep = (row >= 0) & (col >= 0)
    size = (nodes.numel(), nodes.numel())
    return torch.sparse_coo_tensor(torch.stack([row[keep], col[keep]]), matrix.values()[keep],
                                   size, check_invariants=False).coalesce()


