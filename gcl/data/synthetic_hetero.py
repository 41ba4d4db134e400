"""A small planted-partition meta-path graph for examples, tests and smoke runs."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["synthetic_metapath_graph"]


def synthetic_metapath_graph(num_nodes: int = 60, num_classes: int = 3, num_features: int = 16,
                             *, num_authors: int | None = None, num_subjects: int | None = None,
                             homophily: float = 0.8, split_sizes=(2,), seed: int = 0):
    """A heterogeneous "papers, authors, subjects" graph seen through the meta-paths PAP and
    PSP, with planted classes (a :class:`gcl.data.MetaPathGraph`).

    Each paper has a class; it is written by two authors and has one subject, drawn from its
    class's share of the authors/subjects with probability ``homophily`` and uniformly
    otherwise. Paper features are noisy class indicators; authors and subjects have one-hot
    features. ``splits[s]`` holds ``s`` training and ``s`` validation papers per class, the
    rest for testing (HeCo's layout).

    Args:
        num_nodes: papers (the target nodes) (default: 60).
        num_classes: classes (default: 3).
        num_features: paper feature width (default: 16).
        num_authors: authors (default: ``num_nodes // 2``).
        num_subjects: subjects (default: ``2 * num_classes``).
        homophily: probability that a link stays within the class (default: 0.8).
        split_sizes: labelled papers per class of each split (default: ``(2,)``).
        seed: random seed (default: 0).

    Returns:
        MetaPathGraph: target ``"p"``, meta-paths ``["pap", "psp"]``, labels and splits.

    Example:
        >>> g = synthetic_metapath_graph(num_nodes=30, seed=0)
        >>> g.num_nodes, g.metapaths, g.num_classes, sorted(g.splits)
        (30, ['pap', 'psp'], 3, [2])
    """
    from .hetero import MetaPathGraph, scipy_to_torch

    rng = np.random.default_rng(seed)
    n, k = int(num_nodes), int(num_classes)
    n_a = int(num_authors or max(k, n // 2))
    n_s = int(num_subjects or 2 * k)
    y = np.arange(n) % k
    rng.shuffle(y)

    def links(count: int, per: int) -> sp.csr_matrix:
        rows, cols = [], []
        for i in range(n):
            own = np.arange(count)[np.arange(count) % k == y[i]]
            for _ in range(per):
                pool = own if rng.random() < homophily and len(own) else np.arange(count)
                rows.append(i)
                cols.append(int(rng.choice(pool)))
        return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, count)).sign()

    pa, ps = links(n_a, 2), links(n_s, 1)
    x = rng.normal(0, 1, (n, num_features)) + 2.0 * np.eye(k, num_features)[y]
    feats = {"p": torch.tensor(x, dtype=torch.float32), "a": torch.eye(n_a), "s": torch.eye(n_s)}
    adjs = [scipy_to_torch(sp.csr_matrix(pa @ pa.T)), scipy_to_torch(sp.csr_matrix(ps @ ps.T))]
    contexts = [[("a", scipy_to_torch(pa))], [("s", scipy_to_torch(ps))]]
    labels = torch.tensor(y, dtype=torch.long)
    splits = {}
    for size in split_sizes:
        train, val, test = [], [], []
        for c in range(k):
            idx = rng.permutation(np.flatnonzero(y == c))
            train += idx[:size].tolist()
            val += idx[size:2 * size].tolist()
            test += idx[2 * size:].tolist()
        splits[int(size)] = tuple(torch.tensor(sorted(v)) for v in (train, val, test))
    return MetaPathGraph("synthetic-hetero", "p", feats, ["pap", "psp"], adjs, contexts, labels,
                         splits, info={"generator": f"synthetic_metapath_graph(seed={seed})"})
