"""Exact InfoNCE in O(N·d + B·N) memory: row blocks, one exponential per entry and pass.

The dense loss materialises N×N similarity matrices (one fp32 N×N is 107 GiB on ogbn-arxiv) and
autograd keeps several of them for the backward pass. Here a custom autograd function streams row
blocks of ``B`` anchors: the forward pass keeps only per-anchor sums (O(N)), and the backward pass
recomputes each block's similarities and turns them into gradients with two matrix products (or,
opt-in, reuses blocks kept by the forward: :data:`KEEP_BLOCKS_BYTES`). The intra-view matrices are
symmetric, so both passes compute only their upper triangle (row block ``s:e`` against columns
``s:``) and send each block to its rows and, transposed, to its columns.
Values and gradients equal the dense loss (tested to 1e-5 relative).

The loss is the one of :func:`gcl.objectives.info_nce`; see there for the formula. Notation below:
``u1, u2`` are the L2-normalised views, ``S12 = u1 u2ᵀ/τ``, ``S11 = u1 u1ᵀ/τ``, ``S22 = u2 u2ᵀ/τ``
and ``b`` the optional column bias. View-1 anchors read ``S12`` by rows and ``S11`` by rows (without
the diagonal); view-2 anchors read ``S12`` by columns and ``S22`` by rows. With
``P1 = softmax`` over row ``i`` of ``[S12 + b | S11 + b]`` and ``P2`` over column ``j`` of
``S12 + b`` together with row ``j`` of ``S22 + b``, the gradient of the mean loss is

    dL/dS12 = w1·P1[inter] + w2·P2[inter] − (w1 + w2)·I,
    dL/dS11 = w1·P1[intra],   dL/dS22 = w2·P2[intra]

with ``w1 = w2 = 1/(2N)`` (symmetric) or ``w1 = 1/N``, ``w2 = 0``.

**One exponential per entry.** The views are unit vectors, so every similarity lies in
``[-1/τ, 1/τ]``. While ``1/τ`` plus the spread of ``b`` stays well inside the floating-point
range (:func:`single_exp_range`: τ ≥ 0.016 without a bias in fp32), ``E = exp(S)`` needs no
shift, and with ``y = exp(b − max b)``, ``r1_i = Σ_j E_ij y_j`` (view-1 anchor sums) and ``r2``
(view-2), every softmax entry factors: ``P1_ij = E_ij y_j / r1_i`` and ``P2_ij = E_ij y_i / r2_j``.
So the forward pass exponentiates each block once and reads both its row and its column sums
from it, and the backward pass exponentiates it once more and forms

    dL/dS12 (off the identity) = diag(y) [E ⊙ (p1 1ᵀ + 1 p2ᵀ)] diag(y),   p_k = w_k / (r_k y),

whose outer ``diag(y)`` factors move onto the ``N × d`` operands and results of the gradient
products (the intra-view blocks alike, with ``p1 1ᵀ + 1 p1ᵀ``). Outside that range a general path
keeps running maxima and exponentiates rows and columns separately (two exponentials per entry
and pass), as the dense loss does with its log-sum-exps.

**Sharded.** In a distributed training step (``world=``, see :mod:`gcl.distributed`) each rank
computes only its rows of ``S12`` and of the two upper triangles, on the same path (one or two
exponentials) and at the same precision as one process; one all-reduce of the ``2 N`` partial
denominators (two on the general path: the maxima, then the rescaled sums) gives every rank the
exact loss, and the backward pass recomputes the rank's blocks only. The blocks themselves are
in :mod:`gcl.objectives.blockwise_blocks`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .blockwise_blocks import (  # noqa: F401  (the blocks' helpers, kept importable here)
    _all_reduce_sums,
    _blocks,
    _fold_inter,
    _fold_intra_view,
    _grad_inter,
    _grad_intra,
    _intra_lse,
    _online_lse_,
    _Plan,
    _recompute,
    _Sums,
    _triangle_elements,
    single_exp_range,
)
from .precision import check_precision

__all__ = ["blockwise_info_nce_normalized", "auto_block_size", "single_exp_range",
           "BLOCK_ELEMENTS", "MIN_BLOCK_ROWS", "KEEP_BLOCKS_BYTES"]

#: Target number of elements of one ``B x N`` block used by :func:`auto_block_size`, per device
#: type; two such blocks are alive at once. On the CPU a block that stays in cache is fastest;
#: GPUs prefer large blocks.
BLOCK_ELEMENTS = {"cpu": 4 * 2**20, "cuda": 64 * 2**20}

#: Fewest rows per block that :func:`auto_block_size` picks (unless ``N`` is smaller), per
#: device type: thinner blocks slow the matrix products down more than the larger block's
#: cache misses cost (on a 2-core AMD EPYC at N = 50k, d = 128, the loss's products ran at
#: 44-49 GFLOP/s per core with 64-row blocks and 62-65 with 256-row blocks).
MIN_BLOCK_ROWS = {"cpu": 256, "cuda": 64}

#: When the similarity blocks of one step (``S12`` and the upper triangles of ``S11`` and
#: ``S22``: about ``2 N^2`` values) fit in this many bytes, the forward pass keeps them and the
#: backward pass reuses them instead of recomputing them (and, on the one-exponential path,
#: instead of exponentiating them again), at the price of that memory. Off (0) by default, so
#: the loss stays in ``O(B N)`` memory; set it per call (``keep_bytes``), per objective
#: (``InfoNCE(keep_blocks_mb=...)``) or per run (``--set keep_blocks_mb=1024``).
KEEP_BLOCKS_BYTES = 0


def auto_block_size(num_nodes: int, budget: int | None = None, device: str = "cpu") -> int:
    """A row-block size that keeps one ``B x N`` block near ``budget`` elements
    (default: :data:`BLOCK_ELEMENTS` for the device type), with at least
    :data:`MIN_BLOCK_ROWS` rows.

    Args:
        num_nodes: ``N``, the number of columns of a block.
        budget: elements per block (default: :data:`BLOCK_ELEMENTS` of the device type).
        device: the device the blocks live on (default: ``"cpu"``).

    Returns:
        int: the number of rows per block, between 1 and ``num_nodes``.

    Example:
        >>> auto_block_size(1000)
        1000
        >>> auto_block_size(13_752)
        256
        >>> auto_block_size(50_000)
        256
        >>> auto_block_size(169_343, device="cuda")
        384
    """
    kind = torch.device(device).type
    if budget is None:
        budget = BLOCK_ELEMENTS.get(kind, BLOCK_ELEMENTS["cpu"])
    if num_nodes <= 0:
        return 1
    block = max(budget // num_nodes, MIN_BLOCK_ROWS.get(kind, MIN_BLOCK_ROWS["cpu"]), 1)
    if block >= num_nodes:
        return num_nodes
    # Round down to a multiple of 64 (at least 64) for friendlier matrix shapes.
    return max(64, (block // 64) * 64) if block >= 64 else block


class _BlockwiseInfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u1: Tensor, u2: Tensor, bias: Tensor | None, tau: float, intra: bool,
                symmetric: bool, block: int, keep_bytes: int, precision: str,
                bias_spread: float | None, world) -> Tensor:
        plan = _Plan(u1, bias, tau, intra, symmetric, block, precision, bias_spread, world)
        n, mm = plan.n, plan.products
        (a, b), tri = plan.rows, plan.tri
        # the rows of S12, and of the upper triangle of S11 (and of S22 when symmetric)
        kept_elements = ((b - a) * n
                         + plan.intra * (1 + symmetric) * _triangle_elements(n, block, tri))
        keep = keep_bytes > 0 and kept_elements * u1.element_size() <= keep_bytes
        kept: dict[str, list[Tensor]] | None = ({"s12": [], "s11": [], "s22": []} if keep
                                                else None)
        buf = None if keep else torch.empty(min(block, n) * n, dtype=u1.dtype, device=u1.device)
        sums1 = _Sums(n, u1, plan.single)
        sums2 = _Sums(n, u1, plan.single) if symmetric else None
        with mm.context():
            v1 = mm.operand(u1 * plan.scale)
            v2 = mm.operand(u2 * plan.scale)
            for s, e in _blocks(b, block, a):
                q = _fold_inter(plan, plan.similarities(v1[s:e], v2.t(), buf), s, e, sums1,
                                sums2)
                if kept is not None:
                    kept["s12"].append(q)
            if plan.intra:
                _fold_intra_view(plan, v1, sums1, None if kept is None else kept["s11"], buf)
                if symmetric:
                    _fold_intra_view(plan, v2, sums2, None if kept is None else kept["s22"],
                                     buf)
        if world is not None:  # every rank's partial denominators: those of all anchors
            _all_reduce_sums(world, [x for x in (sums1, sums2) if x is not None])
        lse1 = sums1.lse(plan.bias_max)
        positive = (u1 * u2).sum(dim=1) * plan.inv_tau
        if bias is not None:
            positive = positive + bias
        losses = lse1 - positive
        if symmetric:
            losses = 0.5 * (losses + (sums2.lse(plan.bias_max) - positive))
        # the backward pass needs the denominators: the sums themselves on the one-exponential
        # path, the log-sum-exps on the general one
        stats = [x.total if plan.single else x.lse(0.0) for x in (sums1, sums2) if x is not None]
        ctx.save_for_backward(u1, u2, bias, *stats)
        ctx.plan, ctx.kept = plan, kept
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u1, u2, bias, *stats = ctx.saved_tensors
        plan: _Plan = ctx.plan
        plan.bias = bias
        n, mm = plan.n, plan.products
        w1 = 0.5 / n if plan.symmetric else 1.0 / n
        w2 = 0.5 / n if plan.symmetric else None
        # per-anchor sides of the gradient weights (see the module docstring)
        if plan.single:
            y = 1.0 if plan.y is None else plan.y
            sides = [w / (r * y) for w, r in zip((w1, w2), stats)]
        else:
            sides = [lse - math.log(w) for w, lse in zip((w1, w2), stats)]
        side1, side2 = sides[0], (sides[1] if plan.symmetric else None)
        g1 = torch.zeros_like(u1)
        g2 = torch.zeros_like(u2)
        # kept blocks are modified in place below, so they serve one backward pass only
        kept, ctx.kept = ctx.kept, None
        buf = torch.empty(2 * min(plan.block, n) * n, dtype=u1.dtype, device=u1.device)
        blk, wbuf = buf.chunk(2)
        if kept is not None:
            blk = None
        with mm.context():
            (v1, yv1), (v2, yv2) = plan.operands(u1), plan.operands(u2)
            a, b = plan.rows
            for k, (s, e) in enumerate(_blocks(b, plan.block, a)):
                q = (kept["s12"][k] if kept is not None
                     else _recompute(plan, v1[s:e], v2.t(), blk))
                grad = mm.consume(_grad_inter(plan, q, s, e, side1, side2, wbuf))
                mm.addmm(g1[s:e], grad, yv2)
                mm.addmm(g2, grad.t(), yv1[s:e])
            if plan.intra:
                views = [(v1, yv1, g1, side1, "s11")]
                if plan.symmetric:
                    views.append((v2, yv2, g2, side2, "s22"))
                for v, yv, g, side, name in views:
                    for k, (s, e) in enumerate(_blocks(plan.tri[1], plan.block,
                                                       plan.tri[0])):
                        q = (kept[name][k] if kept is not None
                             else _recompute(plan, v[s:e], v[s:].t(), blk))
                        m = mm.consume(_grad_intra(plan, q, s, e, side, wbuf))
                        if e < n:
                            mm.addmm(g[e:], m[:, e - s:].t(), yv[s:e])
                        mm.addmm(g[s:e], m, yv[s:])
        # diag(y) on the results, the scale of the products' other factor, and the positive
        # logit u1·u2/τ, which appears with weight -(w1 + w2) in every anchor pair's loss (a
        # rank: in those of its own rows)
        w_pos = (w1 + (w2 or 0.0)) * plan.inv_tau / plan.grad_scale
        if plan.y is not None:
            g1.mul_(plan.y.unsqueeze(1))
            g2.mul_(plan.y.unsqueeze(1))
        a, b = plan.rows
        g1[a:b].sub_(u2[a:b] * w_pos)
        g2[a:b].sub_(u1[a:b] * w_pos)
        # a rank's share times the number of ranks: DDP's average of the ranks' gradients is
        # then the gradient of the whole loss
        scale = plan.grad_scale * grad_out * (1 if plan.world is None else plan.world.size)
        return g1.mul_(scale), g2.mul_(scale), None, None, None, None, None, None, None, None, None


def blockwise_info_nce_normalized(u1: Tensor, u2: Tensor, tau: float, *,
                                  col_bias: Tensor | None = None, intra_view: bool = True,
                                  symmetric: bool = True, block_size: int | None = None,
                                  keep_bytes: int | None = None, precision: str = "fp32",
                                  bias_spread: float | None = None, world=None) -> Tensor:
    """Mean InfoNCE of two **L2-normalised** views, computed block by block.

    Use :func:`gcl.objectives.info_nce` (which normalises and picks the dense or blockwise path)
    unless you already hold normalised embeddings.

    Args:
        u1, u2: ``[N, d]`` L2-normalised embeddings.
        tau: temperature.
        col_bias: optional ``[N]`` column bias (a constant: no gradient flows into it).
        intra_view: include intra-view negatives (default: ``True``).
        symmetric: average both anchor views (default: ``True``).
        block_size: anchors per block (default: :func:`auto_block_size`).
        keep_bytes: keep the forward's similarity blocks for the backward pass when they fit in
            this many bytes (default: :data:`KEEP_BLOCKS_BYTES`; 0: always recompute).
        precision: ``"fp32"`` (exact, default), ``"tf32"`` or ``"bf16"`` similarity products
            (see :mod:`gcl.objectives.precision`).
        bias_spread: an upper bound of ``col_bias.max() - col_bias.min()`` known without reading
            the tensor (it picks the one-exponential path; ``None`` reads it, one device
            synchronisation per call on a GPU).
        world: a :class:`gcl.distributed.World` whose ranks all call this with the same
            ``u1, u2`` (all anchors) and settings: each computes only its share of the blocks
            (see :mod:`gcl.distributed`), on the same path and at the same precision as one
            process, and returns the global loss; its gradients are the rank's share times
            the number of ranks, for DDP to average (default: ``None``, one process).

    Returns:
        Tensor: the scalar mean loss, differentiable with respect to ``u1`` and ``u2``.

    Example:
        >>> import torch.nn.functional as F
        >>> u1, u2 = F.normalize(torch.randn(10, 4), dim=1), F.normalize(torch.randn(10, 4), dim=1)
        >>> blockwise_info_nce_normalized(u1, u2, 0.5, block_size=3).shape
        torch.Size([])
    """
    if col_bias is not None and col_bias.requires_grad:
        raise ValueError(
            "the blockwise InfoNCE treats col_bias as a constant; detach it (col_bias.detach()) "
            "or use the dense path (block_size=0) to differentiate through it"
        )
    block = (auto_block_size(u1.size(0), device=u1.device.type) if block_size is None
             else int(block_size))
    if block < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    keep = KEEP_BLOCKS_BYTES if keep_bytes is None else int(keep_bytes)
    if keep < 0:
        raise ValueError(f"keep_bytes must be None or >= 0, got {keep_bytes!r}")
    check_precision(precision, "blockwise_info_nce_normalized", u1.dtype)
    if bias_spread is not None and not bias_spread >= 0:
        raise ValueError(f"bias_spread must be None or >= 0, got {bias_spread!r}")
    return _BlockwiseInfoNCE.apply(u1, u2, col_bias, float(tau), bool(intra_view),
                                   bool(symmetric), block, keep, precision, bias_spread, world)
