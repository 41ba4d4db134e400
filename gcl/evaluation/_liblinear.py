"""What GRACE's and G-BT's scikit-learn probes share: the checks of their inputs and the
liblinear one-vs-rest logistic regression with ``C`` chosen by a k-fold grid search
(:func:`gcl.evaluation.grace_probe`, :func:`gcl.evaluation.sklearn_probe`). scikit-learn is
imported inside the functions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["C_GRID", "check_probe_inputs", "liblinear_search"]

#: The inverse regularisation strengths both searched: ``2.0 ** arange(-10, 10)``.
C_GRID = tuple(2.0 ** k for k in range(-10, 10))


def check_probe_inputs(z: Tensor, y: Any, who: str) -> Tensor:
    """Check the embeddings and labels given to a scikit-learn probe.

    Args:
        z: embeddings ``[N, d]``.
        y: integer labels ``[N]``.
        who: the probe's name, for the messages.

    Returns:
        Tensor: the labels as a flat CPU ``long`` tensor.

    Raises:
        ValueError: for non-floating, non-2-D or non-finite embeddings, or a label count that
            differs from the number of embedded nodes.

    Example:
        >>> check_probe_inputs(torch.zeros(3, 2), [0, 1, 0], "probe").tolist()
        [0, 1, 0]
    """
    if not isinstance(z, Tensor) or z.dim() != 2 or not z.is_floating_point():
        raise ValueError(f"{who}: z must be a floating [num_nodes, dim] tensor")
    if not bool(torch.isfinite(z).all()):
        raise ValueError(f"{who}: the embeddings hold NaN or infinite values")
    y = torch.as_tensor(y).view(-1).long().cpu()
    if y.numel() != z.size(0):
        raise ValueError(f"{who}: {y.numel()} labels for {z.size(0)} embedded nodes")
    return y


def liblinear_search(folds: int, n_jobs: int | None = None, scoring: str | None = None,
                     **logreg: Any):
    """``GridSearchCV`` over ``C`` in :data:`C_GRID` of
    ``OneVsRestClassifier(LogisticRegression(solver="liblinear", **logreg))``.

    Args:
        folds: cross-validation folds.
        n_jobs: scikit-learn's ``n_jobs`` (default: one process).
        scoring: the search's score (default: the wrapper's own accuracy).
        **logreg: further ``LogisticRegression`` arguments (``max_iter``, ``random_state``).

    Returns:
        sklearn.model_selection.GridSearchCV: the unfitted search.

    Example:
        >>> liblinear_search(5).cv
        5
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.multiclass import OneVsRestClassifier

    return GridSearchCV(OneVsRestClassifier(LogisticRegression(solver="liblinear", **logreg)),
                        param_grid={"estimator__C": list(C_GRID)}, cv=folds, n_jobs=n_jobs,
                        scoring=scoring)
