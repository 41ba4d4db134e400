"""GCA's adaptive augmentations (Zhu et al., 2021): centrality-weighted edge dropping and
feature masking.

Important edges and features (by node centrality: degree, eigenvector or PageRank) are dropped
less. For a score ``s`` (the log-centrality of an edge's target node, or the log of a feature's
centrality-weighted usage) the weights are ``w = (max s - s) / (max s - mean s)`` and the drop
probabilities ``min(w / mean(w) * p, threshold)`` with ``threshold = 0.7``. Weights are computed
once per graph (in :meth:`~gcl.augment.Augmentation.setup`, else on the first call).
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .._utils import check_choice, check_probability
from .base import (
    Augmentation,
    _relative_to_mean,
    check_drop_probability,
    edge_keep_mask,
    mask_columns,
)
from .basic import apply_edge_mask
from .communal import positive_log

__all__ = [
    "CENTRALITIES",
    "node_centrality",
    "pagerank",
    "eigenvector_centrality",
    "adaptive_edge_weights",
    "adaptive_feature_weights",
    "adaptive_drop_probabilities",
    "AdaptiveEdgeDropping",
    "AdaptiveFeatureMasking",
]

CENTRALITIES = ("degree", "eigenvector", "pagerank")
_DENSE_EIG_MAX_NODES = 32  # eigenvector centrality of graphs this small: a dense eigensolver


def pagerank(edge_index: Tensor, num_nodes: int, damping: float = 0.85,
             iterations: int = 10) -> Tensor:
    """GCA's PageRank scores: ``iterations`` steps of ``x <- (1 - d) x + d Aᵀ D_out⁻¹ x`` from
    ``x = 1`` (unnormalised, as GCA computes them).

    Args:
        edge_index: directed edges ``[2, E]`` (source, target); every node with an outgoing edge
            spreads its score evenly over its out-edges.
        num_nodes: number of nodes ``N``.
        damping: damping factor ``d`` (default: 0.85).
        iterations: number of power-iteration steps (default: 10).

    Returns:
        Tensor: the scores ``[N]`` (float32, on the device of ``edge_index``).

    Example:
        >>> [round(v, 4) for v in pagerank(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 3).tolist()]
        [0.7571, 1.4859, 0.7571]
    """
    src, dst = edge_index
    deg_out = torch.bincount(src, minlength=num_nodes).to(torch.float32)
    x = torch.ones(num_nodes, device=edge_index.device)
    for _ in range(int(iterations)):
        msg = x[src] / deg_out[src]
        agg = torch.zeros(num_nodes, device=edge_index.device).index_add_(0, dst, msg)
        x = (1 - damping) * x + damping * agg
    return x


def eigenvector_centrality(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Eigenvector centrality: the leading eigenvector of ``Aᵀ`` (non-negative, unit norm), as
    networkx's ``eigenvector_centrality_numpy`` computes it (sparse ARPACK, no dense matrix),
    started from the all-ones vector so the result does not vary between calls. Graphs of at most
    32 nodes are solved by a dense eigensolver (ARPACK needs more than 2 nodes and restarts from a
    random vector on small or acyclic graphs); a graph without edges gives uniform centralities.

    Args:
        edge_index: edges ``[2, E]``; duplicates count once, edge weights are ignored.
        num_nodes: number of nodes ``N``.

    Returns:
        Tensor: the centralities ``[N]`` (float32, unit L2 norm, signed so that they sum to a
        non-negative value, on the device of ``edge_index``).

    Example:
        >>> c = eigenvector_centrality(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), 3)
        >>> [round(v, 4) for v in c.tolist()]
        [0.5, 0.7071, 0.5]
    """
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.linalg import eigs

    ei = edge_index.detach().cpu().numpy()
    adj = sp.coo_matrix((np.ones(ei.shape[1]), (ei[0], ei[1])), shape=(num_nodes, num_nodes))
    adj = adj.tocsr()
    adj.sum_duplicates()
    adj.data[:] = 1.0
    if adj.nnz == 0:  # no edges: every node is equally central
        return torch.full((num_nodes,), num_nodes ** -0.5, device=edge_index.device)
    if num_nodes <= _DENSE_EIG_MAX_NODES:
        # Tiny graphs are solved directly: ARPACK needs k < N - 1, and when its Krylov space breaks
        # down (graphs without cycles, small disconnected ones) it restarts from a random vector,
        # so the result would change from call to call.
        vals, vecs = np.linalg.eig(adj.T.toarray())
        vec = vecs[:, int(np.argmax(vals.real))].real
    else:
        # A fixed starting vector (all ones, never orthogonal to a Perron vector) makes the result
        # reproducible; ARPACK's default random start changes from call to call.
        _, vec = eigs(adj.T.astype(float), k=1, which="LR", maxiter=max(50 * num_nodes, 1000),
                      tol=0, v0=np.ones(num_nodes))
        vec = vec[:, 0].real
    vec = vec * np.sign(vec.sum()) / np.linalg.norm(vec)
    return torch.as_tensor(vec, dtype=torch.float32, device=edge_index.device)


def node_centrality(data: Data, kind: str = "degree", pagerank_iterations: int = 10) -> Tensor:
    """Node centrality as GCA uses it: ``degree`` (in-degree on the undirected graph),
    ``pagerank`` (:func:`pagerank`, ``pagerank_iterations`` steps) or ``eigenvector``
    (:func:`eigenvector_centrality`).

    Args:
        data: the graph (``edge_index`` and ``num_nodes`` are used).
        kind: ``"degree"``, ``"eigenvector"`` or ``"pagerank"`` (default: ``"degree"``).
        pagerank_iterations: number of PageRank steps when ``kind="pagerank"`` (default: 10).

    Returns:
        Tensor: one float32 centrality per node ``[N]``.

    Raises:
        ValueError: ``kind`` is not one of :data:`CENTRALITIES`.

    Example:
        >>> d = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> node_centrality(d, "degree").tolist()
        [1.0, 2.0, 1.0]
    """
    kind = check_choice(kind, "centrality", CENTRALITIES)
    n = int(data.num_nodes)
    if kind == "degree":
        ei = to_undirected(data.edge_index, num_nodes=n)
        return torch.bincount(ei[1], minlength=n).to(torch.float32)
    if kind == "pagerank":
        return pagerank(data.edge_index, n, iterations=pagerank_iterations)
    return eigenvector_centrality(data.edge_index, n)


def _reverse_scale(s: Tensor) -> Tensor:
    """``(max s - s) / (max s - mean s)``; all ones when ``s`` is constant (empty when ``s`` is)."""
    if s.numel() == 0:
        return s.clone()
    hi, mean = s.max(), s.mean()
    if not bool(hi > mean):
        return torch.ones_like(s)
    return (hi - s) / (hi - mean)


def adaptive_edge_weights(data: Data, centrality: str = "degree",
                          pagerank_iterations: int = 200) -> Tensor:
    """GCA's edge weights: ``s_e = log c(target of e)`` (degree on the undirected graph; PageRank
    with 200 iterations as GCA's edge weights use; eigenvector centrality clamped at 0 plus 1e-8),
    then ``(max s - s) / (max s - mean s)``.

    Args:
        data: the graph (``edge_index`` and ``num_nodes`` are used).
        centrality: ``"degree"``, ``"eigenvector"`` or ``"pagerank"`` (default: ``"degree"``).
        pagerank_iterations: PageRank steps when ``centrality="pagerank"`` (default: 200).

    Returns:
        Tensor: one weight per edge ``[E]``, in the order of ``data.edge_index``; edges into the
        most central nodes get 0, and the weights have mean 1 unless all scores are equal (then
        all ones).

    Raises:
        ValueError: ``centrality`` is not one of :data:`CENTRALITIES`.

    Example:
        >>> d = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
        >>> [round(v, 4) for v in adaptive_edge_weights(d).tolist()]
        [0.0, 2.0, 2.0, 0.0]
    """
    c = node_centrality(data, centrality, pagerank_iterations)
    if check_choice(centrality, "centrality", CENTRALITIES) == "eigenvector":
        c = c.clamp(min=0) + 1e-8
    s = positive_log(c[data.edge_index[1]])
    return _reverse_scale(s)


def adaptive_feature_weights(x: Tensor, node_c: Tensor, dense: bool = False) -> Tensor:
    """GCA's feature weights: ``s_f = log Σ_i x̂_if c_i`` with ``x̂ = [x != 0]`` (sparse features)
    or ``|x|`` (``dense=True``, WikiCS), then ``(max s - s) / (max s - mean s)``. Zero sums (unused
    features) take the smallest positive sum.

    Args:
        x: node features ``[N, F]``.
        node_c: node centralities ``[N]`` (e.g. from :func:`node_centrality`).
        dense: weight by ``|x|`` instead of the indicator ``x != 0`` (default: False).

    Returns:
        Tensor: one weight per feature column ``[F]``; the columns most used by central nodes
        get 0.

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> adaptive_feature_weights(x, torch.tensor([1.0, 3.0])).tolist()
        [0.0, 2.0]
    """
    xb = x.abs() if dense else (x != 0).to(x.dtype)
    usage = xb.t() @ node_c.to(x.dtype).to(x.device)
    return _reverse_scale(positive_log(usage))


def adaptive_drop_probabilities(weights: Tensor, p: float, threshold: float = 0.7) -> Tensor:
    """Drop probabilities from adaptive weights: ``min(w / mean(w) * p, threshold)``, so that the
    mean probability is ``p`` before the cap.

    Args:
        weights: non-negative weights (from :func:`adaptive_edge_weights` or
            :func:`adaptive_feature_weights`).
        p: target mean drop probability, in ``[0, 1]``.
        threshold: cap on any single probability, in ``[0, 1]`` (default: 0.7, as GCA).

    Returns:
        Tensor: probabilities of the shape of ``weights``; ``min(p, threshold)`` everywhere when
        the weights are all zero, empty when ``weights`` is.

    Raises:
        ValueError: ``p`` or ``threshold`` is not a probability.

    Example:
        >>> probs = adaptive_drop_probabilities(torch.tensor([0.0, 1.0, 2.0]), 0.5)
        >>> [round(v, 4) for v in probs.tolist()]
        [0.0, 0.5, 0.7]
    """
    relative = _relative_to_mean(weights, p, threshold, "adaptive_drop_probabilities")
    if relative is None:
        return torch.full_like(weights, min(p, threshold))
    return (relative * p).clamp(max=threshold)


class AdaptiveEdgeDropping(Augmentation):
    """GCA's adaptive edge dropping: edges into central nodes are dropped less.

    Args:
        p: drop rate (the mean drop probability before the cap) (default: 0.2).
        centrality: ``degree``, ``eigenvector`` or ``pagerank`` (default: ``degree``).
        threshold: cap on an edge's drop probability (default: 0.7, as GCA).
        seed: seed of the masks (default: global RNG).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> aug = AdaptiveEdgeDropping(p=0.3, centrality="pagerank", seed=0)
        >>> aug(data).edge_index.size(1) < data.edge_index.size(1)
        True
    """

    def __init__(self, p: float = 0.2, centrality: str = "degree", threshold: float = 0.7,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "AdaptiveEdgeDropping")
        self.centrality = check_choice(centrality, "centrality", CENTRALITIES, "AdaptiveEdgeDropping")
        self.threshold = check_probability(threshold, "threshold", "AdaptiveEdgeDropping")
        self._edge_index: Tensor | None = None
        self._probs: Tensor | None = None

    def setup(self, data: Data) -> None:
        self._edge_index = data.edge_index
        self._probs = adaptive_drop_probabilities(adaptive_edge_weights(data, self.centrality),
                                                  self.p, self.threshold)

    def edge_drop_prob(self, data: Data) -> Tensor:
        """Per-edge drop probabilities ``[E]`` (computed once for the set-up graph)."""
        cached = self._edge_index
        ei = data.edge_index
        if cached is None or not (cached is ei or (cached.shape == ei.shape
                                                   and cached.device == ei.device
                                                   and torch.equal(cached, ei))):
            self.setup(data)
        return self._probs

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        keep = edge_keep_mask(data.edge_index, self.edge_drop_prob(data),
                              generator=self.generator(data.edge_index.device))
        return apply_edge_mask(data, keep)

    def extra_repr(self) -> str:
        return f"p={self.p}, centrality={self.centrality!r}, threshold={self.threshold}"


class AdaptiveFeatureMasking(Augmentation):
    """GCA's adaptive feature masking: whole feature columns used by central nodes are masked less.

    Args:
        p: drop rate (the mean drop probability before the cap) (default: 0.3).
        centrality: ``degree``, ``eigenvector`` or ``pagerank`` (default: ``degree``).
        threshold: cap on a column's drop probability (default: 0.7, as GCA).
        dense: weight by ``|x|`` instead of ``x != 0`` (dense features, WikiCS) (default: False).
        seed: seed of the masks (default: global RNG).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> aug = AdaptiveFeatureMasking(p=0.3, seed=0)
        >>> aug(data).x.shape
        torch.Size([40, 8])
    """

    def __init__(self, p: float = 0.3, centrality: str = "degree", threshold: float = 0.7,
                 dense: bool = False, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "AdaptiveFeatureMasking")
        self.centrality = check_choice(centrality, "centrality", CENTRALITIES,
                                       "AdaptiveFeatureMasking")
        self.threshold = check_probability(threshold, "threshold", "AdaptiveFeatureMasking")
        self.dense = bool(dense)
        self._probs: Tensor | None = None

    def setup(self, data: Data) -> None:
        c = node_centrality(data, self.centrality)
        self._probs = adaptive_drop_probabilities(
            adaptive_feature_weights(data.x, c, self.dense), self.p, self.threshold)

    def feature_drop_prob(self, data: Data) -> Tensor:
        """Per-column drop probabilities ``[F]`` (computed once)."""
        if self._probs is None or self._probs.numel() != data.x.size(1):
            self.setup(data)
        return self._probs.to(data.x.device)

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        data.x, _ = mask_columns(data.x, self.feature_drop_prob(data),
                                 generator=self.generator(data.x.device))
        return data

    def extra_repr(self) -> str:
        return (f"p={self.p}, centrality={self.centrality!r}, threshold={self.threshold}, "
                f"dense={self.dense}")
