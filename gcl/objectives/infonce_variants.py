"""InfoNCE with label positives, debiased negatives and hardness-weighted negatives.

Three options of GRACE's InfoNCE (:func:`gcl.objectives.info_nce`), alone or together, on a
dense and a memory-bounded blockwise path with the same values and gradients:

* **positives from labels** (supervised / semi-supervised contrast, SupCon's "out" form, as
  PyGCL's ``extra_pos_mask``): nodes with the anchor's label are positives in both views, the
  other view's copy of the anchor always is one; label ``-1`` means unknown (no extra positive);
* **debiased negatives** (Chuang et al., NeurIPS 2020) with class prior ``tau_plus``;
* **hardness-weighted negatives** (Robinson et al., ICLR 2021) with concentration ``beta``.

For an anchor ``i`` with similarities ``s = cos / τ`` to its candidates (the other view's nodes
and, with ``intra_view``, its own view's other nodes), positives ``P(i)`` and negatives
``N(i)`` (the rest), ``M = |N(i)|``:

.. math::
    w_n = M\\,\\frac{e^{\\beta s_n}}{\\sum_{n'} e^{\\beta s_{n'}}},\\qquad
    N_g = \\sum_{n} w_n e^{s_n},\\qquad
    N_g \\leftarrow \\max\\Big(\\frac{N_g - \\tau^+ M \\,\\overline{e^{s_p}}}{1 - \\tau^+},
    \\; M e^{-1/\\tau}\\Big)\\ \\text{if}\\ \\tau^+ > 0,

.. math::
    \\ell(i) = -\\frac{1}{|P(i)|}\\sum_{p \\in P(i)} \\log
        \\frac{e^{s_p}}{\\sum_{p' \\in P(i)} e^{s_{p'}} + N_g}

(``β = 0``: ``w = 1``; ``\\overline{e^{s_p}}`` is the mean over the positives). With one
positive and no option this is GRACE's InfoNCE; with one positive it is the loss of Chuang et
al. (``β = 0``) and of Robinson et al. The loss averages ``ℓ`` over the anchors of view 1, or
of both views (``symmetric``). Everything is computed relative to each anchor's largest
similarity, so no exponential overflows.

The blockwise path computes ``B`` anchors at a time under ``torch.utils.checkpoint``: the
forward pass keeps no ``B x N`` block, the backward pass recomputes each block, so memory is
``O(N·d + B·N)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from .._utils import check_positive

__all__ = ["info_nce_variant", "check_variant_options"]


def check_variant_options(tau_plus: float, beta: float, owner: str) -> tuple[float, float]:
    """Validate ``tau_plus`` (in [0, 1)) and ``beta`` (>= 0).

    Args:
        tau_plus: the debiasing class prior.
        beta: the hardness concentration.
        owner: the class or function named in errors.

    Returns:
        tuple: ``(tau_plus, beta)`` as floats.

    Example:
        >>> check_variant_options(0.1, 1, "InfoNCE")
        (0.1, 1.0)
    """
    tau_plus = float(check_positive(tau_plus, "tau_plus", owner, allow_zero=True))
    if tau_plus >= 1.0:
        raise ValueError(f"argument 'tau_plus' of {owner} is a class prior in [0, 1), got "
                         f"{tau_plus}")
    return tau_plus, float(check_positive(beta, "beta", owner, allow_zero=True))


def _positive_rows(positives: Tensor | None, rows: slice, n: int, device) -> Tensor | None:
    """Extra positives of the anchors ``rows`` against all ``n`` nodes (``None``: none)."""
    if positives is None:
        return None
    if positives.dim() == 1:
        y = positives.to(device)
        return (y[rows].unsqueeze(1) == y.unsqueeze(0)) & (y[rows] >= 0).unsqueeze(1)
    return positives[rows].to(device)


def _anchor_losses(a: Tensor, o: Tensor, rows: slice, positives: Tensor | None, tau: float,
                   tau_plus: float, beta: float, intra_view: bool) -> Tensor:
    """``ℓ`` of the anchors ``a[rows]`` (L2-normalised) against the other view ``o`` and, with
    ``intra_view``, their own view ``a`` without themselves."""
    n = a.size(0)
    start = rows.start
    anchors = a[rows] / tau
    b = anchors.size(0)
    idx = torch.arange(b, device=a.device)
    inter = anchors @ o.t()  # [b, n]
    pos_inter = torch.zeros(b, n, dtype=torch.bool, device=a.device)
    pos_inter[idx, idx + start] = True
    extra = _positive_rows(positives, rows, n, a.device)
    if extra is not None:
        pos_inter |= extra
    sims, pos, valid = [inter], [pos_inter], [torch.ones_like(pos_inter)]
    if intra_view and n > 1:
        intra = anchors @ a.t()
        self_mask = torch.zeros(b, n, dtype=torch.bool, device=a.device)
        self_mask[idx, idx + start] = True
        sims.append(intra)
        pos.append(extra & ~self_mask if extra is not None else torch.zeros_like(self_mask))
        valid.append(~self_mask)
    s, p, v = torch.cat(sims, 1), torch.cat(pos, 1), torch.cat(valid, 1)
    neg = v & ~p
    shift = s.masked_fill(~v, -math.inf).amax(1, keepdim=True).detach()
    e = torch.exp(s - shift).masked_fill(~v, 0.0)  # e^{s} relative to the row's largest
    m = neg.sum(1, keepdim=True).to(s.dtype)
    if beta > 0:
        has_neg = neg.any(1, keepdim=True)  # rows without negatives: weights unused (m = 0)
        wlog = torch.where(has_neg, (beta * s).masked_fill(~neg, -math.inf), 0.0)
        weights = m * torch.softmax(wlog, dim=1)
        ng = (weights * e).sum(1, keepdim=True)
    else:
        ng = (e * neg).sum(1, keepdim=True)
    pos_e = e * p
    npos = p.sum(1, keepdim=True).to(s.dtype)
    if tau_plus > 0:
        floor = m * torch.exp(-1.0 / tau - shift)
        ng = torch.maximum((ng - tau_plus * m * pos_e.sum(1, keepdim=True) / npos)
                           / (1.0 - tau_plus), floor)
    log_den = torch.log(pos_e.sum(1, keepdim=True) + ng)
    log_num = (s - shift).masked_fill(~p, 0.0)
    return -((log_num - log_den) * p).sum(1) / npos.squeeze(1)


def _mean_losses(z1, z2, positives, tau, tau_plus, beta, intra_view, symmetric, block):
    n = z1.size(0)
    total = z1.new_zeros(())
    directions = [(z1, z2)] + ([(z2, z1)] if symmetric else [])
    for a, o in directions:
        for s in range(0, n, block):
            rows = slice(s, min(s + block, n))
            if block >= n:
                part = _anchor_losses(a, o, rows, positives, tau, tau_plus, beta, intra_view)
            else:
                part = checkpoint(_anchor_losses, a, o, rows, positives, tau, tau_plus, beta,
                                  intra_view, use_reentrant=False)
            total = total + part.sum()
    return total / (n * len(directions))


def info_nce_variant(h1: Tensor, h2: Tensor, tau: float = 0.5, *,
                     positives: Tensor | None = None, tau_plus: float = 0.0, beta: float = 0.0,
                     intra_view: bool = True, symmetric: bool = True,
                     block_size: int | None = None) -> Tensor:
    """InfoNCE with label positives, debiased and hardness-weighted negatives (see the module).

    Args:
        h1, h2: ``[N, d]`` embeddings of the two views (row ``i`` of each is the same node).
        tau: temperature τ > 0 (default: 0.5).
        positives: ``[N]`` labels (``-1``: unknown) or a boolean ``[N, N]`` matrix of extra
            positives (row ``i``: the positives of anchor ``i`` in either view); default: none.
        tau_plus: class prior of the debiased estimator, in [0, 1) (default: 0, off).
        beta: hardness concentration, >= 0 (default: 0, off).
        intra_view: the anchor's own view is a source of candidates (default: ``True``).
        symmetric: average the anchors of both views (default: ``True``).
        block_size: ``None`` (default): dense up to
            :data:`gcl.objectives.infonce.DENSE_MAX_NODES` nodes, else blocks of
            :func:`gcl.objectives.blockwise.auto_block_size` anchors; ``0``: dense; ``B``:
            blocks of ``B`` anchors.

    Returns:
        Tensor: the mean loss.

    Example:
        >>> h = torch.randn(6, 4)
        >>> y = torch.tensor([0, 0, 1, 1, -1, 2])
        >>> loss = info_nce_variant(h, h + 0.1, 0.5, positives=y, tau_plus=0.1, beta=1.0)
        >>> loss.dim()
        0
    """
    from .blockwise import auto_block_size
    from .infonce import DENSE_MAX_NODES, _check_pair

    _check_pair(h1, h2, "info_nce_variant")
    check_positive(tau, "tau", "info_nce_variant")
    tau_plus, beta = check_variant_options(tau_plus, beta, "info_nce_variant")
    n = h1.size(0)
    if positives is not None:
        ok = (positives.dim() == 1 and positives.numel() == n) or (
            positives.dim() == 2 and tuple(positives.shape) == (n, n)
            and positives.dtype == torch.bool)
        if not ok:
            raise ValueError(f"info_nce_variant: positives must be [N] labels or a boolean "
                             f"[N, N] mask with N = {n}, got {list(positives.shape)}")
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int)
                                   or block_size < 0):
        raise ValueError(f"block_size must be None, 0 (dense) or a positive integer, got "
                         f"{block_size!r}")
    if block_size is None:
        block = n if n <= DENSE_MAX_NODES else auto_block_size(n, device=str(h1.device))
    else:
        block = n if block_size == 0 else block_size
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
    return _mean_losses(z1, z2, positives, float(tau), tau_plus, beta, intra_view, symmetric,
                        block)
