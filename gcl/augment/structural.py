"""Node dropping, edge adding, feature shuffling and random-walk subgraphs.

Each wraps a PyG utility (``dropout_node``, ``add_random_edge``, ``shuffle_node``) or PyG's
``subgraph`` for the structural part, and draws its randomness from the augmentation's own
generator when it has a ``seed`` (torch's global RNG otherwise), as every gcl augmentation does.
Unseeded, :class:`DropNode` and :class:`ShuffleFeatures` draw exactly what the PyG functions
draw, so they return the same views as those functions under the same global seed. The node set
never changes (dropped or unvisited nodes stay, isolated), so node-level objectives still pair
row ``i`` of one view with row ``i`` of the other.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import subgraph

from .._utils import check_positive
from .base import Augmentation, check_drop_probability, edge_attribute_keys
from .basic import apply_edge_mask

__all__ = ["DropNode", "AddEdge", "ShuffleFeatures", "RandomWalkSubgraph", "shuffle_permutation",
           "random_walk_nodes"]


def _keep_nodes_edges(data: Data, node_mask: Tensor) -> Data:
    """Keep only the edges whose two ends are in ``node_mask`` (PyG's ``subgraph`` without
    relabelling); every per-edge attribute is filtered with them."""
    _, _, edge_mask = subgraph(node_mask, data.edge_index, num_nodes=data.num_nodes,
                               return_edge_mask=True)
    return apply_edge_mask(data, edge_mask)


class DropNode(Augmentation):
    """Drop each node with probability ``p``: its edges are removed (PyG's ``dropout_node``).

    The node stays in the graph, isolated, with its features, so both views keep one row per
    node (GraphCL's node dropping for node-level contrast). Unseeded, the view equals
    ``torch_geometric.utils.dropout_node(edge_index, p)`` under the same global seed.

    Args:
        p: drop probability per node, in [0, 1] (default: 0.2).
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> d = Data(x=torch.ones(4, 2), edge_index=torch.tensor([[0, 1, 2], [1, 2, 3]]))
        >>> out = DropNode(p=1.0)(d)
        >>> out.edge_index.shape, out.num_nodes
        (torch.Size([2, 0]), 4)
    """

    def __init__(self, p: float = 0.2, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "DropNode")

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        ei = data.edge_index
        prob = torch.rand(data.num_nodes, device=ei.device, generator=self.generator(ei.device))
        return _keep_nodes_edges(data, prob > self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class AddEdge(Augmentation):
    """Add ``round(p * E)`` edges between uniformly drawn node pairs that are not yet edges
    (no self-loops), as PyG's ``add_random_edge`` does with its negative sampling.

    Per-edge attributes are extended for the new edges: ``edge_weight`` with ones, any other
    ``edge_*`` attribute with zeros. With ``undirected=True`` each new pair is added in both
    directions (``round(p * E / 2)`` pairs, so the edge count still grows by about ``p * E``).
    Pairs are drawn with replacement and the ones that already exist (or repeat) are skipped,
    so on a dense graph fewer edges than asked may be added.

    Args:
        p: ratio of edges to add, in [0, 1] (default: 0.1).
        undirected: add both directions of every new edge (default: ``True``).
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> d = Data(x=torch.ones(20, 2), edge_index=torch.tensor([[0, 1], [1, 0]]))
        >>> AddEdge(p=1.0, seed=0)(d).edge_index.size(1)
        4
    """

    def __init__(self, p: float = 0.1, undirected: bool = True, seed: int | None = None) -> None:
        super().__init__(seed)
        self.p = check_drop_probability(p, "p", "AddEdge")
        self.undirected = bool(undirected)

    def _draw(self, ei: Tensor, n: int, count: int) -> Tensor:
        """``count`` new ``[2, count]`` pairs (fewer when the graph is nearly complete)."""
        gen = self.generator(ei.device)
        existing = ei[0] * n + ei[1]
        if self.undirected:
            existing = torch.cat([existing, ei[1] * n + ei[0]])
        found = ei.new_empty(0)
        for _ in range(8):  # a few rounds of rejection sampling, as negative sampling does
            need = count - found.numel()
            if need <= 0:
                break
            draw = torch.randint(0, n * n, (int(need * 1.2) + 8,), device=ei.device,
                                 generator=gen)
            u, v = draw // n, draw % n
            if self.undirected:
                draw = torch.minimum(u, v) * n + torch.maximum(u, v)
            ok = (u != v) & ~torch.isin(draw, existing) & ~torch.isin(draw, found)
            fresh = draw[ok]
            # keep first occurrences only, in draw order
            uniq, inverse = torch.unique(fresh, return_inverse=True)
            first = torch.full((uniq.numel(),), fresh.numel(), device=ei.device,
                               dtype=torch.long)
            first.scatter_reduce_(0, inverse, torch.arange(fresh.numel(), device=ei.device),
                                  reduce="amin")
            found = torch.cat([found, fresh[first.sort().values]])
        found = found[:count]
        return torch.stack([found // n, found % n])

    def forward(self, data: Data) -> Data:
        if self.p == 0.0:
            return data
        ei, n = data.edge_index, data.num_nodes
        count = round(self.p * ei.size(1) / (2 if self.undirected else 1))
        if count == 0 or n < 2:
            return data
        new = self._draw(ei, n, count)
        if self.undirected:
            new = torch.cat([new, new.flip(0)], dim=1)
        for key in edge_attribute_keys(data):
            value = data[key]
            fill = torch.ones if key == "edge_weight" else torch.zeros
            extra = fill((new.size(1), *value.shape[1:]), dtype=value.dtype, device=value.device)
            data[key] = torch.cat([value, extra])
        data.edge_index = torch.cat([ei, new], dim=1)
        if "x" not in data:
            data.num_nodes = n
        return data

    def extra_repr(self) -> str:
        return f"p={self.p}, undirected={self.undirected}"


def shuffle_permutation(num_nodes: int, batch: Tensor | None = None, *,
                        device: torch.device | str = "cpu",
                        generator: torch.Generator | None = None) -> Tensor:
    """The node permutation of PyG's ``shuffle_node``: one ``randperm`` over all nodes, or one
    per graph of ``batch`` (nodes only move within their own graph).

    Args:
        num_nodes: number of nodes.
        batch: ``[N]`` graph index of each node, sorted (default: one graph).
        device: where to build the permutation (default: CPU).
        generator: random generator (default: torch's global RNG).

    Returns:
        Tensor: ``[N]`` permutation; the shuffled features are ``x[perm]``.

    Example:
        >>> perm = shuffle_permutation(6, torch.tensor([0, 0, 0, 1, 1, 1]))
        >>> sorted(perm[:3].tolist()), sorted(perm[3:].tolist())
        ([0, 1, 2], [3, 4, 5])
    """
    if batch is None:
        return torch.randperm(num_nodes, device=device, generator=generator)
    counts = torch.bincount(batch).tolist()
    offsets = [0]
    for c in counts[:-1]:
        offsets.append(offsets[-1] + c)
    return torch.cat([torch.randperm(c, device=device, generator=generator) + o
                      for o, c in zip(offsets, counts)])


class ShuffleFeatures(Augmentation):
    """Shuffle the rows of ``x`` among the nodes (PyG's ``shuffle_node``): DGI's corruption.

    The structure stays; each node gets another node's features. With a ``batch`` attribute
    (several graphs in one), nodes are shuffled within their own graph. Unseeded, the view
    equals ``torch_geometric.utils.shuffle_node(x, batch)`` under the same global seed.

    Args:
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> d = Data(x=torch.arange(4.).view(4, 1), edge_index=torch.tensor([[0], [1]]))
        >>> out = ShuffleFeatures(seed=0)(d)
        >>> sorted(out.x.view(-1).tolist()), d.x.view(-1).tolist()
        ([0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 2.0, 3.0])
    """

    def permutation(self, data: Data) -> Tensor:
        """The permutation this call would apply to ``data`` (draws from the generator).

        Returns:
            Tensor: ``[N]`` node permutation.
        """
        if data.x is None:
            raise ValueError("ShuffleFeatures needs node features: data.x is missing")
        dev = data.x.device
        return shuffle_permutation(data.x.size(0), getattr(data, "batch", None), device=dev,
                                   generator=self.generator(dev))

    def forward(self, data: Data) -> Data:
        data.x = data.x[self.permutation(data)]
        return data


def random_walk_nodes(edge_index: Tensor, num_nodes: int, starts: Tensor, walk_length: int, *,
                      generator: torch.Generator | None = None) -> Tensor:
    """The nodes visited by uniform random walks (messages ``edge_index[0] -> edge_index[1]``,
    walks follow the edges forward) of ``walk_length`` steps from ``starts``; a walk stops at a
    node without out-edges.

    Args:
        edge_index: ``[2, E]`` edges.
        num_nodes: number of nodes.
        starts: ``[S]`` start nodes.
        walk_length: steps per walk (>= 0).
        generator: random generator (default: torch's global RNG).

    Returns:
        Tensor: boolean ``[N]`` mask of the visited nodes (the starts included).

    Example:
        >>> ei = torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> random_walk_nodes(ei, 5, torch.tensor([0]), 3).tolist()
        [True, True, True, True, False]
    """
    check_positive(walk_length, "walk_length", "random_walk_nodes", allow_zero=True,
                   integer=True)
    src, dst = edge_index
    order = torch.argsort(src, stable=True)
    targets = dst[order]
    deg = torch.bincount(src, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=edge_index.device)
    torch.cumsum(deg, 0, out=rowptr[1:])
    visited = torch.zeros(num_nodes, dtype=torch.bool, device=edge_index.device)
    current = starts.to(edge_index.device).long()
    visited[current] = True
    for _ in range(walk_length):
        d = deg[current]
        alive = d > 0
        if not bool(alive.any()):
            break
        current, d = current[alive], d[alive]
        pick = (torch.rand(current.numel(), device=current.device, generator=generator)
                * d).long().clamp_max(d - 1)
        current = targets[rowptr[current] + pick]
        visited[current] = True
    return visited


class RandomWalkSubgraph(Augmentation):
    """Keep the subgraph induced by the nodes that random walks visit (GraphCL's subgraph view).

    ``num_seeds`` walks (or ``seed_ratio * N``) start at uniformly drawn nodes and take
    ``walk_length`` steps; the edges between visited nodes are kept, the others removed. Unvisited
    nodes stay, isolated, so the node set does not change.

    Args:
        walk_length: steps per walk (default: 10).
        num_seeds: number of walks (default: ``None``, use ``seed_ratio``).
        seed_ratio: walks per node when ``num_seeds`` is not given (default: 0.2).
        seed: seed of this augmentation's generator (default: global RNG).

    Example:
        >>> ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
        >>> out = RandomWalkSubgraph(walk_length=0, num_seeds=1, seed=0)(
        ...     Data(x=torch.ones(4, 1), edge_index=ei))
        >>> out.edge_index.size(1), out.num_nodes
        (0, 4)
    """

    def __init__(self, walk_length: int = 10, num_seeds: int | None = None,
                 seed_ratio: float = 0.2, seed: int | None = None) -> None:
        super().__init__(seed)
        self.walk_length = int(check_positive(walk_length, "walk_length", "RandomWalkSubgraph",
                                              allow_zero=True, integer=True))
        if num_seeds is not None:
            check_positive(num_seeds, "num_seeds", "RandomWalkSubgraph", integer=True)
        self.num_seeds = num_seeds
        self.seed_ratio = check_drop_probability(seed_ratio, "seed_ratio", "RandomWalkSubgraph")

    def forward(self, data: Data) -> Data:
        ei, n = data.edge_index, data.num_nodes
        gen = self.generator(ei.device)
        k = self.num_seeds if self.num_seeds is not None else max(1, round(self.seed_ratio * n))
        starts = torch.randint(0, n, (k,), device=ei.device, generator=gen)
        visited = random_walk_nodes(ei, n, starts, self.walk_length, generator=gen)
        return _keep_nodes_edges(data, visited)

    def extra_repr(self) -> str:
        count = f"num_seeds={self.num_seeds}" if self.num_seeds is not None else \
            f"seed_ratio={self.seed_ratio}"
        return f"walk_length={self.walk_length}, {count}"
