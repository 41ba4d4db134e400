"""GCA: Graph Contrastive Learning with Adaptive Augmentation (Zhu et al., WWW 2021)."""

from __future__ import annotations

from ..augment import Compose
from ..augment.adaptive import AdaptiveEdgeDropping, AdaptiveFeatureMasking
from ..encoders import GCNEncoder, ProjectionHead
from ..objectives import InfoNCE
from ..pipeline import Pipeline
from .base import CONFIG_DIR, PROBE_KEYS, Method, register
from .grace import _pair

__all__ = ["gca"]


def gca(in_channels: int, *, hidden: int = 256, proj_hidden: int = 64, activation: str = "relu",
        drop_edge=(0.3, 0.5), drop_feature=(0.1, 0.1), centrality: str = "degree",
        threshold: float = 0.7, dense_features: bool = False, tau: float = 0.3,
        block_size: int | None = None, lr: float = 0.1, weight_decay: float = 1e-5,
        keep_blocks_mb: float | None = None, precision: str = "fp32",
        device: str = "auto", seed: int | None = None,
        progress: bool | None = None) -> Pipeline:
    """Assemble GCA: two views of centrality-weighted edge dropping and feature masking (drop
    probabilities capped at ``threshold``), a 2-layer GCN, the Linear-ELU-Linear head and GRACE's
    InfoNCE.

    Args:
        in_channels: input feature dimension.
        hidden: encoder output dimension (default: 256).
        proj_hidden: hidden size of the projection head (default: 64).
        activation: ``relu``, ``prelu``, ``rrelu`` or ``elu`` (default: ``relu``).
        drop_edge: edge drop rates of view 1 and view 2 (default: ``(0.3, 0.5)``).
        drop_feature: feature drop rates of view 1 and view 2 (default: ``(0.1, 0.1)``).
        centrality: ``degree``, ``eigenvector`` or ``pagerank`` (default: ``degree``, GCA's
            default scheme).
        threshold: cap on drop probabilities (default: 0.7).
        dense_features: weight features by ``|x|`` (WikiCS) (default: ``False``).
        tau: temperature (default: 0.3).
        block_size: InfoNCE's dense/blockwise choice.
        lr: Adam learning rate (default: 0.1).
        weight_decay: Adam weight decay (default: 1e-5).
        keep_blocks_mb, precision, device, seed, progress: as for :func:`gcl.methods.grace`.

    Returns:
        Pipeline: ready to ``fit``. Defaults are GCA's Amazon-Photo configuration.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = gca(10, hidden=16, proj_hidden=16, centrality="pagerank", device="cpu",
        ...            progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    e1, e2 = _pair(drop_edge, "drop_edge")
    f1, f2 = _pair(drop_feature, "drop_feature")

    def view(pe: float, pf: float) -> Compose:
        return Compose([
            AdaptiveEdgeDropping(pe, centrality=centrality, threshold=threshold),
            AdaptiveFeatureMasking(pf, centrality=centrality, threshold=threshold,
                                   dense=dense_features),
        ])

    return Pipeline(
        GCNEncoder(in_channels, hidden, activation=activation),
        InfoNCE(tau=tau, block_size=block_size, keep_blocks_mb=keep_blocks_mb,
                precision=precision),
        augment=(view(e1, f1), view(e2, f2)),
        head=ProjectionHead(hidden, proj_hidden, hidden),
        lr=lr, weight_decay=weight_decay, device=device, seed=seed, progress=progress,
    )


register(Method(name="gca", recipe=gca, protocol_keys=PROBE_KEYS,
                config_file=CONFIG_DIR / "gca.yaml"))
