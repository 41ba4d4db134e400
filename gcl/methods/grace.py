"""GRACE: Deep Graph Contrastive Representation Learning (Zhu et al., 2020)."""

from __future__ import annotations

from ..augment import Compose, DropEdge, MaskFeature
from ..encoders import GCNEncoder, ProjectionHead
from ..objectives import InfoNCE
from ..pipeline import Pipeline
from .base import CONFIG_DIR, PROBE_KEYS, Method, register

__all__ = ["grace"]


def _pair(value, name: str) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), float(value)
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f"config key {name!r} must be a number or a pair [view1, view2], got {value!r}")


def grace(in_channels: int, *, hidden: int = 128, proj_hidden: int = 128,
          activation: str = "relu", drop_edge=(0.2, 0.4), drop_feature=(0.3, 0.4),
          tau: float = 0.4, lr: float = 5e-4, weight_decay: float = 1e-5,
          keep_blocks_mb: float | None = None, precision: str = "fp32",
          device: str = "auto", seed: int | None = None,
          progress: bool | None = None) -> Pipeline:
    """Assemble GRACE: two views of ``DropEdge`` + ``MaskFeature``, a 2-layer GCN encoder, the
    Linear-ELU-Linear head and InfoNCE with intra-view negatives.

    Args:
        in_channels: input feature dimension.
        hidden: encoder output dimension (the first layer has twice as many) (default: 128).
        proj_hidden: hidden size of the projection head (default: 128).
        activation: ``relu``, ``prelu``, ``rrelu`` or ``elu`` (default: ``relu``).
        drop_edge: edge drop rates of view 1 and view 2 (default: ``(0.2, 0.4)``).
        drop_feature: feature-column mask rates of view 1 and view 2 (default: ``(0.3, 0.4)``).
        tau: InfoNCE temperature (default: 0.4).
        lr: Adam learning rate (default: 5e-4).
        weight_decay: Adam weight decay (default: 1e-5).
        keep_blocks_mb: keep the loss's similarity blocks for its backward pass when they fit
            in this many MiB (faster, more memory; see :class:`gcl.objectives.InfoNCE`)
            (default: ``None``, off).
        precision: the loss's similarity products: ``"fp32"`` (exact), ``"tf32"`` or
            ``"bf16"`` (see :mod:`gcl.objectives.precision`) (default: ``"fp32"``).
        device: training device (default: ``"auto"``).
        seed: seed everything when training starts (default: ``None``).
        progress: progress bar (default: only on a terminal).

    Returns:
        Pipeline: ready to ``fit``. Defaults are GRACE's Cora configuration.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = grace(10, hidden=16, proj_hidden=16, device="cpu", progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    de1, de2 = _pair(drop_edge, "drop_edge")
    df1, df2 = _pair(drop_feature, "drop_feature")
    views = (Compose([DropEdge(de1), MaskFeature(df1)]), Compose([DropEdge(de2), MaskFeature(df2)]))
    return Pipeline(
        GCNEncoder(in_channels, hidden, activation=activation),
        InfoNCE(tau=tau, keep_blocks_mb=keep_blocks_mb, precision=precision),
        augment=views,
        head=ProjectionHead(hidden, proj_hidden, hidden),
        lr=lr, weight_decay=weight_decay, device=device, seed=seed, progress=progress,
    )


register(Method(name="grace", recipe=grace, protocol_keys=PROBE_KEYS,
                config_file=CONFIG_DIR / "grace.yaml"))
