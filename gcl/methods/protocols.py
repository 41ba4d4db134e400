"""The evaluation protocols and training callbacks of DGI, MVGRL, G-BT and CCA-SSG.

* DGI and MVGRL: early stopping on the training loss (patience 20, best state restored), then
  ``probe_runs`` logistic regressions trained for a fixed ``probe_epochs`` (no model selection)
  on the frozen embeddings of the public split's training nodes; the score is their mean test
  accuracy (DGI's ``execute.py``: 50 x 100 steps; MVGRL's ``train.py``: 50 x 300 steps).
* G-BT: scikit-learn logistic regression with a grid search over ``C`` on L2-normalised
  embeddings (:func:`gcl.evaluation.sklearn_probe`).
* CCA-SSG: one torch logistic regression, ``probe_epochs`` steps scored at every step, the test
  accuracy at the best validation step (``probe_selection: best_val``) or CCA-SSG's own rule
  (``running_best``, see :func:`gcl.evaluation.linear_probe`).
"""

from __future__ import annotations

from ..callbacks import EarlyStopping
from ..evaluation import linear_probe

__all__ = ["early_stopping_callbacks", "repeated_probe_evaluate", "sklearn_probe_evaluate",
           "selected_probe_evaluate", "INFOMAX_KEYS", "GBT_KEYS", "CCASSG_KEYS"]

#: Protocol keys of DGI and MVGRL.
INFOMAX_KEYS = ("epochs", "patience", "restore_best", "probe_runs", "probe_epochs", "probe_lr",
                "probe_weight_decay")
#: Protocol keys of G-BT.
GBT_KEYS = ("epochs", "probe_folds")
#: Protocol keys of CCA-SSG.
CCASSG_KEYS = ("epochs", "probe_epochs", "probe_lr", "probe_weight_decay", "probe_selection")


def early_stopping_callbacks(config: dict, data) -> list:
    """Early stopping on the training loss (``patience``; 0 or absent: none; ``restore_best``
    puts the best state back) and, with ``monitor_every``, the periodic probe of
    :func:`gcl.methods.protocol_callbacks`.

    Args:
        config: the run configuration.
        data: the graph.

    Returns:
        list: the callbacks.

    Example:
        >>> [type(c).__name__ for c in early_stopping_callbacks({"patience": 20}, None)]
        ['EarlyStopping']
    """
    from .runner import _monitor

    callbacks = []
    patience = int(config.get("patience") or 0)
    if patience:
        callbacks.append(EarlyStopping(patience=patience,
                                       restore_best=bool(config.get("restore_best", True))))
    every = int(config.get("monitor_every") or 0)
    if every:
        callbacks.append(_monitor(every, int(config.get("monitor_probe_epochs", 300)),
                                  float(config.get("probe_lr", 0.01))))
    return callbacks


def repeated_probe_evaluate(module, data, config: dict, seed: int) -> dict:
    """DGI's and MVGRL's protocol: ``probe_runs`` logistic regressions on the frozen
    embeddings, each freshly initialised and trained for ``probe_epochs`` Adam steps (lr
    ``probe_lr``, weight decay ``probe_weight_decay``) on the training nodes, scored on the test
    nodes after the last step; the scores are their mean (and spread over the probes).

    Args:
        module: the trained module.
        data: the graph with ``y``, ``train_mask`` and ``test_mask``.
        config: the run configuration.
        seed: seed of the probes' initialisation.

    Returns:
        dict: ``accuracy``, ``micro_f1``, ``macro_f1`` summaries over the probes.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods.dgi import dgi
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = dgi(8, hidden=8, device="cpu", progress=False)
        >>> r = repeated_probe_evaluate(pipe, data, {"probe_runs": 3, "probe_epochs": 10}, 0)
        >>> len(r["accuracy"]["values"])
        3
    """
    runs = int(config.get("probe_runs", 50))
    z = module.embed(data)
    train = data.train_mask.view(-1, 1).expand(-1, runs)
    test = data.test_mask.view(-1, 1).expand(-1, runs)
    result = linear_probe(z, data.y, train, None, test, epochs=int(config.get("probe_epochs", 100)),
                          lr=float(config.get("probe_lr", 0.01)),
                          weight_decay=float(config.get("probe_weight_decay", 0.0)), seed=seed)
    return {k: result[k] for k in ("accuracy", "micro_f1", "macro_f1")}


def sklearn_probe_evaluate(module, data, config: dict, seed: int) -> dict:
    """G-BT's protocol (:func:`gcl.evaluation.sklearn_probe`) on the graph's split.

    Args:
        module: the trained module.
        data: the graph with ``y``, ``train_mask`` and ``test_mask``.
        config: the run configuration (``probe_folds``, default 5).
        seed: unused (the grid search is deterministic).

    Returns:
        dict: ``accuracy``, ``micro_f1``, ``macro_f1``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods.gbt import gbt
        >>> data = synthetic(num_nodes=80, num_features=8, num_classes=2, seed=0)
        >>> sorted(sklearn_probe_evaluate(gbt(8, hidden=8, device="cpu"), data, {}, 0))
        ['accuracy', 'macro_f1', 'micro_f1']
    """
    from ..evaluation.sklearn_probe import sklearn_probe

    r = sklearn_probe(module.embed(data), data.y, data.train_mask, data.test_mask,
                      folds=int(config.get("probe_folds", 5)))
    return {k: r[k] for k in ("accuracy", "micro_f1", "macro_f1")}


def selected_probe_evaluate(module, data, config: dict, seed: int) -> dict:
    """CCA-SSG's protocol: one torch logistic regression for ``probe_epochs`` steps, scored at
    every step, with ``probe_selection`` choosing the reported step.

    Args:
        module: the trained module.
        data: the graph with ``y`` and the three split masks.
        config: the run configuration.
        seed: seed of the probe's initialisation.

    Returns:
        dict: ``accuracy``, ``micro_f1``, ``macro_f1``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods.ccassg import ccassg
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = ccassg(8, hidden=8, device="cpu", progress=False)
        >>> sorted(selected_probe_evaluate(pipe, data, {"probe_epochs": 20}, 0))
        ['accuracy', 'macro_f1', 'micro_f1']
    """
    r = linear_probe(module.embed(data), data.y, data.train_mask, data.val_mask, data.test_mask,
                     epochs=int(config.get("probe_epochs", 2000)),
                     lr=float(config.get("probe_lr", 0.01)),
                     weight_decay=float(config.get("probe_weight_decay", 1e-4)), eval_every=1,
                     seed=seed, selection=str(config.get("probe_selection", "best_val")))
    return {k: r[k] for k in ("accuracy", "micro_f1", "macro_f1")}
