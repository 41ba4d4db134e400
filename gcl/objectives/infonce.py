"""GRACE's InfoNCE: inter-view and intra-view negatives, symmetric over the two views."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils import check_positive
from ..distributed.world import current_world
from .base import Objective, Step
from .blockwise import blockwise_info_nce_normalized
from .precision import check_precision, similarity

__all__ = ["info_nce", "InfoNCE", "DENSE_MAX_NODES"]

#: Above this many nodes, ``info_nce(block_size=None)`` switches to the memory-bounded blockwise
#: computation (same values and gradients). Set per call with ``block_size``.
DENSE_MAX_NODES = 1024


def _check_pair(h1: Tensor, h2: Tensor, owner: str) -> None:
    if not isinstance(h1, Tensor) or not isinstance(h2, Tensor):
        raise ValueError(f"{owner} expects two tensors, got {type(h1).__name__}, {type(h2).__name__}")
    if h1.dim() != 2 or h1.shape != h2.shape:
        raise ValueError(
            f"{owner} expects two [N, d] embeddings of the same shape, got {list(h1.shape)} and "
            f"{list(h2.shape)}"
        )
    if h1.size(0) == 0:
        raise ValueError(f"{owner} got empty embeddings (N = 0)")


def _check_bias(col_bias: Tensor | None, n: int, owner: str) -> None:
    if col_bias is not None and (col_bias.dim() != 1 or col_bias.numel() != n):
        raise ValueError(
            f"{owner}: col_bias must be a [N] tensor with N = {n}, got {list(col_bias.shape)}"
        )


def _intra_lse(scaled: Tensor, z: Tensor, col_bias: Tensor | None, precision: str) -> Tensor:
    """Row log-sum-exp of the intra-view logits without the diagonal (the anchor itself)."""
    intra = similarity(scaled, z, precision)
    if col_bias is not None:
        intra = intra + col_bias.unsqueeze(0)
    # `intra` is a fresh tensor that autograd has not saved, so masking its diagonal in place
    # is safe and avoids materialising an N x N mask.
    intra.diagonal().fill_(float("-inf"))
    return torch.logsumexp(intra, dim=1)


def _per_anchor_losses(z1: Tensor, z2: Tensor, tau: float, col_bias: Tensor | None,
                       intra_view: bool, symmetric: bool, precision: str = "fp32") -> Tensor:
    """Per-anchor ``-log softmax`` of the positive, in log-sum-exp form.

    ``z1`` and ``z2`` are L2-normalised ``[N, d]``. The temperature is folded into one side of
    each product (O(N d) instead of O(N^2)), and the inter-view matrix is computed once and read
    by rows for view-1 anchors and by columns for view-2 anchors. At a lowered precision both
    sides carry ``1/√τ`` instead, so that the rounded operands keep the intra-view matrices
    symmetric, as the blockwise path needs them.
    """
    if precision == "fp32":
        a1, a2, b1, b2 = z1 / tau, z2 / tau, z1, z2
    else:
        a1, a2 = z1 * tau**-0.5, z2 * tau**-0.5
        b1, b2 = a1, a2
    inter = similarity(a1, b2, precision)  # inter[i, j] = theta(z1_i, z2_j) / tau
    positive = (a1 * b2).sum(dim=1)
    use_intra = intra_view and z1.size(0) > 1
    if col_bias is None:
        lse1 = torch.logsumexp(inter, dim=1)
        lse2 = torch.logsumexp(inter, dim=0) if symmetric else None
    else:
        positive = positive + col_bias
        lse1 = torch.logsumexp(inter + col_bias.unsqueeze(0), dim=1)
        lse2 = torch.logsumexp(inter + col_bias.unsqueeze(1), dim=0) if symmetric else None
    if use_intra:
        lse1 = torch.logaddexp(lse1, _intra_lse(a1, b1, col_bias, precision))
    losses = lse1 - positive
    if symmetric:
        if use_intra:
            lse2 = torch.logaddexp(lse2, _intra_lse(a2, b2, col_bias, precision))
        losses = 0.5 * (losses + (lse2 - positive))
    return losses


def info_nce(h1: Tensor, h2: Tensor, tau: float = 0.5, *, col_bias: Tensor | None = None,
             intra_view: bool = True, symmetric: bool = True, reduction: str = "mean",
             block_size: int | None = None, keep_bytes: int | None = None,
             precision: str = "fp32", bias_spread: float | None = None) -> Tensor:
    r"""GRACE's InfoNCE between two views, computed with log-sum-exp (no overflow for small τ).

    For anchor :math:`i` of view 1, with cosine similarity :math:`\theta` and temperature τ,

    .. math::
        \ell_1(i) = -\log \frac{e^{\theta(h_i, h'_i)/\tau}}
            {\sum_j e^{\theta(h_i, h'_j)/\tau} + \sum_{j \ne i} e^{\theta(h_i, h_j)/\tau}}

    and the loss is :math:`\frac{1}{N}\sum_i \tfrac12(\ell_1(i) + \ell_2(i))`. A column bias
    :math:`b_j` (CSGCL's Team-up term :math:`\gamma s_j / \tau`) is added to every logit of
    column :math:`j` in both the inter-view and the intra-view block.

    Args:
        h1, h2: ``[N, d]`` embeddings of the two views (row i of each is the same node).
        tau: temperature τ > 0 (default: 0.5).
        col_bias: optional ``[N]`` bias added to the logits of each column.
        intra_view: include intra-view negatives (default: ``True``, as GRACE).
        symmetric: average both directions (default: ``True``); otherwise view 1 anchors only.
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (per-node ``[N]`` values).
        block_size: ``None`` (default) picks automatically: the dense computation up to
            :data:`DENSE_MAX_NODES` nodes, above it the exact blockwise one with an automatic
            block size (O(N·d + B·N) memory, see :mod:`gcl.objectives.blockwise`); ``0`` forces
            the dense computation; a positive ``B`` forces blockwise with ``B`` anchors per block.
            ``reduction="none"`` and a differentiable ``col_bias`` always use the dense path.
            Inside a distributed training step (:func:`gcl.distributed.current_world`) the
            loss is sharded over the ranks (:func:`gcl.distributed.sharded_info_nce`: the
            blockwise loss on the same path and at the same ``precision``), except for those
            two cases, which every rank computes whole.
        keep_bytes: blockwise path only: keep the similarity blocks for the backward pass when
            they fit in this many bytes (faster, more memory; default:
            :data:`gcl.objectives.blockwise.KEEP_BLOCKS_BYTES`, off).
        precision: ``"fp32"`` (default: the products in the embeddings' precision, exact),
            ``"tf32"`` or ``"bf16"``: the similarity products (and those of their gradients) at
            that precision, on the dense and the blockwise path alike; see
            :mod:`gcl.objectives.precision`.
        bias_spread: blockwise path only: an upper bound of ``col_bias.max() - col_bias.min()``
            known without reading the tensor, which saves one device synchronisation per call
            on a GPU (default: ``None``, read it; see
            :func:`gcl.objectives.blockwise.blockwise_info_nce_normalized`).

    Returns:
        Tensor: the loss.

    Example:
        >>> h = torch.randn(6, 4)
        >>> loss = info_nce(h, h + 0.1 * torch.randn(6, 4), tau=0.5)
        >>> loss.dim()
        0
    """
    _check_pair(h1, h2, "info_nce")
    check_positive(tau, "tau", "info_nce")
    _check_bias(col_bias, h1.size(0), "info_nce")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int)
                                   or block_size < 0):
        raise ValueError(f"block_size must be None, 0 (dense) or a positive integer, got {block_size!r}")
    check_precision(precision, "info_nce", h1.dtype)
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    n = h1.size(0)
    world = current_world()  # inside a distributed training step: this rank's rows only
    if world is not None and reduction != "none" and not (
            col_bias is not None and col_bias.requires_grad):
        from ..distributed.infonce import sharded_info_nce

        loss = sharded_info_nce(z1, z2, tau, world, col_bias=col_bias, intra_view=intra_view,
                                symmetric=symmetric, block_size=block_size or None,
                                keep_bytes=keep_bytes, precision=precision,
                                bias_spread=bias_spread)
        return loss * n if reduction == "sum" else loss
    dense = (block_size == 0 or reduction == "none"
             or (col_bias is not None and col_bias.requires_grad)
             or (block_size is None and n <= DENSE_MAX_NODES))
    if not dense:
        loss = blockwise_info_nce_normalized(z1, z2, tau, col_bias=col_bias, intra_view=intra_view,
                                             symmetric=symmetric, block_size=block_size,
                                             keep_bytes=keep_bytes, precision=precision,
                                             bias_spread=bias_spread)
        return loss * n if reduction == "sum" else loss
    losses = _per_anchor_losses(z1, z2, tau, col_bias, intra_view, symmetric, precision)
    if reduction == "mean":
        return losses.mean()
    if reduction == "sum":
        return losses.sum()
    return losses


class InfoNCE(Objective):
    """GRACE's InfoNCE objective (see :func:`info_nce`).

    Args:
        tau: temperature τ > 0 (default: 0.5).
        intra_view: include intra-view negatives (default: ``True``).
        symmetric: average over both anchor views (default: ``True``).
        block_size: dense / blockwise selection, see :func:`info_nce` (default: automatic).
        keep_blocks_mb: on the blockwise path, keep the similarity blocks for the backward pass
            when they fit in this many MiB instead of recomputing them (faster, more memory;
            default: ``None``, the module default, off).
        positives: extra positives from labels: ``None`` (default), ``"labels"`` (every
            node's ``data.y``: supervised contrast) or ``"train_labels"`` (only the labels of
            ``data.train_mask``: semi-supervised contrast); see
            :func:`gcl.objectives.infonce_variants.info_nce_variant`.
        tau_plus: debiased negatives with this class prior (Chuang et al., 2020) (default: 0,
            off).
        beta: hardness-weighted negatives with this concentration (Robinson et al., 2021)
            (default: 0, off).
        precision: ``"fp32"`` (default, exact), ``"tf32"`` or ``"bf16"`` similarity products
            (see :func:`info_nce`); the label-positive, debiased and hardness-weighted variants
            compute in fp32 only.

    Example:
        >>> loss_fn = InfoNCE(tau=0.4)
        >>> h1, h2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss_fn(h1, h2).shape
        torch.Size([])
    """

    def __init__(self, tau: float = 0.5, intra_view: bool = True, symmetric: bool = True,
                 block_size: int | None = None, keep_blocks_mb: float | None = None,
                 positives: str | None = None, tau_plus: float = 0.0, beta: float = 0.0,
                 precision: str = "fp32") -> None:
        super().__init__()
        self.precision = check_precision(precision, "InfoNCE")
        self._init_variant(positives, tau_plus, beta)
        if self._variant and self.precision != "fp32":
            raise ValueError(f"argument 'precision' of {type(self).__name__} must be 'fp32' with "
                             "positives, tau_plus or beta (their losses compute in fp32), got "
                             f"{self.precision!r}")
        if block_size is not None and (isinstance(block_size, bool)
                                       or not isinstance(block_size, int) or block_size < 0):
            raise ValueError(f"argument 'block_size' of InfoNCE must be None, 0 (dense) or a "
                             f"positive integer, got {block_size!r}")
        self.block_size = block_size
        if keep_blocks_mb is not None:
            check_positive(keep_blocks_mb, "keep_blocks_mb", "InfoNCE", allow_zero=True)
        self.keep_bytes = None if keep_blocks_mb is None else int(keep_blocks_mb * 2**20)
        self.tau = float(check_positive(tau, "tau", "InfoNCE"))
        self.intra_view = bool(intra_view)
        self.symmetric = bool(symmetric)

    def column_bias(self, step: Step | None, num_nodes: int) -> Tensor | None:
        """The per-column logit bias for this step (none for plain InfoNCE; Team-up overrides)."""
        return None

    def column_bias_spread(self, step: Step | None) -> float | None:
        """An upper bound of the spread (max - min) of :meth:`column_bias`, known without
        reading the bias tensor, or ``None`` (the loss then reads it)."""
        return None

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        if self._variant:
            return self._variant_loss(h1, h2, step)
        return info_nce(h1, h2, self.tau, col_bias=self.column_bias(step, h1.size(0)),
                        intra_view=self.intra_view, symmetric=self.symmetric,
                        block_size=self.block_size, keep_bytes=self.keep_bytes,
                        precision=self.precision, bias_spread=self.column_bias_spread(step))

    # -- label positives, debiased and hardness-weighted negatives (infonce_variants.py) --------
    def _init_variant(self, positives: str | None, tau_plus: float, beta: float) -> None:
        from .infonce_variants import check_variant_options

        if positives not in (None, "labels", "train_labels"):
            raise ValueError(f"argument 'positives' of {type(self).__name__} must be None, "
                             f"'labels' or 'train_labels', got {positives!r}")
        self.positives = positives
        self.tau_plus, self.beta = check_variant_options(tau_plus, beta, type(self).__name__)
        self._variant = positives is not None or self.tau_plus > 0 or self.beta > 0

    def positive_labels(self, step: Step | None, num_nodes: int) -> Tensor | None:
        """The labels that make positives this step (``-1``: unknown): ``step.data.y`` (its
        first ``num_nodes`` rows: a sampled batch's seeds), restricted to ``train_mask`` for
        ``positives="train_labels"``; ``None`` without ``positives``."""
        if self.positives is None:
            return None
        data = getattr(step, "data", None)
        y = getattr(data, "y", None)
        if y is None:
            raise ValueError(f"positives={self.positives!r} needs node labels: the step's "
                             "graph has no y")
        y = y.view(-1)[:num_nodes].long()
        if self.positives == "train_labels":
            mask = getattr(data, "train_mask", None)
            if mask is None or mask.dim() != 1:
                raise ValueError("positives='train_labels' needs a one-column train_mask on the "
                                 "graph")
            y = torch.where(mask[:num_nodes].to(y.device), y, -1)
        return y

    def _variant_loss(self, h1: Tensor, h2: Tensor, step: Step | None) -> Tensor:
        from .infonce_variants import info_nce_variant

        if self.column_bias(step, h1.size(0)) is not None:
            raise ValueError(f"{type(self).__name__}: positives, tau_plus and beta do not "
                             "combine with a column bias (Team-up)")
        if current_world() is not None:  # their losses have no sharded form yet
            raise ValueError(f"{type(self).__name__}: positives, tau_plus and beta train in one "
                             "process; run without torchrun (gcl.distributed)")
        return info_nce_variant(h1, h2, self.tau,
                                positives=self.positive_labels(step, h1.size(0)),
                                tau_plus=self.tau_plus, beta=self.beta,
                                intra_view=self.intra_view, symmetric=self.symmetric,
                                block_size=self.block_size)

    def extra_repr(self) -> str:
        extra = "".join(f", {k}={getattr(self, k)!r}" for k in ("positives", "tau_plus", "beta")
                        if getattr(self, k))
        if self.precision != "fp32":
            extra += f", precision={self.precision!r}"
        return f"tau={self.tau}, intra_view={self.intra_view}, symmetric={self.symmetric}{extra}"
