"""GRACE's InfoNCE sharded over ranks: each rank computes its own row blocks against all columns.

Every rank holds both views ``u1, u2`` of all ``N`` anchors (full batch: replicated by the
encoder on every rank; mini-batch: gathered). Of the single-process blockwise computation
(:mod:`gcl.objectives.blockwise`) rank ``r`` of ``W`` computes

* the rows ``shard_rows(N, r, W)`` of ``S12 = u1 u2ᵀ/τ`` (about ``N²/W`` entries), read by rows
  for its view-1 anchors and by columns for every view-2 anchor;
* the rows ``triangle_rows(N, r, W)`` of the upper triangles of ``S11`` and ``S22`` (about
  ``N²/(2W)`` entries each), sent to their rows and, transposed, to their columns.

It is the blockwise loss itself, given the world: the same path (one exponential per entry
where the float range allows, else running maxima) and the same ``precision`` of the products
as one process. Each anchor's denominator is then partial on every rank; one all-reduce of the
``2 N`` sums (on the running-maximum path: of the maxima, then of the rescaled sums) gives every
rank the exact denominators, and with them the global loss. The backward pass recomputes the
same blocks and returns ``W`` times the gradient of the rank's blocks: DDP's average of the
ranks' gradients is the gradient of the single-process loss. The value and gradients equal the
single-process loss up to the order of floating-point sums.
"""

from __future__ import annotations

from torch import Tensor

from ..objectives.blockwise import blockwise_info_nce_normalized
from .world import World

__all__ = ["sharded_info_nce"]


def sharded_info_nce(u1: Tensor, u2: Tensor, tau: float, world: World, *,
                     col_bias: Tensor | None = None, intra_view: bool = True,
                     symmetric: bool = True, block_size: int | None = None,
                     keep_bytes: int | None = None, precision: str = "fp32",
                     bias_spread: float | None = None) -> Tensor:
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
        keep_bytes: keep the rank's similarity blocks for the backward pass when they fit in
            this many bytes (default: :data:`gcl.objectives.blockwise.KEEP_BLOCKS_BYTES`).
        precision: ``"fp32"`` (exact, default), ``"tf32"`` or ``"bf16"`` similarity products
            (see :mod:`gcl.objectives.precision`).
        bias_spread: an upper bound of the spread of ``col_bias`` (default: ``None``, read it).

    Returns:
        Tensor: the scalar global loss; its backward pass computes the rank's blocks only.

    Example:
        >>> sharded_info_nce.__name__  # needs a process group; see tests/test_distributed.py
        'sharded_info_nce'
    """
    if col_bias is not None and col_bias.requires_grad:
        raise ValueError("the sharded InfoNCE treats col_bias as a constant; detach it")
    return blockwise_info_nce_normalized(u1, u2, tau, col_bias=col_bias, intra_view=intra_view,
                                         symmetric=symmetric, block_size=block_size or None,
                                         keep_bytes=keep_bytes, precision=precision,
                                         bias_spread=bias_spread, world=world)
