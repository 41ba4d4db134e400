"""Exact InfoNCE in O(N·d + B·N) memory: row blocks, online log-sum-exp, recomputed backward.

The dense loss materialises N×N similarity matrices (one fp32 N×N is 107 GiB on ogbn-arxiv) and
autograd keeps several of them for the backward pass. Here a custom autograd function streams row
blocks of ``B`` anchors: the forward pass keeps only the per-anchor log-sum-exps (O(N)), and the
backward pass recomputes each block's similarities and turns them into gradients with two matrix
products for the inter-view block (or, opt-in, reuses blocks kept by the forward:
:data:`KEEP_BLOCKS_BYTES`). The intra-view matrices are symmetric, so both passes compute only
their upper triangle (row block ``s:e`` against columns ``s:``) and send each block to its rows
and, transposed, to its columns: half the products and, in the backward pass, half the
exponentials of those two matrices.
Values and gradients equal the dense loss (tested to 1e-5 relative).

The loss is the one of :func:`gcl.objectives.info_nce`; see there for the formula. Notation below:
``u1, u2`` are the L2-normalised views, ``S12 = u1 u2ᵀ/τ``, ``S11 = u1 u1ᵀ/τ``, ``S22 = u2 u2ᵀ/τ``
and ``b`` the optional column bias. View-1 anchors read ``S12`` by rows and ``S11`` by rows (without
the diagonal); view-2 anchors read ``S12`` by columns and ``S22`` by rows. With
``P1 = softmax`` over row ``i`` of ``[S12 + b | S11 + b]`` and ``P2`` over column ``j`` of
``S12 + b`` together with row ``j`` of ``S22 + b``, the gradient of the mean loss is

    dL/dS12 = w1·P1[inter] + w2·P2[inter] − (w1 + w2)·I,
    dL/dS11 = w1·P1[intra],   dL/dS22 = w2·P2[intra]

with ``w1 = w2 = 1/(2N)`` (symmetric) or ``w1 = 1/N``, ``w2 = 0``, and the chain rule through the
three products gives the block updates in :meth:`_BlockwiseInfoNCE.backward`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["blockwise_info_nce_normalized", "auto_block_size", "BLOCK_ELEMENTS",
           "KEEP_BLOCKS_BYTES"]

#: Target number of elements of one ``B x N`` block used by :func:`auto_block_size`, per device
#: type; a few such blocks are alive at once. On the CPU a block that stays in cache is fastest
#: (measured: B = 256-512 at N = 7.6k-14k); GPUs prefer large blocks.
BLOCK_ELEMENTS = {"cpu": 4 * 2**20, "cuda": 64 * 2**20}

#: When the raw similarity blocks of one step (``S12`` and the upper triangles of ``S11`` and
#: ``S22``: about ``2 N^2`` values) fit in this many bytes, the forward pass keeps them and the
#: backward pass reuses them instead of recomputing them (10-15 % of a CPU step on
#: CiteSeer; the loss's backward pass 2x faster at N = 7650, d = 256; both measured on a loaded
#: machine), at the price of that memory. Off (0) by default, so the loss stays in ``O(B N)``
#: memory; set it per call (``keep_bytes``), per objective (``InfoNCE(keep_blocks_mb=...)``) or
#: per run (``--set keep_blocks_mb=1024``) to trade memory for speed.
KEEP_BLOCKS_BYTES = 0


def auto_block_size(num_nodes: int, budget: int | None = None, device: str = "cpu") -> int:
    """A row-block size that keeps one ``B x N`` block near ``budget`` elements
    (default: :data:`BLOCK_ELEMENTS` for the device type).

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
        >>> auto_block_size(169_343, device="cuda")
        384
    """
    if budget is None:
        budget = BLOCK_ELEMENTS.get(torch.device(device).type, BLOCK_ELEMENTS["cpu"])
    if num_nodes <= 0:
        return 1
    block = max(budget // num_nodes, 1)
    if block >= num_nodes:
        return num_nodes
    # Round down to a multiple of 64 (at least 64) for friendlier matrix shapes.
    return max(64, (block // 64) * 64) if block >= 64 else block


def _blocks(n: int, block: int):
    for start in range(0, n, block):
        yield start, min(start + block, n)


class _BlockwiseInfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u1: Tensor, u2: Tensor, bias: Tensor | None, tau: float, intra: bool,
                symmetric: bool, block: int, keep_bytes: int) -> Tensor:
        n = u1.size(0)
        inv_tau = 1.0 / tau
        use_intra = intra and n > 1
        lse1 = torch.empty(n, dtype=u1.dtype, device=u1.device)
        col_max = torch.full((n,), -math.inf, dtype=u1.dtype, device=u1.device)
        col_sum = torch.zeros(n, dtype=u1.dtype, device=u1.device)
        # S12 whole, and the upper triangle of S11 (and of S22 when symmetric)
        kept_elements = n * n + use_intra * (1 + symmetric) * _triangle_elements(n, block)
        keep = keep_bytes > 0 and kept_elements * u1.element_size() <= keep_bytes
        kept: dict[str, list[Tensor]] | None = ({"s12": [], "s11": [], "s22": []} if keep
                                                else None)
        for s, e in _blocks(n, block):
            s12 = (u1[s:e] * inv_tau) @ u2.t()
            if kept is not None:
                kept["s12"].append(s12.clone())
            if symmetric:
                # Column log-sum-exp of S12 + b_i (row bias for view-2 anchors), accumulated online.
                c = s12 if bias is None else s12 + bias[s:e].unsqueeze(1)
                _online_lse_(col_max, col_sum, slice(None), c, dim=0)
                del c
            if bias is not None:
                s12.add_(bias.unsqueeze(0))
            lse1[s:e] = torch.logsumexp(s12, dim=1)
            del s12
        lse2 = col_max + torch.log(col_sum) if symmetric else None
        if use_intra:
            lse1 = torch.logaddexp(lse1, _intra_lse(u1, bias, inv_tau, block,
                                                    (kept or {}).get("s11")))
            if symmetric:
                lse2 = torch.logaddexp(lse2, _intra_lse(u2, bias, inv_tau, block,
                                                        (kept or {}).get("s22")))
        positive = (u1 * u2).sum(dim=1) * inv_tau
        if bias is not None:
            positive = positive + bias
        losses = lse1 - positive
        if symmetric:
            losses = 0.5 * (losses + (lse2 - positive))
        ctx.save_for_backward(u1, u2, bias, lse1, lse2)
        ctx.tau, ctx.intra, ctx.symmetric, ctx.block = tau, use_intra, symmetric, block
        ctx.kept = kept
        return losses.mean()

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        u1, u2, bias, lse1, lse2 = ctx.saved_tensors
        n = u1.size(0)
        inv_tau = 1.0 / ctx.tau
        scale = grad_out / n
        w1 = 0.5 * scale if ctx.symmetric else scale
        w2 = 0.5 * scale if ctx.symmetric else None
        g1 = torch.zeros_like(u1)
        g2 = torch.zeros_like(u2)
        # The positive logit appears with weight -(w1 + w2) in every anchor pair's loss.
        w_pos = (w1 + w2) if ctx.symmetric else w1
        g1.sub_(u2 * (w_pos * inv_tau))
        g2.sub_(u1 * (w_pos * inv_tau))
        # kept blocks are modified in place below, so they serve one backward pass only
        kept, ctx.kept = ctx.kept, None
        for k, (s, e) in enumerate(_blocks(n, ctx.block)):
            s12 = kept["s12"][k] if kept is not None else (u1[s:e] * inv_tau) @ u2.t()
            if ctx.symmetric:
                t2 = s12 - lse2.unsqueeze(0)
                if bias is not None:
                    t2.add_(bias[s:e].unsqueeze(1))
                grad = t2.exp_().mul_(w2)
                del t2
            if bias is not None:
                s12.add_(bias.unsqueeze(0))
            p1 = s12.sub_(lse1[s:e].unsqueeze(1)).exp_().mul_(w1)
            grad = p1 if not ctx.symmetric else grad.add_(p1)
            del p1, s12
            # S12 = u1 u2ᵀ / τ
            g1[s:e].add_(grad @ u2, alpha=inv_tau)
            g2.add_(grad.t() @ u1[s:e], alpha=inv_tau)
            del grad
        if ctx.intra:
            _intra_backward_(g1, u1, bias, lse1, w1, inv_tau, ctx.block, (kept or {}).get("s11"))
            if ctx.symmetric:
                _intra_backward_(g2, u2, bias, lse2, w2, inv_tau, ctx.block,
                                 (kept or {}).get("s22"))
        return g1, g2, None, None, None, None, None, None


def _triangle_elements(n: int, block: int) -> int:
    """Elements of the row blocks ``S[s:e, s:]`` that cover the upper triangle of an ``n x n``
    symmetric matrix (diagonal blocks included): about ``n (n + block) / 2``."""
    return sum((e - s) * (n - s) for s, e in _blocks(n, block))


def _online_lse_(run_max: Tensor, run_sum: Tensor, rows: slice, vals: Tensor, dim: int) -> None:
    """Fold ``vals`` into the running log-sum-exp ``(run_max, run_sum)`` of ``rows``, reducing
    over ``dim`` (entries of ``-inf`` count for nothing, also when a whole row is ``-inf``)."""
    new_max = torch.maximum(run_max[rows], vals.amax(dim=dim))
    shift = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    run_sum[rows] = (run_sum[rows] * torch.exp(run_max[rows] - shift)
                     + torch.exp(vals - shift.unsqueeze(dim)).sum(dim=dim))
    run_max[rows] = new_max


def _intra_lse(u: Tensor, bias: Tensor | None, inv_tau: float, block: int,
               kept: list[Tensor] | None) -> Tensor:
    """Per-row log-sum-exp of ``S + b`` without the diagonal, ``S = u uᵀ/τ`` (symmetric).

    Row block ``s:e`` computes ``S[s:e, s:]`` only: its rows feed rows ``s:e`` and, transposed
    (with the bias of the block's rows), rows ``e:``, so each entry of ``S`` is computed once
    instead of twice. ``kept`` collects the raw blocks for the backward pass.
    """
    n = u.size(0)
    run_max = torch.full((n,), -math.inf, dtype=u.dtype, device=u.device)
    run_sum = torch.zeros(n, dtype=u.dtype, device=u.device)
    for s, e in _blocks(n, block):
        q = (u[s:e] * inv_tau) @ u[s:].t()
        if kept is not None:
            kept.append(q.clone())
        if e < n:
            c = q[:, e - s:] if bias is None else q[:, e - s:] + bias[s:e].unsqueeze(1)
            _online_lse_(run_max, run_sum, slice(e, None), c, dim=0)
            del c
        if bias is not None:
            q.add_(bias[s:].unsqueeze(0))
        q.diagonal().fill_(-math.inf)  # S[i, i]: row block s:e starts at column s
        _online_lse_(run_max, run_sum, slice(s, e), q, dim=1)
        del q
    return run_max + torch.log(run_sum)


def _intra_backward_(g: Tensor, u: Tensor, bias: Tensor | None, lse: Tensor, w, inv_tau: float,
                     block: int, kept: list[Tensor] | None) -> None:
    """Add the gradient of the intra-view terms of ``S = u uᵀ/τ`` to ``g``.

    With ``G[i, j] = w·exp(S[i, j] + b_j − lse_i)`` off the diagonal (0 on it) the gradient is
    ``(G + Gᵀ) u / τ``, and ``M = G + Gᵀ`` is symmetric: row block ``s:e`` forms ``M[s:e, s:]``
    from ``S[s:e, s:]`` (``Gᵀ[i, j] = w·exp(S[i, j] + b_i − lse_j)`` comes from the same entries)
    and sends it to rows ``s:e`` (``M[s:e, s:] u[s:]``) and, transposed, to rows ``e:``
    (``M[s:e, e:]ᵀ u[s:e]``). ``kept`` blocks are consumed.
    """
    n = u.size(0)
    for k, (s, e) in enumerate(_blocks(n, block)):
        q = kept[k] if kept is not None else (u[s:e] * inv_tau) @ u[s:].t()
        t = q - lse[s:].unsqueeze(0)  # the transposed term, read by columns
        if bias is not None:
            t.add_(bias[s:e].unsqueeze(1))
            q.add_(bias[s:].unsqueeze(0))
        q.sub_(lse[s:e].unsqueeze(1)).exp_().add_(t.exp_()).mul_(w)
        del t
        q.diagonal().fill_(0.0)
        g[s:e].add_(q @ u[s:], alpha=inv_tau)
        if e < n:
            g[e:].add_(q[:, e - s:].t() @ u[s:e], alpha=inv_tau)
        del q


def blockwise_info_nce_normalized(u1: Tensor, u2: Tensor, tau: float, *,
                                  col_bias: Tensor | None = None, intra_view: bool = True,
                                  symmetric: bool = True, block_size: int | None = None,
                                  keep_bytes: int | None = None) -> Tensor:
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
    return _BlockwiseInfoNCE.apply(u1, u2, col_bias, float(tau), bool(intra_view),
                                   bool(symmetric), block, keep)
