"""PamC's meta-node negatives as an objective of the one training loop.

The loss terms (influence matrix, positive term, meta-node and node-pair negatives, DEC's
Student-t assignment and target distribution) are in :mod:`gcl.objectives.pamc_terms` and
re-exported here.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from .._utils import check_choice, check_positive
from ..distributed import all_reduce_sum, current_world, global_sum, shard_rows
from .base import Objective, Step
from .pamc_terms import (
    NEGATIVES,
    _meta_nodes,
    influence_matrix,
    meta_negative,
    meta_node_negative,
    node_pair_negative,
    pair_dot,
    pamc_loss,
    positive_term,
    restrict_sparse,
    student_t_assignment,
    target_distribution,
    temperature_from_multiplier,
)

__all__ = ["PamCObjective", "influence_matrix", "temperature_from_multiplier", "positive_term",
           "pair_dot", "meta_node_negative", "node_pair_negative", "pamc_loss",
           "student_t_assignment", "target_distribution", "restrict_sparse", "NEGATIVES"]


class PamCObjective(Objective):
    """PamC's meta-node negatives as a two-view objective for :class:`gcl.Pipeline`.

    A clustering head (learnable centroids, DEC Student-t soft assignment ``Q``) assigns the
    nodes of each view to ``K`` clusters; the centroids are initialised by k-means on the first
    step's embeddings, unless a module initialised them already (SDCN-style PamC starts them
    from k-means on its pretrained autoencoder). For views ``a, b`` the loss is the symmetrised

    .. code-block:: text

        l(a, b) = -mean_i log sum_j S_ij exp(cos(a_i, b_j) / T)
                  + mean_k log sum_l exp(cos(M^a_k, M^b_l) / T)      (cos(M^a_k, M^b_k) := 0)
        L = (l(h1, h2) + l(h2, h1)) / 2 + kl_weight * (KL(P1 || Q1) + KL(P2 || Q2)) / 2

    with ``S`` the influence matrix of the clean graph (its self-loop weights the node's own
    counterpart in the other view), ``M`` the meta-nodes (hard: per-cluster sums over
    ``argmax Q``; soft: ``Q^T h``) and ``P`` DEC's target distribution.

    The clustering head needs embeddings with some cluster structure: PamC itself pretrains an
    autoencoder, and from a random GCN the projected views are nearly parallel, the k-means
    centroids coincide and the loss sits at a stationary point (soft) or empties clusters
    until one is left (hard: a single non-empty cluster has no negatives, the loss' trivial
    minimum ``-1/T``, warned about once). ``warmup_epochs > 0`` first trains with InfoNCE
    (GRACE's loss, temperature ``warmup_tau``) on ``warmup_nodes`` random nodes per epoch and
    initialises the centroids by k-means when the meta-node loss takes over. With
    ``negatives="node_pair"`` the meta-node term is replaced by the dense node-pair one.

    Given one view twice (``h2 is h1``: a single-view module such as SDCN-style PamC), the loss
    is PamC's own, ``contrast_weight * pamc_loss(h, S, argmax Q) + kl_weight * KL(P || Q)``
    (:func:`pamc_loss`: ``cos(h_i, h_i)`` left out, meta-nodes of one view). In
    mini-batch training (``Pipeline.fit(..., loader=...)``) ``S`` is restricted to the batch's
    seed nodes and the meta-nodes are built from the seeds' embeddings.

    Args:
        num_classes: ``K``.
        dim: embedding dimension of ``h``.
        temperature: ``T`` (default: 0.5).
        order: ``r`` of the influence matrix (default: 1).
        assignment: ``"hard"`` or ``"soft"`` meta-nodes (default: ``"hard"``).
        kl_weight: weight of the DEC clustering term (default: 1.0).
        negatives: ``"meta_node"`` or ``"node_pair"`` (default: ``"meta_node"``).
        contrast_weight: weight of the contrastive term (default: 1.0; PamC's ``alpha``).
        warmup_epochs: epochs of InfoNCE before the meta-node loss (default: 0).
        warmup_tau: InfoNCE temperature of the warm-up (default: 0.5).
        warmup_nodes: nodes sampled per warm-up epoch (default: 2048; all when fewer).

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import DropEdge
        >>> from gcl.encoders import GCNEncoder
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = Pipeline(GCNEncoder(8, 16), PamCObjective(3, 16), augment=DropEdge(0.2),
        ...                 lr=0.01, device="cpu", progress=False)
        >>> len(pipe.fit(data, epochs=3).losses)
        3
    """

    def __init__(self, num_classes: int, dim: int, *, temperature: float = 0.5, order: int = 1,
                 assignment: str = "hard", kl_weight: float = 1.0,
                 negatives: str = "meta_node", contrast_weight: float = 1.0,
                 warmup_epochs: int = 0, warmup_tau: float = 0.5,
                 warmup_nodes: int = 2048) -> None:
        super().__init__()
        owner = "PamCObjective"
        self.warmup_epochs = int(check_positive(warmup_epochs, "warmup_epochs", owner,
                                                allow_zero=True, integer=True))
        self.warmup_tau = float(check_positive(warmup_tau, "warmup_tau", owner))
        self.warmup_nodes = int(check_positive(warmup_nodes, "warmup_nodes", owner, integer=True))
        self._warned_collapse = False
        self.num_classes = int(check_positive(num_classes, "num_classes", owner, integer=True))
        self.temperature = float(check_positive(temperature, "temperature", owner))
        self.order = int(check_positive(order, "order", owner, integer=True))
        self.assignment = check_choice(assignment, "assignment", ("hard", "soft"), owner)
        self.kl_weight = float(check_positive(kl_weight, "kl_weight", owner, allow_zero=True))
        self.negatives = check_choice(negatives, "negatives", NEGATIVES, owner)
        self.contrast_weight = float(check_positive(contrast_weight, "contrast_weight", owner,
                                                    allow_zero=True))
        self.centroids = torch.nn.Parameter(torch.zeros(self.num_classes, int(dim)))
        self.register_buffer("initialized", torch.tensor(False))
        self.target: Tensor | None = None

    def setup(self, data: Any) -> None:
        """Build the influence matrix of the clean graph."""
        self.target = influence_matrix(data.edge_index, data.num_nodes, self.order)

    @torch.no_grad()
    def _init_centroids(self, h: Tensor, iterations: int = 20) -> None:
        if h.size(0) == 0:
            raise ValueError("PamCObjective: cannot initialise the centroids from 0 nodes")
        gen = torch.Generator(device="cpu").manual_seed(0)
        # With fewer nodes than clusters, nodes are reused: the duplicate centroids start empty.
        order = torch.randperm(h.size(0), generator=gen)
        pick = order[torch.arange(self.num_classes) % h.size(0)].to(h.device)
        centers = h[pick].clone()
        for _ in range(iterations):
            labels = torch.cdist(h, centers).argmin(1)
            sums = torch.zeros_like(centers).index_add_(0, labels, h)
            counts = torch.bincount(labels, minlength=self.num_classes)
            keep = counts > 0
            centers[keep] = sums[keep] / counts[keep, None].to(h.dtype)
        self.centroids.copy_(centers)
        self.initialized.fill_(True)

    def assign(self, h: Tensor) -> Tensor:
        """The soft assignment ``Q`` of embeddings ``h`` (``[N, K]``)."""
        return student_t_assignment(h, self.centroids)

    def _one_side(self, a: Tensor, b: Tensor, qa: Tensor, qb: Tensor) -> Tensor:
        world = current_world()
        if world is not None:  # distributed: this rank's anchors, meta-nodes summed over ranks
            return self._one_side_sharded(a, b, qa, qb, world)
        pos = positive_term(a, self.target, self.temperature, other=b)
        if self.negatives == "node_pair":
            return pos + node_pair_negative(a, self.temperature, other=b)
        ca, cb = self._clusters(qa, qb)
        return pos + meta_node_negative(a, ca, self.num_classes, self.temperature, other=b,
                                        other_assignment=cb)

    def _clusters(self, qa: Tensor, qb: Tensor) -> tuple[Tensor, Tensor]:
        if self.assignment == "hard":
            return self._hard(qa), qb.detach().argmax(1)
        return qa, qb

    def _one_side_sharded(self, a: Tensor, b: Tensor, qa: Tensor, qb: Tensor, world) -> Tensor:
        """:meth:`_one_side` of one rank: the positive term (and the node-pair negatives) of
        its own anchors, the meta-nodes from its own nodes summed over the ranks (every rank
        then computes the ``K x K`` negatives whole)."""
        rows = shard_rows(a.size(0), world.rank, world.size)
        pos = positive_term(a, self.target, self.temperature, other=b, rows=rows)
        if self.negatives == "node_pair":
            return global_sum(pos + node_pair_negative(a, self.temperature, other=b, rows=rows),
                              world)
        ca, cb = self._clusters(qa, qb)
        lo, hi = rows
        meta = []
        for z, c in ((a, ca), (b, cb)):
            part, _ = _meta_nodes(z[lo:hi], c[lo:hi], self.num_classes)
            meta.append(all_reduce_sum(part, world))
        counts = [c.sum(0) if c.dim() == 2 else torch.bincount(c, minlength=self.num_classes)
                  for c in (ca, cb)]
        return global_sum(pos, world) + meta_negative(meta[0], counts[0] > 0, meta[1],
                                                      counts[1] > 0, self.temperature)

    def _hard(self, q: Tensor) -> Tensor:
        """``argmax Q``, warning once when every node falls into one cluster."""
        c = q.detach().argmax(1)
        if not self._warned_collapse and c.size(0) > 1 and int(
                torch.bincount(c, minlength=self.num_classes).gt(0).sum()) <= 1:
            self._warned_collapse = True
            warnings.warn("PamCObjective: every node is in one cluster, so the meta-node "
                          "negatives vanish and the loss sits at its trivial minimum "
                          "(a collapse); use warmup_epochs, assignment='soft' or a lower "
                          "learning rate", RuntimeWarning, stacklevel=4)
        return c

    def _warmup(self, h1: Tensor, h2: Tensor, step: Step) -> Tensor:
        from .infonce import info_nce

        n = h1.size(0)
        if n > self.warmup_nodes:
            pick = torch.randperm(n, device=h1.device)[: self.warmup_nodes]
            world = current_world()
            if world is not None:  # every rank must take the same nodes (rank 0's draw)
                pick = world.broadcast_(pick)
            h1, h2 = h1[pick], h2[pick]
        loss = info_nce(h1, h2, self.warmup_tau)
        step.log("warmup", 1.0)
        return loss

    def forward(self, h1: Tensor, h2: Tensor, step: Step | None = None) -> Tensor:
        if step is not None and step.epoch <= self.warmup_epochs:
            return self._warmup(h1, h2, step)
        if self.target is None:
            if step is None:
                raise ValueError("PamCObjective needs the graph: call setup(data) first, or use "
                                 "it inside gcl.Pipeline")
            self.setup(step.data)
        if not bool(self.initialized):
            self._init_centroids(h1.detach())
        if self.target.device != h1.device:  # once, not a copy of all of S per mini-batch
            self.target = self.target.to(h1.device)
        full = self.target
        if step is not None and step.nodes is not None:  # a mini-batch: S among its seed nodes
            self.target = restrict_sparse(full, step.nodes.to(h1.device))
        try:
            if h2 is h1:
                contrast, kl = self._single_view(h1)
            else:
                contrast, kl = self._two_views(h1, h2)
        finally:
            self.target = full
        if step is not None:
            step.log("contrast", contrast)
            step.log("kl", kl)
        return self.contrast_weight * contrast + self.kl_weight * kl

    def _two_views(self, h1: Tensor, h2: Tensor) -> tuple[Tensor, Tensor]:
        q1, q2 = self.assign(h1), self.assign(h2)
        contrast = 0.5 * (self._one_side(h1, h2, q1, q2) + self._one_side(h2, h1, q2, q1))
        kl = 0.5 * (F.kl_div(q1.clamp_min(1e-12).log(), target_distribution(q1),
                             reduction="batchmean")
                    + F.kl_div(q2.clamp_min(1e-12).log(), target_distribution(q2),
                               reduction="batchmean"))
        return contrast, kl

    def _single_view(self, h: Tensor) -> tuple[Tensor, Tensor]:
        q = self.assign(h)
        assignment = self._hard(q) if self.assignment == "hard" else q
        contrast = pamc_loss(h, self.target, assignment, num_classes=self.num_classes,
                             temperature=self.temperature, negatives=self.negatives)
        kl = F.kl_div(q.clamp_min(1e-12).log(), target_distribution(q), reduction="batchmean")
        return contrast, kl

    def extra_repr(self) -> str:
        return (f"num_classes={self.num_classes}, temperature={self.temperature}, "
                f"order={self.order}, assignment={self.assignment!r}, "
                f"negatives={self.negatives!r}, contrast_weight={self.contrast_weight}, "
                f"warmup_epochs={self.warmup_epochs}")
