"""Link prediction from frozen embeddings: held-out edges, and the reference's reconstruction AUC.

Held-out protocol (:func:`split_edges` + :func:`link_prediction`): a random fraction of the
undirected edges is removed from the graph before training; the encoder trains and embeds on the
remaining edges only; each test edge is scored ``sigmoid(z_u · z_v)`` against an equal number of
sampled node pairs that are not edges of the full graph; AUC and average precision.

Reconstruction AUC (:func:`reconstruction_auc`): what the CSGCL reference's first version
computes (``RandomLinkSplit`` with no held-out edges): every edge of the training graph scored
against as many sampled non-edges. The encoder has seen those edges, so this measures how well
embeddings reconstruct the graph, not how well they predict unseen links; it is offered only to
compare with numbers produced that way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected

from .._graphs import edge_attribute_keys
from .._utils import check_positive
from .metrics import summarize

__all__ = ["LinkSplit", "split_edges", "sample_non_edges", "link_scores", "link_prediction",
           "reconstruction_auc"]


def _pair_keys(edges: Tensor, n: int) -> Tensor:
    u = torch.minimum(edges[0], edges[1])
    v = torch.maximum(edges[0], edges[1])
    return u * n + v


def sample_non_edges(edge_index: Tensor, num_nodes: int, num_samples: int, *,
                     exclude: Tensor | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
    """Sample distinct unordered node pairs ``(u, v)``, ``u < v``, that are not edges.

    Args:
        edge_index: ``[2, E]`` edges that must not be sampled (either direction).
        num_nodes: number of nodes.
        num_samples: number of pairs.
        exclude: further ``[2, K]`` pairs to avoid (default: none).
        generator: random generator (default: torch's global RNG).

    Returns:
        Tensor: ``[2, num_samples]`` pairs.

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 2]])
        >>> neg = sample_non_edges(ei, 4, 4, generator=torch.Generator().manual_seed(0))
        >>> sorted(map(tuple, neg.t().tolist()))  # all four non-edges of the path 0-1-2 + node 3
        [(0, 2), (0, 3), (1, 3), (2, 3)]
    """
    n = int(num_nodes)
    max_pairs = n * (n - 1) // 2
    forbidden = _pair_keys(edge_index.cpu(), n)
    if exclude is not None:
        forbidden = torch.cat([forbidden, _pair_keys(exclude.cpu(), n)])
    forbidden = torch.unique(forbidden[(forbidden // n) != (forbidden % n)])
    if num_samples > max_pairs - forbidden.numel():
        raise ValueError(f"cannot sample {num_samples} non-edges: the graph has only "
                         f"{max_pairs - forbidden.numel()}")
    found = torch.empty(0, dtype=torch.long)
    while found.numel() < num_samples:
        need = num_samples - found.numel()
        cand = torch.randint(0, n, (2, 2 * need + 16), generator=generator)
        cand = cand[:, cand[0] != cand[1]]
        keys = _pair_keys(cand, n)
        keys = keys[~torch.isin(keys, forbidden) & ~torch.isin(keys, found)]
        # keep the first occurrence of each key, in sampling order
        uniq, inverse = torch.unique(keys, return_inverse=True)
        first = torch.full((uniq.numel(),), keys.numel(), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(keys.numel()), reduce="amin")
        keys = keys[first.sort().values]
        found = torch.cat([found, keys[:need]])
    return torch.stack([found // n, found % n])


@dataclass
class LinkSplit:
    """A held-out edge split.

    Attributes:
        train_data: the graph with the test (and validation) edges removed, both directions.
        test_pos, test_neg: ``[2, T]`` held-out edges and as many sampled non-edges.
        val_pos, val_neg: the same for validation (``[2, 0]`` when ``val_ratio = 0``).

    Example:
        >>> ring = to_undirected(torch.tensor([[0, 1, 2, 3, 4], [1, 2, 3, 4, 0]]))
        >>> split = split_edges(Data(edge_index=ring, num_nodes=5), test_ratio=0.4, seed=0)
        >>> split.train_data.edge_index.size(1), split.test_pos.size(1), split.val_pos.size(1)
        (6, 2, 0)
    """

    train_data: Data
    test_pos: Tensor
    test_neg: Tensor
    val_pos: Tensor
    val_neg: Tensor


def split_edges(data: Data, test_ratio: float = 0.1, val_ratio: float = 0.0, *,
                seed: int | None = 0) -> LinkSplit:
    """Hold out a random fraction of the undirected edges (self-loops always stay in training).

    Negatives are node pairs that are not edges of the full graph, distinct from each other.

    Args:
        data: the graph (``edge_index`` with one or both directions).
        test_ratio: fraction of undirected edges held out for testing (default: 0.1).
        val_ratio: fraction held out for validation (default: 0).
        seed: seed of the split and of the negatives (``None``: torch's global RNG).

    Returns:
        LinkSplit: the training graph and the evaluation pairs.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=4, num_classes=2, seed=0)
        >>> split = split_edges(data, test_ratio=0.2, seed=0)
        >>> split.test_pos.shape == split.test_neg.shape
        True
    """
    if not (0.0 < test_ratio < 1.0) or not (0.0 <= val_ratio < 1.0) or test_ratio + val_ratio >= 1:
        raise ValueError(f"test_ratio ({test_ratio}) must be in (0, 1) and val_ratio ({val_ratio}) "
                         "in [0, 1), with test_ratio + val_ratio < 1")
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    n = int(data.num_nodes)
    ei = data.edge_index.cpu()
    keys = torch.unique(_pair_keys(ei, n))
    loops = keys[(keys // n) == (keys % n)]
    keys = keys[(keys // n) != (keys % n)]
    perm = keys[torch.randperm(keys.numel(), generator=gen)]
    n_test = max(1, int(round(test_ratio * keys.numel())))
    n_val = int(round(val_ratio * keys.numel()))
    test_k, val_k, train_k = perm[:n_test], perm[n_test:n_test + n_val], perm[n_test + n_val:]

    def pairs(k: Tensor) -> Tensor:
        return torch.stack([k // n, k % n])

    train_edges = to_undirected(pairs(torch.cat([train_k, loops])), num_nodes=n)
    train = data.clone()
    for key in edge_attribute_keys(data):
        del train[key]  # per-edge attributes no longer line up
    train.edge_index = train_edges.to(data.edge_index.device)
    neg = sample_non_edges(ei, n, n_test + n_val, generator=gen)
    return LinkSplit(train, pairs(test_k), neg[:, :n_test], pairs(val_k), neg[:, n_test:])


def link_scores(z: Tensor, pairs: Tensor) -> Tensor:
    """``sigmoid(z_u · z_v)`` for each pair ``(u, v)`` of ``pairs`` (``[2, K]``).

    Args:
        z: ``[N, d]`` node embeddings (detached; no gradient flows back).
        pairs: ``[2, K]`` node index pairs (moved to the device of ``z``).

    Returns:
        Tensor: ``[K]`` scores in ``(0, 1)``, on the device of ``z``.

    Example:
        >>> link_scores(torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0], [1]])).tolist()
        [0.7310585975646973]
    """
    z = z.detach()
    pairs = pairs.to(z.device)
    return torch.sigmoid((z[pairs[0]] * z[pairs[1]]).sum(dim=1))


def _auc_ap(z: Tensor, pos: Tensor, neg: Tensor) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    scores = torch.cat([link_scores(z, pos), link_scores(z, neg)]).cpu().double().numpy()
    labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))]).numpy()
    return float(roc_auc_score(labels, scores)), float(average_precision_score(labels, scores))


def link_prediction(z: Tensor, split: LinkSplit) -> dict:
    """AUC and average precision of ``sigmoid(z_u · z_v)`` on the held-out test pairs.

    Args:
        z: ``[N, d]`` embeddings computed on ``split.train_data`` (the training edges only).
        split: the edge split (:func:`split_edges`).

    Returns:
        dict: ``{"link_auc": summary, "link_ap": summary}`` (one value each).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=4, num_classes=2, seed=0)
        >>> split = split_edges(data, seed=0)
        >>> sorted(link_prediction(torch.randn(50, 8), split))
        ['link_ap', 'link_auc']
    """
    auc, ap = _auc_ap(z, split.test_pos, split.test_neg)
    return {"link_auc": summarize([auc]), "link_ap": summarize([ap])}


def reconstruction_auc(z: Tensor, edge_index: Tensor, num_nodes: int, *, seed: int | None = 0,
                       repeats: int = 1) -> dict:
    """The CSGCL reference's "link prediction": every undirected edge that the encoder trained on,
    against as many sampled non-edges, scored ``sigmoid(z_u · z_v)`` (a reconstruction AUC; no
    edge is held out).

    Args:
        z: ``[N, d]`` embeddings.
        edge_index: the graph's edges (the ones the encoder saw).
        num_nodes: number of nodes.
        seed: seed of the negatives (default: 0).
        repeats: number of negative samples to average over (default: 1).

    Returns:
        dict: ``{"reconstruction_auc": summary}`` over the repeats.

    Example:
        >>> ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
        >>> z = torch.tensor([[3.0, 0], [3.0, 0], [0, 3.0], [0, 3.0]])
        >>> reconstruction_auc(z, ei, 4)["reconstruction_auc"]["mean"]
        1.0
    """
    check_positive(repeats, "repeats", "reconstruction_auc", integer=True)
    gen = None if seed is None else torch.Generator().manual_seed(int(seed))
    n = int(num_nodes)
    keys = torch.unique(_pair_keys(edge_index.cpu(), n))
    keys = keys[(keys // n) != (keys % n)]
    pos = torch.stack([keys // n, keys % n])
    values = []
    for _ in range(repeats):
        neg = sample_non_edges(edge_index, n, pos.size(1), generator=gen)
        values.append(_auc_ap(z, pos, neg)[0])
    return {"reconstruction_auc": summarize(values)}
