"""G-BT's evaluation: scikit-learn logistic regression on L2-normalised embeddings, with ``C``
chosen by a 5-fold grid search on the training nodes of the graph's split.

G-BT's ``gssl/tasks.py`` (``train_sklearn_model``): rows L2-normalised,
``OneVsRestClassifier(LogisticRegression(solver="liblinear", max_iter=100))``, ``C`` in
``2^-10 ... 2^9`` by ``GridSearchCV(cv=5, scoring="accuracy")`` on the training nodes, accuracy on
the test nodes. scikit-learn is imported inside the function.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._utils import check_positive
from ._liblinear import C_GRID, check_probe_inputs, liblinear_search
from .metrics import classification_scores, summarize

__all__ = ["sklearn_probe", "C_GRID"]


def _index(mask: Any, n: int, name: str) -> Tensor:
    mask = torch.as_tensor(mask).cpu()
    if mask.dtype == torch.bool:
        if mask.dim() != 1 or mask.numel() != n:
            raise ValueError(f"sklearn_probe: {name} must be a boolean [N] mask (N = {n}) or "
                             f"node indices, got shape {list(mask.shape)}")
        mask = mask.nonzero().view(-1)
    if mask.numel() == 0:
        raise ValueError(f"sklearn_probe: {name} selects no node")
    return mask.long().view(-1)


def sklearn_probe(z: Tensor, y: Any, train_mask: Any, test_mask: Any, *, folds: int = 5,
                  max_iter: int = 100, n_jobs: int | None = None) -> dict:
    """Score frozen embeddings with G-BT's protocol (see the module).

    Args:
        z: embeddings ``[N, d]``.
        y: integer labels ``[N]``.
        train_mask: training nodes (boolean ``[N]`` or indices).
        test_mask: test nodes.
        folds: cross-validation folds of the grid search (default: 5).
        max_iter: liblinear's iteration cap (default: 100, G-BT's).
        n_jobs: scikit-learn's ``n_jobs`` (default: one process).

    Returns:
        dict: ``"accuracy"``, ``"micro_f1"``, ``"macro_f1"`` (summaries of one value) and
        ``"best_C"``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(100) % 2
        >>> z = torch.nn.functional.one_hot(y, 2).float() + 0.1 * torch.randn(100, 2, generator=g)
        >>> idx = torch.arange(100)
        >>> sklearn_probe(z, y, idx < 50, idx >= 50)["accuracy"]["mean"]
        1.0
    """
    from sklearn.preprocessing import normalize

    y = check_probe_inputs(z, y, "sklearn_probe")
    n = z.size(0)
    folds = check_positive(folds, "folds", "sklearn_probe", integer=True)
    train, test = _index(train_mask, n, "train_mask"), _index(test_mask, n, "test_mask")
    largest = int(torch.bincount(y[train]).max())
    if largest < folds:  # scikit-learn's stratified folds refuse it (fewer only warn)
        raise ValueError(f"sklearn_probe: a {folds}-fold grid search needs a class with at least "
                         f"{folds} training nodes, the largest has {largest}; give fewer folds "
                         "(probe_folds) or more training nodes")
    x = normalize(z.detach().cpu().double().numpy(), norm="l2")
    search = liblinear_search(folds, n_jobs, scoring="accuracy", max_iter=max_iter)
    search.fit(x[train.numpy()], y[train].numpy())
    pred = torch.as_tensor(search.best_estimator_.predict(x[test.numpy()]))
    scores = classification_scores(y[test], pred, int(y.max()) + 1)
    return {**{k: summarize([scores[k]]) for k in ("accuracy", "micro_f1", "macro_f1")},
            "best_C": float(search.best_params_["estimator__C"])}
