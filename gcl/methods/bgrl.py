"""BGRL: Large-Scale Representation Learning on Graphs via Bootstrapping (Thakoor et al., ICLR
2022).

Two views of edge dropping and feature-column masking; an online encoder (GCN, batch norm and
PReLU after every layer) with a predictor head (Linear-PReLU-Linear); a target encoder, a moving
average of the online one (:class:`gcl.training.TargetNetwork`, momentum rising from 0.99 to 1
along a cosine); the objective predicts each view's target embedding from the other view
(:class:`gcl.objectives.BootstrapLoss`). AdamW with a linear warm-up and a cosine decay of the
learning rate over the run. Embeddings: the online encoder on the clean graph, in eval mode.
"""

from __future__ import annotations

import math

import torch

from .._utils import check_positive
from ..augment import Compose, DropEdge, MaskFeature
from ..encoders import MLP
from ..encoders.normgcn import GCNNormEncoder
from ..objectives.bootstrap import BootstrapLoss
from ..pipeline import Pipeline
from ..training import TargetNetwork
from .base import CONFIG_DIR, PROBE_KEYS, Method, register
from .grace import _pair

__all__ = ["bgrl", "warmup_cosine"]


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor of BGRL's schedule at 0-based ``step``: ``step / warmup`` during
    the warm-up, then ``(1 + cos(π (step - warmup) / (total - warmup))) / 2`` down to 0 at
    ``total`` (and 0 beyond). A run no longer than its warm-up stays in the warm-up (as the
    reference's scheduler).

    Args:
        step: the optimiser step (an epoch, full batch), from 0.
        warmup: warm-up steps (0: none).
        total: the run's length in steps.

    Returns:
        float: the factor, in [0, 1].

    Raises:
        ValueError: a negative ``step`` or ``warmup``, or ``total < 1``.

    Example:
        >>> warmup_cosine(0, 10, 110), warmup_cosine(5, 10, 110), warmup_cosine(60, 10, 110)
        (0.0, 0.5, 0.5)
    """
    check_positive(step, "step", "warmup_cosine", allow_zero=True, integer=True)
    check_positive(warmup, "warmup", "warmup_cosine", allow_zero=True, integer=True)
    check_positive(total, "total", "warmup_cosine", integer=True)
    if step < warmup:
        return step / warmup
    if total <= warmup:
        return 0.0
    frac = min((step - warmup) / (total - warmup), 1.0)
    return (1.0 + math.cos(math.pi * frac)) / 2.0


def bgrl(in_channels: int, *, encoder_sizes=(256, 128), predictor_hidden: int = 512,
         norm: str = "batch", bn_momentum: float = 0.01, drop_edge=(0.4, 0.1),
         drop_feature=(0.1, 0.2), momentum: float = 0.99, momentum_schedule: str = "cosine",
         target_init: str = "reset", lr: float = 1e-4, weight_decay: float = 1e-5,
         epochs: int = 10000, warmup_epochs: int = 1000, device: str = "auto",
         seed: int | None = None, progress: bool | None = None) -> Pipeline:
    """Assemble BGRL (defaults: the reference's Amazon-Photo configuration).

    Args:
        in_channels: input feature dimension.
        encoder_sizes: output sizes of the GCN layers (default: ``(256, 128)``).
        predictor_hidden: hidden size of the predictor (default: 512).
        norm: ``"batch"``, ``"layer"`` or ``"none"`` after every GCN layer (default: batch).
        bn_momentum: batch-norm momentum in PyTorch's convention (default: 0.01, the paper's
            decay 0.99; the reference code's ``0.99`` is available).
        drop_edge: edge drop rates of view 1 and view 2 (default: ``(0.4, 0.1)``).
        drop_feature: feature-column mask rates of view 1 and view 2 (default: ``(0.1, 0.2)``).
        momentum: the target network's base momentum (default: 0.99).
        momentum_schedule: ``"cosine"`` (to 1 over the run) or ``"constant"`` (default: cosine).
        target_init: ``"reset"`` (the target starts from fresh weights, as the reference code)
            or ``"copy"`` (a copy of the online encoder, BYOL) (default: ``"reset"``).
        lr: peak learning rate of AdamW (default: 1e-4).
        weight_decay: AdamW's decoupled weight decay (default: 1e-5).
        epochs: the run's length, over which the learning rate decays; the loop trains this
            many epochs (the same configuration key) (default: 10000).
        warmup_epochs: linear warm-up of the learning rate from 0 (default: 1000).
        device, seed, progress: the loop's settings.

    Returns:
        Pipeline: ready to ``fit(data, epochs=epochs)``.

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=50, num_features=10, num_classes=2, seed=0)
        >>> pipe = bgrl(10, encoder_sizes=[16, 8], predictor_hidden=16, epochs=4,
        ...             warmup_epochs=1, device="cpu", progress=False)
        >>> len(pipe.fit(data, epochs=4).losses), pipe.embed(data).shape
        (4, torch.Size([50, 8]))
    """
    epochs = int(check_positive(epochs, "epochs", "bgrl", integer=True))
    warmup = int(check_positive(warmup_epochs, "warmup_epochs", "bgrl", allow_zero=True,
                                integer=True))
    de1, de2 = _pair(drop_edge, "drop_edge")
    df1, df2 = _pair(drop_feature, "drop_feature")
    views = (Compose([DropEdge(de1), MaskFeature(df1)]), Compose([DropEdge(de2), MaskFeature(df2)]))
    sizes = [int(in_channels), *(int(s) for s in encoder_sizes)]
    encoder = GCNNormEncoder(sizes, norm=norm, bn_momentum=bn_momentum)
    predictor = MLP([sizes[-1], int(predictor_hidden), sizes[-1]], activation="prelu")
    target = TargetNetwork(encoder, momentum=momentum, schedule=momentum_schedule,
                           init=target_init)

    def adamw(params):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def schedule(optimizer):
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: warmup_cosine(step, warmup, epochs))

    return Pipeline(encoder, BootstrapLoss(), augment=views, head=predictor, target=target,
                    lr=lr, weight_decay=weight_decay, optimizer=adamw, scheduler=schedule,
                    device=device, seed=seed, progress=progress)


register(Method(
    name="bgrl",
    recipe=bgrl,
    protocol_keys=PROBE_KEYS,
    config_file=CONFIG_DIR / "bgrl.yaml",
))
