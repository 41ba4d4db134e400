"""GRACE's own evaluation protocol: scikit-learn logistic regression on a random 10/90 split.

GRACE's ``eval.py`` (``label_classification``) scores frozen embeddings differently from the
torch probe of :mod:`gcl.evaluation.probe` (the GCA protocol, also used by CSGCL):

* the embeddings are L2-normalised row by row;
* the nodes are split at random, 10% for training and 90% for testing (no validation set);
* the classifier is scikit-learn's ``LogisticRegression(solver="liblinear")`` in a one-vs-rest
  wrapper, fitted on the one-hot label matrix, with ``C`` chosen by a 5-fold grid search over
  ``2^-10 … 2^9`` on the training nodes (scored by the wrapper's own accuracy);
* each test node is assigned the class of largest predicted probability; micro- and macro-F1
  are computed on the one-hot matrices.

GRACE's ``eval.py`` repeats this on 3 random splits per trained model and reports their mean;
here the splits are seeded, so a run can be repeated exactly: split ``k`` is scikit-learn's
``train_test_split(random_state=r_k)`` with ``r_0, r_1, ...`` drawn by
``numpy.random.RandomState(seed).randint(0, 2**31 - 1)``.
scikit-learn is imported inside the function.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._utils import check_positive
from ._liblinear import C_GRID, check_probe_inputs, liblinear_search
from .metrics import summarize

__all__ = ["grace_probe", "GRACE_C_GRID"]

#: The grid of inverse regularisation strengths GRACE searches: ``2.0 ** arange(-10, 10)``.
GRACE_C_GRID = C_GRID


def grace_probe(z: Tensor, y: Any, *, train_ratio: float = 0.1, num_splits: int = 3,
                folds: int = 5, seed: int = 0, n_jobs: int | None = None) -> dict:
    """Node classification on frozen embeddings with GRACE's own protocol (see the module).

    Args:
        z: embeddings ``[N, d]``.
        y: integer labels ``[N]``.
        train_ratio: fraction of the nodes in each random training set (default: 0.1; the rest
            is the test set).
        num_splits: random splits scored, each with its own grid search (default: 3, as
            GRACE's ``eval.py`` repeats its evaluation).
        folds: cross-validation folds of the grid search over ``C`` (default: 5).
        seed: seed of the splits (default: 0).
        n_jobs: scikit-learn's ``n_jobs`` for the grid search (default: one process).

    Returns:
        dict: ``"accuracy"``, ``"micro_f1"``, ``"macro_f1"``: test scores summarised over the
        splits (``{"mean", "std", "values"}``); ``"best_C"``: the ``C`` chosen on each split.

    Raises:
        ValueError: for mismatched or non-finite inputs, or a ratio outside (0, 1).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> y = torch.arange(200) % 2
        >>> z = torch.nn.functional.one_hot(y, 2).float() + 0.1 * torch.randn(200, 2, generator=g)
        >>> r = grace_probe(z, y, num_splits=1)
        >>> r["micro_f1"]["mean"], r["macro_f1"]["mean"]
        (1.0, 1.0)
    """
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import normalize

    y = check_probe_inputs(z, y, "grace_probe")
    if not 0.0 < float(train_ratio) < 1.0:
        raise ValueError(f"grace_probe: train_ratio must lie in (0, 1), got {train_ratio}")
    num_splits = check_positive(num_splits, "num_splits", "grace_probe", integer=True)
    folds = check_positive(folds, "folds", "grace_probe", integer=True)
    seed = check_positive(seed, "seed", "grace_probe", allow_zero=True, integer=True)

    x = normalize(z.detach().cpu().double().numpy(), norm="l2")
    classes = np.unique(y.numpy())
    onehot = y.numpy()[:, None] == classes[None, :]  # the one-hot label matrix, one column a class
    rng = np.random.RandomState(seed)
    out: dict = {"accuracy": [], "micro_f1": [], "macro_f1": [], "best_C": []}
    for _ in range(num_splits):
        split_seed = int(rng.randint(0, 2**31 - 1))
        x_tr, x_te, y_tr, y_te = train_test_split(x, onehot, test_size=1 - float(train_ratio),
                                                  random_state=split_seed)
        search = liblinear_search(folds, n_jobs, random_state=split_seed)
        search.fit(x_tr, y_tr)
        proba = search.predict_proba(x_te)
        pred = np.zeros_like(y_te)
        pred[np.arange(len(pred)), proba.argmax(1)] = True
        out["accuracy"].append(float((pred == y_te).all(1).mean()))
        out["micro_f1"].append(float(f1_score(y_te, pred, average="micro")))
        out["macro_f1"].append(float(f1_score(y_te, pred, average="macro", zero_division=0)))
        out["best_C"].append(float(search.best_params_["estimator__C"]))
    return {**{k: summarize(out[k]) for k in ("accuracy", "micro_f1", "macro_f1")},
            "best_C": out["best_C"]}
