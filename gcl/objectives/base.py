"""Objective and regularizer contracts, and the per-step context they receive."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import Tensor, nn

from .._utils import check_positive

__all__ = ["Step", "Objective", "Regularizer"]


@dataclass
class Step:
    """Everything one training step produced, handed to objectives and regularizers, and
    returned to the training loop by ``training_step`` with its ``loss`` set.

    Attributes:
        epoch: the current epoch, counted from 1.
        data: the clean graph (or batch) on the training device.
        views: the two augmented views (a single-view method gives its one input twice).
        z: the encoder outputs of the two views.
        h: the head outputs of the two views (``z`` when there is no head).
        encoder: the encoder module (regularizers such as POT read its weights).
        nodes: the node subset this step trains on, or ``None`` for all nodes.
        augment: the two augmentations that drew ``views`` (regularizers such as POT read
            their drop probabilities here, so swapping a module's augmentation is seen).
        target: what a target network (:class:`gcl.training.TargetNetwork`) produced for the
            two views, without gradients, or ``None`` (BGRL's objective reads it).
        negatives: the encoder outputs of the two views' corrupted copies (feature-shuffled
            graphs), for objectives that score them against the clean ones (MVGRL's); ``None``
            when the module draws none.
        loss: the step's loss, set by ``training_step`` for the loop.
        logs: named scalar parts of the loss, reported in the training history.

    Example:
        >>> import torch
        >>> z = torch.zeros(3, 2)
        >>> step = Step(epoch=1, data=None, views=(None, None), z=(z, z), h=(z, z))
        >>> step.log("align", torch.tensor(0.5))
        >>> step.logs
        {'align': 0.5}
    """

    epoch: int
    data: Any = None
    views: tuple[Any, Any] | None = None
    z: tuple[Tensor, Tensor] | None = None
    h: tuple[Tensor, Tensor] | None = None
    encoder: nn.Module | None = None
    nodes: Tensor | None = None
    augment: tuple[Any, Any] | None = None
    target: tuple[Tensor, Tensor] | None = None
    negatives: tuple[Tensor, Tensor] | None = None
    loss: Tensor | None = None
    logs: dict[str, float] = field(default_factory=dict)

    def log(self, name: str, value: Tensor | float) -> None:
        """Record a scalar (detached) under ``name`` for the history."""
        self.logs[name] = float(value.detach()) if isinstance(value, Tensor) else float(value)


class Objective(nn.Module):
    """Base class of contrastive objectives.

    Every objective has the one signature ``forward(h1, h2, step=None)`` and returns a scalar
    loss from the two views' embeddings, whatever the method: two augmented views (GRACE), the
    coarse and the fine view of a meta-path graph (MEOW: ``h1`` the coarse anchors, ``h2`` the
    fine view), or one view given twice (the same tensor object: a single-view method such as
    SDCN-style PamC). An objective that needs more (the epoch, node strengths, the graph) reads
    it from ``step`` or prepares it once in :meth:`setup`, which every training module calls
    before training.

    Example:
        >>> import torch
        >>> class Alignment(Objective):
        ...     def forward(self, h1, h2, step=None):
        ...         return (h1 - h2).pow(2).sum(1).mean()
        >>> float(Alignment()(torch.ones(2, 3), torch.ones(2, 3)))
        0.0
    """

    def setup(self, data: Any) -> None:
        """Prepare per-graph state once before training (default: nothing)."""

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:  # pragma: no cover
        raise NotImplementedError


class Regularizer(nn.Module):
    """Base class of regularizers: a loss term computed from the whole :class:`Step`.

    The pipeline combines it with the objective through :meth:`combine`, by default
    ``loss + weight * value``; POT overrides it with a convex combination.

    Args:
        weight: the term's weight (default: 1.0).

    Example:
        >>> import torch
        >>> class L2(Regularizer):
        ...     def forward(self, step):
        ...         return step.z[0].pow(2).mean()
        >>> L2(weight=0.1).combine(torch.tensor(1.0), torch.tensor(2.0))
        tensor(1.2000)
    """

    def __init__(self, weight: float = 1.0) -> None:
        super().__init__()
        self.weight = check_positive(weight, "weight", type(self).__name__, allow_zero=True)

    def setup(self, data: Any) -> None:
        """Prepare per-graph state once before training (default: nothing)."""

    def forward(self, step: Step) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def combine(self, loss: Tensor, value: Tensor) -> Tensor:
        """Combine the objective's ``loss`` with this term's ``value``."""
        return loss + self.weight * value
