"""The protocol of the deep-clustering methods (PamC, SCGC*): per-epoch clustering scores as a
callback, and the scores of ``argmax Q`` of the final model (optionally the reference's
label-selected maximum over epochs)."""

from __future__ import annotations

from ..callbacks import PeriodicEval

__all__ = ["pamc_callbacks", "evaluate_pamc"]


def _scores(module, data) -> dict:
    from ..evaluation import clustering_scores

    s = clustering_scores(data.y.cpu(), module.predict(data))
    return {"cluster_acc": s["acc"], "nmi": s["nmi"], "ari": s["ari"], "cluster_f1": s["f1"]}


def pamc_callbacks(config: dict, data) -> list:
    """PamC's per-epoch clustering scores (epoch 0: the k-means initialisation; epoch e: the
    model after e steps), kept in ``history.evals`` when the graph has labels.

    Args:
        config: the run configuration (unused: the scores are always kept).
        data: the graph.

    Returns:
        list: a :class:`~gcl.callbacks.PeriodicEval` every epoch, or nothing without labels.

    Example:
        >>> from gcl.data import synthetic
        >>> [type(c).__name__ for c in pamc_callbacks({}, synthetic(num_nodes=30, seed=0))]
        ['PeriodicEval']
    """
    if getattr(data, "y", None) is None:
        return []
    return [PeriodicEval(_scores, every=1, at_start=True)]


def evaluate_pamc(module, data, config: dict, seed: int) -> dict:
    """The clustering scores of ``argmax Q`` of the final model; with
    ``report_max_over_epochs`` also ``<metric>@max-over-epochs``, the reference's label-selected
    maxima over the per-epoch evaluations (before each step).

    Args:
        module: a trained :class:`gcl.modules.DeepClusteringModule`.
        data: the graph, with labels ``y``.
        config: ``report_max_over_epochs`` (default: off).
        seed: the run's seed (unused: the evaluation draws nothing at random).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> from gcl.methods import pamc
        >>> module = pamc(12, 3, hidden=(16, 16, 16), z_dim=4, pretrain_epochs=2,
        ...               kmeans_n_init=2, device="cpu")
        >>> _ = module.fit(data, epochs=2)
        >>> sorted(evaluate_pamc(module, data, {}, seed=0))
        ['ari', 'cluster_acc', 'cluster_f1', 'nmi']

    Returns:
        dict: ``cluster_acc``, ``nmi``, ``ari`` and ``cluster_f1`` (and the maxima), each a
        summary ``{"mean", "std", "values"}`` of one value.

    Raises:
        ValueError: the graph has no labels.
    """
    from ..evaluation import summarize

    if getattr(data, "y", None) is None:
        raise ValueError("PamC's evaluation scores clusters against labels: the graph has no y")
    out = _scores(module, data)
    if config.get("report_max_over_epochs"):
        per_epoch = module.history.evals[:-1] or module.history.evals
        for key in list(out):
            out[f"{key}@max-over-epochs"] = max(e[key] for e in per_epoch)
    return {k: summarize([v]) for k, v in out.items()}
