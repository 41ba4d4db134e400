"""BGRL's bootstrapping objective: predict the target network's embedding of the other view.

With ``p1, p2`` the online predictions of the two views and ``t1, t2`` the target network's
embeddings of them (no gradient), the loss is
``2 - mean_i cos(p1_i, t2_i) - mean_i cos(p2_i, t1_i)`` (Thakoor et al., ICLR 2022, eq. 1
symmetrised, as the reference code writes it). No negatives: O(N·d) time and memory.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from .base import Objective, Step

__all__ = ["BootstrapLoss", "bootstrap_loss"]


def _check(name: str, a: Tensor, b: Tensor) -> None:
    if a.dim() != 2 or a.shape != b.shape:
        raise ValueError(f"{name}: the prediction and the target must be [N, d] matrices of one "
                         f"shape, got {list(a.shape)} and {list(b.shape)}")


def bootstrap_loss(p1: Tensor, p2: Tensor, t1: Tensor, t2: Tensor, eps: float = 1e-8) -> Tensor:
    """``2 - mean cos(p1, t2) - mean cos(p2, t1)``; gradients flow into ``p1`` and ``p2`` only.

    Args:
        p1, p2: ``[N, d]`` online predictions of views 1 and 2.
        t1, t2: ``[N, d]`` target embeddings of views 1 and 2 (detached here).
        eps: floor of the norms in the cosine (default: 1e-8, as ``F.cosine_similarity``).

    Returns:
        Tensor: the scalar loss, in [0, 4].

    Raises:
        ValueError: for shapes that do not match.

    Example:
        >>> import torch
        >>> p = torch.randn(5, 3)
        >>> float(bootstrap_loss(p, p, p, p)) < 1e-6
        True
    """
    _check("bootstrap_loss(p1, t2)", p1, t2)
    _check("bootstrap_loss(p2, t1)", p2, t1)
    return (2 - F.cosine_similarity(p1, t2.detach(), dim=-1, eps=eps).mean()
            - F.cosine_similarity(p2, t1.detach(), dim=-1, eps=eps).mean())


class BootstrapLoss(Objective):
    """BGRL's objective: each view's prediction (``h1``, ``h2``: the head's outputs) against the
    target network's embedding of the other view (``step.target``, filled in by a
    :class:`gcl.Pipeline` built with ``target=TargetNetwork(encoder)``).

    Example:
        >>> import torch
        >>> h = torch.randn(4, 3)
        >>> step = Step(epoch=1, target=(h, h))
        >>> float(BootstrapLoss()(h, h, step)) < 1e-6
        True
    """

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        target = getattr(step, "target", None)
        if target is None:
            raise ValueError("BootstrapLoss needs the target network's embeddings in "
                             "step.target: build the Pipeline with target=TargetNetwork(encoder)")
        t1, t2 = target
        return bootstrap_loss(h1, h2, t1, t2)
