"""DGI: Deep Graph Infomax (Veličković et al., ICLR 2019)."""

from __future__ import annotations

from ..augment import Identity, ShuffleFeatures
from ..encoders import GCNEncoder
from ..objectives import DGIObjective
from ..pipeline import Pipeline
from .base import CONFIG_DIR, Method, register
from .protocols import INFOMAX_KEYS, early_stopping_callbacks, repeated_probe_evaluate

__all__ = ["dgi"]


def dgi(in_channels: int, *, hidden: int = 512, activation: str = "prelu", num_layers: int = 1,
        lr: float = 1e-3, weight_decay: float = 0.0, device: str = "auto",
        seed: int | None = None, progress: bool | None = None) -> Pipeline:
    """Assemble DGI: the graph and its feature-shuffled corruption as the two views
    (``Identity``, ``ShuffleFeatures``), a one-layer GCN with PReLU, and the bilinear
    discriminator objective whose readout summarises the graph.

    Args:
        in_channels: input feature dimension.
        hidden: embedding size (default: 512; 256 on PubMed in the paper).
        activation: ``prelu`` (default), ``relu``, ``rrelu`` or ``elu``.
        num_layers: GCN layers (default: 1).
        lr: Adam learning rate (default: 0.001).
        weight_decay: Adam weight decay (default: 0).
        device: training device (default: ``"auto"``).
        seed: seed everything when training starts (default: ``None``).
        progress: progress bar (default: only on a terminal).

    Returns:
        Pipeline: ready to ``fit``; the defaults are DGI's transductive settings.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = dgi(10, hidden=16, device="cpu", progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    return Pipeline(GCNEncoder(in_channels, hidden, activation=activation, num_layers=num_layers),
                    DGIObjective(hidden), augment=(Identity(), ShuffleFeatures()), lr=lr,
                    weight_decay=weight_decay, device=device, seed=seed, progress=progress)


register(Method(
    name="dgi",
    recipe=dgi,
    protocol_keys=INFOMAX_KEYS,
    config_file=CONFIG_DIR / "dgi.yaml",
    evaluate=repeated_probe_evaluate,
    callbacks=early_stopping_callbacks,
))
