"""CCA-SSG's objective (Zhang et al., NeurIPS 2021): invariance plus decorrelation."""

from __future__ import annotations

import torch
from torch import Tensor

from .._utils import check_positive
from .base import Objective, Step

__all__ = ["CCALoss", "cca_loss"]


def cca_loss(h1: Tensor, h2: Tensor, lambd: float = 1e-3) -> tuple[Tensor, Tensor, Tensor]:
    r"""CCA-SSG's loss in O(N·d²): standardise each view per dimension over the nodes
    (:math:`\tilde z = (h - \mu) / \sigma`, unbiased σ, then scaled by :math:`1/\sqrt N`), and

    .. math::
        \mathcal L = -\operatorname{tr}(\tilde Z_1^\top \tilde Z_2)
            + \lambda \big(\|\tilde Z_1^\top \tilde Z_1 - I\|_F^2
            + \|\tilde Z_2^\top \tilde Z_2 - I\|_F^2\big).

    The invariance term equals :math:`\tfrac12\|\tilde Z_1 - \tilde Z_2\|_F^2` up to a constant
    (the paper's form); the reference code minimises the trace form written here.

    Args:
        h1, h2: ``[N, d]`` embeddings (``N >= 2``).
        lambd: decorrelation weight λ (default: 1e-3).

    Returns:
        (Tensor, Tensor, Tensor): the loss, the invariance and the decorrelation term.

    Example:
        >>> h = torch.randn(40, 3)
        >>> loss, inv, dec = cca_loss(h, h, 0.0)
        >>> round(float(inv), 3)
        -2.925
    """
    if h1.dim() != 2 or h1.shape != h2.shape or h1.size(0) < 2:
        raise ValueError(f"cca_loss expects two [N, d] embeddings of one shape with N >= 2, got "
                         f"{list(h1.shape)} and {list(h2.shape)}")
    check_positive(lambd, "lambd", "cca_loss", allow_zero=True)
    n, d = h1.shape
    z1 = (h1 - h1.mean(0)) / h1.std(0)
    z2 = (h2 - h2.mean(0)) / h2.std(0)
    eye = torch.eye(d, dtype=h1.dtype, device=h1.device)
    invariance = -torch.diagonal(z1.t() @ z2).sum() / n
    decorrelation = (eye - z1.t() @ z1 / n).pow(2).sum() + (eye - z2.t() @ z2 / n).pow(2).sum()
    return invariance + lambd * decorrelation, invariance, decorrelation


class CCALoss(Objective):
    """CCA-SSG's objective (see :func:`cca_loss`); logs ``invariance`` and ``decorrelation``.

    Args:
        lambd: decorrelation weight λ (default: 1e-3).

    Example:
        >>> CCALoss(1e-3)(torch.randn(20, 8), torch.randn(20, 8)).shape
        torch.Size([])
    """

    def __init__(self, lambd: float = 1e-3) -> None:
        super().__init__()
        self.lambd = float(check_positive(lambd, "lambd", "CCALoss", allow_zero=True))

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        loss, invariance, decorrelation = cca_loss(h1, h2, self.lambd)
        if step is not None:
            step.log("invariance", invariance)
            step.log("decorrelation", decorrelation)
        return loss

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"
