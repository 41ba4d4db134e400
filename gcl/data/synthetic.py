"""Planted-partition graphs with class-carrying bag-of-words features.

Used by the demo's fallback (no data root), by the tests and by the documentation examples.
Everything is built in O(N + E) memory: edges are sampled directly as node pairs, never from an
N x N probability matrix, so 100k-node graphs take well under a second or two.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .._utils import check_positive, check_probability
from .splits import random_split

__all__ = ["synthetic", "planted_partition_edges", "balanced_communities"]


def _randint(high: Tensor, gen: torch.Generator) -> Tensor:
    """One uniform integer in ``[0, high_i)`` per entry of ``high`` (all ``high_i >= 1``)."""
    u = torch.rand(high.shape, generator=gen, dtype=torch.float64)
    return torch.minimum((u * high.double()).long(), high.long() - 1)


def balanced_communities(num_nodes: int, num_classes: int, gen: torch.Generator) -> Tensor:
    """A random assignment of nodes to ``num_classes`` communities whose sizes differ by <= 1.

    Args:
        num_nodes: number of nodes.
        num_classes: number of communities.
        gen: the random generator.

    Returns:
        Tensor: long ``[num_nodes]`` community ids in ``[0, num_classes)``.

    Example:
        >>> c = balanced_communities(10, 3, torch.Generator().manual_seed(0))
        >>> torch.bincount(c).tolist()
        [4, 3, 3]
    """
    return torch.randperm(num_nodes, generator=gen) % num_classes


def _sample_unique(draw, target: int, num_nodes: int, gen: torch.Generator) -> Tensor:
    """Draw candidate (u, v) pairs with ``draw(n)`` until ``target`` distinct undirected pairs
    exist (or the draws stop adding new ones), then keep a random ``target`` of them."""
    keys = torch.empty(0, dtype=torch.long)
    if target <= 0:
        return keys
    for _ in range(30):
        need = target - keys.numel()
        if need <= 0:
            break
        u, v = draw(int(need * 1.1) + 16)
        lo, hi = torch.minimum(u, v), torch.maximum(u, v)
        keep = lo != hi
        new = lo[keep] * num_nodes + hi[keep]
        before = keys.numel()
        keys = torch.unique(torch.cat([keys, new]))
        if keys.numel() == before:  # saturated: no more distinct pairs to find
            break
    if keys.numel() > target:
        keys = keys[torch.randperm(keys.numel(), generator=gen)[:target]]
    return keys


def planted_partition_edges(community: Tensor, num_edges: int, p_intra: float,
                            gen: torch.Generator) -> Tensor:
    """Sample distinct undirected edges of a planted-partition graph, in O(E) memory.

    ``round(p_intra * num_edges)`` edges join two nodes of the same community, chosen uniformly
    among all intra-community pairs; the others join nodes of different communities, chosen
    uniformly among all inter-community pairs. No self-loops, no duplicates. When a community
    structure cannot hold that many distinct pairs, fewer edges are returned.

    Args:
        community: long ``[N]`` community ids.
        num_edges: the number of undirected edges wanted.
        p_intra: the fraction of intra-community edges.
        gen: the random generator.

    Returns:
        Tensor: long ``[2, M]`` with ``row < col`` (each undirected edge once), ``M <= num_edges``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> e = planted_partition_edges(torch.tensor([0, 0, 0, 1, 1, 1]), 5, 0.6, g)
        >>> e.shape[0], bool((e[0] < e[1]).all())
        (2, True)
    """
    num_nodes = community.numel()
    num_classes = int(community.max()) + 1 if num_nodes else 0
    sizes = torch.bincount(community, minlength=num_classes)
    order = torch.argsort(community, stable=True)
    offsets = torch.cumsum(sizes, 0) - sizes

    n_intra = int(round(p_intra * num_edges))
    n_inter = num_edges - n_intra
    intra_w = (sizes * (sizes - 1)).double()
    inter_w = (sizes * (num_nodes - sizes)).double()
    if float(inter_w.sum()) == 0:
        n_intra, n_inter = num_edges, 0
    if float(intra_w.sum()) == 0:
        n_intra, n_inter = 0, num_edges

    def draw_intra(n: int):
        c = torch.multinomial(intra_w, n, replacement=True, generator=gen)
        s = sizes[c]
        i = _randint(s, gen)
        j = _randint(s - 1, gen)
        j = j + (j >= i).long()
        return order[offsets[c] + i], order[offsets[c] + j]

    def draw_inter(n: int):
        c = torch.multinomial(inter_w, n, replacement=True, generator=gen)
        s = sizes[c]
        u = order[offsets[c] + _randint(s, gen)]
        r = _randint(num_nodes - s, gen)  # a position among the nodes outside c
        r = torch.where(r < offsets[c], r, r + s)
        return u, order[r]

    keys = []
    if n_intra > 0:
        keys.append(_sample_unique(draw_intra, n_intra, num_nodes, gen))
    if n_inter > 0:
        keys.append(_sample_unique(draw_inter, n_inter, num_nodes, gen))
    if not keys:
        return torch.empty(2, 0, dtype=torch.long)
    key = torch.cat(keys)
    return torch.stack([key // num_nodes, key % num_nodes])


def synthetic(num_nodes: int = 1000, num_classes: int = 5, num_features: int = 64,
              avg_degree: float = 10.0, p_intra: float = 0.8, feature_signal: float = 0.6,
              words_per_node: int = 16, seed: int = 0, *, train_ratio: float = 0.1,
              val_ratio: float = 0.1, num_splits: int = 1, split_seed: int | None = None) -> Data:
    """A planted-partition graph with class-carrying bag-of-words features.

    Nodes are split into ``num_classes`` communities of (almost) equal size; ``y`` and
    ``data.community`` are the community ids. ``num_nodes * avg_degree / 2`` distinct undirected
    edges are sampled, a fraction ``p_intra`` of them inside communities (see
    :func:`planted_partition_edges`). Each community owns a set of "signature" words (the
    feature columns are dealt out to the communities round-robin after a random shuffle). Every
    node draws ``words_per_node`` words: each is, with probability ``feature_signal``, a word of
    its community's signature set, else a word drawn uniformly from the whole vocabulary. The
    features are the 0/1 indicators of the drawn words, like Cora's.

    Args:
        num_nodes: number of nodes (default: 1000).
        num_classes: number of communities / classes (default: 5).
        num_features: vocabulary size, the feature dimension (default: 64).
        avg_degree: average node degree (default: 10).
        p_intra: fraction of edges inside communities, in [0, 1] (default: 0.8).
        feature_signal: probability that a drawn word is a signature word, in [0, 1]
            (default: 0.6; 0 gives features without class signal).
        words_per_node: words drawn per node (default: 16).
        seed: seed of the graph, the features and (unless ``split_seed`` is given) the split.
        train_ratio: training fraction of the random split (default: 0.1).
        val_ratio: validation fraction of the random split (default: 0.1).
        num_splits: number of random split columns (default: 1).
        split_seed: seed of the split (default: ``seed``).

    Returns:
        Data: ``x`` float32 ``[N, num_features]`` (non-negative), ``edge_index`` long
        ``[2, E]`` (undirected, coalesced, no self-loops), ``y`` and ``community`` long ``[N]``,
        boolean ``train_mask``/``val_mask``/``test_mask``, ``name="synthetic"`` and
        ``split_name``.

    Raises:
        ValueError: for invalid arguments (e.g. ``avg_degree >= num_nodes``).

    Example:
        >>> data = synthetic(num_nodes=100, num_classes=4, num_features=12, seed=0)
        >>> data.x.shape, data.num_nodes, int(data.y.max()) + 1
        (torch.Size([100, 12]), 100, 4)
    """
    owner = "synthetic"
    check_positive(num_nodes, "num_nodes", owner, integer=True)
    check_positive(num_classes, "num_classes", owner, integer=True)
    check_positive(num_features, "num_features", owner, integer=True)
    check_positive(words_per_node, "words_per_node", owner, integer=True)
    check_positive(avg_degree, "avg_degree", owner, allow_zero=True)
    p_intra = check_probability(p_intra, "p_intra", owner)
    feature_signal = check_probability(feature_signal, "feature_signal", owner)
    check_positive(seed, "seed", owner, allow_zero=True, integer=True)
    if num_classes > num_nodes:
        raise ValueError(f"num_classes ({num_classes}) cannot exceed num_nodes ({num_nodes})")
    if avg_degree > num_nodes - 1:
        raise ValueError(f"avg_degree ({avg_degree}) must be at most num_nodes - 1 "
                         f"({num_nodes - 1}) for a simple graph")

    gen = torch.Generator().manual_seed(seed)
    community = balanced_communities(num_nodes, num_classes, gen)
    num_edges = int(round(num_nodes * avg_degree / 2))
    half = planted_partition_edges(community, num_edges, p_intra, gen)
    edge_index = to_undirected(half, num_nodes=num_nodes)

    # Bag-of-words features: signature words of the node's community, plus background words.
    perm = torch.randperm(num_features, generator=gen)
    n_draws = num_nodes * words_per_node
    node = torch.arange(num_nodes).repeat_interleave(words_per_node)
    cls = community[node]
    if num_features >= num_classes:
        sig_size = torch.tensor([math.ceil((num_features - c) / num_classes)
                                 for c in range(num_classes)])
        pos = cls + _randint(sig_size[cls], gen) * num_classes
        signature_word = perm[pos]
    else:
        signature_word = perm[cls % num_features]
    background_word = torch.randint(num_features, (n_draws,), generator=gen)
    use_signal = torch.rand(n_draws, generator=gen) < feature_signal
    word = torch.where(use_signal, signature_word, background_word)
    x = torch.zeros(num_nodes, num_features)
    x[node, word] = 1.0

    train, val, test = random_split(num_nodes, train_ratio, val_ratio, num_splits,
                                    seed if split_seed is None else split_seed)
    data = Data(x=x, edge_index=edge_index, y=community.clone(), community=community,
                train_mask=train, val_mask=val, test_mask=test)
    data.name = "synthetic"
    data.split_name = f"random-{float(train_ratio):g}-{float(val_ratio):g}"
    return data
