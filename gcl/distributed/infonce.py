"""GRACE's InfoNCE sharded over ranks: each rank computes its own row blocks against all columns.

Every rank holds both views ``u1, u2`` of all ``N`` anchors (full batch: replicated by the
encoder on every rank; mini-batch: gathered). Of the single-process blockwise computation
(:mod:`gcl.objectives.blockwise`) rank ``r`` of ``W`` computes

* the rows ``shard_rows(N, r, W)`` of ``S12 = u1 u2ᵀ/τ`` (about ``N²/W`` entries), read by rows
  for its view-1 anchors and by columns for every view-2 anchor;
* the rows ``triangle_rows(N, r, W)`` of the upper triangles of ``S11`` and ``S22`` (about
  ``N²/(2W)`` entries each), sent to their rows and, transposed, to their columns.

Each anchor's log-sum-exp is then partial on every rank; one all-reduce of the running maxima
and one of the rescaled sums (``2 N`` values each) give every rank the exact log-sum-exps, and
with them the global loss. The backward pass recomputes the same blocks and returns ``W``
times the gradient of the rank's blocks (see :mod:`gcl.distributed.gather`): DDP's average of
the ranks' gradients is the gradient of the single-process loss. The value and gradients equal
the single-process loss up to the order of floating-point sums.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..objectives.blockwise import _online_lse_, auto_block_size
from .world import World, shard_rows, triangle_rows

__all__ = ["sharded_info_nce"]


def _spans(start: int, stop: int, block: int):
    for s in range(start, stop, block):
        yield s, min(s + block, stop)


def _fold_triangle_(run_max: Tensor, run_sum: Tensor, u: Tensor, bias: Tensor | None,
                    inv_tau: float, rows: tuple[int, int], block: int) -> None:
    """Fold the rows ``rows`` of the upper triangle of ``S = u uᵀ/τ`` (with the column bias,
    without the diagonal) into the running log-sum-exps of all ``N`` anchors."""
    n = u.size(0)
    for s, e in _spans(*rows, block):
        tri = (u[s:e] * inv_tau) @ u[s:].t()  # S[s:e, s:]
        if e < n:  # the part right of the diagonal block, read by columns: anchors e..n-1
            lower = tri[:, e - s:] if bias is None else tri[:, e - s:] + bias[s:e].unsqueeze(1)
            _online_lse_(run_max, run_sum, slice(e, None), lower, dim=0)
            del lower
        if bias is not None:
            tri.add_(bias[s:].unsqueeze(0))
        tri.diagonal().fill_(-math.inf)
        _online_lse_(run_max, run_sum, slice(s, e), tri, dim=1)
        del tri


def _triangle_grad_(g: Tensor, u: Tensor, bias: Tensor | None, lse: Tensor, w: Tensor,
                    inv_tau: float, rows: tuple[int, int], block: int) -> None:
    """Add to ``g`` the gradient of the intra-view terms carried by the triangle rows ``rows``:
    with ``G[i, j] = w exp(S_ij + b_j - lse_i)`` off the diagonal, the block ``S[s:e, s:]``
    carries ``M = G + Gᵀ`` restricted to it, sent to rows ``s:e`` and, transposed, to ``e:``."""
    n = u.size(0)
    for s, e in _spans(*rows, block):
        tri = (u[s:e] * inv_tau) @ u[s:].t()
        back = tri - lse[s:].unsqueeze(0)  # Gᵀ: the anchors of the columns
        if bias is not None:
            back.add_(bias[s:e].unsqueeze(1))
            tri.add_(bias[s:].unsqueeze(0))
        m = tri.sub_(lse[s:e].unsqueeze(1)).exp_().add_(back.exp_()).mul_(w)
        del back
        m.diagonal().fill_(0.0)
        g[s:e].add_(m @ u[s:], alpha=inv_tau)
        if e < n:
            g[e:].add_(m[:, e - s:].t() @ u[s:e], alpha=inv_tau)
        del m


class _ShardedInfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u1: Tensor, u2: Tensor, bias: Tensor | None, tau: float, intra: bool,
                symmetric: bool, block: int, world: World) -> Tensor:
        n = u1.size(0)
        inv_tau = 1.0 / tau
        use_intra = intra and n > 1
        rows = shard_rows(n, world.rank, world.size)
        tri = triangle_rows(n, world.rank, world.size)
        # running log-sum-exps of the view-1 anchors (row 0) and the view-2 anchors (row 1)
        run_max = torch.full((2, n), -math.inf, dtype=u1.dtype, device=u1.device)
        run_sum = torch.zeros((2, n), dtype=u1.dtype, device=u1.device)
        for s, e in _spans(*rows, block):
            s12 = (u1[s:e] * inv_tau) @ u2.t()
            if symmetric:  # view-2 anchors read S12 by columns (row bias b_i of the block)
                cols = s12 if bias is None else s12 + bias[s:e].unsqueeze(1)
                _online_lse_(run_max[1], run_sum[1], slice(None), cols, dim=0)
                del cols
            if bias is not None:
                s12.add_(bias.unsqueeze(0))
            _online_lse_(run_max[0], run_sum[0], slice(s, e), s12, dim=1)
            del s12
        if use_intra:
            _fold_triangle_(run_max[0], run_sum[0], u1, bias, inv_tau, tri, block)
            if symmetric:
                _fold_triangle_(run_max[1], run_sum[1], u2, bias, inv_tau, tri, block)
        lse = world.reduce_lse_(run_max, run_sum)
        lse1, lse2 = lse[0], (lse[1] if symmetric else None)
        positive = (u1 * u2).sum(dim=1) * inv_tau
        if bias is not None:
            positive = positive + bias
        losses = lse1 - positive
        if symmetric:
            losses = 0.5 * (losses + (lse2 - positive))
        ctx.save_for_backward(u1, u2, bias, lse1, lse2)
        ctx.tau, ctx.intra, ctx.symmetric, ctx.block = tau, use_intra, symmetric, block
        ctx.rows, ctx.tri, ctx.size = rows, tri, world.size
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u1, u2, bias, lse1, lse2 = ctx.saved_tensors
        n = u1.size(0)
        inv_tau = 1.0 / ctx.tau
        # the rank's share, times the number of ranks (DDP averages the ranks' gradients)
        scale = grad_out * ctx.size / n
        w1 = 0.5 * scale if ctx.symmetric else scale
        w2 = 0.5 * scale if ctx.symmetric else None
        g1, g2 = torch.zeros_like(u1), torch.zeros_like(u2)
        a, b = ctx.rows
        w_pos = (w1 + w2) if ctx.symmetric else w1  # the positives of the rank's own anchors
        g1[a:b].sub_(u2[a:b] * (w_pos * inv_tau))
        g2[a:b].sub_(u1[a:b] * (w_pos * inv_tau))
        for s, e in _spans(a, b, ctx.block):
            s12 = (u1[s:e] * inv_tau) @ u2.t()
            grad = None
            if ctx.symmetric:  # view-2 anchors: softmax over the columns
                t2 = s12 - lse2.unsqueeze(0)
                if bias is not None:
                    t2.add_(bias[s:e].unsqueeze(1))
                grad = t2.exp_().mul_(w2)
                del t2
            if bias is not None:
                s12.add_(bias.unsqueeze(0))
            p1 = s12.sub_(lse1[s:e].unsqueeze(1)).exp_().mul_(w1)
            grad = p1 if grad is None else grad.add_(p1)
            del p1, s12
            g1[s:e].add_(grad @ u2, alpha=inv_tau)
            g2.add_(grad.t() @ u1[s:e], alpha=inv_tau)
            del grad
        if ctx.intra:
            _triangle_grad_(g1, u1, bias, lse1, w1, inv_tau, ctx.tri, ctx.block)
            if ctx.symmetric:
                _triangle_grad_(g2, u2, bias, lse2, w2, inv_tau, ctx.tri, ctx.block)
        return g1, g2, None, None, None, None, None, None


def sharded_info_nce(u1: Tensor, u2: Tensor, tau: float, world: World, *,
                     col_bias: Tensor | None = None, intra_view: bool = True,
                     symmetric: bool = True, block_size: int | None = None) -> Tensor:
    """The mean InfoNCE of two **L2-normalised** views, this rank computing its share.

    Every rank must call it with the same ``u1, u2`` (all anchors) and settings; each returns
    the global loss. Use :func:`gcl.objectives.info_nce`, which calls it inside a distributed
    training step.

    Args:
        u1, u2: ``[N, d]`` L2-normalised embeddings of all anchors (identical on every rank).
        tau: temperature.
        world: the world.
        col_bias: optional ``[N]`` column bias (a constant).
        intra_view: include intra-view negatives (default: ``True``).
        symmetric: average both anchor views (default: ``True``).
        block_size: rows per block (default: :func:`gcl.objectives.blockwise.auto_block_size`).

    Returns:
        Tensor: the scalar global loss; its backward pass computes the rank's blocks only.

    Example:
        >>> sharded_info_nce.__name__  # needs a process group; see tests/test_distributed.py
        'sharded_info_nce'
    """
    if col_bias is not None and col_bias.requires_grad:
        raise ValueError("the sharded InfoNCE treats col_bias as a constant; detach it")
    block = (auto_block_size(u1.size(0), device=u1.device.type) if not block_size
             else int(block_size))
    return _ShardedInfoNCE.apply(u1, u2, col_bias, float(tau), bool(intra_view),
                                 bool(symmetric), block, world)
