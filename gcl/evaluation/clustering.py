"""k-means node clustering of embeddings, scored against the labels (ACC, NMI, ARI, F1).

No reference code fixes the clustering protocol of CSGCL or POT (see the specs: it is
*unverified*). This is the common one: scikit-learn ``KMeans`` with ``n_init=10`` and ``k`` the
number of classes, repeated over several seeds, and the scores summarised as mean ± std.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .._utils import check_positive
from .metrics import clustering_scores, summarize

__all__ = ["kmeans_clustering"]


def kmeans_clustering(z: Tensor, y: Any, *, num_clusters: int | None = None, n_init: int = 10,
                      seeds: Iterable[int] = range(10), normalize: bool = False) -> dict:
    """Cluster the embeddings with k-means once per seed and score each partition.

    Each seed runs ``sklearn.cluster.KMeans(n_clusters=k, n_init=n_init, random_state=seed)``
    on the (detached, CPU) embeddings; the partition is scored with
    :func:`~gcl.evaluation.clustering_scores` (Hungarian-matched accuracy and macro-F1, NMI with
    arithmetic normalisation, ARI), and each score is summarised over the seeds.

    Args:
        z: embeddings ``[N, d]``.
        y: integer labels ``[N]`` (or ``[N, 1]``), any non-negative ids; a negative label
            marks an unlabelled node: it is clustered with the others but not scored, and it
            is not a class.
        num_clusters: ``k`` (default: the number of distinct non-negative labels).
        n_init: k-means restarts per seed, the best inertia kept (default: 10).
        seeds: k-means random states, one run each (default: ``range(10)``).
        normalize: L2-normalise each embedding first, i.e. cluster by cosine similarity
            (default: ``False``).

    Returns:
        dict: ``{"acc", "nmi", "ari", "f1"}``, each ``{"mean", "std", "values"}`` over the seeds.

    Raises:
        ValueError: for malformed embeddings or labels, ``k`` out of ``[1, N]``, or no seeds.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(90) % 3
        >>> z = torch.nn.functional.one_hot(y, 3).float() * 10 + torch.randn(90, 3, generator=g)
        >>> r = kmeans_clustering(z, y, seeds=[0, 1])
        >>> r["nmi"]["mean"], r["acc"]["values"]
        (1.0, [1.0, 1.0])
    """
    import numpy as np
    from sklearn.cluster import KMeans

    if not isinstance(z, Tensor) or z.dim() != 2 or z.size(0) == 0 or z.size(1) == 0:
        shape = list(z.shape) if isinstance(z, Tensor) else type(z).__name__
        raise ValueError(
            f"embeddings z must be a non-empty 2-D [num_nodes, dim] tensor, got {shape}"
        )
    if not z.is_floating_point():
        raise ValueError(f"embeddings z must be a floating tensor, got {z.dtype}; use z.float()")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("embeddings z hold NaN or infinite values; k-means cannot cluster them")
    labels = y.detach().cpu().numpy() if isinstance(y, Tensor) else np.asarray(y)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.shape[0] != z.size(0):
        raise ValueError(f"labels y must be a vector with one entry per embedded node "
                         f"({z.size(0)}), got shape {list(labels.shape)}")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"labels y must hold integer class ids, got dtype {labels.dtype}")
    n = z.size(0)
    labelled = labels >= 0
    if not labelled.any():
        raise ValueError("labels y are all negative (unlabelled): there is nothing to score the "
                         "clustering against")
    if num_clusters is None:
        num_clusters = int(np.unique(labels[labelled]).size)
    check_positive(num_clusters, "num_clusters", "kmeans_clustering", integer=True)
    if num_clusters > n:
        raise ValueError(f"num_clusters={num_clusters} exceeds the number of nodes ({n})")
    check_positive(n_init, "n_init", "kmeans_clustering", integer=True)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("kmeans_clustering needs at least one seed, got none")
    for s in seeds:
        check_positive(s, "seeds", "kmeans_clustering", allow_zero=True, integer=True)

    x = z.detach()
    if normalize:
        x = torch.nn.functional.normalize(x, dim=1)
    x = x.cpu().double().numpy()
    per_seed = []
    for s in seeds:
        pred = KMeans(n_clusters=num_clusters, n_init=n_init, random_state=s).fit_predict(x)
        per_seed.append(clustering_scores(labels[labelled], pred[labelled]))
    return {key: summarize([r[key] for r in per_seed]) for key in ("acc", "nmi", "ari", "f1")}
