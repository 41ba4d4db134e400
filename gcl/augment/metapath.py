"""Augmentations of meta-path graphs (:class:`gcl.data.MetaPathGraph`): MEOW's masked view.

MEOW and AdaMEOW build their fine view from the clean meta-path adjacencies and a masked copy:
a fraction of each meta-path's edges deleted (:class:`MetaPathEdgeMask`) and a fraction of the
target features' non-zero entries zeroed (:class:`MetaPathFeatureMask`). Both return a new
graph and leave their input alone; with a ``seed`` their draws are reproducible. A training
module draws them once when training starts, as the papers do (see
:class:`gcl.modules.MetaPathModule`).

Example:
    >>> import numpy as np, scipy.sparse as sp
    >>> from gcl.augment import Compose
    >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
    >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
    >>> g = MetaPathGraph("toy", "p", {"p": torch.ones(6, 4), "a": torch.eye(2)}, ["pap"],
    ...                   [pa @ pa.T], [[("a", scipy_to_torch(pa))]])
    >>> view = Compose([MetaPathEdgeMask(0.5, seed=0), MetaPathFeatureMask(0.25, seed=0)])(g)
    >>> int((view.x != 0).sum()), int(view.adjs[0].nnz) < int(g.adjs[0].nnz)
    (18, True)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import Tensor

from .._utils import check_probability
from ..data.hetero import MetaPathGraph, torch_to_scipy
from ..data.metapath_ops import mask_feature_entries, mask_metapath_edges
from .base import Augmentation

__all__ = ["MetaPathEdgeMask", "MetaPathFeatureMask", "per_metapath"]


def per_metapath(value, count: int, name: str) -> list:
    """One value per meta-path: ``value`` itself when it is a list of ``count`` values, else
    ``value`` repeated.

    Args:
        value: one value, or a list with one per meta-path.
        count: the number of meta-paths.
        name: the configuration key, for the error message.

    Returns:
        list: ``count`` values.

    Raises:
        ValueError: a list of another length (named, with the expected count).

    Example:
        >>> per_metapath(0.2, 3, "adj_mask"), per_metapath([1, 2], 2, "nei_max")
        ([0.2, 0.2, 0.2], [1, 2])
    """
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"config key {name!r} needs one value per meta-path ({count}), "
                             f"got {list(value)}")
        return list(value)
    return [value] * count


def drop_explicit_zeros(x: Tensor) -> Tensor:
    """A sparse COO tensor without its explicit zeros (the same products, less memory); a dense
    tensor is returned as it is.

    Example:
        >>> t = torch.sparse_coo_tensor([[0, 1], [0, 1]], [0.0, 2.0], (2, 2))
        >>> drop_explicit_zeros(t)._nnz()
        1
    """
    if not x.is_sparse:
        return x
    x = x.coalesce()
    keep = x.values() != 0
    return torch.sparse_coo_tensor(x.indices()[:, keep], x.values()[keep], x.shape,
                                   is_coalesced=True, check_invariants=False)


class MetaPathEdgeMask(Augmentation):
    """Delete a random fraction of every meta-path's edges (MEOW's edge mask).

    Per meta-path: the diagonal is dropped, ``int(rate * count)`` of the remaining directed
    entries are deleted, the survivors are set to 1 and the identity is added (the module
    normalises the result as it normalises the clean adjacencies, see
    :func:`gcl.data.metapath_ops.mask_metapath_edges`).

    Args:
        rate: fraction deleted, one value for every meta-path or a list with one per meta-path.
        seed: seed of this augmentation's own NumPy generator, drawn on first use; ``None``
            draws that seed from torch's global RNG (default: ``None``).

    Example:
        >>> MetaPathEdgeMask([0.3, 0.2], seed=0)
        MetaPathEdgeMask(rate=[0.3, 0.2], seed=0)
    """

    input_kind = MetaPathGraph
    input_name = "gcl.data.MetaPathGraph"

    def __init__(self, rate=0.2, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        rates = rate if isinstance(rate, (list, tuple)) else [rate]
        for r in rates:
            check_probability(r, "rate", "MetaPathEdgeMask")
        self.rate = list(rate) if isinstance(rate, (list, tuple)) else float(rate)
        self._rng: np.random.Generator | None = None

    def _numpy_rng(self) -> np.random.Generator:
        if self._rng is None:
            seed = self.seed if self.seed is not None else int(torch.randint(0, 2**31 - 1, ()))
            self._rng = np.random.default_rng(int(seed))
        return self._rng

    def reseed(self, seed: int | None) -> MetaPathEdgeMask:
        """Restart the random stream from ``seed``. Returns self."""
        super().reseed(seed)
        self._rng = None
        return self

    def forward(self, graph: MetaPathGraph) -> MetaPathGraph:
        rates = per_metapath(self.rate, graph.num_metapaths, "adj_mask")
        rng = self._numpy_rng()
        adjs = [mask_metapath_edges(a if not isinstance(a, Tensor) else torch_to_scipy(a),
                                    float(r), rng, normalize=False)
                for a, r in zip(graph.adjs, rates)]
        return dataclasses.replace(graph, adjs=adjs)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class MetaPathFeatureMask(Augmentation):
    """Zero a random fraction of the target features' non-zero entries (MEOW's feature mask).

    A graph with one target matrix per meta-path (``x_paths``, MEOW's AMiner inputs) has each
    matrix masked, in meta-path order. Sparse features stay sparse, without the masked entries.

    Args:
        rate: fraction of the non-zero entries set to 0 (``int(rate * nnz)`` of them).
        seed: seed of this augmentation's own torch generator (default: torch's global RNG).

    Example:
        >>> MetaPathFeatureMask(0.3, seed=1)
        MetaPathFeatureMask(rate=0.3, seed=1)
    """

    input_kind = MetaPathGraph
    input_name = "gcl.data.MetaPathGraph"

    def __init__(self, rate: float = 0.3, seed: int | None = None) -> None:
        super().__init__(seed=seed)
        self.rate = check_probability(rate, "rate", "MetaPathFeatureMask")

    def _mask(self, x: Tensor) -> Tensor:
        gen = self.generator(x.device)
        return drop_explicit_zeros(mask_feature_entries(x, self.rate, gen))

    def forward(self, graph: MetaPathGraph) -> MetaPathGraph:
        if graph.x_paths is not None:
            return dataclasses.replace(graph, x_paths=[self._mask(x) for x in graph.x_paths])
        x_dict = {**graph.x_dict, graph.target: self._mask(graph.x)}
        return dataclasses.replace(graph, x_dict=x_dict)

    def extra_repr(self) -> str:
        return f"rate={self.rate}"
