"""Communities of a graph and their strengths (CSGCL).

Communities are found once per graph, on the undirected, un-augmented graph, by modularity-based
Leiden, or networkx's Louvain where igraph is missing (:mod:`gcl.augment.community_detection`).

The strength of community ``c`` is its term of Newman's modularity,

.. math::
    S_c = \\frac{L_c}{m} - \\left(\\frac{D_c}{2m}\\right)^2,

with ``m`` the number of undirected edges, ``L_c`` the number of undirected edges inside ``c``
(each counted once; a self-loop counts 1) and ``D_c`` the sum of the degrees of the nodes of ``c``
(a self-loop adds 2 to its node's degree). The strengths sum to the partition's modularity.
Every computation is vectorised (no Python loop over nodes or edges), and results are cached per
graph so CAV, CED and Team-up share one detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._utils import check_choice, check_positive
from .community_detection import METHODS, _detect, _one_cpu_thread, detect_communities, undirected_edges

__all__ = [
    "Communities",
    "detect_communities",
    "community_strength",
    "communal_edge_weights",
    "get_communities",
    "undirected_edges",
    "clear_community_cache",
]

def community_strength(edge_index: Tensor, membership: Tensor, num_nodes: int | None = None, *,
                       legacy: bool = False) -> tuple[Tensor, Tensor]:
    """Community strengths ``S_c = L_c/m - (D_c/2m)^2`` (intra-community edges counted once) and
    the per-node strength ``s_i = S_{c(i)}``.

    ``legacy=True`` gives the CSGCL reference's formula before its commit ``ecd5763``
    (2023-04-24), ``2 L_c/m - (D_c/2m)^2``, which counts each intra-community edge twice; the
    published numbers were probably produced with it. The strengths then no longer sum to the
    modularity.

    Args:
        edge_index: ``[2, E]`` edge list of the un-augmented graph (merged to undirected).
        membership: ``[N]`` community ids ``0 .. K-1``; ``-1`` marks a node without community,
            whose strength is 0 (and whose edges count as inter-community).
        num_nodes: number of nodes (default: ``membership.numel()``).
        legacy: use the reference's earlier, doubled intra-community term (default: ``False``).

    Returns:
        (Tensor, Tensor): ``[K]`` community strengths and ``[N]`` node strengths (float32, CPU).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0], [1, 0, 2, 1, 3, 2, 0, 3]])  # a 4-cycle
        >>> S, s = community_strength(ei, torch.tensor([0, 0, 1, 1]))
        >>> S.tolist(), s.tolist()  # L = 1, D = 4, m = 4: 1/4 - (4/8)^2 = 0
        ([0.0, 0.0], [0.0, 0.0, 0.0, 0.0])
    """
    membership = torch.as_tensor(membership).to("cpu", torch.long)
    n = int(num_nodes) if num_nodes is not None else membership.numel()
    if membership.numel() != n:
        raise ValueError(f"membership has {membership.numel()} entries but the graph has {n} nodes")
    if edge_index.numel() and int(edge_index.max()) >= n:
        raise ValueError(
            f"edge_index refers to node {int(edge_index.max())} but membership covers {n} nodes; "
            "pass one community id per node"
        )
    com, node, _ = _strength(undirected_edges(edge_index, n), membership, n, legacy)
    return com, node


def _strength(edges: Tensor, membership: Tensor, n: int,
              legacy: bool = False) -> tuple[Tensor, Tensor, float]:
    """:func:`community_strength` from the unique undirected edges, plus the modularity."""
    k = int(membership.max()) + 1 if membership.numel() else 0
    m = edges.size(1)
    com = torch.zeros(k, dtype=torch.float64)
    node = torch.zeros(n, dtype=torch.float32)
    if m == 0 or k == 0:
        return com.float(), node, 0.0
    u, v = edges
    degree = torch.bincount(u, minlength=n) + torch.bincount(v, minlength=n)  # self-loop: +2
    cu, cv = membership[u], membership[v]
    intra = (cu == cv) & (cu >= 0)
    L = torch.bincount(cu[intra], minlength=k).double()
    assigned = membership >= 0
    D = torch.bincount(membership[assigned], weights=degree[assigned].double(), minlength=k)
    com = L / m - (D / (2.0 * m)) ** 2
    modularity = float(com.sum())
    if legacy:
        com = com + L / m
    node[assigned] = com[membership[assigned]].float()
    return com.float(), node, modularity


def communal_edge_weights(edge_index: Tensor, membership: Tensor, com_strength: Tensor) -> Tensor:
    """CED's normalised edge weights: raw ``S_c`` for an edge inside community ``c`` and
    ``-(S_{c(u)} + S_{c(v)})`` between communities, min–max scaled to [0, 1] over all edges.

    Args:
        edge_index: ``[2, E]`` directed edge list (each direction gets its own weight).
        membership: ``[N]`` community ids (``-1``: no community, strength 0).
        com_strength: ``[K]`` community strengths.

    Returns:
        Tensor: ``[E]`` weights in [0, 1] (all ones when every raw weight is equal), on the device
        of ``edge_index``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> communal_edge_weights(ei, torch.tensor([0, 0, 1]), torch.tensor([0.3, 0.1])).tolist()
        [1.0, 1.0, 0.0, 0.0]
    """
    device = edge_index.device
    membership = torch.as_tensor(membership).to(device, torch.long)
    strength = torch.as_tensor(com_strength, dtype=torch.float32).to(device)
    node = torch.where(membership >= 0, strength[membership.clamp(min=0)],
                       torch.zeros((), device=device))
    cu, cv = membership[edge_index[0]], membership[edge_index[1]]
    su, sv = node[edge_index[0]], node[edge_index[1]]
    raw = torch.where((cu == cv) & (cu >= 0), su, -(su + sv))
    if raw.numel() == 0:
        return raw
    lo, hi = raw.min(), raw.max()
    if hi <= lo:
        return torch.ones_like(raw)
    return (raw - lo) / (hi - lo)


@dataclass(frozen=True)
class Communities:
    """The communities of one graph and their strengths.

    Attributes:
        membership: ``[N]`` community id of each node (``0 .. K-1``).
        strength: ``[K]`` community strengths ``S_c``.
        node_strength: ``[N]`` strength of each node's community ``s_i``.
        modularity: the partition's modularity (the sum of the corrected strengths).
        method: the detection method that produced it.
        seed: the detection seed.
        legacy_strength: whether ``strength`` uses the reference's earlier doubled
            intra-community term (see :func:`community_strength`).

    Example:
        >>> ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
        >>> c = Communities.from_membership(ei, torch.tensor([0, 0, 1, 1]))
        >>> c.strength.tolist(), c.node_strength.tolist()
        ([0.25, 0.25], [0.25, 0.25, 0.25, 0.25])
    """

    membership: Tensor
    strength: Tensor
    node_strength: Tensor
    modularity: float
    method: str
    seed: int
    legacy_strength: bool = False

    @property
    def num_communities(self) -> int:
        """Number of communities ``K``."""
        return int(self.strength.numel())

    @classmethod
    def from_membership(cls, edge_index: Tensor, membership: Tensor, *, num_nodes: int | None = None,
                        method: str = "given", seed: int = -1,
                        legacy_strength: bool = False) -> Communities:
        """Build from a known partition (computes the strengths).

        Example:
            >>> ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
            >>> c = Communities.from_membership(ei, torch.tensor([0, 0, 1, 1]))
            >>> c.num_communities, round(c.modularity, 4)
            (2, 0.5)
        """
        membership = torch.as_tensor(membership).to("cpu", torch.long)
        n = int(num_nodes) if num_nodes is not None else membership.numel()
        if membership.numel() != n:
            raise ValueError(f"membership has {membership.numel()} entries but the graph has {n} nodes")
        strength, node, q = _strength(undirected_edges(edge_index, n), membership, n,
                                      legacy_strength)
        return cls(membership, strength, node, q, method, int(seed), bool(legacy_strength))

    def edge_weights(self, edge_index: Tensor) -> Tensor:
        """CED's normalised weights of the edges ``edge_index`` (see
        :func:`communal_edge_weights`)."""
        if edge_index.device.type != "cpu":
            return communal_edge_weights(edge_index, self.membership, self.strength)
        with _one_cpu_thread():
            return communal_edge_weights(edge_index, self.membership, self.strength)


_CACHE: dict[tuple, Communities] = {}
_CACHE_MAX = 8


def _graph_key(edge_index: Tensor, num_nodes: int) -> tuple:
    # A content fingerprint: cheap (O(E)) compared with detection, and safe against the memory of
    # a freed tensor being reused by another graph.
    ei = edge_index.detach()
    weights = torch.arange(1, ei.size(1) + 1, device=ei.device, dtype=torch.float64)
    return (int(num_nodes), int(ei.size(1)), int(ei.sum()),
            float((ei[0].double() * weights).sum()), float((ei[1].double() * weights).sum()))


def clear_community_cache() -> None:
    """Forget every cached community detection, so that the next :func:`get_communities` call
    detects the communities again (the cache keeps at most 8 results, oldest dropped first).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=20, num_features=4, num_classes=2, seed=0)
        >>> c = get_communities(data, seed=0)
        >>> clear_community_cache()
        >>> get_communities(data, seed=0) is c
        False
    """
    _CACHE.clear()


def get_communities(data, *, method: str = "leiden", seed: int = 0, resolution: float = 1.0,
                    legacy_strength: bool = False) -> Communities:
    """The communities of ``data`` (a PyG ``Data``), detected once and cached per graph.

    Args:
        data: the un-augmented graph (``edge_index``, ``num_nodes``).
        method: ``"leiden"`` or ``"louvain"`` (see :func:`detect_communities`).
        seed: detection seed (default: 0).
        resolution: modularity resolution (default: 1.0).
        legacy_strength: the reference's earlier doubled intra-community term (see
            :func:`community_strength`; default: ``False``, the corrected formula).

    Returns:
        Communities: the partition, strengths and node strengths.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=4, num_classes=3, seed=0)
        >>> c = get_communities(data, seed=0)
        >>> get_communities(data, seed=0) is c, c.node_strength.shape
        (True, torch.Size([60]))
    """
    num_nodes = int(data.num_nodes)
    with _one_cpu_thread():
        fingerprint = _graph_key(data.edge_index, num_nodes)
    key = (fingerprint, method, int(seed), float(resolution), bool(legacy_strength))
    found = _CACHE.get(key)
    if found is not None:
        return found
    method = check_choice(method, "method", METHODS, "get_communities")
    check_positive(resolution, "resolution", "get_communities")
    with _one_cpu_thread():
        edges = undirected_edges(data.edge_index, num_nodes)  # shared by detection and strength
        membership = _detect(edges, num_nodes, method, int(seed), float(resolution))
        strength, node, q = _strength(edges, membership, num_nodes, legacy_strength)
    result = Communities(membership, strength, node, q, method, int(seed), bool(legacy_strength))
    if len(_CACHE) >= _CACHE_MAX:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = result
    return result
