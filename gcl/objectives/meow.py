"""MEOW's cluster-weighted InfoNCE + prototype loss, and AdaMEOW's learned soft weights.

Both losses are computed in row chunks, so neither the N×N weight matrix nor (AdaMEOW) any
N×N×d pair tensor is ever held. MEOW's chunks are recomputed in the backward pass. AdaMEOW
applies the first layer of its weight MLP to the two embedding matrices separately
(W1(v_i + u_j) = W1 v_i + W1 u_j) and broadcasts, chunk by chunk (``B×N×hidden`` at most,
hidden = 16), computing the value and its gradients in the same pass.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .._utils import check_cluster_count, check_positive
from ..distributed import current_world, global_sum, shard_rows
from .base import Objective
from .kmeans import torch_kmeans

__all__ = ["torch_kmeans", "cluster_concentration", "weighted_info_nce", "proto_nce",
           "MEOWLoss", "AdaMEOWLoss"]


def cluster_concentration(score: Tensor, assign: Tensor, k: int, tau: float) -> Tensor:
    """PCL-style concentration φ per cluster, as MEOW computes it.

    φ_c = mean over members of √score / ln(n_c + 5); clusters with at most one member get the
    largest φ of the others; φ is clipped to its 10th-90th percentile and rescaled to mean τ.
    When every φ is 0 (no member lies in front of its centroid, e.g. a centroid at the origin
    in one dimension), every cluster gets φ = τ instead of the reference's 0/0.

    Args:
        score: ``[N]`` inner product of each point with its centroid.
        assign: ``[N]`` cluster ids.
        k: number of clusters.
        tau: the target mean (the temperature).

    Returns:
        Tensor: ``[k]``.

    Example:
        >>> phi = cluster_concentration(torch.ones(6), torch.tensor([0, 0, 0, 1, 1, 2]), 3, 0.5)
        >>> round(float(phi.mean()), 4)
        0.5
    """
    counts = torch.bincount(assign, minlength=k).to(score.dtype)
    root = score.clamp(min=0).sqrt()
    sums = torch.zeros(k, dtype=score.dtype, device=score.device).index_add_(0, assign, root)
    phi = sums / counts.clamp(min=1) / torch.log(counts + 5)
    big = counts > 1
    fill = phi[big].max() if bool(big.any()) else torch.tensor(1.0, dtype=score.dtype)
    phi = torch.where(big, phi, fill)
    lo, hi = torch.quantile(phi, 0.1), torch.quantile(phi, 0.9)
    phi = phi.clamp(min=float(lo), max=float(hi))
    mean = phi.mean()
    if not bool(mean > 0):  # every member at or behind its centroid (score <= 0): nothing to
        return torch.full_like(phi, float(tau))  # rescale, so every cluster gets φ = τ
    return tau * phi / mean


def _chunk_rows(n: int, chunk: int):
    for start in range(0, n, chunk):
        yield start, min(n, start + chunk)


def weighted_info_nce(u: Tensor, v: Tensor, assigns: list[Tensor], tau: float, *,
                      chunk_size: int = 128, rows: tuple[int, int] | None = None) -> Tensor:
    """MEOW's InfoNCE: mean_i −log[exp(u_i·v_i/τ) / Σ_j w_ij exp(u_i·v_j/τ)], with
    w_ij = Σ_m 1[a_m(i) ≠ a_m(j)] (so w_ii = 0: the positive is not in the denominator).

    A node that shares its cluster with every other node in every clustering has no negative
    (an empty denominator: the reference's loss is infinite there); its denominator keeps the
    positive alone, so its term is 0. This happens only when every clustering has a single
    non-empty cluster (one node, or identical embeddings).

    Computed in row chunks, recomputed in the backward pass (no N×N weight matrix is kept).

    Args:
        u: ``[N, d]`` anchors (coarse view).
        v: ``[N, d]`` samples (fine view).
        assigns: one ``[N]`` cluster assignment per clustering.
        tau: temperature.
        chunk_size: rows per chunk (default: 128).
        rows: only the anchors ``[start, stop)`` against every sample: their share
            (the sum of their terms over ``N``) of the loss (default: all anchors).

    Returns:
        Tensor: scalar loss.

    Example:
        >>> u = F.normalize(torch.randn(6, 3), dim=1)
        >>> a = [torch.arange(6), torch.arange(6)]  # every pair weighted 2
        >>> float(weighted_info_nce(u, u, a, 0.5)) > 0
        True
    """
    n = u.shape[0]
    stacked = torch.stack([a.to(u.device) for a in assigns])  # [M, N]

    def block(u_blk, v_all, s_blk, offset):
        # w as floats, one clustering at a time: no [M, B, N] or int64 [B, N] temporaries
        w = (s_blk[0].unsqueeze(1) != stacked[0].unsqueeze(0)).to(u_blk.dtype)  # [B, N]
        for m in range(1, stacked.shape[0]):
            w += s_blk[m].unsqueeze(1) != stacked[m].unsqueeze(0)
        alone = w.sum(1) == 0  # no negative: the denominator keeps the positive alone
        if bool(alone.any()):
            rows = torch.nonzero(alone).view(-1)
            w[rows, rows + offset] = 1.0
        logits = (u_blk @ v_all.t()).div_(tau)  # in place: the product's backward keeps inputs
        return torch.logsumexp(logits.add_(w.log_()), dim=1).sum()

    total = u.new_zeros(())
    start, stop = (0, n) if rows is None else rows
    for a, b in _chunk_rows(stop - start, chunk_size):
        a, b = a + start, b + start
        args = (u[a:b], v, stacked[:, a:b], a)
        total = total + (checkpoint(block, *args, use_reentrant=False)
                         if torch.is_grad_enabled() else block(*args))
    pos = (u[start:stop] * v[start:stop]).sum(1) / tau
    return (total - pos.sum()) / n


def proto_nce(u: Tensor, centroids: Tensor, phi: Tensor, assign: Tensor, *,
              rows: tuple[int, int] | None = None) -> Tensor:
    """Prototype loss of one clustering: mean_i −log softmax_k(u_i·c_k/φ_k)[a(i)].

    (The reference divides by ``N·mean_k`` instead of ``Σ_k``; that only adds the constant
    ``log(N/k)`` to the value and nothing to the gradients.)

    Args:
        u: ``[N, d]`` anchors.
        centroids: ``[k, d]`` normalised prototypes.
        phi: ``[k]`` concentrations.
        assign: ``[N]`` cluster of each node.
        rows: only the anchors ``[start, stop)``: their share (the sum of their terms over
            ``N``) of the loss (default: all anchors).

    Returns:
        Tensor: scalar loss.

    Example:
        >>> u = torch.eye(2); c = torch.eye(2)
        >>> round(float(proto_nce(u, c, torch.ones(2), torch.tensor([0, 1]))), 4)
        0.3133
    """
    if rows is not None:
        start, stop = rows
        logits = (u[start:stop] @ centroids.t()) / phi.unsqueeze(0)
        return F.cross_entropy(logits, assign[start:stop].to(u.device),
                               reduction="sum") / u.size(0)
    logits = (u @ centroids.t()) / phi.unsqueeze(0)
    return F.cross_entropy(logits, assign.to(u.device))


class MEOWLoss(Objective):
    """MEOW's objective: cluster-weighted InfoNCE (anchors ``h1``, the coarse view; samples
    ``h2``, the fine view) plus ``proto_weight`` × the prototype loss averaged over the
    clusterings.

    Every call clusters ``h2`` (detached) once per entry of ``num_clusters`` with
    :func:`torch_kmeans` (seed = the clustering's index), on ``h2``'s device. MEOW's encoder
    hands it L2-normalised projections; ``normalize=True`` normalises other embeddings first
    (e.g. GRACE's projection head on a homogeneous graph).

    Args:
        tau: temperature (also the mean concentration φ) (default: 0.4).
        num_clusters: cluster counts, one clustering each (default: ``(100, 300)``).
        proto_weight: λ_proto (default: 1.0).
        niter: k-means iterations (default: 20).
        nredo: k-means restarts (default: 5).
        chunk_size: rows per InfoNCE chunk (default: 128).
        normalize: L2-normalise both inputs first (default: ``False``).

    Example:
        >>> loss = MEOWLoss(tau=0.5, num_clusters=(2, 3), nredo=1)
        >>> u = F.normalize(torch.randn(8, 4), dim=1); v = F.normalize(torch.randn(8, 4), dim=1)
        >>> float(loss(u, v)) > 0
        True
    """

    def __init__(self, tau: float = 0.4, num_clusters=(100, 300), proto_weight: float = 1.0, *,
                 niter: int = 20, nredo: int = 5, chunk_size: int = 128,
                 normalize: bool = False):
        super().__init__()
        self.tau = check_positive(tau, "tau", "MEOWLoss")
        self.num_clusters = [int(check_positive(k, "num_clusters", "MEOWLoss", integer=True))
                             for k in num_clusters]
        if not self.num_clusters:
            raise ValueError("MEOWLoss: num_clusters must list at least one cluster count")
        self.proto_weight = float(proto_weight)
        self.niter, self.nredo, self.chunk_size = int(niter), int(nredo), int(chunk_size)
        self.normalize = bool(normalize)

    def cluster(self, v: Tensor) -> list[tuple[Tensor, Tensor, Tensor]]:
        """``(assign, centroids, phi)`` per clustering of ``v``."""
        out = []
        for m, k in enumerate(self.num_clusters):
            k = check_cluster_count(k, v.shape[0], "num_clusters", "MEOWLoss")
            assign, cent, score = torch_kmeans(v.detach(), k, niter=self.niter,
                                               nredo=self.nredo, seed=m)
            out.append((assign, cent, cluster_concentration(score, assign, cent.shape[0],
                                                            self.tau)))
        return out

    def with_clusters(self, u: Tensor, v: Tensor, clusters, step=None) -> Tensor:
        """The loss for given clusterings ``[(assign, centroids, phi), ...]`` of ``v``; in a
        distributed training step, each rank computes the terms of its own anchors (the
        clusterings are computed whole on every rank)."""
        world = current_world()
        rows = None if world is None else shard_rows(u.size(0), world.rank, world.size)
        info = global_sum(weighted_info_nce(u, v, [c[0] for c in clusters], self.tau,
                                            chunk_size=self.chunk_size, rows=rows), world)
        proto = global_sum(sum(proto_nce(u, c, phi, a, rows=rows) for a, c, phi in clusters)
                           / len(clusters), world)
        if step is not None:
            step.log("info", info)
            step.log("proto", proto)
        return info + self.proto_weight * proto

    def forward(self, h1: Tensor, h2: Tensor, step=None) -> Tensor:
        if self.normalize:
            h1, h2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)
        return self.with_clusters(h1, h2, self.cluster(h2), step)


class _SoftWeightedLSE(torch.autograd.Function):
    """Σ_i logsumexp_j (v_i·u_j/τ + log σ(w2 · tanh(hv_i + hu_j) + b2)) and, in the same pass
    over row chunks, its gradients with respect to every input.

    The loss is a scalar, so its gradients are the ones computed here times the upstream
    gradient: the backward pass only scales them. Each ``B×N×h`` chunk is built once (a
    recomputing autograd version builds it twice and reads it several more times), and
    tanh(x) = 2σ(2x) − 1 is evaluated through the sigmoid, several times cheaper than tanh on
    CPUs. Double backward is not supported.
    """

    @staticmethod
    def forward(ctx, v, u, hv, hu, w2, b2, tau: float, chunk: int, grads: bool):
        n, h = hv.shape
        # tanh(x) = 2 s − 1 with s = σ(2x); the MLP's output z = w2 · tanh + b2 = s · 2w2 + c
        w2x2, c = 2 * w2, b2 - w2.sum()
        hv2, hu2 = 2 * hv, 2 * hu
        buf = hv.new_empty(min(chunk, n), n, h)
        total = v.new_zeros(())
        if grads:
            gv, gu, ghv, ghu = (torch.zeros_like(t) for t in (v, u, hv, hu))
            gw2, gb2 = torch.zeros_like(w2), torch.zeros_like(b2)
        for a, b in _chunk_rows(n, chunk):
            s = torch.add(hv2[a:b].unsqueeze(1), hu2.unsqueeze(0), out=buf[:b - a]).sigmoid_()
            z = s @ w2x2 + c  # [B, N] MLP logits
            logits = (v[a:b] @ u.t()).div_(tau).add_(F.logsigmoid(z))
            lse = torch.logsumexp(logits, dim=1)
            total += lse.sum()
            if not grads:
                continue
            p = logits.sub_(lse.unsqueeze(1)).exp_()  # d lse_i / d logits_ij (softmax)
            gv[a:b] += (p @ u).div_(tau)
            gu += (p.t() @ v[a:b]).div_(tau)
            dz = p.mul_(torch.sigmoid(-z))  # d log σ(z) / dz = 1 − σ(z)
            dz_sum = dz.sum()
            gb2 += dz_sum
            gw2 += 2 * (dz.reshape(1, -1) @ s.reshape(-1, h)).squeeze(0) - dz_sum
            # d z / d(hv_i + hu_j) = w2 (1 − tanh²) = 4 w2 s (1 − s)
            dpre = s.addcmul_(s, s, value=-1).mul_(dz.unsqueeze(2)).mul_(4 * w2)
            ghv[a:b] += dpre.sum(1)
            ghu += (dpre.new_ones(1, b - a) @ dpre.reshape(b - a, -1)).view(n, h)
        if grads:
            ctx.save_for_backward(gv, gu, ghv, ghu, gw2, gb2)
        return total

    @staticmethod
    def backward(ctx, grad):
        if torch.is_grad_enabled():  # create_graph=True: second derivatives were asked for
            raise RuntimeError("AdaMEOWLoss computes first derivatives only: no double backward "
                               "(create_graph=True)")
        return (*(grad * g for g in ctx.saved_tensors), None, None, None)


class AdaMEOWLoss(Objective):
    """AdaMEOW's objective with learned soft negative weights.

    L = mean_i −log[exp(v_i·u_i/τ) / Σ_j w_ij exp(v_i·u_j/τ)] with
    w_ij = σ(W2 · tanh(W1 (v_i + u_j) + b1) + b2), called as ``loss(u, v)`` like every
    objective (``h1 = u`` the coarse view's samples, ``h2 = v`` the fine view's anchors; j = i is
    in the denominator). W1 is applied to ``v`` and ``u`` separately and
    broadcast over a row chunk: at most ``chunk_size × N × hidden`` values, never N×N×d. The
    denominator and its gradients are computed together in one pass over the chunks (each
    chunk built once, tanh through the sigmoid); the loss supports one backward pass (no
    double backward).

    Args:
        dim: embedding width d.
        hidden: width of the weight MLP (default: 16).
        tau: temperature (default: 0.9).
        chunk_size: rows per chunk (default: 64).

    Example:
        >>> loss = AdaMEOWLoss(4, tau=0.5)
        >>> v = F.normalize(torch.randn(5, 4), dim=1); u = F.normalize(torch.randn(5, 4), dim=1)
        >>> float(loss(u, v)) > 0
        True
    """

    def __init__(self, dim: int, hidden: int = 16, tau: float = 0.9, chunk_size: int = 64):
        super().__init__()
        self.tau = check_positive(tau, "tau", "AdaMEOWLoss")
        self.w1 = nn.Linear(int(dim), int(hidden))
        self.w2 = nn.Linear(int(hidden), 1)
        self.chunk_size = int(check_positive(chunk_size, "chunk_size", "AdaMEOWLoss",
                                             integer=True))

    def log_weights(self, v_blk: Tensor, u: Tensor) -> Tensor:
        """``log w_ij`` for the rows of ``v_blk`` against every ``u_j`` (``[B, N]``)."""
        hv = v_blk @ self.w1.weight.t() + self.w1.bias  # [B, h]
        hu = u @ self.w1.weight.t()  # [N, h]
        hidden = torch.tanh(hv.unsqueeze(1) + hu.unsqueeze(0))  # [B, N, h]
        return F.logsigmoid(hidden @ self.w2.weight.view(-1) + self.w2.bias)

    def forward(self, h1: Tensor, h2: Tensor, step=None) -> Tensor:
        u, v = h1, h2  # samples u (coarse view), anchors v (fine view)
        n = v.shape[0]
        hv = v @ self.w1.weight.t() + self.w1.bias
        hu = u @ self.w1.weight.t()
        w2, b2 = self.w2.weight.view(-1), self.w2.bias
        grads = torch.is_grad_enabled() and any(
            t.requires_grad for t in (v, u, hv, hu, w2, b2))
        total = _SoftWeightedLSE.apply(v, u, hv, hu, w2, b2, float(self.tau),
                                       self.chunk_size, grads)
        pos = (v * u).sum(1) / self.tau
        return (total - pos.sum()) / n
