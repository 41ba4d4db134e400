"""The protocol of the meta-path methods (MEOW, AdaMEOW): early stopping on the training loss,
periodic HeCo checks, and HeCo's evaluation of the final embeddings."""

from __future__ import annotations

from ..callbacks import EarlyStopping, PeriodicEval

__all__ = ["meow_callbacks", "monitor_meow", "evaluate_meow"]


def meow_callbacks(config: dict, graph) -> list:
    """The callbacks of MEOW's protocol: a HeCo check every ``monitor_every`` steps (with
    labels and splits) and :class:`~gcl.callbacks.EarlyStopping` on the training loss
    (``patience``, 0: none) restoring the best state when ``restore_best``.

    Args:
        config: the run configuration (``monitor_every``, ``patience``, ``restore_best`` and
            the evaluation keys of :func:`monitor_meow`).
        graph: the meta-path graph (its labels and splits serve the check).

    Returns:
        list: the callbacks, for ``module.fit(graph, epochs, callbacks=...)``.

    Example:
        >>> [type(c).__name__ for c in meow_callbacks({"patience": 30}, None)]
        ['EarlyStopping']
        >>> meow_callbacks({"patience": 0, "restore_best": False}, None)
        []

    Raises:
        ValueError: ``monitor_every`` on a graph without labels and splits.
    """
    callbacks = []
    every = int(config.get("monitor_every") or 0)
    if every:
        if getattr(graph, "y", None) is None or not getattr(graph, "splits", None):
            raise ValueError("monitor_every needs labels and splits on the graph (y, splits)")
        callbacks.append(PeriodicEval(lambda module, g: monitor_meow(module, g, config),
                                      every=every))
    patience = int(config.get("patience") or 0)
    restore = bool(config.get("restore_best", True))
    if patience or restore:
        callbacks.append(EarlyStopping("loss", patience=patience or None, restore_best=restore))
    return callbacks


def monitor_meow(module, graph, config: dict) -> dict:
    """Scores of the current state along training (``monitor_every``): a short HeCo
    classification at every split size (``monitor_heads`` heads, default 5) and k-means NMI/ARI
    (``monitor_cluster_fits`` fits, default 3), as means.

    Args:
        module: the module being trained.
        graph: the meta-path graph, with labels and splits.
        config: the run configuration (``eval_lr``, ``eval_wd``, ``eval_steps``,
            ``monitor_heads``, ``monitor_cluster_fits``, ``embed_mode``).

    Returns:
        dict: metric name -> mean.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> g = synthetic_metapath_graph(num_nodes=30, seed=0)
        >>> from gcl.methods import adameow
        >>> module = adameow(g, hidden=8, nei_max=5, device="cpu")
        >>> cfg = {"eval_lr": 0.05, "eval_steps": 5, "monitor_heads": 1, "monitor_cluster_fits": 1}
        >>> sorted(monitor_meow(module, g, cfg))
        ['ari', 'auc@2', 'macro_f1@2', 'micro_f1@2', 'nmi']
    """
    short = {**config, "eval_heads": config.get("monitor_heads", 5), "clustering": True,
             "cluster_fits": config.get("monitor_cluster_fits", 3)}
    scores = evaluate_meow(module, graph, short, seed=0)
    return {key: float(value["mean"]) for key, value in scores.items()}


def evaluate_meow(module, graph, config: dict, seed: int) -> dict:
    """HeCo's protocol on the embeddings of ``embed_mode``: macro/micro-F1 and AUC at each
    split size (``eval_heads`` heads × ``eval_steps`` steps) and k-means NMI/ARI
    (``cluster_fits`` fits); summaries ``{"mean", "std", "values"}`` (see
    :func:`gcl.evaluation.heco_evaluate`).

    Args:
        module: a trained meta-path module.
        graph: the meta-path graph, with labels ``y`` and ``splits``.
        config: ``eval_lr`` (required), ``eval_wd`` (0), ``eval_heads`` (50), ``eval_steps``
            (200), ``clustering`` (``True``), ``cluster_fits`` (10), ``embed_mode``
            (``"eval"``).
        seed: seed of the classification heads.

    Returns:
        dict: ``"macro_f1@S"``, ``"micro_f1@S"``, ``"auc@S"`` per split size ``S`` and, with
        clustering, ``"nmi"`` and ``"ari"``.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> g = synthetic_metapath_graph(num_nodes=30, seed=0)
        >>> from gcl.methods import adameow
        >>> module = adameow(g, hidden=8, nei_max=5, device="cpu")
        >>> cfg = {"eval_lr": 0.05, "eval_heads": 1, "eval_steps": 5, "cluster_fits": 1}
        >>> sorted(evaluate_meow(module, g, cfg, seed=0))
        ['ari', 'auc@2', 'macro_f1@2', 'micro_f1@2', 'nmi']
    """
    from ..evaluation import heco_evaluate

    z = module.embed(graph, mode=str(config.get("embed_mode", "eval")))
    return heco_evaluate(z, graph, lr=float(config["eval_lr"]),
                         weight_decay=float(config.get("eval_wd", 0.0)),
                         heads=int(config.get("eval_heads", 50)),
                         steps=int(config.get("eval_steps", 200)), seed=seed,
                         clustering=bool(config.get("clustering", True)),
                         cluster_seeds=range(int(config.get("cluster_fits", 10))))
