"""Community detection for CSGCL: modularity-based Leiden, with networkx's Louvain as a fallback.

Communities are found on the undirected, un-augmented graph by igraph's
``community_leiden(objective_function="modularity")``, seeded and iterated until the partition no
longer changes. When igraph is not installed, networkx's Louvain method is used instead (also
modularity-based and seeded; documented as a fallback, its partitions differ). Most code reads
communities through :func:`gcl.augment.get_communities`, which caches one detection per graph.
"""

from __future__ import annotations

import contextlib
import gc
import random
import warnings

import torch
from torch import Tensor

from .._utils import check_choice, check_positive

__all__ = ["detect_communities", "undirected_edges", "METHODS"]

METHODS = ("leiden", "louvain")
# Cap on Leiden iterations (each one pass from the previous partition); convergence usually
# takes a handful.
LEIDEN_MAX_ITERATIONS = 100


@contextlib.contextmanager
def _one_cpu_thread():
    """Run torch's CPU ops on one thread meanwhile.

    The preprocessing is a handful of memory-bound passes over ~10^5-10^6 elements, too small to
    gain from intra-op threads; on a busy machine the thread pool's synchronisation made it
    several times slower (measured with benchmarks/communities.py).
    """
    previous = torch.get_num_threads()
    if previous > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if previous > 1:
            torch.set_num_threads(previous)


def undirected_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    """The simple undirected graph of ``edge_index``: each edge once as ``(u, v)`` with ``u <= v``
    (the graph ``to_networkx(data, to_undirected=True)`` builds). Self-loops are kept once.

    Args:
        edge_index: ``[2, E]`` edge list (one or both directions of each edge).
        num_nodes: number of nodes ``N``.

    Returns:
        Tensor: ``[2, m]`` unique undirected edges, sorted.

    Example:
        >>> undirected_edges(torch.tensor([[0, 1, 1, 2, 2], [1, 0, 2, 1, 2]]), 3).tolist()
        [[0, 1, 2], [1, 2, 2]]
    """
    ei = edge_index.detach().to("cpu", torch.long)
    u = torch.minimum(ei[0], ei[1])
    v = torch.maximum(ei[0], ei[1])
    key = torch.unique(u * int(num_nodes) + v)
    return torch.stack([key // int(num_nodes), key % int(num_nodes)])


def _leiden(edges: Tensor, num_nodes: int, seed: int, resolution: float) -> Tensor:
    import igraph

    # Building the edge list allocates one Python tuple per edge; pausing the cyclic garbage
    # collector meanwhile avoids repeated full collections (seconds on large graphs).
    enabled = gc.isenabled()
    gc.disable()
    try:
        pairs = list(zip(edges[0].tolist(), edges[1].tolist()))
        graph = igraph.Graph(n=int(num_nodes), edges=pairs, directed=False)
        del pairs
    finally:
        if enabled:
            gc.enable()
    # igraph draws from the Python ``random`` module by default; use a private seeded instance and
    # put the default back afterwards so the global stream is untouched.
    igraph.set_random_number_generator(random.Random(seed))
    # One Leiden iteration per call, each starting from the previous partition, until the
    # partition stops changing. igraph's own loop (n_iterations=-1) can run forever: on some
    # small graphs it keeps reporting a change while the partition stays the same.
    membership = None
    try:
        for _ in range(LEIDEN_MAX_ITERATIONS):
            part = graph.community_leiden(objective_function="modularity", resolution=resolution,
                                          n_iterations=1, initial_membership=membership)
            if membership is not None and _same_partition(part.membership, membership):
                break
            membership = part.membership
        else:
            warnings.warn(f"Leiden did not converge in {LEIDEN_MAX_ITERATIONS} iterations; "
                          "using the last partition", RuntimeWarning, stacklevel=4)
    finally:
        igraph.set_random_number_generator(random)
    return torch.as_tensor(membership, dtype=torch.long)


def _same_partition(a: list[int], b: list[int]) -> bool:
    """Whether two membership lists describe one partition, whatever the community ids."""
    x, y = torch.as_tensor(a), torch.as_tensor(b)
    pairs = torch.unique(torch.stack([x, y]), dim=1).size(1)
    return pairs == torch.unique(x).numel() == torch.unique(y).numel()


def _louvain(edges: Tensor, num_nodes: int, seed: int, resolution: float) -> Tensor:
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(int(num_nodes)))
    graph.add_edges_from(edges.t().tolist())
    parts = nx.community.louvain_communities(graph, seed=seed, resolution=resolution)
    # Number the communities by their smallest node, so the ids do not depend on set order.
    parts = sorted((sorted(p) for p in parts), key=lambda p: p[0])
    nodes = torch.as_tensor([n for p in parts for n in p], dtype=torch.long)
    sizes = torch.as_tensor([len(p) for p in parts], dtype=torch.long)
    membership = torch.empty(int(num_nodes), dtype=torch.long)
    membership[nodes] = torch.repeat_interleave(torch.arange(len(parts)), sizes)
    return membership


def detect_communities(edge_index: Tensor, num_nodes: int, *, method: str = "leiden",
                       seed: int = 0, resolution: float = 1.0) -> Tensor:
    """A hard partition of the undirected graph by modularity optimisation.

    Args:
        edge_index: ``[2, E]`` edge list (features are ignored; directions are merged).
        num_nodes: number of nodes ``N`` (isolated nodes form singleton communities).
        method: ``"leiden"`` (igraph, modularity objective, iterated to convergence; the
            reference's choice) or ``"louvain"`` (networkx; used automatically with a warning when
            igraph is missing) (default: ``"leiden"``).
        seed: random seed of the detection (default: 0).
        resolution: modularity resolution γ (default: 1.0, plain modularity).

    Returns:
        Tensor: ``[N]`` community ids ``0 .. K-1`` (long, on the CPU).

    Example:
        >>> ei = torch.tensor([[0, 1, 0, 2, 1, 2, 3, 4, 3, 5, 4, 5, 2],
        ...                    [1, 0, 2, 0, 2, 1, 4, 3, 5, 3, 5, 4, 3]])
        >>> m = detect_communities(ei, 6, seed=0)
        >>> bool(m[0] == m[1] == m[2]) and bool(m[3] == m[4] == m[5]) and bool(m[0] != m[3])
        True
    """
    method = check_choice(method, "method", METHODS, "detect_communities")
    check_positive(num_nodes, "num_nodes", "detect_communities", integer=True)
    check_positive(resolution, "resolution", "detect_communities")
    return _detect(undirected_edges(edge_index, num_nodes), num_nodes, method, seed, resolution)


def _detect(edges: Tensor, num_nodes: int, method: str, seed: int, resolution: float) -> Tensor:
    if method == "leiden":
        try:
            import igraph  # noqa: F401
        except ImportError:
            warnings.warn("igraph is not installed: falling back to networkx Louvain for the "
                          "communities (pip install igraph for Leiden)", stacklevel=2)
            method = "louvain"
    if method == "leiden":
        return _leiden(edges, num_nodes, int(seed), float(resolution))
    return _louvain(edges, num_nodes, int(seed), float(resolution))
