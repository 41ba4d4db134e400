"""CSGCL's community-aware augmentations: Communal Attribute Voting (CAV) and Communal Edge
Dropping (CED).

Both read the communities of the clean graph (:func:`gcl.augment.communities.get_communities`),
computed once in :meth:`~gcl.augment.Augmentation.setup` (which :class:`gcl.Pipeline` calls before
training) and cached; each call only draws new random masks.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data

from .._utils import check_probability
from .base import (
    Augmentation,
    _relative_to_mean,
    check_drop_probability,
    edge_keep_mask,
    mask_columns,
)
from .basic import apply_edge_mask
from .communities import Communities, get_communities

__all__ = [
    "cav_drop_probabilities",
    "ced_drop_probabilities",
    "CommunalAttributeVoting",
    "CommunalEdgeDropping",
    "positive_log",
]


def positive_log(values: Tensor) -> Tensor:
    """``log`` of non-negative scores with a guard: entries ``<= 0`` (or not finite) take the
    smallest positive entry's value, i.e. the lowest score; all zeros (the log of ones) when none
    is positive.

    Args:
        values: scores of any shape (centralities, feature usages, votes).

    Returns:
        Tensor: ``log`` of the guarded scores, of the shape of ``values``; always finite.

    Example:
        >>> positive_log(torch.tensor([1.0, 0.0, -2.0, 4.0])).exp().tolist()
        [1.0, 1.0, 1.0, 4.0]
    """
    good = torch.isfinite(values) & (values > 0)
    if not bool(good.any()):
        return torch.zeros_like(values)
    floor = values[good].min()
    return torch.where(good, values, floor).log()


def cav_drop_probabilities(x: Tensor, node_strength: Tensor, p: float, threshold: float = 1.0,
                           dense: bool = False) -> Tensor:
    """CAV's per-attribute drop probabilities.

    1. votes ``v_f = Σ_i |X_if| s_i``; with ``dense=False`` (sparse, non-negative features), zero
       votes are replaced by ``max(v)``, so all-zero columns are never dropped;
    2. ``l_f = log v_f`` (guard: votes ``<= 0``, possible when communities have negative strength,
       take the smallest positive vote, i.e. the highest drop probability);
    3. reversed min–max ``u_f = (max l - l_f) / (max l - min l)``;
    4. ``p_f = min(u_f / mean(u) * p, threshold)`` (and at least 0).

    When every ``l_f`` is equal there is no preference and ``p_f = min(p, threshold)``.

    Args:
        x: ``[N, F]`` node features of the clean graph.
        node_strength: ``[N]`` community strength of each node.
        p: the drop rate (the expected fraction of dropped columns before clamping).
        threshold: the cap on a column's drop probability (default: 1.0, as the reference runs).
        dense: the dense-feature variant (``cav_dense``: no zero-vote patch), used for
            real-valued features such as WikiCS (default: ``False``).

    Returns:
        Tensor: ``[F]`` drop probabilities.

    Example:
        >>> x = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
        >>> # votes (1, 0.5, 0.5) -> u = (0, 1, 1), mean(u) = 2/3 -> p_f = u * 1.5 * 0.3
        >>> [round(v, 4) for v in cav_drop_probabilities(x, torch.tensor([0.5, 0.5]), p=0.3).tolist()]
        [0.0, 0.45, 0.45]
    """
    check_probability(p, "p", "cav_drop_probabilities")
    check_probability(threshold, "threshold", "cav_drop_probabilities")
    s = torch.as_tensor(node_strength, dtype=x.dtype, device=x.device)
    if s.dim() != 1 or s.numel() != x.size(0):
        raise ValueError(f"node_strength must be a [N] tensor with N = {x.size(0)}, got {list(s.shape)}")
    votes = x.abs().t() @ s
    if not dense:
        votes = torch.where(votes == 0, votes.max(), votes)
    logv = positive_log(votes)
    hi, lo = logv.max(), logv.min()
    if hi <= lo:
        return torch.full_like(votes, min(p, threshold))
    u = (hi - logv) / (hi - lo)
    return (u / u.mean() * p).clamp(min=0.0, max=threshold)


def ced_drop_probabilities(edge_weights: Tensor, p: float, threshold: float = 1.0) -> Tensor:
    """CED's per-edge drop probabilities ``1 - q_e``, with the keep probability
    ``q_e = clamp((1 - p) w_e / mean(w), 1 - threshold, 1)``.

    Args:
        edge_weights: ``[E]`` normalised community edge weights in [0, 1]
            (:func:`gcl.augment.communities.communal_edge_weights`).
        p: the drop rate.
        threshold: the cap on an edge's drop probability (default: 1.0, as the reference runs:
            the edges of minimum weight are then always dropped).

    Returns:
        Tensor: ``[E]`` drop probabilities.

    Example:
        >>> ced_drop_probabilities(torch.tensor([0.0, 0.5, 1.0]), p=0.5).tolist()
        [1.0, 0.5, 0.0]
    """
    relative = _relative_to_mean(edge_weights, p, threshold, "ced_drop_probabilities")
    if relative is None:
        return torch.full_like(edge_weights, min(p, threshold))
    return 1.0 - ((1.0 - p) * relative).clamp(min=1.0 - threshold, max=1.0)


class _Communal(Augmentation):
    """Shared state of CAV and CED: the communities of the clean graph."""

    def __init__(self, p: float, threshold: float, communities: Communities | None, method: str,
                 community_seed: int, seed: int | None, legacy_strength: bool = False) -> None:
        super().__init__(seed)
        owner = type(self).__name__
        self.p = check_drop_probability(p, "p", owner)
        self.threshold = check_probability(threshold, "threshold", owner)
        if communities is not None and not isinstance(communities, Communities):
            raise ValueError(f"argument 'communities' of {owner} must be a Communities, "
                             f"got {type(communities).__name__}")
        self.communities = communities
        self.method = method
        self.community_seed = int(community_seed)
        self.legacy_strength = bool(legacy_strength)

    def _communities(self, data: Data) -> Communities:
        if self.communities is None:
            self.communities = get_communities(data, method=self.method, seed=self.community_seed,
                                               legacy_strength=self.legacy_strength)
        if self.communities.membership.numel() != data.num_nodes:
            raise ValueError(
                f"{type(self).__name__}: the communities cover {self.communities.membership.numel()} "
                f"nodes but the graph has {data.num_nodes}; call setup() on the graph being augmented"
            )
        return self.communities


class CommunalAttributeVoting(_Communal):
    """Communal Attribute Voting (CAV): zero whole feature columns, each with the probability
    given by the communities' votes (see :func:`cav_drop_probabilities`).

    Attributes used heavily by nodes of strong communities are kept; rarely used ones, or ones
    used only by weak communities, are dropped most. The probabilities are computed once from
    the clean graph's features and communities (in :meth:`setup`, else on the first call).

    Args:
        p: drop rate (default: 0.1).
        threshold: cap on a column's drop probability (default: 1.0, the reference's ``cav_thr``).
        dense: the dense-feature variant (no zero-vote patch; WikiCS) (default: ``False``).
        communities: precomputed :class:`~gcl.augment.communities.Communities` (default:
            detected on the clean graph).
        method: community detection method when none are given (default: ``"leiden"``).
        community_seed: seed of the detection (default: 0).
        seed: seed of the masks (default: global RNG).
        legacy_strength: detect with the reference's earlier doubled strength formula (see
            :func:`gcl.augment.communities.community_strength`) (default: ``False``).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> cav = CommunalAttributeVoting(p=0.3, seed=0)
        >>> cav.setup(data)
        >>> out = cav(data)
        >>> out.x.shape == data.x.shape, cav.feature_drop_prob(data).shape
        (True, torch.Size([8]))
    """

    def __init__(self, p: float = 0.1, threshold: float = 1.0, dense: bool = False,
                 communities: Communities | None = None, method: str = "leiden",
                 community_seed: int = 0, seed: int | None = None,
                 legacy_strength: bool = False) -> None:
        super().__init__(p, threshold, communities, method, community_seed, seed, legacy_strength)
        self.dense = bool(dense)
        self._probs: Tensor | None = None

    def setup(self, data: Data) -> None:
        comms = self._communities(data)
        self._probs = cav_drop_probabilities(data.x, comms.node_strength, self.p, self.threshold,
                                             self.dense)

    def feature_drop_prob(self, data: Data) -> Tensor:
        """Per-column drop probabilities ``[F]`` (computed once)."""
        if self._probs is None or self._probs.numel() != data.x.size(1):
            self.setup(data)
        return self._probs.to(data.x.device)

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        probs = self.feature_drop_prob(data)
        data.x, _ = mask_columns(data.x, probs, generator=self.generator(data.x.device))
        return data

    def extra_repr(self) -> str:
        return f"p={self.p}, threshold={self.threshold}, dense={self.dense}"


class CommunalEdgeDropping(_Communal):
    """Communal Edge Dropping (CED): drop each directed edge with probability ``1 - q_e``, where the
    keep probability ``q_e`` grows with the edge's community weight (see
    :func:`ced_drop_probabilities`).

    Edges inside strong communities are kept most; edges between two strong communities are
    dropped most. The two directions of an edge are sampled independently. Weights are computed
    once for the clean graph (in :meth:`setup`, else on the first call).

    Args:
        p: drop rate (default: 0.2).
        threshold: cap on an edge's drop probability (default: 1.0, the reference's ``ced_thr``).
        communities, method, community_seed, seed, legacy_strength: as for
            :class:`CommunalAttributeVoting`.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> ced = CommunalEdgeDropping(p=0.3, seed=0)
        >>> ced.setup(data)
        >>> ced(data).edge_index.size(1) < data.edge_index.size(1)
        True
    """

    def __init__(self, p: float = 0.2, threshold: float = 1.0,
                 communities: Communities | None = None, method: str = "leiden",
                 community_seed: int = 0, seed: int | None = None,
                 legacy_strength: bool = False) -> None:
        super().__init__(p, threshold, communities, method, community_seed, seed, legacy_strength)
        self._edge_index: Tensor | None = None
        self._probs: Tensor | None = None

    def setup(self, data: Data) -> None:
        comms = self._communities(data)
        self._edge_index = data.edge_index
        self._probs = ced_drop_probabilities(comms.edge_weights(data.edge_index), self.p,
                                             self.threshold)

    def edge_drop_prob(self, data: Data) -> Tensor:
        """Per-edge drop probabilities ``[E]`` on ``data`` (cached for the set-up graph)."""
        ei = data.edge_index
        cached = self._edge_index
        if cached is None:
            self.setup(data)
            return self._probs
        if cached is ei or (cached.shape == ei.shape and cached.device == ei.device
                            and torch.equal(cached, ei)):
            return self._probs
        comms = self._communities(data)
        return ced_drop_probabilities(comms.edge_weights(ei), self.p, self.threshold)

    def forward(self, data: Data) -> Data:
        # No shortcut at p = 0: the keep probability w / mean(w) still drops low-weight edges.
        keep = edge_keep_mask(data.edge_index, self.edge_drop_prob(data),
                              generator=self.generator(data.edge_index.device))
        return apply_edge_mask(data, keep)

    def extra_repr(self) -> str:
        return f"p={self.p}, threshold={self.threshold}"
