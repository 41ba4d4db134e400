"""Scores: summaries over runs, classification F1 in torch, and clustering scores.

Everything here is plain arithmetic on label vectors. The classification scores
(:func:`classification_scores`) are computed in torch so that the linear probe needs no
scikit-learn; the clustering scores (:func:`cluster_accuracy`, :func:`cluster_f1`,
:func:`clustering_scores`) import NumPy, SciPy and scikit-learn inside the functions, so that
``import gcl`` needs only torch and torch_geometric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "summarize",
    "classification_scores",
    "cluster_accuracy",
    "cluster_f1",
    "clustering_scores",
]


def summarize(values: Iterable[Any] | float) -> dict:
    """Mean, standard deviation and the values themselves, as plain Python floats.

    The standard deviation is the **population** one (``ddof=0``, NumPy's default, dividing by
    the number of values), so a single value has a standard deviation of 0. This is the shape of
    every metric in a result record: ``{"mean", "std", "values"}``.

    Args:
        values: numbers (Python, NumPy or 0-d/1-d torch values); a bare number counts as one
            value.

    Returns:
        dict: ``{"mean": float, "std": float, "values": list[float]}``.

    Raises:
        ValueError: when ``values`` is empty or holds something that is not a real number.

    Example:
        >>> summarize([0.5, 0.7])
        {'mean': 0.6, 'std': 0.09999999999999998, 'values': [0.5, 0.7]}
        >>> summarize([0.8])["std"]
        0.0
    """
    if isinstance(values, Tensor):
        values = values.detach().reshape(-1).tolist()
    elif isinstance(values, (int, float)) or (
        hasattr(values, "ndim") and getattr(values, "ndim", 1) == 0
    ):
        values = [values]
    try:
        floats = [float(v) for v in values]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"summarize expects a sequence of real numbers, got {values!r}"
        ) from err
    if not floats:
        raise ValueError("summarize needs at least one value, got an empty sequence")
    mean = math.fsum(floats) / len(floats)
    var = math.fsum((v - mean) ** 2 for v in floats) / len(floats)
    return {"mean": mean, "std": math.sqrt(var), "values": floats}


def classification_scores(y_true: Tensor, y_pred: Tensor, num_classes: int | None = None) -> dict:
    """Accuracy, micro-F1 and macro-F1 of single-label multi-class predictions, in torch.

    Micro-F1 pools true positives, false positives and false negatives over the classes:
    ``2·TP / (2·TP + FP + FN)``. For single-label predictions every mistake is one false positive
    and one false negative, so micro-F1 equals accuracy; it is still computed from the counts.
    Macro-F1 is the unweighted mean of the per-class ``2·TP_c / (2·TP_c + FP_c + FN_c)`` over
    the classes that occur in ``y_true`` or ``y_pred``, exactly as
    ``sklearn.metrics.f1_score(average="macro")``.

    Args:
        y_true: true class ids, a 1-D integer tensor.
        y_pred: predicted class ids, a 1-D integer tensor of the same length.
        num_classes: number of classes (default: the largest id plus one).

    Returns:
        dict: ``{"accuracy", "micro_f1", "macro_f1"}`` as Python floats.

    Raises:
        ValueError: for empty, mismatched, negative or non-integer inputs.

    Example:
        >>> s = classification_scores(torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]))
        >>> round(s["accuracy"], 4), round(s["micro_f1"], 4), round(s["macro_f1"], 4)
        (0.75, 0.75, 0.7778)
    """
    y_true = torch.as_tensor(y_true)
    y_pred = torch.as_tensor(y_pred, device=y_true.device)
    if y_true.dim() != 1 or y_pred.dim() != 1 or y_true.numel() != y_pred.numel():
        raise ValueError(
            "classification_scores needs two 1-D label tensors of the same length, got shapes "
            f"{list(y_true.shape)} and {list(y_pred.shape)}"
        )
    if y_true.numel() == 0:
        raise ValueError("classification_scores needs at least one labelled node, got none")
    for name, t in (("y_true", y_true), ("y_pred", y_pred)):
        if t.dtype.is_floating_point or t.dtype.is_complex or t.dtype == torch.bool:
            raise ValueError(f"{name} must hold integer class ids, got dtype {t.dtype}")
    y_true, y_pred = y_true.long(), y_pred.long()
    lo = int(torch.minimum(y_true.min(), y_pred.min()))
    if lo < 0:
        raise ValueError(f"class ids must be >= 0, got {lo}")
    hi = int(torch.maximum(y_true.max(), y_pred.max())) + 1
    if num_classes is None:
        num_classes = hi
    elif hi > num_classes:
        raise ValueError(f"class id {hi - 1} is out of range for num_classes={num_classes}")
    hit = y_true == y_pred
    tp = torch.bincount(y_true[hit], minlength=num_classes).double()
    n_true = torch.bincount(y_true, minlength=num_classes).double()
    n_pred = torch.bincount(y_pred, minlength=num_classes).double()
    # 2·TP + FP + FN = (#predicted as c) + (#truly c)
    denom = n_true + n_pred
    present = denom > 0
    per_class = 2.0 * tp[present] / denom[present]
    return {
        "accuracy": float(hit.double().mean()),
        "micro_f1": float(2.0 * tp.sum() / denom.sum()),
        "macro_f1": float(per_class.mean()),
    }


def _labels(values: Any, name: str):
    """A 1-D integer NumPy array from a tensor, array or list of labels."""
    import numpy as np

    if isinstance(values, Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    if arr.ndim == 2 and arr.shape[1] == 1:  # OGB-style [N, 1] labels
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of labels, got shape {list(arr.shape)}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: clustering scores need at least one node")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer labels, got non-integer values")
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    return arr


def _pair(y_true: Any, y_pred: Any):
    import numpy as np

    t, p = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {t.size} and {p.size}"
        )
    classes, t_idx = np.unique(t, return_inverse=True)
    clusters, p_idx = np.unique(p, return_inverse=True)
    return t_idx.reshape(-1), p_idx.reshape(-1), len(classes), len(clusters)


def _hungarian(t_idx, p_idx, n_classes: int, n_clusters: int):
    """Best one-to-one cluster -> class mapping; returns (mapping array, matched count).

    ``mapping[k]`` is the class index given to cluster ``k``, or -1 for a cluster left unmatched
    (there are more clusters than classes).
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(counts, (p_idx, t_idx), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    mapping = np.full(n_clusters, -1, dtype=np.int64)
    mapping[rows] = cols
    return mapping, int(counts[rows, cols].sum())


def cluster_accuracy(y_true: Any, y_pred: Any) -> float:
    """Clustering accuracy: the best one-to-one matching of clusters to classes (Hungarian).

    Cluster ids are arbitrary, so each predicted cluster is matched to at most one class and each
    class to at most one cluster, maximising the number of nodes whose matched class is their
    true class (:func:`scipy.optimize.linear_sum_assignment`). The numbers of clusters and classes
    may differ: the nodes of unmatched clusters, and of unmatched classes, count as wrong.

    Args:
        y_true: true labels (1-D tensor, array or list of integers; any ids).
        y_pred: predicted cluster ids of the same length (any ids).

    Returns:
        float: the fraction of nodes correctly assigned under the best matching, in [0, 1].

    Raises:
        ValueError: for empty, mismatched or non-integer inputs.

    Example:
        >>> cluster_accuracy([0, 0, 1, 1, 2, 2], [5, 5, 3, 3, 4, 4])
        1.0
        >>> cluster_accuracy([0, 0, 1, 1], [0, 0, 0, 1])
        0.75
    """
    t_idx, p_idx, n_classes, n_clusters = _pair(y_true, y_pred)
    _, matched = _hungarian(t_idx, p_idx, n_classes, n_clusters)
    return matched / t_idx.size


def cluster_f1(y_true: Any, y_pred: Any) -> float:
    """Macro-F1 of a clustering after mapping clusters to classes with the Hungarian matching.

    Clusters are mapped to classes as in :func:`cluster_accuracy`; a cluster left unmatched (more
    clusters than classes) maps to no class, so its nodes count as wrong (a false negative for
    their true class, and a false positive for no class). The F1 score
    ``2·TP_c / (2·TP_c + FP_c + FN_c)`` is then averaged, unweighted, over the classes present in
    ``y_true``; a class no cluster was matched to scores 0.

    Args:
        y_true: true labels (1-D tensor, array or list of integers; any ids).
        y_pred: predicted cluster ids of the same length (any ids).

    Returns:
        float: macro-F1 in [0, 1].

    Raises:
        ValueError: for empty, mismatched or non-integer inputs.

    Example:
        >>> cluster_f1([0, 0, 1, 1], [1, 1, 0, 0])
        1.0
        >>> round(cluster_f1([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 1, 1]), 4)  # (4/5 + 6/7) / 2
        0.8286
    """
    t_idx, p_idx, n_classes, n_clusters = _pair(y_true, y_pred)
    mapping, _ = _hungarian(t_idx, p_idx, n_classes, n_clusters)
    return _mapped_macro_f1(t_idx, p_idx, mapping, n_classes)


def _mapped_macro_f1(t_idx, p_idx, mapping, n_classes: int) -> float:
    import numpy as np

    mapped = mapping[p_idx]
    hit = mapped == t_idx
    tp = np.bincount(t_idx[hit], minlength=n_classes).astype(np.float64)
    n_true = np.bincount(t_idx, minlength=n_classes).astype(np.float64)
    n_pred = np.bincount(mapped[mapped >= 0], minlength=n_classes).astype(np.float64)
    return float(np.mean(2.0 * tp / (n_true + n_pred)))


def clustering_scores(y_true: Any, y_pred: Any) -> dict:
    """ACC, NMI, ARI and macro-F1 of one predicted partition against the true labels.

    ``acc`` is :func:`cluster_accuracy`, ``f1`` is :func:`cluster_f1`, ``nmi`` is
    ``sklearn.metrics.normalized_mutual_info_score`` (arithmetic-mean normalisation) and ``ari``
    is ``sklearn.metrics.adjusted_rand_score``. All four ignore the ids of the clusters.

    Args:
        y_true: true labels (1-D tensor, array or list of integers).
        y_pred: predicted cluster ids of the same length.

    Returns:
        dict: ``{"acc", "nmi", "ari", "f1"}`` as Python floats.

    Raises:
        ValueError: for empty, mismatched or non-integer inputs.

    Example:
        >>> s = clustering_scores([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 1])
        >>> {k: round(v, 4) for k, v in s.items()}
        {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0, 'f1': 1.0}
    """
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    t_idx, p_idx, n_classes, n_clusters = _pair(y_true, y_pred)
    mapping, matched = _hungarian(t_idx, p_idx, n_classes, n_clusters)
    return {
        "acc": matched / t_idx.size,
        "nmi": float(normalized_mutual_info_score(t_idx, p_idx, average_method="arithmetic")),
        "ari": float(adjusted_rand_score(t_idx, p_idx)),
        "f1": _mapped_macro_f1(t_idx, p_idx, mapping, n_classes),
    }
