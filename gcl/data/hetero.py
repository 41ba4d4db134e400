"""Heterogeneous graphs seen through meta-paths: :class:`MetaPathGraph` and its loaders.

A :class:`MetaPathGraph` holds, for one target node type:

* ``x``: the target features (dense or sparse torch tensor) and ``x_dict``: the features of
  every node type (the target included);
* one sparse **weighted** target×target adjacency per meta-path (``adjs``), holding raw path
  counts (the diagonal included);
* the **context incidences** of each meta-path (``contexts``): for meta-path ``p`` a list of
  ``(node_type, incidence)`` pairs, one per intermediate position, each a sparse binary
  target×type matrix (e.g. ACM ``PAP`` -> ``[("a", P×A)]``; DBLP ``APCPA`` ->
  ``[("p", AP), ("c", APC), ("p", APCP)]``);
* ``y`` (0-based) and the fixed 20/40/60-per-class splits (``splits[20] = (train, val, test)``).

Sources: :func:`load_hetero` reads the MEOW folder layout (``acm``, ``dblp``, ``aminer``,
``imdb``) and the HeCo layout (``heco-acm``, ``heco-dblp``, ``heco-aminer``; its ``nei_*.npy``
object arrays are read with :func:`gcl.data.safe.safe_load_npy`, restricted to numpy arrays and
checked against the catalog's sha256 first). :func:`from_hetero_data` builds one from a PyG
``HeteroData`` and a list of meta-paths. DBLP's missing matrices are derived sparsely from the
edge lists (:func:`dblp_derived`) and cached under ``$GCL_CACHE``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

__all__ = ["MetaPathGraph", "load_hetero", "from_hetero_data", "dblp_derived", "scipy_to_torch",
           "HETERO_LAYOUTS"]


def scipy_to_torch(matrix, dtype=torch.float32) -> Tensor:
    """A scipy sparse matrix as a coalesced torch sparse COO tensor.

    Args:
        matrix: any scipy sparse matrix.
        dtype: value dtype (default: float32).

    Returns:
        Tensor: sparse COO, coalesced.

    Example:
        >>> scipy_to_torch(sp.eye(2)).to_dense().tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    coo = sp.coo_matrix(matrix)
    coo.sum_duplicates()
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data).to(dtype)
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=False).coalesce()


def torch_to_scipy(tensor: Tensor) -> sp.csr_matrix:
    """A torch sparse (or dense) 2-D tensor as a scipy CSR matrix (float64)."""
    if not tensor.is_sparse:
        return sp.csr_matrix(tensor.detach().cpu().double().numpy())
    t = tensor.coalesce().cpu()
    idx = t.indices().numpy()
    return sp.csr_matrix((t.values().double().numpy(), (idx[0], idx[1])), shape=tuple(t.shape))


@dataclass
class MetaPathGraph:
    """A heterogeneous graph reduced to one target type and its meta-paths.

    Attributes:
        name: dataset name.
        target: the target node type (e.g. ``"p"``).
        x_dict: features per node type (dense or sparse torch tensors, rows = nodes).
        metapaths: meta-path names in order (e.g. ``["pap", "psp"]``).
        adjs: one sparse target×target path-count matrix per meta-path.
        contexts: per meta-path, ``(node_type, sparse binary target×type incidence)`` pairs.
        y: 0-based labels ``[N]`` (may be ``None``).
        splits: ``{size: (train_idx, val_idx, test_idx)}`` index tensors.
        info: provenance notes (which inputs were used, derived files).
        x_paths: optional target features per meta-path (MEOW's AMiner inputs: one
            metapath2vec embedding per meta-path, see :func:`gcl.data.metapath2vec_features`);
            when set, each meta-path's views read its own matrix and the coarse view the mean
            of their projections.

    Example:
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(2), "a": torch.eye(1)}, ["pap"],
        ...                   [scipy_to_torch(sp.csr_matrix(np.ones((2, 2))))],
        ...                   [[("a", scipy_to_torch(sp.csr_matrix(np.ones((2, 1)))))]])
        >>> g.num_nodes, g.num_metapaths
        (2, 1)
    """

    name: str
    target: str
    x_dict: dict
    metapaths: list
    adjs: list
    contexts: list
    y: Tensor | None = None
    splits: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    x_paths: list | None = None

    def __post_init__(self):
        if not isinstance(self.x_dict, dict) or self.target not in self.x_dict:
            have = sorted(self.x_dict) if isinstance(self.x_dict, dict) else type(self.x_dict)
            raise ValueError(f"MetaPathGraph {self.name!r}: the target type {self.target!r} has "
                             f"no features in x_dict (types: {have}); add x_dict[{self.target!r}] "
                             "or name one of those types as the target")
        n = self.x_dict[self.target].shape[0]
        if self.x_paths is not None:
            if len(self.x_paths) != len(self.metapaths):
                raise ValueError(f"MetaPathGraph {self.name!r}: {len(self.x_paths)} per-path "
                                 f"target feature matrices for {len(self.metapaths)} meta-paths")
            for p, x in zip(self.metapaths, self.x_paths):
                if x.shape[0] != n:
                    raise ValueError(f"meta-path {p!r}: per-path target features have "
                                     f"{x.shape[0]} rows, expected {n}")
        if len(self.adjs) != len(self.metapaths) or len(self.contexts) != len(self.metapaths):
            raise ValueError(f"MetaPathGraph {self.name!r}: {len(self.metapaths)} meta-paths but "
                             f"{len(self.adjs)} adjacencies and {len(self.contexts)} context lists")
        for p, a in zip(self.metapaths, self.adjs):
            if tuple(a.shape) != (n, n):
                raise ValueError(f"meta-path {p!r}: adjacency shape {tuple(a.shape)}, expected "
                                 f"({n}, {n})")
        for p, ctx in zip(self.metapaths, self.contexts):
            for t, inc in ctx:
                if t not in self.x_dict:
                    raise ValueError(f"meta-path {p!r}: context type {t!r} has no features")
                if tuple(inc.shape) != (n, self.x_dict[t].shape[0]):
                    raise ValueError(f"meta-path {p!r}: incidence to {t!r} has shape "
                                     f"{tuple(inc.shape)}, expected ({n}, {self.x_dict[t].shape[0]})")

    @property
    def x(self) -> Tensor:
        """The target-type features."""
        return self.x_dict[self.target]

    @property
    def num_nodes(self) -> int:
        """Number of target nodes."""
        return int(self.x.shape[0])

    @property
    def num_metapaths(self) -> int:
        """Number of meta-paths."""
        return len(self.metapaths)

    @property
    def num_classes(self) -> int:
        """Number of label classes (0 without labels)."""
        return int(self.y.max()) + 1 if self.y is not None else 0

    @property
    def edge_index(self) -> Tensor:
        """The target nodes seen as one homogeneous graph: ``[2, E]``, an edge ``(i, j)`` for
        every non-zero ``(i, j)`` of any meta-path adjacency (the node itself excluded), so that
        graph-based objectives (e.g. :class:`gcl.objectives.PamCObjective`) run on meta-path
        graphs."""
        union = None
        for a in self.adjs:
            m = torch_to_scipy(a) if isinstance(a, Tensor) else sp.csr_matrix(a)
            m = (m != 0).astype(np.float32)
            union = m if union is None else union + m
        coo = sp.coo_matrix(union)
        off = coo.row != coo.col
        return torch.from_numpy(np.vstack([coo.row[off], coo.col[off]]).astype(np.int64))

    def split_masks(self, size: int) -> tuple[Tensor, Tensor, Tensor]:
        """Boolean train/val/test masks of the ``size``-per-class split."""
        out = []
        for idx in self.splits[size]:
            m = torch.zeros(self.num_nodes, dtype=torch.bool)
            m[idx] = True
            out.append(m)
        return tuple(out)

    def __repr__(self) -> str:
        types = ", ".join(f"{t}={tuple(v.shape)}" for t, v in self.x_dict.items())
        paths = ", ".join(f"{p}(nnz={a._nnz() if isinstance(a, Tensor) else a.nnz})"
                          for p, a in zip(self.metapaths, self.adjs))
        return f"MetaPathGraph({self.name}, target={self.target}, x: {types}; {paths})"


# the loaders of the MEOW/HeCo layouts and the HeteroData bridge (re-exported: they use the
# graph class and the converters above)
from .hetero_load import (  # noqa: E402
    HETERO_LAYOUTS,
    dblp_derived,
    load_hetero,
)
from .heterodata import from_hetero_data  # noqa: E402  (re-exported; it uses the helpers above)
