"""MVGRL's cross-view node-graph objective (Hassani & Khasahmadi, ICML 2020)."""

from __future__ import annotations

from torch import Tensor

from .base import Objective, Step
from .infomax import BilinearDiscriminator, Readout, binary_scores_loss, graph_index

__all__ = ["MVGRLObjective"]


class MVGRLObjective(Objective):
    r"""Score each view's nodes against the other view's summary; the corrupted views' nodes
    are the negatives.

    ``h1`` and ``h2`` are the encoder outputs of the two views (adjacency and diffusion);
    ``step.negatives`` holds those of their feature-shuffled copies
    (:class:`gcl.modules.CrossViewModule` draws them). With summaries
    :math:`s_v = \sigma(\mathrm{mean}_i h^v_i)` per (sub-sampled) graph and the shared bilinear
    score :math:`D`,

    .. math::
        \mathcal L = \mathrm{BCE}\big([D(h^2_i, s_1), D(h^1_i, s_2)] \to 1,\;
            [D(\tilde h^2_i, s_1), D(\tilde h^1_i, s_2)] \to 0\big),

    averaged over the ``4N`` scores. With ``step.data.batch`` (MVGRL's batch of sub-sampled
    graphs) the summaries are per graph.

    Args:
        dim: embedding size.

    Example:
        >>> import torch
        >>> from gcl.objectives import Step
        >>> h1, h2, n1, n2 = torch.randn(4, 6, 3).unbind(0)
        >>> step = Step(epoch=1, negatives=(n1, n2))
        >>> MVGRLObjective(3)(h1, h2, step).shape
        torch.Size([])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.readout = Readout()
        self.discriminator = BilinearDiscriminator(dim)

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        negatives = getattr(step, "negatives", None)
        if negatives is None:
            raise ValueError("MVGRLObjective needs the corrupted views' embeddings in "
                             "step.negatives: train it with gcl.modules.CrossViewModule("
                             "..., corruption=ShuffleFeatures())")
        n1, n2 = negatives
        if not (h1.dim() == 2 and h1.shape == h2.shape == n1.shape == n2.shape):
            raise ValueError(f"MVGRLObjective expects four [N, d] embeddings of one shape, got "
                             f"{[list(t.shape) for t in (h1, h2, n1, n2)]}")
        batch = graph_index(step, h1.size(0))
        s1, s2 = self.readout(h1, batch), self.readout(h2, batch)
        disc = self.discriminator
        return binary_scores_loss([disc(h2, s1, batch), disc(h1, s2, batch)],
                                  [disc(n2, s1, batch), disc(n1, s2, batch)])
