"""Dot products of many index pairs, ``a[row[e]] . b[col[e]]``, without ``[E, d]`` gathers
(PamC's positive term over the non-zeros of its influence matrix).

Example:
    >>> a = torch.tensor([[1., 0.], [0., 2.]])
    >>> pair_dot(a, a, torch.tensor([0, 1]), torch.tensor([1, 1])).tolist()
    [0.0, 4.0]
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["pair_dot"]


class _PairDot(torch.autograd.Function):
    """``a[row_e] . b[col_e]`` for the row-sorted pairs of a CSR pattern, without ``[E, d]``
    gathers: a sampled dense product forward, two sparse products backward."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, crow: Tensor, col: Tensor) -> Tensor:
        shape = (a.size(0), b.size(0))
        pattern = torch.sparse_csr_tensor(crow, col, a.new_zeros(col.numel()), shape,
                                          check_invariants=False)
        out = torch.sparse.sampled_addmm(pattern, a, b.t(), beta=0.0).values()
        ctx.save_for_backward(a, b, crow, col)
        return out.clone()

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b, crow, col = ctx.saved_tensors
        g = torch.sparse_csr_tensor(crow, col, grad.contiguous(), (a.size(0), b.size(0)),
                                    check_invariants=False)
        ga = torch.sparse.mm(g, b) if ctx.needs_input_grad[0] else None
        gb = torch.sparse.mm(g.t(), a) if ctx.needs_input_grad[1] else None
        return ga, gb, None, None


def pair_dot(a: Tensor, b: Tensor, row: Tensor, col: Tensor) -> Tensor:
    """Dot products ``a[row[e]] . b[col[e]]`` of index pairs sorted by ``row``.

    Equal to ``(a[row] * b[col]).sum(-1)`` up to float rounding, with gradients for ``a`` and
    ``b``, but never builds the two ``[E, d]`` gathered tensors: the forward is a sampled dense
    product on the pairs' CSR pattern and the backward two sparse products (on the CPU about
    30x faster than the gather at ``E = 5e5, d = 128``). Gathers on other devices (the CSR
    path would read back from the device twice a call) and when ``row`` is unsorted or empty.

    Args:
        a: ``[N, d]``.
        b: ``[M, d]``.
        row: ``[E]`` indices into ``a``, non-decreasing.
        col: ``[E]`` indices into ``b``.

    Returns:
        Tensor: ``[E]``.

    Example:
        >>> a = torch.tensor([[1., 0.], [0., 2.]])
        >>> pair_dot(a, a, torch.tensor([0, 1, 1]), torch.tensor([0, 0, 1]))
        tensor([1., 0., 4.])
    """
    if (a.device.type != "cpu" or row.numel() == 0 or a.size(0) == 0 or b.size(0) == 0
            or a.dtype != b.dtype or bool((row[1:] < row[:-1]).any())):
        return (a[row] * b[col]).sum(-1)
    counts = torch.bincount(row, minlength=a.size(0))
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])
    return _PairDot.apply(a, b, crow, col.contiguous())
