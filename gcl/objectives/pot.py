"""POT (Yu et al., NeurIPS 2023): the node-compactness regularizer for 2-layer GCN encoders.

For every node ``i`` of a batch ``S`` (size ``n``) POT bounds ``g_i = z_i . c_i``, the encoder
output of one view times ``c_i = zh_i - mean_{j != i} zh_j`` (``zh``: the other view's
L2-normalised encoder output), over the range of edge-dropping views, by interval bounds and a
CROWN-style linear relaxation of the activation, and pushes the bound ("compactness") positive
with ``BCE(score, 1)``.

The pieces, all sparse (on the edges plus self-loops, never ``N x N``):

* :func:`drop_budget` and :func:`adjacency_box`: each node ``i`` of degree ``d_i`` loses at most
  ``m_i = min(max(d_i - 1, 0), round(r_i))`` incident edges, with ``r_i`` the expected number of
  drops (``p * d_i`` for uniform dropping, the sum of the per-edge drop probabilities for
  GCA-style dropping); with ``u_i = (d_i + 1 - m_i)^-1/2`` an edge entry of the gcn-normalised
  adjacency lies in ``[0, u_i u_j]`` and a diagonal entry in ``[1 / (d_i + 1), u_i^2]``.
* :func:`relaxation`: parallel linear bounds of ReLU / PReLU on ``[l, u]`` (slope
  ``s = (u - a l) / (u - l)``, upper offset ``beta = (a - 1) u l / (u - a l)`` inside the bracket).
* :func:`pot_score`: the closed-form score.

Two semantics (``sound`` argument):

* ``sound=False`` (default, the reference code's semantics, so published numbers are
  comparable): the layer-2 interval is computed from the hidden state of the *clean* graph, the
  backward pass uses node-indexed weights, and the resulting 2-hop linear form
  ``score = A (A t + b1~) + b2~`` is evaluated at the sampled view's adjacency ``A``. This is a
  heuristic, not a certified bound. ``A`` is oriented as the reference builds it
  (``orientation="reference"``: ``sparse_coo_tensor(gcn_norm(view))``, row = source, column =
  target), which is the transpose of the propagation matrix the encoder applies
  (``orientation="propagation"``: row = target). Edge dropping removes the two directions of an
  edge independently, so a view is asymmetric and the two orientations give different scores.
* ``sound=True``: layer 1's interval is propagated through the activation to the layer-2
  interval, the layer-2 backward pass is exact per path, and the linear form is minimised over
  the whole adjacency box (edge by edge). The score is then a certified lower bound of ``g_i``
  for every view that respects the drop budget (features fixed). It costs ``O(E h1)`` memory for
  the per-edge terms. No view enters it, so ``orientation`` does not apply; its box is always in
  the propagation orientation (row = target, budgets from in-degrees), because the quantity it
  bounds is the encoder's output, which PyG's ``GCNConv`` computes with the propagation matrix.
  On an undirected clean graph the box is symmetric and either orientation gives the same box;
  on a directed one the transposed box is not a bound (``tests/test_pot.py`` finds views whose
  compactness falls below a score computed with it, and none below the propagation box's).

Feature masking is not modelled (features are fixed at the clean ``x``), nor is edge adding.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._utils import check_choice, check_positive, check_probability
from .base import Regularizer, Step
from .pot_bound import (
    SPARSE_FEATURE_DENSITY,
    AdjacencyBox,
    _restrict,
    _sparse,
    _spmm,
    adjacency_box,
    drop_budget,
    pot_score,
    relaxation,
)
from .pot_views import find_edge_drop_probs

__all__ = ["AdjacencyBox", "drop_budget", "adjacency_box", "relaxation", "pot_score", "POT",
           "add_pot", "find_edge_drop_probs", "ORIENTATIONS"]

#: Orientations of the sampled view's adjacency in the reference semantics: ``"reference"``
#: (row = source, as the reference code's ``sparse_coo_tensor(edge_index, weight)``) and
#: ``"propagation"`` (row = target: the matrix the GCN encoder applies).
ORIENTATIONS = ("reference", "propagation")


def _check_encoder(encoder: nn.Module) -> None:
    from torch_geometric.nn import GCNConv

    convs = getattr(encoder, "convs", None)
    if convs is None or len(convs) != 2 or not all(isinstance(c, GCNConv) for c in convs):
        raise ValueError(
            f"POT supports a 2-layer GCN encoder (gcl.encoders.GCNEncoder with num_layers=2); "
            f"got {type(encoder).__name__}"
            + (f" with {len(convs)} layers" if convs is not None else ""))
    for conv in convs:
        if not conv.normalize or not conv.add_self_loops or conv.improved:
            raise ValueError("POT needs GCNConv layers with the symmetric normalisation and "
                             "self-loops (normalize=True, add_self_loops=True, improved=False)")
    act = getattr(encoder, "activation", None)
    if isinstance(act, nn.ReLU):
        return
    if isinstance(act, nn.PReLU) and act.weight.numel() == 1:
        return
    name = getattr(encoder, "activation_name", type(act).__name__)
    raise ValueError(
        f"POT supports the relu and single-slope prelu activations only, got {name!r} "
        "(rrelu and elu have no parallel linear relaxation here); set activation='relu' or "
        "'prelu'")


def _activation_slope(encoder: nn.Module) -> float | Tensor:
    act = encoder.activation  # a PReLU's weight stays a 0-dim tensor on the device (no host read)
    return act.weight.detach().reshape(()) if isinstance(act, nn.PReLU) else 0.0


# -- the regularizer ---------------------------------------------------------------------------
class POT(Regularizer):
    """The POT loss term, combined as ``(1 - kappa) * objective + kappa * value`` with
    ``value = (BCE(score_1, 1) + BCE(score_2, 1)) / 2``.

    ``score_v`` bounds the compactness of view ``v``'s nodes with the other view's normalised
    encoder outputs as the backward weights (not detached). The adjacency boxes come from the
    views' drop probabilities: given as ``drop_probs`` (computed in :meth:`setup`), or read
    from the augmentations that drew the step's views (``step.augment``), computed when first
    seen and again whenever the module's augmentations change.

    Args:
        kappa: weight of the POT term in the convex combination, in [0, 1] (default: 0.5).
        augment: the two views' augmentations to bound instead of the step's own (default:
            none, the step's).
        drop_probs: the two views' drop rates (floats) or ``[E]`` per-edge probabilities,
            instead of ``augment`` (default: none).
        pot_batch: run POT on a chunk of this many nodes of an epoch-wise node permutation
            (chunk ``epoch % num_chunks``), within the step's nodes; ``None`` or ``-1``: all.
        sound: certified bound over the box instead of the reference semantics (default: False).
        orientation: the sampled view's adjacency in the reference semantics: ``"reference"``
            (default; row = source, as the reference code builds it) or ``"propagation"`` (row =
            target, the matrix the encoder applies); see the module docstring. The sound
            variant reads no view and ignores it.

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import DropEdge
        >>> from gcl.encoders import GCNEncoder
        >>> from gcl.objectives import InfoNCE
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=8, num_classes=2, seed=0)
        >>> views = (DropEdge(0.2), DropEdge(0.4))
        >>> pipe = Pipeline(GCNEncoder(8, 8, activation="relu"), InfoNCE(tau=0.5), augment=views,
        ...                 regularizers=[POT(kappa=0.4)], device="cpu",
        ...                 progress=False)
        >>> _ = pipe.fit(data, epochs=2)
        >>> "pot" in pipe.history.epochs[-1]
        True
    """

    def __init__(self, kappa: float = 0.5, *, augment: Sequence | None = None,
                 drop_probs: Sequence | None = None, pot_batch: int | None = None,
                 sound: bool = False, orientation: str = "reference") -> None:
        kappa = check_probability(kappa, "kappa", "POT")  # named as the user knows it
        super().__init__(weight=kappa)
        self.kappa = float(kappa)
        for name, pair in (("augment", augment), ("drop_probs", drop_probs)):
            if pair is not None and (not isinstance(pair, (list, tuple)) or len(pair) != 2):
                raise ValueError(f"POT: {name} must be a pair (view 1, view 2), got {pair!r}")
        if pot_batch is not None and int(pot_batch) != -1:
            check_positive(pot_batch, "pot_batch", "POT", integer=True)
            pot_batch = int(pot_batch)
        else:
            pot_batch = None
        self.augment = tuple(augment) if augment is not None else None
        self.drop_probs = tuple(drop_probs) if drop_probs is not None else None
        self.pot_batch = pot_batch
        self.sound = bool(sound)
        self.orientation = check_choice(orientation, "orientation", ORIENTATIONS, "POT")
        self.boxes: tuple[AdjacencyBox, AdjacencyBox] | None = None
        self._boxes_of: tuple | None = None  # the augmentations the boxes were computed for
        self._data = None
        self._clean: Tensor | None = None
        self._warned = False

    def setup(self, data) -> None:
        """Keep the graph's clean normalised adjacency (and the boxes, for ``drop_probs``)."""
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        n = data.num_nodes
        dtype = data.x.dtype
        self._data = data
        # sparse features (bag-of-words) make the extra X W1 of the bound a sparse product
        density = float((data.x != 0).sum()) / max(data.x.numel(), 1)
        self._x_sparse = (data.x.to_sparse().coalesce()
                          if density <= SPARSE_FEATURE_DENSITY else None)
        index, weight = gcn_norm(data.edge_index, None, n, add_self_loops=True, dtype=dtype)
        self._clean = _sparse(torch.stack([index[1], index[0]]), weight, n)
        self.boxes, self._boxes_of = None, None
        if self.drop_probs is not None:
            probs = [p.to(data.edge_index.device) if isinstance(p, Tensor) else float(p)
                     for p in self.drop_probs]
            self._make_boxes(data, probs, ("drop_probs",))
        elif self.augment is not None:  # given explicitly: bounded from the start
            self._ensure_boxes(None)

    def _make_boxes(self, data, probs, key) -> None:
        n, dtype = data.num_nodes, data.x.dtype
        boxes = [adjacency_box(data.edge_index, n, p) for p in probs]
        self.boxes = tuple(AdjacencyBox(b.index, b.lower.to(dtype), b.upper.to(dtype), n)
                           for b in boxes)
        self._boxes_of = key

    def _ensure_boxes(self, step: Step) -> None:
        """The boxes of the views' augmentations (``augment``, else the step's), recomputed
        when those augmentations change."""
        if self.drop_probs is not None:
            return
        pair = self.augment or getattr(step, "augment", None)
        if pair is None or len(pair) != 2:
            raise ValueError("POT needs the views' drop scheme: train it inside a two-view "
                             "module (gcl.Pipeline), or pass augment=(view1, view2) or "
                             "drop_probs=(p1, p2)")
        key = (id(pair[0]), id(pair[1]))
        if self.boxes is not None and self._boxes_of == key:
            return
        data = self._data if self._data is not None else step.data
        probs = []
        for aug in pair:
            p, masked = find_edge_drop_probs(aug, data)
            if masked and not self._warned:
                warnings.warn("POT ignores feature masking: its bound keeps the clean features "
                              "fixed (as the reference code, which trains without masks)",
                              stacklevel=3)
                self._warned = True
            probs.append(p)
        self._make_boxes(data, probs, key)

    def _nodes(self, step: Step, n_all: int, device) -> Tensor | None:
        nodes = step.nodes
        if self.pot_batch is None:
            return nodes
        pool = nodes if nodes is not None else torch.arange(n_all, device=device)
        if self.pot_batch >= pool.numel():
            return nodes
        num_chunks = -(-pool.numel() // self.pot_batch)
        perm = pool[torch.randperm(pool.numel(), device=device)]
        k = step.epoch % num_chunks
        return perm[k * self.pot_batch:(k + 1) * self.pot_batch].sort().values

    def scores(self, step: Step) -> tuple[Tensor, Tensor]:
        """The two views' ``[n]`` compactness scores for this step."""
        from torch_geometric.nn.conv.gcn_conv import gcn_norm

        if self._clean is None:
            raise RuntimeError("POT.setup(data) must run before training (gcl.Pipeline does it)")
        self._ensure_boxes(step)
        encoder = step.encoder
        _check_encoder(encoder)
        a = _activation_slope(encoder)
        data = step.data
        n_all = data.num_nodes
        nodes = self._nodes(step, n_all, data.x.device)
        conv1, conv2 = encoder.convs
        x_sparse = getattr(self, "_x_sparse", None)
        if x_sparse is not None and x_sparse.shape == data.x.shape:
            xw1_all = _spmm(x_sparse, conv1.lin.weight.t())
        else:
            xw1_all = conv1.lin(data.x)
        b1 = conv1.bias if conv1.bias is not None else xw1_all.new_zeros(xw1_all.size(1))
        b2 = conv2.bias if conv2.bias is not None else xw1_all.new_zeros(conv2.out_channels)
        w2 = conv2.lin.weight
        xw1 = xw1_all if nodes is None else xw1_all[nodes]
        hw2 = None
        if not self.sound:
            hidden = encoder.activation(_spmm(self._clean, xw1_all) + b1)
            hw2 = conv2.lin(hidden if nodes is None else hidden[nodes])
        zs = [F.normalize(z if nodes is None else z[nodes], dim=1) for z in step.z]
        n = zs[0].size(0)
        if n < 2:
            raise ValueError("POT needs at least 2 nodes in a batch (pot_batch >= 2)")
        out = []
        for v in range(2):
            other = zs[1 - v]
            c = other * (n / (n - 1)) - other.sum(0, keepdim=True) / (n - 1)
            box = self.boxes[v].subgraph(nodes)
            view = None
            if not self.sound:
                index, weight = gcn_norm(step.views[v].edge_index, None, n_all, add_self_loops=True,
                                         dtype=xw1.dtype)  # index: (source, target)
                if self.orientation == "propagation":
                    index = torch.stack([index[1], index[0]])
                if nodes is not None:
                    index, mask = _restrict(index, nodes, n_all)
                    weight = weight[mask]
                view = (index, weight)
            out.append(pot_score(box, xw1, b1, w2, b2, c, a, hw2=hw2, view=view, sound=self.sound))
        return out[0], out[1]

    def forward(self, step: Step) -> Tensor:
        s1, s2 = self.scores(step)
        step.log("pot_nodes", s1.numel())
        return 0.5 * (F.softplus(-s1).mean() + F.softplus(-s2).mean())

    def combine(self, loss: Tensor, value: Tensor) -> Tensor:
        """``(1 - kappa) * loss + kappa * value``."""
        return (1 - self.kappa) * loss + self.kappa * value

    def extra_repr(self) -> str:
        text = f"kappa={self.kappa}, pot_batch={self.pot_batch}, sound={self.sound}"
        return text + (f", orientation={self.orientation!r}"
                       if self.orientation != "reference" else "")


def add_pot(pipeline, kappa: float = 0.5, pot_batch: int | None = None,
            sound: bool = False, orientation: str = "reference") -> POT:
    """Add POT to a built two-view pipeline whose encoder is a 2-layer GCN and whose views drop
    edges.

    The regularizer reads the drop probabilities from the augmentations that drew each step's
    views, so an augmentation swapped in later is the one bounded.

    Args:
        pipeline: a :class:`gcl.Pipeline` (GRACE, GCA, CSGCL, ... recipes).
        kappa: weight of the POT term (default: 0.5).
        pot_batch: POT node-chunk size (default: all nodes).
        sound: certified-bound variant (default: the reference semantics).
        orientation: the sampled view's adjacency in the reference semantics, ``"reference"``
            (default) or ``"propagation"`` (see :class:`POT`).

    Returns:
        POT: the added regularizer.

    Raises:
        ValueError: for a module that is not a two-view pipeline (e.g. PamC's autoencoder or
            MEOW's meta-path encoder), or an unsupported encoder or activation.

    Example:
        >>> from gcl.methods.grace import grace
        >>> pipe = grace(8, hidden=8, proj_hidden=8, device="cpu", progress=False)
        >>> add_pot(pipe, kappa=0.4)
        POT(kappa=0.4, pot_batch=None, sound=False)
    """
    from ..pipeline import Pipeline

    if not isinstance(pipeline, Pipeline):
        encoder = getattr(pipeline, "encoder", None)
        raise ValueError(
            f"POT bounds a 2-layer GCN encoder under edge-dropping views, but this method trains "
            f"a {type(pipeline).__name__} with a {type(encoder).__name__} encoder, which is not "
            "a GCN on two augmented views; use POT with grace, gca, csgcl or gcn-pamc")
    _check_encoder(pipeline.encoder)
    reg = POT(kappa, pot_batch=pot_batch, sound=sound, orientation=orientation)
    reg.to(pipeline.device)
    pipeline.regularizers.append(reg)
    return reg
