"""Precision of the InfoNCE similarity products: exact fp32 (default), TF32 or bf16.

The similarity matrices ``u1 u2ᵀ/τ``, ``u1 u1ᵀ/τ``, ``u2 u2ᵀ/τ`` and the products that turn their
softmax into gradients are the loss's matrix work; everything else (the exponentials, the
log-sum-exps, the sums) stays in the embeddings' own precision whatever is chosen here. At a
lowered precision the loss multiplies ``u/√τ`` by ``u/√τ`` (one rounded operand per view), so
that ``S11`` and ``S22`` stay exactly symmetric, and the blockwise loss, which computes only their
upper triangles, equals the dense one.

- ``"fp32"``: the products in the embeddings' precision (exact; the default).
- ``"tf32"``: the operands rounded to TF32 (10-bit mantissa, round to nearest), products
  accumulated in fp32. On CUDA this turns on TF32 tensor-core matmuls for the loss's products
  only.
- ``"bf16"``: operands and results of the products in bfloat16, as under
  ``torch.autocast(dtype=torch.bfloat16)``, accumulated in fp32 by the matrix kernel; the
  results are widened to the embeddings' precision before the exponentials. On CUDA the
  products run in bfloat16.

Off CUDA (the CPU) both lowered precisions are emulated: the operands (and, for bf16, the
results) are rounded explicitly and the products run in fp32, which gives the GPU's numerics up
to the order of the accumulation, not its speed (a bfloat16 product on a 2-core AMD EPYC without
bf16 units ran 15x slower than fp32).

Example:
    >>> import torch
    >>> a, b = torch.randn(3, 8), torch.randn(4, 8)
    >>> similarity(a, b, "bf16").dtype
    torch.float32
    >>> (similarity(a, b, "fp32") - a @ b.t()).abs().max().item()
    0.0
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor

__all__ = ["PRECISIONS", "check_precision", "round_tf32", "round_bf16", "Products",
           "similarity"]

#: The accepted values of the ``precision`` option.
PRECISIONS = ("fp32", "tf32", "bf16")


def check_precision(precision, owner: str, dtype: torch.dtype | None = None) -> str:
    """Validate a ``precision`` option (see :data:`PRECISIONS`).

    Args:
        precision: the value to check.
        owner: the function or class named in the error.
        dtype: the embeddings' dtype, when known: ``"tf32"`` and ``"bf16"`` apply to float32
            embeddings only.

    Returns:
        str: ``precision``.

    Example:
        >>> check_precision("bf16", "info_nce")
        'bf16'
    """
    if precision not in PRECISIONS:
        raise ValueError(f"{owner}: precision must be one of {', '.join(PRECISIONS)}, "
                         f"got {precision!r}")
    if precision != "fp32" and dtype is not None and dtype != torch.float32:
        raise ValueError(f"{owner}: precision={precision!r} lowers float32 products; the "
                         f"embeddings are {dtype}: pass float32 embeddings or precision='fp32'")
    return precision


def round_tf32(x: Tensor, inplace: bool = False) -> Tensor:
    """``x`` (float32) rounded to TF32's 10-bit mantissa, to nearest with ties away from zero
    (as the conversion to TF32 on NVIDIA GPUs); finite values stay finite up to ``3.4e38``.

    Args:
        x: a float32 tensor.
        inplace: round ``x`` itself instead of a copy (it must be contiguous).

    Returns:
        Tensor: the rounded values (float32).

    Example:
        >>> round_tf32(torch.tensor([1.0 + 2**-11, 1.0 + 2**-10])).tolist()
        [1.0009765625, 1.0009765625]
    """
    bits = (x if inplace else x.clone(memory_format=torch.contiguous_format)).view(torch.int32)
    # the 13 low mantissa bits go; adding half of their range first rounds the magnitude to
    # nearest (the bit pattern is sign and magnitude, so this holds for both signs)
    return bits.add_(0x1000).bitwise_and_(-0x2000).view(torch.float32)


def round_bf16(x: Tensor, inplace: bool = False) -> Tensor:
    """``x`` rounded to bfloat16's 8-bit mantissa (to nearest even, as torch converts), kept in
    its own dtype.

    Args:
        x: a floating tensor.
        inplace: round ``x`` itself instead of a copy.

    Returns:
        Tensor: the rounded values, in ``x``'s dtype.

    Example:
        >>> round_bf16(torch.tensor([1.0 + 2**-9, 1.0 + 3 * 2**-9])).tolist()
        [1.0, 1.0078125]
    """
    rounded = x.to(torch.bfloat16)
    return x.copy_(rounded) if inplace else rounded.to(x.dtype)


class Products:
    """The matrix products of one loss evaluation at one precision.

    ``operand`` prepares a matrix once for the products that use it (cast to bfloat16, or
    rounded to TF32 where the device has no TF32 units; ``consume`` may do it in place); ``mm``
    and ``addmm`` take prepared operands and return or accumulate full-precision results. Use
    the products inside :meth:`context` (which turns on TF32 matmuls on CUDA).

    Args:
        precision: one of :data:`PRECISIONS`.
        device: the device the products run on.

    Example:
        >>> p = Products("tf32", torch.device("cpu"))
        >>> a, b = torch.randn(2, 3), torch.randn(3, 4)
        >>> with p.context():
        ...     out = p.mm(p.operand(a), p.operand(b))
        >>> out.shape
        torch.Size([2, 4])
    """

    def __init__(self, precision: str, device: torch.device) -> None:
        self.precision = check_precision(precision, "Products")
        # native: the device's own TF32 / bf16 products (CUDA); else emulated by rounding
        self.native = precision != "fp32" and torch.device(device).type == "cuda"
        self._round = {"tf32": round_tf32, "bf16": round_bf16}.get(precision)

    def operand(self, x: Tensor) -> Tensor:
        """``x`` in the products' input format."""
        if self._round is None or (self.native and self.precision == "tf32"):
            return x
        return x.to(torch.bfloat16) if self.native else self._round(x)

    def consume(self, x: Tensor) -> Tensor:
        """``x`` in the products' input format, for a matrix no longer needed afterwards:
        rounded in place where that saves a copy."""
        if self._round is not None and not self.native and x.is_contiguous():
            return self._round(x, inplace=True)
        return self.operand(x)

    def mm(self, a: Tensor, b: Tensor, out: Tensor | None = None) -> Tensor:
        """``a @ b`` for prepared operands, in full precision (into ``out`` when given)."""
        if self.precision == "bf16" and self.native:
            prod = torch.mm(a, b)  # bfloat16
            return prod.float() if out is None else out.copy_(prod)
        prod = torch.mm(a, b) if out is None else torch.mm(a, b, out=out)
        return round_bf16(prod, inplace=True) if self.precision == "bf16" else prod

    def addmm(self, acc: Tensor, a: Tensor, b: Tensor) -> None:
        """``acc += a @ b`` (full precision ``acc``) for prepared operands."""
        if self.precision == "bf16":  # the product rounded to bfloat16, then added
            prod = torch.mm(a, b)
            acc.add_(prod if self.native else prod.to(torch.bfloat16))
        else:  # the out= form: counted by torch's flop counter, unlike addmm_
            torch.addmm(acc, a, b, out=acc)

    def context(self):
        """A context in which the products run at this precision (TF32 matmuls on CUDA)."""
        if not (self.native and self.precision == "tf32"):
            return contextlib.nullcontext()
        return _cuda_tf32()


@contextlib.contextmanager
def _cuda_tf32():
    flags = torch.backends.cuda.matmul
    before = flags.allow_tf32
    flags.allow_tf32 = True
    try:
        yield
    finally:
        flags.allow_tf32 = before


class _Similarity(torch.autograd.Function):
    """``a @ bᵀ`` with both the forward and the backward products at a lowered precision."""

    @staticmethod
    def forward(ctx, a: Tensor, b: Tensor, precision: str) -> Tensor:
        ctx.save_for_backward(a, b)
        ctx.precision = precision
        p = Products(precision, a.device)
        with p.context():
            return p.mm(p.operand(a), p.operand(b).t())

    @staticmethod
    def backward(ctx, grad: Tensor):
        a, b = ctx.saved_tensors
        p = Products(ctx.precision, a.device)
        g = p.operand(grad.contiguous())
        with p.context():
            ga = p.mm(g, p.operand(b)) if ctx.needs_input_grad[0] else None
            gb = p.mm(g.t(), p.operand(a)) if ctx.needs_input_grad[1] else None
        return ga, gb, None


def similarity(a: Tensor, b: Tensor, precision: str = "fp32") -> Tensor:
    """``a @ bᵀ`` at ``precision`` (see the module), differentiable, with the backward pass's
    products at the same precision.

    Args:
        a: ``[M, d]``.
        b: ``[N, d]``.
        precision: one of :data:`PRECISIONS` (default: ``"fp32"``, a plain product).

    Returns:
        Tensor: ``[M, N]`` in ``a``'s dtype.

    Example:
        >>> a = torch.randn(5, 4, requires_grad=True)
        >>> similarity(a, a, "tf32").sum().backward()
        >>> a.grad.shape
        torch.Size([5, 4])
    """
    if precision == "fp32":
        return a @ b.t()
    check_precision(precision, "similarity", a.dtype)
    return _Similarity.apply(a, b, precision)
