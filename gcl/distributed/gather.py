"""Collectives with gradients, and the one rule that makes a sharded loss exact under DDP.

``DistributedDataParallel`` *averages* the parameter gradients of the ranks. The gradient of
the global loss is their *sum* when every rank back-propagates its own share of the loss, so
a term that a rank computes for its own rows only (a *share*) must send back ``world.size``
times its gradient, while a term that every rank computes identically (a *replicated* term)
sends back its plain gradient (the average of ``size`` equal gradients is that gradient).
:func:`global_sum` implements the first case; :func:`gather_rows` carries gradients back to the
rank that owns the rows, summed over every rank that used them (the gathered-gradient trap:
a gather whose backward keeps only the local rank's gradient of its own slice drops the
other ranks' contributions).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .world import World

__all__ = ["gather_rows", "global_sum", "all_reduce_sum"]


def _all_gather_rows(x: Tensor, world: World) -> tuple[Tensor, list[int]]:
    """Concatenate every rank's ``x`` (rows may differ in number) in rank order."""
    import torch.distributed as dist

    count = torch.tensor([x.size(0)], dtype=torch.int64, device=x.device)
    counts = [torch.empty_like(count) for _ in range(world.size)]
    dist.all_gather(counts, count, group=world.group)
    sizes = [int(c[0]) for c in counts]
    most = max(sizes)
    padded = x.new_zeros((most, *x.shape[1:]))
    padded[: x.size(0)] = x
    parts = [torch.empty_like(padded) for _ in range(world.size)]
    dist.all_gather(parts, padded.contiguous(), group=world.group)
    return torch.cat([p[:s] for p, s in zip(parts, sizes)]), sizes


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, world: World) -> Tensor:
        out, sizes = _all_gather_rows(x, world)
        ctx.world = world
        ctx.start = sum(sizes[: world.rank])
        ctx.stop = ctx.start + sizes[world.rank]
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        # every rank's loss may have used these rows: sum their gradients, keep our slice
        grad = grad.contiguous()
        ctx.world.all_reduce_(grad, "sum")
        return grad[ctx.start:ctx.stop], None


def gather_rows(x: Tensor, world: World) -> Tensor:
    """Every rank's rows of ``x``, concatenated in rank order, on every rank; differentiable.

    The backward pass returns to each rank the gradient of its own rows summed over all ranks
    (an all-reduce, then the rank's slice). With the rule of this module (each rank's loss is
    ``size`` times its share, or a replicated term) the parameter gradients that DDP averages
    are then exactly those of one process computing the loss on the gathered rows.

    Args:
        x: ``[n_r, ...]``: this rank's rows (ranks may hold different numbers of rows).
        world: the world.

    Returns:
        Tensor: ``[sum_r n_r, ...]``, identical on every rank. Integer tensors are gathered
        without gradient.

    Example:
        >>> gather_rows.__name__  # needs a process group; see tests/test_distributed.py
        'gather_rows'
    """
    if not (x.is_floating_point() and x.requires_grad):
        return _all_gather_rows(x, world)[0]
    return _GatherRows.apply(x, world)


class _GlobalSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, share: Tensor, world: World) -> Tensor:
        ctx.size = world.size
        return world.all_reduce_(share.detach().clone(), "sum")

    @staticmethod
    def backward(ctx, grad: Tensor):
        return grad * ctx.size, None


def global_sum(share: Tensor, world: World | None) -> Tensor:
    """The sum over ranks of each rank's ``share`` of a loss: the global value on every rank,
    whose backward pass sends ``world.size`` times the gradient of the rank's own share (so
    that DDP's average of the ranks' gradients is the gradient of the global loss).

    Args:
        share: this rank's part of the loss (a tensor; a scalar for a loss).
        world: the world, or ``None`` (then ``share`` is the whole loss and is returned).

    Returns:
        Tensor: the global value.

    Example:
        >>> global_sum(torch.tensor(2.0), None)
        tensor(2.)
    """
    if world is None:
        return share
    return _GlobalSum.apply(share, world)


class _AllReduceSum(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, world: World) -> Tensor:
        ctx.world = world
        return world.all_reduce_(x.detach().clone(), "sum")

    @staticmethod
    def backward(ctx, grad: Tensor):
        return ctx.world.all_reduce_(grad.contiguous().clone(), "sum"), None


def all_reduce_sum(x: Tensor, world: World | None) -> Tensor:
    """``sum_r x_r`` on every rank, differentiable: the backward pass sums the ranks' gradients
    (the adjoint of a sum that every rank receives). Use it for partial sums (e.g. PamC's
    meta-nodes from each rank's nodes) that every rank then uses in a replicated term.

    Args:
        x: this rank's partial sum.
        world: the world, or ``None`` (``x`` is returned).

    Returns:
        Tensor: the sum over ranks.

    Example:
        >>> all_reduce_sum(torch.ones(2), None)
        tensor([1., 1.])
    """
    if world is None:
        return x
    return _AllReduceSum.apply(x, world)
