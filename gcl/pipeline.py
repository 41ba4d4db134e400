"""The two-view module: views -> encoder -> head -> objective (+ regularizers).

:class:`Pipeline` is the friendly face of the one training loop for two-view methods (GRACE,
GCA, CSGCL, POT, GCN + PamC): it implements the :class:`~gcl.training.TrainingModule` contract
and :class:`~gcl.training.Trainer` trains it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from ._utils import validate_graph
from .augment.base import Identity
from .distributed import current_world, gather_rows
from .objectives.base import Objective, Regularizer, Step
from .training import (
    CHECKPOINT_FILE,
    History,
    NonFiniteLossError,
    TrainingModule,
    get_rng_state,
    peak_memory_mb,
    set_rng_state,
)

__all__ = ["Pipeline", "History", "NonFiniteLossError", "peak_memory_mb", "get_rng_state",
           "set_rng_state", "CHECKPOINT_FILE", "EMBED_BATCH_SIZE"]

#: Target nodes per block when :meth:`Pipeline.embed` embeds a graph in blocks (after
#: mini-batch training).
EMBED_BATCH_SIZE = 4096


def _as_pair(augment) -> tuple[Callable, Callable]:
    if augment is None:
        return Identity(), Identity()
    if isinstance(augment, (list, tuple)):
        if len(augment) != 2:
            raise ValueError(
                f"augment must be one augmentation or a pair (view 1, view 2), got {len(augment)}"
            )
        a1, a2 = augment
    else:
        a1 = a2 = augment
    for a in (a1, a2):
        if not callable(a):
            raise ValueError(f"augmentations must be callables Data -> Data, got {a!r}")
    return a1, a2


def check_feature_dtype(data, module: nn.Module) -> None:
    """Refuse features whose dtype differs from the module's floating parameters (named)."""
    x = getattr(data, "x", None)
    param = next((p for p in module.parameters() if p.is_floating_point()), None)
    if isinstance(x, Tensor) and param is not None and x.dtype != param.dtype:
        raise ValueError(
            f"data.x has dtype {x.dtype} but the encoder's parameters are {param.dtype}; "
            f"convert the features (data.x = data.x.to({param.dtype})) or the model"
        )


class Pipeline(TrainingModule):
    """Train an encoder with a contrastive objective on two augmented views of a graph.

    Each step draws two views, encodes them, projects them with the head, computes the
    objective (plus any regularizers, combined through :meth:`Regularizer.combine`); the one
    training loop (:class:`gcl.training.Trainer`) takes the optimiser step. :meth:`embed`
    returns the encoder's output on the clean graph in eval mode.

    Args:
        encoder: ``nn.Module`` with ``forward(x, edge_index, edge_weight=None) -> [N, d]``.
        objective: an :class:`~gcl.objectives.Objective` (``forward(h1, h2, step)``).
        augment: one augmentation used for both views, or a pair ``(view1, view2)``
            (default: no augmentation).
        head: projection head applied before the objective (default: none).
        regularizers: extra :class:`~gcl.objectives.Regularizer` terms (default: none).
        target: a :class:`~gcl.training.TargetNetwork` following the encoder (BGRL): each step
            it encodes both views without gradients into ``step.target`` (the seed nodes' rows
            on a sampled subgraph), and it moves towards the encoder after every optimiser step
            (default: none).
        lr, weight_decay, optimizer, scheduler, device, seed, progress, meta: the loop's
            settings, see :class:`gcl.training.TrainingModule` (defaults: Adam, lr 1e-3, no
            weight decay, ``"auto"`` device).

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import Compose, DropEdge, MaskFeature
        >>> from gcl.encoders import GCNEncoder, ProjectionHead
        >>> from gcl.objectives import InfoNCE
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = Pipeline(GCNEncoder(8, 16), InfoNCE(tau=0.5),
        ...                 augment=Compose([DropEdge(0.2), MaskFeature(0.2)]),
        ...                 head=ProjectionHead(16, 16), lr=0.01, device="cpu", progress=False)
        >>> history = pipe.fit(data, epochs=5)
        >>> pipe.embed(data).shape
        torch.Size([60, 16])
    """

    def __init__(self, encoder: nn.Module, objective: Objective, augment=None,
                 head: nn.Module | None = None, regularizers: Sequence[Regularizer] = (), *,
                 target: nn.Module | None = None, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str | Callable = "adam", scheduler: Callable | None = None,
                 device: str | torch.device = "auto", seed: int | None = None,
                 progress: bool | None = None, meta: dict | None = None) -> None:
        super().__init__(lr=lr, weight_decay=weight_decay, optimizer=optimizer,
                         scheduler=scheduler, device=device, seed=seed, progress=progress,
                         meta=meta)
        if not isinstance(encoder, nn.Module):
            raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        if not isinstance(objective, nn.Module):
            raise ValueError(
                f"objective must be an nn.Module (e.g. gcl.objectives.InfoNCE), got "
                f"{type(objective).__name__}"
            )
        self.encoder = encoder
        self.head = head if head is not None else nn.Identity()
        self.objective = objective
        regularizers = list(regularizers)
        for r in regularizers:
            if not isinstance(r, Regularizer):
                raise ValueError(f"regularizers must be gcl.objectives.Regularizer, got {r!r}")
        self.regularizers = nn.ModuleList(regularizers)
        if target is not None and not isinstance(target, nn.Module):
            raise ValueError(f"target must be an nn.Module (e.g. gcl.training.TargetNetwork("
                             f"encoder)), got {type(target).__name__}")
        self.target = target
        self.augment1, self.augment2 = _as_pair(augment)
        self._minibatch = False  # set by setup: trained on a loader's sampled subgraphs
        self.to(self.device)

    def augmentations(self) -> list:
        """The two view augmentations (the same object twice when one was given)."""
        return [self.augment1] if self.augment1 is self.augment2 else [self.augment1, self.augment2]

    # -- the module contract ----------------------------------------------------------------
    def setup(self, data, *, move: bool = True):
        """Validate ``data``, move it to the device (unless ``move=False``) and call every part's
        ``setup`` once."""
        validate_graph(data)
        check_feature_dtype(data, self.encoder)
        self._minibatch = not move
        if move:
            data = data.to(self.device)
        for part in [*self.augmentations(), self.objective, *self.regularizers]:
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        return data

    def encode(self, data) -> Tensor:
        """Run the encoder on a graph (clean or augmented)."""
        return self.encoder(data.x, data.edge_index, getattr(data, "edge_weight", None))

    def training_step(self, batch, epoch: int) -> Step:
        """One step's loss: draw two views, encode, project and apply the objective and the
        regularizers. On a sampled subgraph (``batch.batch_size`` seeds first) the loss is on
        its seed nodes; in distributed training on the seed nodes of every rank (``step.h``
        and ``step.nodes`` are gathered, ``step.z`` keeps the rank's own seeds)."""
        v1, v2 = self.augment1(batch), self.augment2(batch)
        z1, z2 = self.encode(v1), self.encode(v2)
        nodes = None
        seeds = getattr(batch, "batch_size", None)
        if isinstance(seeds, int):  # a sampled subgraph: the loss is on its seed nodes
            z1, z2 = z1[:seeds], z2[:seeds]
            nodes = batch.n_id[:seeds] if getattr(batch, "n_id", None) is not None else None
        h1, h2 = self.head(z1), self.head(z2)
        targets = None
        if self.target is not None:
            targets = tuple(self._target_rows(v, seeds) for v in (v1, v2))
        world = current_world()
        if world is not None and isinstance(seeds, int):
            # one rank's part of a global mini-batch: the objective sees every rank's seeds
            h1, h2 = gather_rows(h1, world), gather_rows(h2, world)
            nodes = gather_rows(nodes, world) if nodes is not None else None
            if targets is not None:  # the target network's rows, in the same order
                targets = tuple(gather_rows(t, world) for t in targets)
        step = Step(epoch=epoch, data=batch, views=(v1, v2), z=(z1, z2), h=(h1, h2),
                    encoder=self.encoder, nodes=nodes, augment=(self.augment1, self.augment2),
                    target=targets)
        loss = self.objective(h1, h2, step=step)
        if self.regularizers:
            step.log("objective", loss)
            for reg in self.regularizers:
                value = reg(step)
                step.log(type(reg).__name__.lower(), value)
                loss = reg.combine(loss, value)
        step.loss = loss
        return step

    def _target_rows(self, view, seeds) -> Tensor:
        """The target network's embedding of ``view`` (its seed rows on a sampled subgraph)."""
        t = self.target(view.x, view.edge_index, getattr(view, "edge_weight", None))
        return t[:seeds] if isinstance(seeds, int) else t

    @torch.no_grad()
    def embed(self, data, batch_size: int | None = None) -> Tensor:
        """Encoder output on the clean graph, in eval mode and without augmentation.

        After mini-batch training (``fit(..., loader=...)``) the graph is embedded in blocks of
        :data:`EMBED_BATCH_SIZE` target nodes by the encoder's layer-wise ``inference`` (the
        same output as one full-graph pass; :meth:`gcl.encoders.GNNEncoder.inference`), since
        its full-graph pass may not fit either.

        Args:
            batch_size: ``None`` (default): blocks after mini-batch training, one pass
                otherwise; ``0``: one full-graph pass; a positive ``B``: blocks of ``B`` nodes.

        Returns:
            Tensor: ``[N, d]`` embeddings on the pipeline's device (call ``.cpu()`` to move them).
        """
        validate_graph(data)
        check_feature_dtype(data, self.encoder)
        if batch_size is None:
            batch_size = EMBED_BATCH_SIZE if self._minibatch else 0
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
            raise ValueError(f"batch_size must be None, 0 (one pass) or a positive integer, got "
                             f"{batch_size!r}")
        inference = getattr(self.encoder, "inference", None) if batch_size else None
        if batch_size and inference is None:
            warnings.warn(f"{type(self.encoder).__name__} has no inference(x, edge_index, "
                          "edge_weight, batch_size=...) method: embedding in one full-graph pass",
                          stacklevel=2)
        was_training = self.training
        self.eval()
        try:
            data = data.to(self.device)
            if inference is not None:
                return inference(data.x, data.edge_index, getattr(data, "edge_weight", None),
                                 batch_size=batch_size).detach()
            return self.encode(data).detach()
        finally:
            self.train(was_training)

    def extra_repr(self) -> str:
        return (f"augment=({self.augment1!r}, {self.augment2!r}), lr={self.lr}, "
                f"weight_decay={self.weight_decay}, device={self.device}")
