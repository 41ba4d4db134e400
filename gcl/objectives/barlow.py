"""G-BT's Barlow Twins objective (Bielak et al., 2022): cross-correlation, no negatives."""

from __future__ import annotations

import torch
from torch import Tensor

from .._utils import check_positive
from .base import Objective, Step

__all__ = ["BarlowTwins", "barlow_twins_loss"]


def _standardize(h: Tensor, eps: float) -> Tensor:
    return (h - h.mean(dim=0)) / (h.std(dim=0) + eps)


def barlow_twins_loss(h1: Tensor, h2: Tensor, lambd: float | None = None,
                      eps: float = 1e-15) -> tuple[Tensor, Tensor, Tensor]:
    r"""The Barlow Twins loss of G-BT in O(N·d²) time and O(d²) extra memory.

    Each view is standardised per dimension over the nodes (unbiased std, plus ``eps``), the
    cross-correlation is :math:`C = \frac1N \hat z_1^\top \hat z_2`, and

    .. math::
        \mathcal L = \sum_k (1 - C_{kk})^2 + \lambda \sum_{k \ne l} C_{kl}^2,
        \qquad \lambda = 1/d \text{ by default.}

    Args:
        h1, h2: ``[N, d]`` embeddings of the two views (``N >= 2``).
        lambd: weight of the off-diagonal term (default: ``1/d``, G-BT's).
        eps: added to the standard deviations (default: 1e-15, G-BT's).

    Returns:
        (Tensor, Tensor, Tensor): the loss, its on-diagonal and its off-diagonal term.

    Example:
        >>> h = torch.randn(50, 4)
        >>> loss, on, off = barlow_twins_loss(h, h)
        >>> round(float(on), 4)  # C_kk = (N - 1) / N with the unbiased std
        0.0016
    """
    if h1.dim() != 2 or h1.shape != h2.shape or h1.size(0) < 2:
        raise ValueError(f"barlow_twins_loss expects two [N, d] embeddings of one shape with "
                         f"N >= 2, got {list(h1.shape)} and {list(h2.shape)}")
    n, d = h1.shape
    lambd = 1.0 / d if lambd is None else float(check_positive(lambd, "lambd", "BarlowTwins",
                                                                 allow_zero=True))
    c = _standardize(h1, eps).t() @ _standardize(h2, eps) / n
    diag = torch.diagonal(c)
    on = (1 - diag).pow(2).sum()
    off = c.pow(2).sum() - diag.pow(2).sum()
    return on + lambd * off, on, off


class BarlowTwins(Objective):
    """G-BT's objective (see :func:`barlow_twins_loss`); logs ``on_diag`` and ``off_diag``.

    Args:
        lambd: off-diagonal weight (default: ``None``, ``1/d``).
        eps: added to the standard deviations (default: 1e-15).

    Example:
        >>> BarlowTwins()(torch.randn(20, 8), torch.randn(20, 8)).shape
        torch.Size([])
    """

    def __init__(self, lambd: float | None = None, eps: float = 1e-15) -> None:
        super().__init__()
        if lambd is not None:
            check_positive(lambd, "lambd", "BarlowTwins", allow_zero=True)
        self.lambd = lambd
        self.eps = float(check_positive(eps, "eps", "BarlowTwins", allow_zero=True))

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        loss, on, off = barlow_twins_loss(h1, h2, self.lambd, self.eps)
        if step is not None:
            step.log("on_diag", on)
            step.log("off_diag", off)
        return loss

    def extra_repr(self) -> str:
        return f"lambd={'1/d' if self.lambd is None else self.lambd}"
