"""One call that runs the standard evaluations on a graph's embeddings."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor

from .._utils import check_choice
from .clustering import kmeans_clustering
from .grace_protocol import grace_probe
from .probe import linear_probe

__all__ = ["evaluate_embeddings", "ogb_probe", "EvaluationSkippedWarning", "PROBE_PROTOCOLS"]

#: Node-classification protocols of :func:`evaluate_embeddings`: ``"gca"`` (the torch probe of
#: GCA and CSGCL, :func:`~gcl.evaluation.linear_probe`, on the graph's split masks) and
#: ``"grace"`` (GRACE's own, :func:`~gcl.evaluation.grace_probe`, on random 10/90 splits).
PROBE_PROTOCOLS = ("gca", "grace")


class EvaluationSkippedWarning(UserWarning):
    """An evaluation was skipped because the graph lacks what it needs (labels, masks or
    splits); the message says which evaluation, why, and how to provide it.

    Example:
        >>> issubclass(EvaluationSkippedWarning, UserWarning)
        True
    """


def unavailable(message: str, missing: str) -> None:
    """Raise ``ValueError(message)`` (``missing="raise"``) or warn that an evaluation is skipped
    (``missing="skip"``, an :class:`EvaluationSkippedWarning`).

    Args:
        message: what is missing, what cannot be scored, and how to fix it.
        missing: ``"raise"`` or ``"skip"``.

    Example:
        >>> import warnings
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     unavailable("no labels", "skip")
        >>> str(caught[0].message)
        'evaluation skipped: no labels'
    """
    if missing not in ("raise", "skip"):
        raise ValueError(f"missing must be 'raise' or 'skip', got {missing!r}")
    if missing == "raise":
        raise ValueError(message)
    warnings.warn(f"evaluation skipped: {message}", EvaluationSkippedWarning, stacklevel=3)


def evaluate_embeddings(z: Tensor, data: Any, *, probe: bool = True, clustering: bool = True,
                        probe_kwargs: dict | None = None,
                        cluster_kwargs: dict | None = None, missing: str = "raise",
                        probe_protocol: str = "gca") -> dict:
    """Run a linear probe and k-means clustering on a graph's embeddings.

    Args:
        z: embeddings ``[N, d]`` of the graph's nodes (e.g. ``pipeline.embed(data)``).
        data: a graph with ``y`` and, for the probe, ``train_mask``, ``val_mask`` (may be
            ``None``: no model selection) and ``test_mask``.
        probe: run the probe of ``probe_protocol`` (default: ``True``).
        clustering: run :func:`~gcl.evaluation.kmeans_clustering` (default: ``True``).
        probe_kwargs: keyword arguments for the probe (GCA protocol: ``epochs``, ``lr``,
            ``seed``, …; GRACE protocol: ``seed``, ``train_ratio``, ``num_splits``, …).
        cluster_kwargs: keyword arguments for the clustering (``seeds``, ``n_init``, …).
        missing: what to do when the graph lacks labels or masks an evaluation needs:
            ``"raise"`` a ``ValueError`` (default) or ``"skip"`` that evaluation with an
            :class:`EvaluationSkippedWarning` saying what and why (``gcl train`` on a graph of
            your own without labels).
        probe_protocol: ``"gca"`` (default): :func:`~gcl.evaluation.linear_probe` on the
            graph's split masks (torch logistic regression, Adam, test scores at the best
            validation step; GCA's and CSGCL's protocol); ``"grace"``:
            :func:`~gcl.evaluation.grace_probe` (GRACE's own: L2-normalised embeddings,
            scikit-learn liblinear with a 5-fold grid search over ``C``, random 10/90 splits;
            the graph's masks are not used).

    Returns:
        dict: one flat dict of summaries ``{"mean", "std", "values"}``: ``"accuracy"``,
        ``"micro_f1"``, ``"macro_f1"`` from the probe (test scores) and ``"nmi"``, ``"ari"``,
        ``"cluster_acc"``, ``"cluster_f1"`` from the clustering.

    Raises:
        ValueError: when ``data`` lacks the labels or masks an enabled evaluation needs (with
            ``missing="raise"``), or for anything the probe or the clustering reject.

    Example:
        >>> from torch_geometric.data import Data
        >>> y = torch.arange(60) % 3
        >>> z = torch.nn.functional.one_hot(y, 3).float() * 5
        >>> idx = torch.arange(60)
        >>> data = Data(y=y, train_mask=idx < 20, val_mask=(idx >= 20) & (idx < 40),
        ...             test_mask=idx >= 40)
        >>> scores = evaluate_embeddings(z, data, probe_kwargs={"epochs": 100},
        ...                              cluster_kwargs={"seeds": [0]})
        >>> sorted(scores)
        ['accuracy', 'ari', 'cluster_acc', 'cluster_f1', 'macro_f1', 'micro_f1', 'nmi']
        >>> scores["accuracy"]["mean"], scores["nmi"]["mean"]
        (1.0, 1.0)
    """
    probe_protocol = check_choice(probe_protocol, "probe_protocol", PROBE_PROTOCOLS,
                                  "evaluate_embeddings")
    y = getattr(data, "y", None)
    if y is None and (probe or clustering):
        unavailable("data.y is missing: the linear probe and the clustering score embeddings "
                    "against one label per node; give labels (gcl train --labels FILE) to "
                    "evaluate", missing)
        return {}
    out: dict = {}
    if probe and probe_protocol == "grace":
        res = grace_probe(z, y, **(probe_kwargs or {}))
        for key in ("accuracy", "micro_f1", "macro_f1"):
            out[key] = res[key]
        probe = False
    absent = [k for k in ("train_mask", "test_mask") if getattr(data, k, None) is None]
    if probe and absent:
        unavailable(f"data has no {' or '.join(absent)}: the linear probe needs split masks; "
                    "make a split first (e.g. random 10%/10%/80%) or call with probe=False",
                    missing)
        probe = False
    if probe:
        res = linear_probe(z, y, data.train_mask, getattr(data, "val_mask", None),
                           data.test_mask, **(probe_kwargs or {}))
        for key in ("accuracy", "micro_f1", "macro_f1"):
            out[key] = res[key]
    if clustering:
        res = kmeans_clustering(z, y, **(cluster_kwargs or {}))
        out["nmi"] = res["nmi"]
        out["ari"] = res["ari"]
        out["cluster_acc"] = res["acc"]
        out["cluster_f1"] = res["f1"]
    return out


def ogb_probe(z: Tensor, data: Any, name: str, **probe_kwargs) -> dict:
    """Linear probe on an OGB node-property split, scored by OGB's own ``Evaluator``.

    The probe (:func:`~gcl.evaluation.linear_probe`) trains on ``data.train_mask``, selects its
    step on ``data.val_mask`` (the masks :func:`gcl.data.load` builds from
    ``get_idx_split()``), and OGB's ``Evaluator(name)`` scores the selected predictions.

    Args:
        z: embeddings ``[N, d]``.
        data: the OGB graph with ``y``, ``train_mask``, ``val_mask`` and ``test_mask``.
        name: ``"ogbn-arxiv"`` or ``"ogbn-products"``.
        **probe_kwargs: passed to the probe (``epochs``, ``lr``, ``seed``, ...).

    Returns:
        dict: ``{"val_acc": float, "test_acc": float}`` from OGB's evaluator.

    Example:
        >>> from torch_geometric.data import Data
        >>> y = torch.arange(60) % 3
        >>> z = torch.nn.functional.one_hot(y, 3).float() * 5
        >>> idx = torch.arange(60)
        >>> data = Data(y=y.view(-1, 1), train_mask=idx < 20,
        ...             val_mask=(idx >= 20) & (idx < 40), test_mask=idx >= 40)
        >>> ogb_probe(z, data, "ogbn-arxiv", epochs=100)
        {'val_acc': 1.0, 'test_acc': 1.0}
    """
    from ..data import ogb_evaluator

    evaluator = ogb_evaluator(name)
    probe = linear_probe(z, data.y, data.train_mask, data.val_mask, data.test_mask,
                         return_predictions=True, **probe_kwargs)
    y = data.y.view(-1).cpu()
    scores = {}
    for part, mask in (("val", data.val_mask), ("test", data.test_mask)):
        pred = probe["predictions"][part][0]
        mask = mask.cpu()
        idx = mask.nonzero().view(-1) if mask.dtype == torch.bool else mask.view(-1)
        scores[f"{part}_acc"] = evaluator.eval({"y_true": y[idx].view(-1, 1),
                                                "y_pred": pred.view(-1, 1)})["acc"]
    return scores
