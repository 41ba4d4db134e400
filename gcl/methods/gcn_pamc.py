"""GCN + PamC negatives: a two-view GCL pipeline whose objective is PamC's meta-node loss.

Not a published method: it carries PamC's idea (influence-weighted positives, negatives between
cluster meta-nodes, O(N K) instead of O(N^2)) into the GRACE-style pipeline, with GRACE's
augmentations and encoder, so the objective can be compared with InfoNCE on the same footing.
"""

from __future__ import annotations

from ..augment import Compose, DropEdge, MaskFeature
from ..encoders import GCNEncoder, ProjectionHead
from ..objectives.pamc import PamCObjective
from ..pipeline import Pipeline
from .base import CONFIG_DIR, PROBE_KEYS, Method, recipe_kwargs, register
from .grace import _pair

__all__ = ["gcn_pamc", "build_gcn_pamc"]


def gcn_pamc(in_channels: int, num_classes: int, *, hidden: int = 128, proj_hidden: int = 128,
             activation: str = "prelu", drop_edge=(0.2, 0.4), drop_feature=(0.3, 0.4),
             temperature: float = 0.5, order: int = 1, assignment: str = "hard",
             kl_weight: float = 1.0, negatives: str = "meta_node", warmup_epochs: int = 0,
             warmup_tau: float = 0.5, warmup_nodes: int = 2048, lr: float = 1e-3,
             weight_decay: float = 1e-5, device: str = "auto", seed: int | None = None,
             progress: bool | None = None) -> Pipeline:
    """Assemble GCN + PamC negatives: GRACE's views and encoder, :class:`PamCObjective`.

    Args:
        in_channels: input feature dimension.
        num_classes: ``K``, the clusters of the objective's clustering head.
        hidden, proj_hidden, activation, drop_edge, drop_feature: as in
            :func:`gcl.methods.grace` (defaults: 128, 128, ``prelu``, (0.2, 0.4), (0.3, 0.4)).
        temperature: ``T`` of the objective (default: 0.5).
        order: ``r`` of the influence target (default: 1).
        assignment: ``"hard"`` or ``"soft"`` meta-nodes (default: ``"hard"``).
        kl_weight: weight of the DEC term of the clustering head (default: 1.0).
        negatives: ``"meta_node"`` or ``"node_pair"`` (default: ``"meta_node"``).
        warmup_epochs, warmup_tau, warmup_nodes: InfoNCE warm-up before the meta-node loss
            (see :class:`gcl.objectives.PamCObjective`; defaults: 0, 0.5, 2048).
        lr, weight_decay: Adam settings (default: 1e-3, 1e-5).
        device, seed, progress: as in :class:`gcl.Pipeline`.

    Returns:
        Pipeline: ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = gcn_pamc(10, 2, hidden=16, proj_hidden=16, device="cpu", progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    de1, de2 = _pair(drop_edge, "drop_edge")
    df1, df2 = _pair(drop_feature, "drop_feature")
    views = (Compose([DropEdge(de1), MaskFeature(df1)]), Compose([DropEdge(de2), MaskFeature(df2)]))
    objective = PamCObjective(num_classes, hidden, temperature=temperature, order=order,
                              assignment=assignment, kl_weight=kl_weight, negatives=negatives,
                              warmup_epochs=warmup_epochs, warmup_tau=warmup_tau,
                              warmup_nodes=warmup_nodes)
    return Pipeline(GCNEncoder(in_channels, hidden, activation=activation), objective,
                    augment=views, head=ProjectionHead(hidden, proj_hidden, hidden), lr=lr,
                    weight_decay=weight_decay, device=device, seed=seed, progress=progress)


def build_gcn_pamc(config: dict, data) -> Pipeline:
    """Build GCN + PamC negatives from a configuration (``configs/gcn-pamc.yaml``); keys that
    are not arguments of :func:`gcn_pamc` (epochs, evaluation settings) are ignored here.

    Args:
        config: a configuration from :func:`gcl.methods.load_config`; its ``num_clusters`` sets
            ``K`` (``None`` or missing: the number of classes, ``max(data.y) + 1``).
        data: the graph (its feature dimension sizes the encoder; its labels ``y`` give ``K``
            when the configuration does not).

    Returns:
        Pipeline: GCN + PamC negatives, ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=3, seed=0)
        >>> pipe = build_gcn_pamc({**load_config("gcn-pamc", "synthetic"), "device": "cpu"}, data)
        >>> pipe.objective.num_classes, pipe.objective.negatives
        (3, 'meta_node')
    """
    num_classes = config.get("num_clusters") or int(data.y.max()) + 1
    return gcn_pamc(data.num_features, num_classes, **recipe_kwargs(gcn_pamc, config))


register(Method(
    name="gcn-pamc",
    recipe=gcn_pamc,
    protocol_keys=(*PROBE_KEYS, "num_clusters"),
    build=build_gcn_pamc,
    config_file=CONFIG_DIR / "gcn-pamc.yaml",
))
