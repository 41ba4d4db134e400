"""CCA-SSG: From Canonical Correlation Analysis to Self-supervised Graph Neural Networks
(Zhang et al., NeurIPS 2021)."""

from __future__ import annotations

from ..augment import Compose, DropEdge, MaskFeature
from ..encoders import MLP, GNNEncoder
from ..objectives import CCALoss
from ..pipeline import Pipeline
from .base import CONFIG_DIR, Method, register
from .protocols import CCASSG_KEYS, selected_probe_evaluate

__all__ = ["ccassg"]


def ccassg(in_channels: int, *, hidden: int = 512, num_layers: int = 2, encoder: str = "gcn",
           drop_edge: float = 0.2, drop_feature: float = 0.2, lambd: float = 1e-3,
           lr: float = 1e-3, weight_decay: float = 0.0, device: str = "auto",
           seed: int | None = None, progress: bool | None = None) -> Pipeline:
    """Assemble CCA-SSG: two views of edge dropping and feature masking (the same rates), a
    GCN (ReLU between layers, none after the last) or an MLP with batch norm, and the CCA
    objective (invariance plus λ-weighted decorrelation of the standardised embeddings).

    Args:
        in_channels: input feature dimension.
        hidden: width of every layer (default: 512).
        num_layers: GCN layers (default: 2; 1 on CiteSeer).
        encoder: ``gcn`` or ``mlp`` (two layers with batch norm; Coauthor-CS) (default: ``gcn``).
        drop_edge: edge drop rate of both views (default: 0.2).
        drop_feature: feature mask rate of both views (default: 0.2).
        lambd: decorrelation weight λ (default: 1e-3).
        lr: Adam learning rate (default: 1e-3).
        weight_decay: Adam weight decay (default: 0).
        device: training device (default: ``"auto"``).
        seed: seed everything when training starts (default: ``None``).
        progress: progress bar (default: only on a terminal).

    Returns:
        Pipeline: ready to ``fit``; the defaults are CCA-SSG's ``main.py`` defaults.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = ccassg(10, hidden=16, device="cpu", progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    if encoder not in ("gcn", "mlp"):
        raise ValueError(f"argument 'encoder' of ccassg must be 'gcn' or 'mlp', got {encoder!r}")
    if encoder == "mlp":
        net = MLP([in_channels, hidden, hidden], activation="relu", batch_norm=True)
    else:
        net = GNNEncoder(in_channels, hidden, conv="gcn", num_layers=num_layers,
                         activation="relu")
    views = (Compose([DropEdge(drop_edge), MaskFeature(drop_feature)]),
             Compose([DropEdge(drop_edge), MaskFeature(drop_feature)]))
    return Pipeline(net, CCALoss(lambd), augment=views, lr=lr, weight_decay=weight_decay,
                    device=device, seed=seed, progress=progress)


register(Method(
    name="ccassg",
    recipe=ccassg,
    protocol_keys=CCASSG_KEYS,
    config_file=CONFIG_DIR / "ccassg.yaml",
    evaluate=selected_probe_evaluate,
))
