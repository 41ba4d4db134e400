"""DGI's objective: nodes of the graph against nodes of its corrupted copy (Veličković et al.,
ICLR 2019)."""

from __future__ import annotations

from torch import Tensor

from .base import Objective, Step
from .infomax import BilinearDiscriminator, Readout, binary_scores_loss, graph_index

__all__ = ["DGIObjective"]


class DGIObjective(Objective):
    r"""Deep Graph Infomax: tell the real graph's nodes from the corrupted graph's, both scored
    against the real graph's summary.

    The two views map onto DGI as ``h1`` = the encoder output on the graph and ``h2`` = the
    encoder output on its corruption (a pipeline with ``augment=(Identity(), ShuffleFeatures())``).
    With the summary :math:`s = \sigma(\frac1N \sum_i h_i)` and the bilinear score
    :math:`D(h, s) = h^\top W s + b`,

    .. math::
        \mathcal L = -\frac{1}{2N}\Big(\sum_i \log \sigma(D(h_i, s))
            + \sum_j \log\big(1 - \sigma(D(\tilde h_j, s))\big)\Big).

    The readout and the discriminator's ``W`` and ``b`` are parameters of this objective (the
    optimiser trains them with the encoder). With ``step.data.batch`` (several graphs), each
    node is scored against its own graph's summary.

    Args:
        dim: embedding size (the encoder's output).

    Example:
        >>> import torch
        >>> loss_fn = DGIObjective(8)
        >>> h = torch.randn(10, 8)
        >>> loss_fn(h, h[torch.randperm(10)]).shape
        torch.Size([])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.readout = Readout()
        self.discriminator = BilinearDiscriminator(dim)

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        if h1.dim() != 2 or h1.shape != h2.shape:
            raise ValueError(f"DGIObjective expects the graph's and the corrupted graph's [N, d] "
                             f"embeddings, got {list(h1.shape)} and {list(h2.shape)}")
        batch = graph_index(step, h1.size(0))
        summary = self.readout(h1, batch)
        return binary_scores_loss([self.discriminator(h1, summary, batch)],
                                  [self.discriminator(h2, summary, batch)])
