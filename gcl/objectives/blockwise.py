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
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .precision import Products, check_precision

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


def _blocks(n: int, block: int):
    for start in range(0, n, block):
        yield start, min(start + block, n)


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


class _Plan:
    """What one call needs in both passes: sizes, the path, the bias weights, the products."""

    def __init__(self, u1: Tensor, bias: Tensor | None, tau: float, intra: bool,
                 symmetric: bool, block: int, precision: str, bias_spread: float | None) -> None:
        self.n = u1.size(0)
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
    triangle row block at a time; ``kept`` collects the blocks."""
    for s, e in _blocks(plan.n, plan.block):
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


class _BlockwiseInfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u1: Tensor, u2: Tensor, bias: Tensor | None, tau: float, intra: bool,
                symmetric: bool, block: int, keep_bytes: int, precision: str,
                bias_spread: float | None) -> Tensor:
        plan = _Plan(u1, bias, tau, intra, symmetric, block, precision, bias_spread)
        n, mm = plan.n, plan.products
        # S12 whole, and the upper triangle of S11 (and of S22 when symmetric)
        kept_elements = n * n + plan.intra * (1 + symmetric) * _triangle_elements(n, block)
        keep = keep_bytes > 0 and kept_elements * u1.element_size() <= keep_bytes
        kept: dict[str, list[Tensor]] | None = ({"s12": [], "s11": [], "s22": []} if keep
                                                else None)
        buf = None if keep else torch.empty(min(block, n) * n, dtype=u1.dtype, device=u1.device)
        sums1 = _Sums(n, u1, plan.single)
        sums2 = _Sums(n, u1, plan.single) if symmetric else None
        with mm.context():
            v1 = mm.operand(u1 * plan.scale)
            v2 = mm.operand(u2 * plan.scale)
            for s, e in _blocks(n, block):
                q = _fold_inter(plan, plan.similarities(v1[s:e], v2.t(), buf), s, e, sums1,
                                sums2)
                if kept is not None:
                    kept["s12"].append(q)
            if plan.intra:
                _fold_intra_view(plan, v1, sums1, None if kept is None else kept["s11"], buf)
                if symmetric:
                    _fold_intra_view(plan, v2, sums2, None if kept is None else kept["s22"],
                                     buf)
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
            for k, (s, e) in enumerate(_blocks(n, plan.block)):
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
                    for k, (s, e) in enumerate(_blocks(n, plan.block)):
                        q = (kept[name][k] if kept is not None
                             else _recompute(plan, v[s:e], v[s:].t(), blk))
                        m = mm.consume(_grad_intra(plan, q, s, e, side, wbuf))
                        if e < n:
                            mm.addmm(g[e:], m[:, e - s:].t(), yv[s:e])
                        mm.addmm(g[s:e], m, yv[s:])
        # diag(y) on the results, the scale of the products' other factor, and the positive
        # logit u1·u2/τ, which appears with weight -(w1 + w2) in every anchor pair's loss
        w_pos = (w1 + (w2 or 0.0)) * plan.inv_tau / plan.grad_scale
        if plan.y is not None:
            g1.mul_(plan.y.unsqueeze(1))
            g2.mul_(plan.y.unsqueeze(1))
        g1 = (g1 - u2 * w_pos).mul_(plan.grad_scale * grad_out)
        g2 = (g2 - u1 * w_pos).mul_(plan.grad_scale * grad_out)
        return g1, g2, None, None, None, None, None, None, None, None


def _recompute(plan: _Plan, a: Tensor, bt: Tensor, buf: Tensor) -> Tensor:
    """A block's similarities again, exponentiated on the one-exponential path."""
    q = plan.similarities(a, bt, buf)
    return plan.exp_(q) if plan.single else q


def blockwise_info_nce_normalized(u1: Tensor, u2: Tensor, tau: float, *,
                                  col_bias: Tensor | None = None, intra_view: bool = True,
                                  symmetric: bool = True, block_size: int | None = None,
                                  keep_bytes: int | None = None, precision: str = "fp32",
                                  bias_spread: float | None = None) -> Tensor:
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
                                   bool(symmetric), block, keep, precision, bias_spread)
