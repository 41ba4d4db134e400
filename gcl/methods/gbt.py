"""G-BT: Graph Barlow Twins (Bielak, Kajdanowicz & Chawla, Knowledge-Based Systems 2022)."""

from __future__ import annotations

import math

import torch

from ..augment import Compose, DropEdge, MaskFeature
from ..encoders import GNNEncoder
from ..objectives import BarlowTwins
from ..pipeline import Pipeline
from .base import CONFIG_DIR, Method, recipe_kwargs, register
from .protocols import GBT_KEYS, sklearn_probe_evaluate

__all__ = ["gbt", "build_gbt", "warmup_cosine"]


def warmup_cosine(warmup_epochs: int, total_epochs: int):
    """The learning-rate factor of epoch ``e`` under a linear warm-up from 0 over
    ``warmup_epochs`` epochs, then cosine annealing to 0 at ``total_epochs`` (G-BT's
    ``LinearWarmupCosineAnnealingLR`` of PyTorch Lightning Bolts, stepped once per epoch).

    Args:
        warmup_epochs: warm-up length (0: none).
        total_epochs: the schedule's length.

    Returns:
        Callable[[int], float]: ``factor(e)`` for ``torch.optim.lr_scheduler.LambdaLR``.

    Example:
        >>> f = warmup_cosine(3, 10)
        >>> [round(f(e), 3) for e in (0, 1, 2, 3, 10)]
        [0.0, 0.5, 1.0, 1.0, 0.0]
    """
    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return epoch / max(warmup_epochs - 1, 1)
        span = max(total_epochs - warmup_epochs, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(epoch - warmup_epochs, span) / span))

    return factor


def gbt(in_channels: int, *, hidden: int = 256, drop_edge: float = 0.1,
        drop_feature: float = 0.3, lambd: float | None = None, lr: float = 1e-4,
        weight_decay: float = 1e-5, warmup_epochs: int = 100,
        schedule_epochs: int | None = None, device: str = "auto", seed: int | None = None,
        progress: bool | None = None) -> Pipeline:
    """Assemble G-BT: two views of edge dropping and feature masking (the same rates), a
    two-layer GCN (``in -> 2h -> h``, batch norm and PReLU after the first layer), the Barlow
    Twins objective (λ = 1/h by default), AdamW with weight decay, and a linear warm-up then
    cosine learning-rate schedule.

    Args:
        in_channels: input feature dimension.
        hidden: embedding size ``h`` (default: 256).
        drop_edge: edge drop rate of both views (default: 0.1).
        drop_feature: feature mask rate of both views (default: 0.3).
        lambd: off-diagonal weight; ``None``: ``1/h`` (default: ``None``).
        lr: AdamW base learning rate (default: 1e-4).
        weight_decay: AdamW weight decay (default: 1e-5).
        warmup_epochs: linear warm-up epochs (default: 100).
        schedule_epochs: length of the cosine schedule; ``None``: the run's ``epochs`` when
            built from a configuration, a constant learning rate otherwise (default: ``None``).
        device: training device (default: ``"auto"``).
        seed: seed everything when training starts (default: ``None``).
        progress: progress bar (default: only on a terminal).

    Returns:
        Pipeline: ready to ``fit``. Defaults are G-BT's Amazon-Photo configuration.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = gbt(10, hidden=8, schedule_epochs=4, warmup_epochs=1, device="cpu",
        ...            progress=False)
        >>> _ = pipe.fit(data, epochs=2)
    """
    encoder = GNNEncoder(in_channels, 2 * hidden, hidden, conv="gcn", num_layers=2,
                         activation="prelu", batch_norm=True, bn_momentum=0.01)
    views = (Compose([DropEdge(drop_edge), MaskFeature(drop_feature)]),
             Compose([DropEdge(drop_edge), MaskFeature(drop_feature)]))
    scheduler = None
    if schedule_epochs is not None:
        factor = warmup_cosine(int(warmup_epochs), int(schedule_epochs))

        def scheduler(opt):
            return torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def optimizer(params):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    return Pipeline(encoder, BarlowTwins(lambd), augment=views, lr=lr, optimizer=optimizer,
                    scheduler=scheduler, device=device, seed=seed, progress=progress)


def build_gbt(config: dict, data) -> Pipeline:
    """Build G-BT from a configuration (see ``configs/gbt.yaml``); the cosine schedule spans
    the configuration's ``epochs`` unless ``schedule_epochs`` is set.

    Args:
        config: a configuration from :func:`gcl.methods.load_config`.
        data: the graph (its feature dimension sizes the encoder).

    Returns:
        Pipeline: G-BT, ready to ``fit``.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
        >>> build_gbt({**load_config("gbt", "amazon-photo"), "device": "cpu"}, data).objective
        BarlowTwins(lambd=1/d)
    """
    kwargs = recipe_kwargs(gbt, config)
    if kwargs.get("schedule_epochs") is None and "epochs" in config:
        kwargs["schedule_epochs"] = int(config["epochs"])
    return gbt(data.num_features, **kwargs)


register(Method(
    name="gbt",
    recipe=gbt,
    protocol_keys=GBT_KEYS,
    build=build_gbt,
    config_file=CONFIG_DIR / "gbt.yaml",
    evaluate=sklearn_probe_evaluate,
))
