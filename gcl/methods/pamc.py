"""PamC (Kulatilleke et al., 2022): deep graph clustering with meta-node block contrast.

The recipe assembles a :class:`gcl.modules.DeepClusteringModule`: a graph-free MLP encoder
``d-500-500-2000-10`` (the encoder half of SDCN's autoencoder) and
:class:`gcl.objectives.PamCObjective` given the one view twice, which holds the DEC centroids
(Student-t soft assignment ``Q``) and sees the graph only through the influence target
``S = sum_{t<=r} Â^t`` of its positive term:

.. code-block:: text

    L = beta * KL(P || Q) + alpha * L_PamC(z, S, argmax Q)

Set-up (the reference's ``train_scgc_trimPOS_CCSP``): the autoencoder is pretrained (MSE, Adam
1e-3, batch 256, 30 epochs) unless weights are given; the centroids are initialised by k-means
(``n_init=20``) on the pretrained embeddings; then each full-batch epoch of the one loop
computes ``Q``, the target ``P`` (refreshed every epoch), the hard clusters ``argmax Q``, and
takes one Adam step on the encoder and the centroids.

Evaluation: the clusters are ``argmax Q``. By default the scores are those of the final model
(no labels used to pick anything). ``report_max_over_epochs: true`` adds the reference's
protocol under ``<metric>@max-over-epochs``: each metric's maximum over the per-epoch
evaluations (a :class:`~gcl.callbacks.PeriodicEval` every epoch), which uses the labels to
select the epoch (and may take each metric from a different epoch).

The node-pair baseline (SCGC*, dense ``N x N`` negatives) is the same module with
``negatives="node_pair"``: :func:`pamc_nodepair`, registered as ``pamc-nodepair``.
"""

from __future__ import annotations

import torch

from ..modules.clustering import ClusteringAE, DeepClusteringModule
from ..objectives.pamc import PamCObjective
from .base import CONFIG_DIR, Method, recipe_kwargs, register
from .clustering_protocol import evaluate_pamc, pamc_callbacks

__all__ = ["pamc", "pamc_nodepair", "build_pamc", "build_pamc_nodepair", "evaluate_pamc",
           "pamc_callbacks"]


def pamc(in_channels: int, num_clusters: int, *, alpha: float = 2.0, beta: float = 2.5,
         order: int = 3, temperature: float = 2.0, lr: float = 1e-3,
         negatives: str = "meta_node", hidden=(500, 500, 2000), z_dim: int = 10,
         pretrain_epochs: int = 30, pretrain_batch_size: int = 256, pretrain_lr: float = 1e-3,
         pretrain_seed: int = 0, pretrained: str | None = None, kmeans_n_init: int = 20,
         kmeans_seed: int | None = None, device: str = "auto",
         progress: bool | None = None) -> DeepClusteringModule:
    """Assemble PamC (defaults: the reference's ``cite`` configuration).

    Args:
        in_channels: feature dimension.
        num_clusters: ``K`` (the number of classes).
        alpha: weight of the contrastive loss (default: 2).
        beta: weight of the KL clustering loss (default: 2.5).
        order: ``r`` of the influence target (default: 3).
        temperature: ``T`` in ``exp(cos / T)``; the reference's ``--tau`` is ``1 / T``
            (default: 2.0, i.e. ``tau = 0.5``).
        lr: Adam learning rate (default: 1e-3).
        negatives: ``"meta_node"`` (PamC) or ``"node_pair"`` (SCGC*) (default: ``"meta_node"``).
        hidden: encoder hidden sizes (default: ``(500, 500, 2000)``).
        z_dim: embedding size (default: 10).
        pretrain_epochs, pretrain_batch_size, pretrain_lr, pretrain_seed, pretrained,
            kmeans_n_init: the set-up (see :class:`gcl.modules.DeepClusteringModule`; SDCN's
            pretraining: 30 epochs, batch 256, Adam 1e-3). Do not shorten the pretraining to
            save time (it is cached and shared by all runs): after 10 epochs the embedding is
            still tiny and PamC falls to ACC ~36 on sdcn-cite (docs/pamc.md, "Pretraining").
        kmeans_seed: seed of k-means (default: drawn from torch's initial seed, which
            :func:`gcl.methods.run` sets per run).
        device, progress: the loop's settings.

    Returns:
        DeepClusteringModule: ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> module = pamc(12, 3, hidden=(16, 16, 16), z_dim=4, pretrain_epochs=2,
        ...               kmeans_n_init=2, device="cpu", progress=False)
        >>> len(module.fit(data, epochs=3).losses)
        3
    """
    if kmeans_seed is None:
        kmeans_seed = int(torch.initial_seed() % (2**31))  # the run's seed (the runner seeds)
    objective = PamCObjective(num_clusters, z_dim, temperature=temperature, order=order,
                              kl_weight=beta, contrast_weight=alpha, negatives=negatives)
    return DeepClusteringModule(
        ClusteringAE(in_channels, tuple(hidden), z_dim), objective,
        pretrain_epochs=pretrain_epochs, pretrain_batch_size=pretrain_batch_size,
        pretrain_lr=pretrain_lr, pretrain_seed=pretrain_seed, pretrained=pretrained,
        kmeans_n_init=kmeans_n_init, kmeans_seed=kmeans_seed, lr=lr, device=device,
        progress=progress)


def pamc_nodepair(in_channels: int, num_clusters: int, *, alpha: float = 1.0, beta: float = 0.1,
                  order: int = 1, temperature: float = 4.0, lr: float = 1e-4,
                  hidden=(500, 500, 2000), z_dim: int = 10, pretrain_epochs: int = 30,
                  pretrain_batch_size: int = 256, pretrain_lr: float = 1e-3,
                  pretrain_seed: int = 0, pretrained: str | None = None,
                  kmeans_n_init: int = 20, kmeans_seed: int | None = None,
                  device: str = "auto", progress: bool | None = None) -> DeepClusteringModule:
    """SCGC*: PamC's module with the dense node-pair (Graph-MLP) negatives (defaults: the
    reference's ``cite`` node-pair configuration); the arguments as in :func:`pamc`.

    Args:
        in_channels, num_clusters, alpha, beta, order, temperature, lr, hidden, z_dim,
            pretrain_epochs, pretrain_batch_size, pretrain_lr, pretrain_seed, pretrained,
            kmeans_n_init, kmeans_seed, device, progress: as in :func:`pamc`.

    Returns:
        DeepClusteringModule: ready to ``fit``.

    Example:
        >>> module = pamc_nodepair(12, 3, hidden=(16, 16, 16), z_dim=4, device="cpu")
        >>> module.objective.negatives
        'node_pair'
    """
    return pamc(in_channels, num_clusters, alpha=alpha, beta=beta, order=order,
                temperature=temperature, lr=lr, negatives="node_pair", hidden=hidden,
                z_dim=z_dim, pretrain_epochs=pretrain_epochs,
                pretrain_batch_size=pretrain_batch_size, pretrain_lr=pretrain_lr,
                pretrain_seed=pretrain_seed, pretrained=pretrained, kmeans_n_init=kmeans_n_init,
                kmeans_seed=kmeans_seed, device=device, progress=progress)


def _num_clusters(config: dict, data) -> int:
    k = config.get("num_clusters")
    if k:
        return int(k)
    if getattr(data, "y", None) is None:
        raise ValueError("num_clusters is not set and the graph has no labels to count the "
                         "classes: pass --set num_clusters=K")
    return int(data.y.max()) + 1


def build_pamc(config: dict, data) -> DeepClusteringModule:
    """PamC from a configuration (``configs/pamc.yaml``): the arguments of :func:`pamc`, and
    ``num_clusters`` (``None``: the number of classes, ``max(data.y) + 1``).

    Args:
        config: a configuration from :func:`gcl.methods.load_config` (plus ``device``).
        data: the graph (its features size the encoder; its labels give ``K`` by default).

    Returns:
        DeepClusteringModule: ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> module = build_pamc({**load_config("pamc", "synthetic"), "device": "cpu"}, data)
        >>> module.objective.num_classes, module.objective.order
        (3, 2)
    """
    return pamc(data.num_features, _num_clusters(config, data), **recipe_kwargs(pamc, config))


def build_pamc_nodepair(config: dict, data) -> DeepClusteringModule:
    """SCGC* from a configuration (``configs/pamc-nodepair.yaml``; see :func:`build_pamc`).

    Args:
        config: a configuration from :func:`gcl.methods.load_config` (plus ``device``).
        data: the graph.

    Returns:
        DeepClusteringModule: ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> cfg = {**load_config("pamc-nodepair", "synthetic"), "device": "cpu"}
        >>> build_pamc_nodepair(cfg, data).objective.negatives
        'node_pair'
    """
    return pamc_nodepair(data.num_features, _num_clusters(config, data),
                         **recipe_kwargs(pamc_nodepair, config))


_PROTOCOL = ("epochs", "num_clusters", "report_max_over_epochs")
for _name, _recipe, _build in (("pamc", pamc, build_pamc),
                               ("pamc-nodepair", pamc_nodepair, build_pamc_nodepair)):
    register(Method(name=_name, build=_build, recipe=_recipe,
                    config_file=CONFIG_DIR / f"{_name}.yaml", callbacks=pamc_callbacks,
                    evaluate=evaluate_pamc, protocol_keys=_PROTOCOL))
