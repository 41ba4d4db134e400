"""A :class:`~gcl.data.MetaPathGraph` from a PyG ``HeteroData`` and a list of meta-paths.

The ``HeteroData`` is checked on the way: features must be finite, and every edge type a
meta-path walks along must have edges (an empty relation would give an all-zero meta-path).
"""

from __future__ import annotations

import scipy.sparse as sp
import torch

from .hetero import MetaPathGraph, scipy_to_torch
from .hetero_load import _binary, _incidence, _onehot

__all__ = ["from_hetero_data"]


def _edge_matrix(data, src: str, dst: str) -> sp.csr_matrix:
    n_src, n_dst = data[src].num_nodes, data[dst].num_nodes
    for flip in (False, True):
        for (s, rel, d), store in data.edge_items():
            if (s, d) != ((dst, src) if flip else (src, dst)):
                continue
            ei = store.edge_index
            if ei.numel() == 0:
                raise ValueError(f"HeteroData edge type {(s, rel, d)!r} has no edges, so every "
                                 "meta-path through it connects no nodes; add its edges or drop "
                                 "those meta-paths")
            ei = ei.cpu().numpy()
            rows, cols = (ei[1], ei[0]) if flip else (ei[0], ei[1])
            return _incidence(rows, cols, (n_src, n_dst))
    raise ValueError(f"HeteroData has no edge type between {src!r} and {dst!r}; add one "
                     f"(either direction) or change the meta-path")


def from_hetero_data(data, metapaths: list, *, target: str | None = None,
                     name: str = "hetero", splits: dict | None = None) -> MetaPathGraph:
    """Build a :class:`MetaPathGraph` from a PyG ``HeteroData`` and a list of meta-paths.

    Each meta-path is a sequence of node types starting and ending at the target type, e.g.
    ``("paper", "author", "paper")``. Its adjacency is the product of the edge-type incidence
    matrices along the path (raw path counts, the diagonal included, like MEOW's files); the
    context of position ``k`` (``0 < k < len - 1``) is the binary incidence from the target to
    the type at position ``k`` through the prefix ``path[:k+1]`` (1[product > 0]), e.g. for
    ``A-P-C-P-A``: AP, 1[AP·PC > 0] and 1[AP·PC·CP > 0].

    Args:
        data: a ``HeteroData`` whose node types have ``x`` (types without ``x`` get one-hot
            features) and the edge types the meta-paths walk along (either direction).
        metapaths: meta-paths as node-type sequences.
        target: the target type (default: the first type of the first meta-path).
        name: dataset name to record.
        splits: optional ``{size: (train, val, test)}`` index tensors (default: the target
            type's ``train_mask``/``val_mask``/``test_mask`` when it has them, as split
            ``"given"``; else none).

    Returns:
        MetaPathGraph: the graph; ``y`` from ``data[target].y`` when present.

    Raises:
        ValueError: for a meta-path that does not start and end at the target, or an edge
            type the ``HeteroData`` lacks.

    Example:
        >>> from torch_geometric.data import HeteroData
        >>> d = HeteroData()
        >>> d["paper"].x = torch.eye(3); d["author"].num_nodes = 2
        >>> d["paper", "by", "author"].edge_index = torch.tensor([[0, 1, 2], [0, 0, 1]])
        >>> g = from_hetero_data(d, [("paper", "author", "paper")])
        >>> g.adjs[0].to_dense().tolist()
        [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    """
    if not metapaths:
        raise ValueError("from_hetero_data: give at least one meta-path")
    target = target or metapaths[0][0]
    for mp in metapaths:
        if len(mp) < 3 or mp[0] != target or mp[-1] != target:
            raise ValueError(f"meta-path {mp!r} must start and end at the target type {target!r} "
                             "and have at least one intermediate type")
    n = data[target].num_nodes
    adjs, contexts, names = [], [], []
    types = set()
    for mp in metapaths:
        steps = [_edge_matrix(data, a, b) for a, b in zip(mp[:-1], mp[1:])]
        prod = steps[0]
        pairs = []
        for k, step in enumerate(steps[1:], start=1):
            pairs.append((mp[k], scipy_to_torch(_binary(prod))))
            types.add(mp[k])
            prod = sp.csr_matrix(prod @ step)
        adjs.append(scipy_to_torch(prod))
        contexts.append(pairs)
        names.append("".join(t[0] for t in mp) if len({t[0] for t in mp}) == len(set(mp))
                     else "-".join(mp))
    x_dict = {}
    for t in types | {target}:
        x = getattr(data[t], "x", None)
        if x is not None:
            values = x.coalesce().values() if x.is_sparse else x
            finite = torch.isfinite(values)
            if not bool(finite.all()):
                rows = (~finite).reshape(finite.shape[0], -1).any(1).nonzero().flatten() \
                    if not x.is_sparse else torch.tensor([])
                first = f" (first: node {int(rows[0])})" if rows.numel() else ""
                raise ValueError(f"HeteroData[{t!r}].x holds NaN or infinite values{first}; "
                                 "impute or drop them before building the meta-path graph")
        x_dict[t] = x.float() if x is not None else _onehot(data[t].num_nodes)
    y = getattr(data[target], "y", None)
    masks = [getattr(data[target], k, None) for k in ("train_mask", "val_mask", "test_mask")]
    if splits is None and masks[0] is not None and masks[2] is not None:
        splits = {"given": tuple(m.nonzero().view(-1) if m is not None else
                                 torch.empty(0, dtype=torch.long) for m in masks)}
    return MetaPathGraph(name, target, x_dict, names, adjs, contexts,
                         y.long() if y is not None else None, splits or {},
                         {"format": "heterodata", "n": n})
