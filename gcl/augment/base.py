"""Augmentation base class, functional primitives and combinators.

An augmentation is a PyG :class:`~torch_geometric.transforms.BaseTransform`: ``aug(data)`` returns a
new :class:`~torch_geometric.data.Data` and never modifies its input (PyG's ``__call__`` makes a
shallow copy; every augmentation here assigns new tensors instead of writing into old ones).
Randomness comes from a per-augmentation :class:`torch.Generator` when a ``seed`` is given, and
from torch's global RNG otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from .._graphs import edge_attribute_keys
from .._utils import check_positive, check_probability

__all__ = [
    "Augmentation",
    "Identity",
    "Compose",
    "RandomChoice",
    "drop_edges",
    "edge_keep_mask",
    "mask_columns",
    "edge_attribute_keys",
]


def _bernoulli_keep(drop_prob: float | Tensor, size: int, device: torch.device,
                    generator: torch.Generator | None) -> Tensor:
    """Boolean keep-mask of length ``size``: entry k is kept with probability ``1 - drop_prob[k]``."""
    u = torch.rand(size, device=device, generator=generator)
    return u >= drop_prob


def edge_keep_mask(edge_index: Tensor, drop_prob: float | Tensor, *,
                   generator: torch.Generator | None = None) -> Tensor:
    """The boolean keep-mask ``[E]`` of :func:`drop_edges` alone (the same random draws), for
    callers that filter the edges together with their attributes
    (:func:`gcl.augment.apply_edge_mask`), so that the edges are selected once.

    Args:
        edge_index: ``[2, E]`` edge list.
        drop_prob: one probability for every edge, or a ``[E]`` tensor of per-edge probabilities.
        generator: the random generator (default: torch's global RNG).

    Returns:
        Tensor: ``[E]`` booleans, on the device of ``edge_index``.

    Example:
        >>> edge_keep_mask(torch.tensor([[0, 1], [1, 0]]), 0.0).tolist()
        [True, True]
    """
    return _bernoulli_keep(drop_prob, edge_index.size(1), edge_index.device, generator)


def drop_edges(edge_index: Tensor, drop_prob: float | Tensor, *,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Drop each column of ``edge_index`` independently.

    Both directions of an undirected edge are sampled independently, as in GRACE and GCA.

    Args:
        edge_index: ``[2, E]`` edge list.
        drop_prob: one probability for every edge, or a ``[E]`` tensor of per-edge probabilities.
        generator: the random generator (default: torch's global RNG).

    Returns:
        (Tensor, Tensor): the kept edges ``[2, E']`` and the boolean keep-mask ``[E]``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> kept, mask = drop_edges(ei, 0.0)
        >>> kept.shape, bool(mask.all())
        (torch.Size([2, 4]), True)
    """
    keep = edge_keep_mask(edge_index, drop_prob, generator=generator)
    return edge_index[:, keep], keep


def mask_columns(x: Tensor, drop_prob: float | Tensor, *,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Zero whole feature columns, shared by every node (GRACE's feature masking).

    Surviving values are not rescaled.

    Args:
        x: ``[N, F]`` node features.
        drop_prob: one probability for every column, or a ``[F]`` tensor of per-column
            probabilities (GCA, CAV).
        generator: the random generator (default: torch's global RNG).

    Returns:
        (Tensor, Tensor): the masked copy of ``x`` and the boolean keep-mask ``[F]``.

    Example:
        >>> x = torch.ones(2, 3)
        >>> y, keep = mask_columns(x, 1.0)
        >>> float(y.abs().sum()), int(keep.sum())
        (0.0, 0)
    """
    keep = _bernoulli_keep(drop_prob, x.size(1), x.device, generator)
    return x * keep.to(x.dtype).unsqueeze(0), keep


class Augmentation(BaseTransform):
    """Base class of all graph augmentations.

    Subclasses implement :meth:`forward` (``Data -> Data``) and must assign new tensors rather than
    write into the input's. Use :meth:`generator` for randomness so that a ``seed`` makes the
    sequence of views reproducible. Augmentations that need per-graph preparation (communities,
    centralities) override :meth:`setup`, which :class:`gcl.Pipeline` calls once before training;
    they must cache what they compute and never recompute it per epoch.

    Args:
        seed: seed of this augmentation's own generator; ``None`` draws from torch's global RNG,
            which :func:`gcl.seed_everything` seeds (default: ``None``).

    Example:
        >>> class DropAllFeatures(Augmentation):
        ...     def forward(self, data):
        ...         data.x = torch.zeros_like(data.x)
        ...         return data
        >>> d = Data(x=torch.ones(2, 2), edge_index=torch.tensor([[0], [1]]))
        >>> out = DropAllFeatures()(d)
        >>> float(out.x.sum()), float(d.x.sum())
        (0.0, 4.0)
    """

    def __init__(self, seed: int | None = None) -> None:
        if seed is not None:
            check_positive(seed, "seed", type(self).__name__, allow_zero=True, integer=True)
        self.seed = seed
        self.training = True
        self._generators: dict[str, torch.Generator] = {}

    # -- randomness -------------------------------------------------------------------------
    def generator(self, device: torch.device | str) -> torch.Generator | None:
        """This augmentation's generator on ``device`` (``None`` when unseeded).

        Each device gets its own generator, seeded with ``seed`` the first time it is used.
        """
        if self.seed is None:
            return None
        key = str(torch.device(device))
        gen = self._generators.get(key)
        if gen is None:
            gen = torch.Generator(device=torch.device(device))
            gen.manual_seed(self.seed)
            self._generators[key] = gen
        return gen

    def reseed(self, seed: int | None) -> Augmentation:
        """Restart the random stream from ``seed`` (``None``: use the global RNG). Returns self."""
        self.seed = seed
        self._generators = {}
        return self

    # -- train / eval -----------------------------------------------------------------------
    def train(self, mode: bool = True) -> Augmentation:
        """Enable (default) or disable the augmentation; a disabled one returns its input."""
        self.training = mode
        return self

    def eval(self) -> Augmentation:
        """Disable the augmentation (identity), like ``nn.Module.eval``."""
        return self.train(False)

    def setup(self, data: Data) -> None:
        """Prepare per-graph state once, before training (default: nothing)."""

    #: the kind of graph ``forward`` takes (meta-path augmentations take a ``MetaPathGraph``),
    #: and its name in errors
    input_kind: type = Data
    input_name: str = "torch_geometric.data.Data"

    def __call__(self, data: Data) -> Data:
        if not isinstance(data, self.input_kind):
            raise ValueError(
                f"{type(self).__name__} expects a {self.input_name}, got {type(data).__name__}"
            )
        if not self.training:
            return data
        return super().__call__(data)

    def forward(self, data: Data) -> Data:  # pragma: no cover - abstract
        raise NotImplementedError

    def extra_repr(self) -> str:
        """Parameters shown by ``repr`` (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        parts = [p for p in (self.extra_repr(), f"seed={self.seed}" if self.seed is not None else "")
                 if p]
        return f"{type(self).__name__}({', '.join(parts)})"


class Identity(Augmentation):
    """The augmentation that changes nothing (a "clean" view).

    Args:
        seed: accepted for a uniform interface; unused (default: ``None``).

    Example:
        >>> d = Data(x=torch.ones(2, 2), edge_index=torch.tensor([[0], [1]]))
        >>> Identity()(d).x is d.x
        True
    """

    def forward(self, data: Data) -> Data:
        return data


def _check_augmentations(augmentations: Iterable, owner: str) -> list:
    augs = list(augmentations)
    for a in augs:
        if not callable(a):
            raise ValueError(f"{owner} takes augmentations (callables Data -> Data), got {a!r}")
    return augs


class Compose(Augmentation):
    """Apply augmentations one after the other.

    Args:
        augmentations: the augmentations (or any ``Data -> Data`` transforms), applied in order.

    Example:
        >>> from gcl.augment import DropEdge, MaskFeature
        >>> aug = Compose([DropEdge(0.2), MaskFeature(0.3)])
        >>> aug
        Compose([DropEdge(p=0.2), MaskFeature(p=0.3)])
    """

    input_kind = object  # each member checks its own input

    def __init__(self, augmentations: Sequence) -> None:
        super().__init__()
        self.augmentations = _check_augmentations(augmentations, "Compose")

    def setup(self, data: Data) -> None:
        for a in self.augmentations:
            if hasattr(a, "setup"):
                a.setup(data)

    def train(self, mode: bool = True) -> Compose:
        super().train(mode)
        for a in self.augmentations:
            if hasattr(a, "train"):
                a.train(mode)
        return self

    def forward(self, data: Data) -> Data:
        for a in self.augmentations:
            data = a(data)
        return data

    def __repr__(self) -> str:
        return f"Compose([{', '.join(repr(a) for a in self.augmentations)}])"


class RandomChoice(Augmentation):
    """Apply ``num_choices`` augmentations picked at random (without replacement) each call,
    in their listed order.

    Args:
        augmentations: the candidates.
        num_choices: how many to apply per call (default: 1).
        seed: seed of the choice (default: global RNG).

    Example:
        >>> from gcl.augment import DropEdge, MaskFeature
        >>> aug = RandomChoice([DropEdge(0.2), MaskFeature(0.3)], num_choices=1, seed=0)
        >>> d = Data(x=torch.ones(3, 4), edge_index=torch.tensor([[0, 1], [1, 2]]))
        >>> out = aug(d)
    """

    input_kind = object  # each member checks its own input

    def __init__(self, augmentations: Sequence, num_choices: int = 1,
                 seed: int | None = None) -> None:
        super().__init__(seed)
        self.augmentations = _check_augmentations(augmentations, "RandomChoice")
        check_positive(num_choices, "num_choices", "RandomChoice", integer=True)
        if num_choices > len(self.augmentations):
            raise ValueError(
                f"argument 'num_choices' of RandomChoice is {num_choices} but only "
                f"{len(self.augmentations)} augmentations were given"
            )
        self.num_choices = num_choices

    def setup(self, data: Data) -> None:
        for a in self.augmentations:
            if hasattr(a, "setup"):
                a.setup(data)

    def forward(self, data: Data) -> Data:
        # Choose on the CPU so the choice never forces a device synchronisation.
        perm = torch.randperm(len(self.augmentations), generator=self.generator("cpu"))
        for idx in sorted(perm[: self.num_choices].tolist()):
            data = self.augmentations[idx](data)
        return data

    def __repr__(self) -> str:
        inner = ", ".join(repr(a) for a in self.augmentations)
        return f"RandomChoice([{inner}], num_choices={self.num_choices})"


def _relative_to_mean(weights: Tensor, p: float, threshold: float, owner: str) -> Tensor | None:
    """Shared guard of the mean-normalised drop schemes (GCA's adaptive, CSGCL's CED): check
    ``p`` and ``threshold``, return ``weights / mean(weights)``, or ``None`` when there are no
    weights or they are all zero (the caller then uses ``min(p, threshold)`` everywhere)."""
    check_probability(p, "p", owner)
    check_probability(threshold, "threshold", owner)
    if weights.numel() == 0:
        return None
    mean = weights.mean()
    if not bool(mean > 0):
        return None
    return weights / mean


def check_drop_probability(p, name: str, owner: str) -> float:
    """Validate a drop probability (a number in [0, 1])."""
    return check_probability(p, name, owner)
