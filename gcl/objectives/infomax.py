"""The parts of DGI's and MVGRL's local-global objectives: a mean-and-sigmoid readout and a
bilinear discriminator, both per graph when the nodes come from several graphs (``batch``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._utils import check_positive

__all__ = ["Readout", "BilinearDiscriminator", "graph_index", "binary_scores_loss"]


def graph_index(step, num_rows: int) -> Tensor | None:
    """The graph of each row, read from ``step.data.batch`` when it has one entry per row (a
    sub-sampled union of graphs), else ``None`` (one graph).

    Args:
        step: the :class:`~gcl.objectives.Step` (or ``None``).
        num_rows: the number of embedding rows.

    Returns:
        Tensor | None: ``[num_rows]`` graph ids, or ``None``.

    Example:
        >>> graph_index(None, 3) is None
        True
    """
    batch = getattr(getattr(step, "data", None), "batch", None)
    if isinstance(batch, Tensor) and batch.dim() == 1 and batch.numel() == num_rows:
        return batch
    return None


class Readout(nn.Module):
    """DGI's summary vector: the mean of the node embeddings, through a sigmoid; one summary
    per graph when ``batch`` gives each node's graph.

    Example:
        >>> Readout()(torch.zeros(4, 2)).tolist()
        [[0.5, 0.5]]
        >>> Readout()(torch.tensor([[2.], [0.], [-9.]]), torch.tensor([0, 0, 1])).shape
        torch.Size([2, 1])
    """

    def forward(self, h: Tensor, batch: Tensor | None = None) -> Tensor:
        """Summaries ``sigmoid(mean_i h_i)``: ``[1, d]``, or ``[G, d]`` with ``batch``."""
        if batch is None:
            return torch.sigmoid(h.mean(dim=0, keepdim=True))
        count = int(batch.max()) + 1
        sums = torch.zeros(count, h.size(1), dtype=h.dtype, device=h.device).index_add_(0, batch, h)
        sizes = torch.bincount(batch, minlength=count).clamp_min(1).to(h.dtype)
        return torch.sigmoid(sums / sizes.unsqueeze(1))


class BilinearDiscriminator(nn.Module):
    """The score ``h^T W s + b`` of a node embedding ``h`` against a summary ``s``
    (``torch.nn.Bilinear``, Xavier-uniform ``W``, zero ``b``, as DGI's and MVGRL's reference).

    Args:
        dim: embedding size.

    Example:
        >>> disc = BilinearDiscriminator(3)
        >>> disc(torch.randn(5, 3), torch.randn(1, 3)).shape
        torch.Size([5])
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        check_positive(dim, "dim", "BilinearDiscriminator", integer=True)
        self.bilinear = nn.Bilinear(dim, dim, 1)
        nn.init.xavier_uniform_(self.bilinear.weight)
        nn.init.zeros_(self.bilinear.bias)

    def forward(self, h: Tensor, summary: Tensor, batch: Tensor | None = None) -> Tensor:
        """Scores ``[N]`` of the rows of ``h`` against their graph's summary (``summary[0]``
        for all rows without ``batch``).

        Computed as ``h · (W s)`` with ``W s`` once per graph: ``O(N d + G d²)``, where
        ``torch.nn.functional.bilinear`` would build an ``[N, d, d]``-sized intermediate.
        """
        ws = summary @ self.bilinear.weight[0].t()  # [G, d]: row g is W s_g
        ws = ws[batch] if batch is not None else ws.expand(h.size(0), -1)
        return (h * ws).sum(-1) + self.bilinear.bias


def binary_scores_loss(positive: list[Tensor], negative: list[Tensor]) -> Tensor:
    """Binary cross-entropy of scores that should be high (``positive``) and low
    (``negative``), averaged over all of them (``BCEWithLogitsLoss`` over their concatenation).

    Args:
        positive: score tensors labelled 1.
        negative: score tensors labelled 0.

    Returns:
        Tensor: the mean loss.

    Example:
        >>> round(float(binary_scores_loss([torch.zeros(2)], [torch.zeros(2)])), 4)
        0.6931
    """
    logits = torch.cat([*positive, *negative])
    target = torch.cat([torch.ones(sum(p.numel() for p in positive)),
                        torch.zeros(sum(n.numel() for n in negative))]).to(logits)
    return F.binary_cross_entropy_with_logits(logits, target)
