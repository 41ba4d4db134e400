"""The blocks of the blockwise InfoNCE (:mod:`gcl.objectives.blockwise`): which path a call
takes and with which operands (:class:`_Plan`), the per-anchor denominators (:class:`_Sums`), and
how one block of ``S12`` or of an intra-view triangle is folded into them (forward) or turned
into gradient weights (backward), on the one-exponential and on the general path.

A plan made with a ``world`` (a distributed training step) covers only that rank's row blocks:
its rows of ``S12`` (:func:`gcl.distributed.shard_rows`) and of the intra-view upper triangles
(:func:`gcl.distributed.triangle_rows`); :func:`_all_reduce_sums` then combines the ranks'
partial denominators into the exact ones of all anchors.

Example:
    >>> round(single_exp_range(torch.float32, 10_000))
    63
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..distributed.world import shard_rows, triangle_rows
from .precision import Products

__all__ = ["single_exp_range"]


def single_exp_range(dtype: torch.dtype, num_nodes: int) -> float:
    """The largest ``1/τ + (max b − min b)`` for which the one-exponential path is exact.

    ``E = exp(S)`` lies in ``[e^-L, e^L]`` (``L = 1/τ``), the bias weights ``y`` in
    ``[e^-R, 1]``: a row or column sum stays below the largest float while ``L + ln N`` does, and
    its largest term stays a normal number with all its significant bits while ``L + R`` (and,
    for the backward pass's ``p = w / (r y)``, ``L + 2R``) stays below ``ln(tiny) + ln(eps)``
    in magnitude; a margin of 8 covers the rounding of ``S`` and the ``ln`` of the weights.

    Args:
        dtype: the embeddings' floating dtype.
        num_nodes: ``N``.

    Returns:
        float: the bound on ``L + 2R`` (the path also needs ``L + ln N`` below the overflow
        limit, which this bound implies up to ``N = e^20`` in fp32).

    Example:
        >>> round(single_exp_range(torch.float32, 10_000))
        63
    """
    fi = torch.finfo(dtype)
    underflow = -math.log(fi.tiny) + math.log(fi.eps)  # 70.7 in fp32, 671 in fp64
    overflow = math.log(fi.max) - math.log(max(num_nodes, 1))
    return min(underflow, overflow) - 8.0


def _blocks(n: int, block: int, start: int = 0):
    """Row blocks ``(s, e)`` of at most ``block`` rows covering rows ``start .. n - 1``."""
    for s in range(start, n, block):
        yield s, min(s + block, n)


def _triangle_elements(n: int, block: int, rows: tuple[int, int] | None = None) -> int:
    """Elements of the row blocks ``S[s:e, s:]`` that cover the upper triangle of an ``n x n``
    symmetric matrix (diagonal blocks included), or its rows ``rows``: about ``n (n + block) / 2``
    for all rows."""
    start, stop = (0, n) if rows is None else rows
    return sum((e - s) * (n - s) for s, e in _blocks(stop, block, start))


def _online_lse_(run_max: Tensor, run_sum: Tensor, rows: slice, vals: Tensor, dim: int) -> None:
    """Fold ``vals`` into the running log-sum-exp ``(run_max, run_sum)`` of ``rows``, reducing
    over ``dim`` (entries of ``-inf`` count for nothing, also when a whole row is ``-inf``)."""
    new_max = torch.maximum(run_max[rows], vals.amax(dim=dim))
    shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    run_sum[rows] = (run_sum[rows] * torch.exp(run_max[rows] - shift)
                     + torch.exp(vals - shift.unsqueeze(dim)).sum(dim=dim))
    run_max[rows] = new_max


class _Sums:
    """The denominators of one view's anchors, accumulated over blocks.

    One-exponential path: ``total[i] = Σ_j E_ij y_j`` directly (``max`` is ``None``); general
    path: a running log-sum-exp ``(max, total)`` of the biased logits.
    """

    def __init__(self, n: int, like: Tensor, single: bool) -> None:
        self.total = torch.zeros(n, dtype=like.dtype, device=like.device)
        self.max = None if single else torch.full((n,), -math.inf, dtype=like.dtype,
                                                  device=like.device)

    def add_exp(self, rows: slice, e: Tensor, weights: Tensor | None, dim: int) -> None:
        """One-exponential path: add the sums of ``e`` over ``dim``, weighted by ``weights``."""
        if weights is None:
            self.total[rows] += e.sum(dim=dim)
        else:
            self.total[rows] += torch.mv(e if dim == 1 else e.t(), weights)

    def add_logits(self, rows: slice, vals: Tensor, dim: int) -> None:
        """General path: fold the logits ``vals`` over ``dim``."""
        _online_lse_(self.max, self.total, rows, vals, dim)

    def lse(self, shift: Tensor | float) -> Tensor:
        if self.max is None:
            return torch.log(self.total) + shift
        return self.max + torch.log(self.total)


def _all_reduce_sums(world, sums: list[_Sums]) -> None:
    """Replace each rank's partial denominators by those of all ranks (exactly: the sums of
    the one-exponential path; the running log-sum-exps rescaled to the global maxima)."""
    total = torch.stack([x.total for x in sums])
    run_max = None if sums[0].max is None else torch.stack([x.max for x in sums])
    if run_max is None:
        world.all_reduce_(total, "sum")
    else:  # run_max becomes the global maximum, total the sum rescaled to it
        world.reduce_lse_(run_max, total)
    for k, x in enumerate(sums):
        x.total = total[k]
        if run_max is not None:
            x.max = run_max[k]


class _Plan:
    """What one call needs in both passes: sizes, the path, the bias weights, the products."""

    def __init__(self, u1: Tensor, bias: Tensor | None, tau: float, intra: bool,
                 symmetric: bool, block: int, precision: str, bias_spread: float | None,
                 world=None) -> None:
        self.n = u1.size(0)
        # the row blocks this process computes: all of them, or a rank's share (its rows of
        # S12 and of the upper triangles of S11 and S22, see gcl.distributed)
        self.world = world
        self.rows = (0, self.n) if world is None else shard_rows(self.n, world.rank, world.size)
        self.tri = (0, self.n) if world is None else triangle_rows(self.n, world.rank,
                                                                   world.size)
        self.inv_tau = 1.0 / tau
        self.intra = intra and self.n > 1
        self.symmetric = symmetric
        self.block = block
        self.bias = bias
        self.products = Products(precision, u1.device)
        if bias is not None and bias_spread is None:
            bias_spread = float(bias.max() - bias.min())  # one read per call when not given
        spread = 0.0 if bias is None else bias_spread
        self.single = self.inv_tau + 2 * spread <= single_exp_range(u1.dtype, self.n)
        # S = (u c)(u c)ᵀ, c = 1/√τ: one operand per view, so that S11 and S22 stay exactly
        # symmetric (their triangles stand for the whole) when the operands are rounded (TF32,
        # bf16). The one-exponential path in full precision works in base 2: with c² = log₂e/τ
        # the blocks hold S log₂e and exp2 (faster than exp on the CPU) gives the same e^S.
        self.base2 = self.single and precision == "fp32"
        self.scale = ((math.log2(math.e) if self.base2 else 1.0) / tau) ** 0.5
        # the gradient products read v = u c, so their sums are 1/(τ c) short of dL/du
        self.grad_scale = self.inv_tau / self.scale
        self.bias_max = 0.0
        self.y = None  # exp(b - max b): the bias as factors of the one-exponential path
        if self.single and bias is not None:
            self.bias_max = bias.max()
            self.y = torch.exp(bias - self.bias_max).to(u1.dtype)

    def exp_(self, q: Tensor) -> Tensor:
        """The one-exponential path's ``E = e^S`` in place, from a block as computed."""
        return q.exp2_() if self.base2 else q.exp_()

    def operands(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``v = u c`` as the similarity products' operand, and ``diag(y) v`` as the gradient
        products' (the same tensor without a bias)."""
        v = self.products.operand(u * self.scale)
        if self.y is None:
            return v, v
        return v, self.products.operand(u * (self.scale * self.y).unsqueeze(1))

    def similarities(self, a: Tensor, bt: Tensor, buf: Tensor | None) -> Tensor:
        """``a @ bt`` into the front of ``buf`` (or a fresh tensor)."""
        out = None if buf is None else buf[:a.size(0) * bt.size(1)].view(a.size(0), bt.size(1))
        return self.products.mm(a, bt, out=out)


def _fold_inter(plan: _Plan, q: Tensor, s: int, e: int, rows1: _Sums, cols2: _Sums | None):
    """Fold block ``S12[s:e]`` (``q``, consumed) into the view-1 sums of rows ``s:e`` and the
    view-2 sums of every column."""
    if plan.single:
        plan.exp_(q)
        rows1.add_exp(slice(s, e), q, plan.y, dim=1)
        if cols2 is not None:
            cols2.add_exp(slice(None), q, None if plan.y is None else plan.y[s:e], dim=0)
        return q
    bias = plan.bias
    if cols2 is not None:  # view-2 anchors read columns, with the bias of the block's rows
        cols2.add_logits(slice(None), q if bias is None else q + bias[s:e].unsqueeze(1), dim=0)
    rows1.add_logits(slice(s, e), q if bias is None else q + bias.unsqueeze(0), dim=1)
    return q


def _fold_intra(plan: _Plan, q: Tensor, s: int, e: int, sums: _Sums):
    """Fold the triangle row block ``S[s:e, s:]`` (``q``, consumed) of a symmetric intra-view
    matrix into the sums of rows ``s:e`` (without the diagonal) and, transposed, rows ``e:``."""
    n, bias = plan.n, plan.bias
    if plan.single:
        plan.exp_(q).diagonal().fill_(0.0)  # S[i, i]: row block s:e starts at column s
        y = plan.y
        sums.add_exp(slice(s, e), q, None if y is None else y[s:], dim=1)
        if e < n:
            sums.add_exp(slice(e, None), q[:, e - s:], None if y is None else y[s:e], dim=0)
        return q
    if e < n:
        c = q[:, e - s:] if bias is None else q[:, e - s:] + bias[s:e].unsqueeze(1)
        sums.add_logits(slice(e, None), c, dim=0)
    vals = q.clone() if bias is None else q + bias[s:].unsqueeze(0)
    vals.diagonal().fill_(-math.inf)
    sums.add_logits(slice(s, e), vals, dim=1)
    return q


def _fold_intra_view(plan: _Plan, v: Tensor, sums: _Sums, kept: list[Tensor] | None,
                     buf: Tensor | None) -> None:
    """Fold the intra-view matrix ``S = v vᵀ`` (``v = u c``, prepared) into ``sums``, one
    triangle row block at a time (this process's rows of it); ``kept`` collects the blocks."""
    for s, e in _blocks(plan.tri[1], plan.block, plan.tri[0]):
        q = _fold_intra(plan, plan.similarities(v[s:e], v[s:].t(), buf), s, e, sums)
        if kept is not None:
            kept.append(q)


def _intra_lse(u: Tensor, bias: Tensor | None, inv_tau: float, block: int,
               kept: list[Tensor] | None = None) -> Tensor:
    """Per-row log-sum-exp of ``S + b`` without the diagonal, ``S = u uᵀ/τ`` (one view's
    intra-view denominators), from the row blocks ``S[s:e, s:]`` of its upper triangle only:
    each entry is computed once and sent to its row and its column. ``kept`` collects the
    blocks (exponentiated on the one-exponential path)."""
    plan = _Plan(u, bias, 1.0 / inv_tau, True, False, block, "fp32", None)
    sums = _Sums(plan.n, u, plan.single)
    _fold_intra_view(plan, u * plan.scale, sums, kept, None)
    return sums.lse(plan.bias_max)


def _grad_inter(plan: _Plan, q: Tensor, s: int, e: int, side1: Tensor, side2: Tensor | None,
                buf: Tensor) -> Tensor:
    """The gradient weights of block ``S12[s:e]`` from ``q`` (consumed): ``E ⊙ (p1 1ᵀ + 1 p2ᵀ)``
    on the one-exponential path (``q`` is ``E``), ``w1 P1 + w2 P2`` on the general path (``q``
    is ``S``; ``side`` are the log-sum-exps with the weights' logs folded in)."""
    if plan.single:
        if side2 is None:
            return q.mul_(side1[s:e].unsqueeze(1))
        w = buf[:q.numel()].view_as(q)
        torch.add(side1[s:e].unsqueeze(1), side2.unsqueeze(0), out=w)
        return q.mul_(w)
    bias = plan.bias
    grad = None
    if side2 is not None:
        t2 = q - side2.unsqueeze(0)
        if bias is not None:
            t2.add_(bias[s:e].unsqueeze(1))
        grad = t2.exp_()
    if bias is not None:
        q.add_(bias.unsqueeze(0))
    p1 = q.sub_(side1[s:e].unsqueeze(1)).exp_()
    return p1 if grad is None else p1.add_(grad)


def _grad_intra(plan: _Plan, q: Tensor, s: int, e: int, side: Tensor, buf: Tensor) -> Tensor:
    """The symmetric gradient weights ``M = G + Gᵀ`` of the triangle row block ``S[s:e, s:]``
    from ``q`` (consumed), zero on the diagonal."""
    if plan.single:
        w = buf[:q.numel()].view_as(q)
        torch.add(side[s:e].unsqueeze(1), side[s:].unsqueeze(0), out=w)
        q.mul_(w)
    else:
        bias = plan.bias
        t = q - side[s:].unsqueeze(0)  # the transposed term, read by columns
        if bias is not None:
            t.add_(bias[s:e].unsqueeze(1))
            q.add_(bias[s:].unsqueeze(0))
        q.sub_(side[s:e].unsqueeze(1)).exp_().add_(t.exp_())
    q.diagonal().fill_(0.0)
    return q


def _recompute(plan: _Plan, a: Tensor, bt: Tensor, buf: Tensor) -> Tensor:
    """A block's similarities again, exponentiated on the one-exponential path."""
    q = plan.similarities(a, bt, buf)
    return plan.exp_(q) if plan.single else q
