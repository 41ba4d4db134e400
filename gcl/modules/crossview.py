"""The cross-view module: one encoder per view, views cut to one shared sub-sample, and
negatives from a corruption of both views (MVGRL)."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, nn

from .._utils import check_choice, validate_graph
from ..objectives.base import Step
from ..training import TrainingModule

__all__ = ["CrossViewModule"]

COMBINE = ("sum", "concat", "first", "second")


class CrossViewModule(TrainingModule):
    """Two views of one graph, each with its own encoder, scored against each other.

    Each step builds both ``views`` of the (whole) batch, cuts them to the same node sets drawn
    by ``sampler`` (e.g. :class:`gcl.augment.NodeSubsample`: the views keep their whole-graph
    weights), encodes view ``v`` with ``encoders[v]``, and, with a ``corruption`` (e.g.
    :class:`gcl.augment.ShuffleFeatures`), encodes both views again with one shared shuffle of
    the node features; those embeddings are the step's ``negatives``. The objective is called
    as ``objective(z1, z2, step)``. :meth:`embed` encodes both whole views and combines them
    (``sum``: MVGRL's ``h1 + h2``).

    Args:
        encoders: the pair ``(encoder of view 1, encoder of view 2)``.
        objective: an objective reading ``step.negatives`` where it needs them
            (:class:`gcl.objectives.MVGRLObjective`).
        views: the pair of view transforms (``Data -> Data``), e.g.
            ``(NormalizedAdjacency(), PPRDiffusion())``; applied in :meth:`embed` too.
        sampler: draws the node sets of a step (``sample(num_nodes, device)`` and
            ``restrict(view, nodes)``); default: none, the whole graph.
        corruption: draws the shared feature permutation (``permutation(view)``); default:
            none (``step.negatives`` stays ``None``).
        combine: how :meth:`embed` joins the two encoders' outputs: ``sum``, ``concat``,
            ``first`` or ``second`` (default: ``sum``).
        lr, weight_decay, optimizer, scheduler, device, seed, progress, meta: the loop's
            settings (see :class:`gcl.training.TrainingModule`).

    Example:
        >>> from gcl.augment import NormalizedAdjacency, PPRDiffusion, ShuffleFeatures
        >>> from gcl.augment import NodeSubsample
        >>> from gcl.data import synthetic
        >>> from gcl.encoders import GNNEncoder
        >>> from gcl.objectives import MVGRLObjective
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
        >>> def enc():
        ...     return GNNEncoder(6, 8, conv="gcn", num_layers=1, normalize=False,
        ...                       activation="prelu", activate_last=True)
        >>> module = CrossViewModule((enc(), enc()), MVGRLObjective(8),
        ...                          (NormalizedAdjacency(), PPRDiffusion(threshold=0.01)),
        ...                          sampler=NodeSubsample(20, 2), corruption=ShuffleFeatures(),
        ...                          device="cpu", progress=False)
        >>> len(module.fit(data, epochs=2).losses), module.embed(data).shape
        (2, torch.Size([40, 8]))
    """

    def __init__(self, encoders, objective: nn.Module, views, *, sampler=None, corruption=None,
                 combine: str = "sum", lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str | Callable = "adam", scheduler: Callable | None = None,
                 device: str | torch.device = "auto", seed: int | None = None,
                 progress: bool | None = None, meta: dict | None = None) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, optimizer=optimizer,
                         scheduler=scheduler, device=device, seed=seed, progress=progress,
                         meta=meta)
        pairs = {"encoders": encoders, "views": views}
        for name, pair in pairs.items():
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"{name} must be a pair (view 1, view 2), got {pair!r}")
        if not all(isinstance(e, nn.Module) for e in encoders):
            raise ValueError("encoders must be two torch.nn.Module encoders")
        if not all(callable(v) for v in views):
            raise ValueError("views must be two callables Data -> Data")
        if not isinstance(objective, nn.Module):
            raise ValueError(f"objective must be an nn.Module, got {type(objective).__name__}")
        self.encoder1, self.encoder2 = encoders
        self.objective = objective
        self.view1, self.view2 = views
        self.sampler = sampler
        self.corruption = corruption
        self.combine = check_choice(combine, "combine", COMBINE, "CrossViewModule")
        self.to(self.device)

    def augmentations(self) -> list:
        """The sampler and the corruption (their seeded generators go into checkpoints)."""
        return [a for a in (self.sampler, self.corruption) if a is not None]

    def setup(self, data, *, move: bool = True):
        """Validate ``data``, move it to the device and prepare the views (a diffusion is
        computed here, once) and the objective."""
        validate_graph(data)
        if move:
            data = data.to(self.device)
        for part in (self.view1, self.view2, self.objective):
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        return data

    @staticmethod
    def _encode(encoder: nn.Module, view) -> Tensor:
        return encoder(view.x, view.edge_index, getattr(view, "edge_weight", None))

    def training_step(self, batch, epoch: int) -> Step:
        """Both views, cut to one sub-sample, encoded; their corrupted copies encoded with one
        shared feature shuffle; the objective on the two views' embeddings."""
        v1, v2 = self.view1(batch), self.view2(batch)
        shared = v1.x is v2.x  # structural views: one feature matrix, gathered once
        if self.sampler is not None:
            nodes = self.sampler.sample(batch.num_nodes, batch.edge_index.device)
            v1 = self.sampler.restrict(v1, nodes)
            if shared:
                v2 = copy.copy(v2)
                del v2.x
            v2 = self.sampler.restrict(v2, nodes)
            if shared:
                v2.x = v1.x
        z1, z2 = self._encode(self.encoder1, v1), self._encode(self.encoder2, v2)
        negatives = None
        if self.corruption is not None:
            perm = self.corruption.permutation(v1)
            c1, c2 = copy.copy(v1), copy.copy(v2)
            c1.x = v1.x[perm]
            c2.x = c1.x if shared else v2.x[perm]
            negatives = (self._encode(self.encoder1, c1), self._encode(self.encoder2, c2))
        step = Step(epoch=epoch, data=v1, views=(v1, v2), z=(z1, z2), h=(z1, z2),
                    encoder=nn.ModuleList([self.encoder1, self.encoder2]),
                    augment=(self.view1, self.view2), negatives=negatives)
        step.loss = self.objective(z1, z2, step)
        return step

    @torch.no_grad()
    def embed(self, data) -> Tensor:
        """Both encoders on their whole views (eval mode), combined as ``combine`` says.

        Returns:
            Tensor: ``[N, d]`` (``[N, 2d]`` with ``concat``) on the module's device.
        """
        validate_graph(data)
        was_training = self.training
        self.eval()
        try:
            data = data.to(self.device)
            if self.combine == "first":
                return self._encode(self.encoder1, self.view1(data))
            if self.combine == "second":
                return self._encode(self.encoder2, self.view2(data))
            e1 = self._encode(self.encoder1, self.view1(data))
            e2 = self._encode(self.encoder2, self.view2(data))
            return e1 + e2 if self.combine == "sum" else torch.cat([e1, e2], dim=1)
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return (f"views=({self.view1!r}, {self.view2!r}), sampler={self.sampler!r}, "
                f"corruption={self.corruption!r}, combine={self.combine}")
