"""The HeCo module: network-schema and meta-path views of a meta-path graph, contrasted.

Preparation, once per graph (:meth:`HeCoModule.setup`): the binarised meta-path adjacencies,
symmetric-normalised (``D^-½ A D^-½``, HeCo's ``normalize_adj``); the direct neighbours of each
schema type (the first context of the meta-paths through it, e.g. ACM ``P-A``, ``P-S``); the
objective's positives. Each step samples ``sample_rate[t]`` neighbours of each type per node
(:func:`sample_fixed_neighbors`), encodes both views, projects them with the shared head and
calls the objective as ``objective(h_mp, h_sc, step)``. Embeddings: the meta-path view.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor, nn

from ..data.hetero import MetaPathGraph, torch_to_scipy
from ..data.metapath_ops import normalize_metapath_adj
from ..objectives.base import Step
from ..training import TrainingModule
from .metapath import _check_metapath_graph, _to_sparse

__all__ = ["HeCoModule", "sample_fixed_neighbors", "schema_neighbors", "row_normalize",
           "release_positives"]


def sample_fixed_neighbors(rowptr: Tensor, cols: Tensor, k: int,
                           generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``k`` neighbours per row of a CSR incidence: without replacement where a row has at
    least ``k``, with replacement where it has fewer (HeCo's rule).

    Args:
        rowptr: ``[N + 1]`` row pointers.
        cols: ``[nnz]`` column indices.
        k: neighbours per row.
        generator: random generator (default: torch's global one).

    Returns:
        (Tensor, Tensor): ``[N, k]`` sampled column indices (0 in rows without neighbours) and
        the ``[N]`` mask of rows with neighbours.

    Example:
        >>> rowptr, cols = torch.tensor([0, 3, 4, 4]), torch.tensor([5, 6, 7, 8])
        >>> idx, has = sample_fixed_neighbors(rowptr, cols, 2)
        >>> len(set(idx[0].tolist())), idx[1].tolist(), has.tolist()
        (2, [8, 8], [True, True, False])
    """
    k = int(k)
    if k < 1:
        raise ValueError(f"sample_fixed_neighbors: k must be a positive integer, got {k}")
    start, deg = rowptr[:-1], rowptr[1:] - rowptr[:-1]
    has = deg > 0
    # with replacement everywhere first: start + floor(u * deg), u uniform in [0, 1)
    u = torch.rand(deg.numel(), k, generator=generator, device=rowptr.device)
    pos = torch.minimum(start.unsqueeze(1) + (u * deg.unsqueeze(1)).long(),
                        (start + deg - 1).unsqueeze(1)).clamp(min=0)
    big = (deg >= k).nonzero().view(-1)
    if big.numel():  # rows with k or more: k distinct neighbours (k per row, rows in order)
        from ..data.sampler import sample_neighbors

        picked, _ = sample_neighbors(rowptr, cols, big, k, generator)
        pos[big] = picked.view(big.numel(), k)
    idx = cols[pos.clamp(max=max(cols.numel() - 1, 0))] if cols.numel() else pos
    return torch.where(has.unsqueeze(1), idx, torch.zeros_like(idx)), has


def schema_neighbors(graph: MetaPathGraph, types=None) -> list[tuple[str, sp.csr_matrix]]:
    """The direct neighbours of the target nodes by type: the first context incidence of each
    meta-path (``P-A`` for ``PAP``), the first meta-path through a type giving its incidence.

    Args:
        graph: a meta-path graph.
        types: the neighbour types to keep, in order (default: every first-context type, in
            meta-path order).

    Returns:
        list: ``(type, incidence)`` pairs, binary scipy CSR ``[N, M_type]``.

    Raises:
        ValueError: a requested type that no meta-path reaches in one step.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> [t for t, _ in schema_neighbors(synthetic_metapath_graph(num_nodes=20))]
        ['a', 's']
    """
    found: dict[str, sp.csr_matrix] = {}
    for ctx in graph.contexts:
        if ctx and ctx[0][0] not in found:
            m = torch_to_scipy(ctx[0][1]) if isinstance(ctx[0][1], Tensor) else ctx[0][1]
            m = sp.csr_matrix(m, dtype=np.float64)
            m.data[:] = 1.0
            m.eliminate_zeros()
            m.sort_indices()
            found[ctx[0][0]] = m
    wanted = list(found) if types is None else list(types)
    missing = [t for t in wanted if t not in found]
    if missing:
        raise ValueError(f"no meta-path of {graph.name!r} reaches type(s) {missing} in one step; "
                         f"the direct neighbour types are {list(found)}")
    return [(t, found[t]) for t in wanted]


def release_positives(graph: MetaPathGraph):
    """The positive set HeCo's authors released with their data (``pos.npz`` of the
    ``heco-acm``, ``heco-dblp`` and ``heco-aminer`` folders), read after its sha256 is checked
    against the catalog.

    The release cannot be re-derived exactly: on ACM and DBLP the rule of
    :func:`gcl.objectives.heco_positives` selects the same scores in every row, but equal scores
    are ordered by numpy's unstable sort in the release; on AMiner 19% of its rows are not a
    top-15 of the released meta-path matrices at all.

    Args:
        graph: a graph loaded from a HeCo layout (its ``info["folder"]``).

    Returns:
        scipy.sparse.csr_matrix: ``[N, N]`` with ones at the positives.

    Raises:
        ValueError: a graph that is not one of HeCo's releases.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> release_positives(synthetic_metapath_graph(num_nodes=10))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: positives='release' needs one of HeCo's data releases...
    """
    from pathlib import Path

    from ..data.catalog import dataset_entry
    from ..data.safe import safe_load_sparse

    try:
        entry = dataset_entry(graph.name)
    except ValueError:
        entry = {}
    sha = {f["path"]: f.get("sha256") for f in entry.get("files", [])}.get("pos.npz")
    folder = graph.info.get("folder")
    if entry.get("format") != "heco" or sha is None or folder is None:
        raise ValueError(f"positives='release' needs one of HeCo's data releases (heco-acm, "
                         f"heco-dblp, heco-aminer), got {graph.name!r}; use positives='counts'")
    m = safe_load_sparse(Path(folder) / "pos.npz", expected_sha256=sha)
    if m.shape != (graph.num_nodes, graph.num_nodes):
        raise ValueError(f"{folder}/pos.npz has shape {m.shape}, expected "
                         f"{(graph.num_nodes, graph.num_nodes)}")
    return m


def row_normalize(x: Tensor) -> Tensor:
    """Each row divided by its sum (rows summing to 0 kept), dense or sparse COO/CSR; HeCo's
    ``preprocess_features``.

    Args:
        x: ``[N, F]`` features.

    Returns:
        Tensor: the normalised features, in the layout of ``x``.

    Example:
        >>> row_normalize(torch.tensor([[1., 3.], [0., 0.]])).tolist()
        [[0.25, 0.75], [0.0, 0.0]]
        >>> row_normalize(torch.tensor([[2., 2.]]).to_sparse()).to_dense().tolist()
        [[0.5, 0.5]]
    """
    if x.layout == torch.strided:
        s = x.sum(1, keepdim=True)
        return torch.where(s != 0, x / torch.where(s != 0, s, torch.ones_like(s)), x)
    csr = x.layout == torch.sparse_csr
    coo = (x.to_sparse_coo() if csr else x).coalesce()
    rows, vals = coo.indices()[0], coo.values()
    s = torch.zeros(coo.shape[0], dtype=vals.dtype, device=vals.device).index_add_(0, rows, vals)
    out = torch.sparse_coo_tensor(coo.indices(), vals / torch.where(s != 0, s, 1.0)[rows],
                                  coo.shape, check_invariants=False).coalesce()
    return out.to_sparse_csr() if csr else out


class HeCoModule(TrainingModule):
    """HeCo (or any encoder returning two views of a meta-path graph) in the one loop.

    Args:
        encoder: ``encoder(inputs, samples) -> (z_mp, z_sc)`` with an ``embed(inputs)`` method
            (e.g. :class:`gcl.encoders.HeCoEncoder`).
        objective: any objective, called as ``objective(head(z_mp), head(z_sc), step)`` (e.g.
            :class:`gcl.objectives.CoContrastiveLoss`).
        head: the projection shared by both views (default: none).
        sample_rate: neighbours sampled per node for each schema type (a list, or one value).
        schema_types: the schema view's neighbour types (default: see :func:`schema_neighbors`).
        binary: binarise the meta-path adjacencies before normalising them, as HeCo's inputs
            are 0/1 (default: ``True``).
        row_normalize: divide every feature row by its sum, as HeCo's loader does for every
            type (default: ``True``; no change to one-hot or already normalised features).
        lr, weight_decay, optimizer, scheduler, device, seed, progress, meta: the loop's
            settings (see :class:`gcl.training.TrainingModule`).

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> from gcl.encoders import HeCoEncoder
        >>> from gcl.objectives import CoContrastiveLoss
        >>> g = synthetic_metapath_graph(num_nodes=30, seed=0)
        >>> enc = HeCoEncoder({t: x.shape[1] for t, x in g.x_dict.items()}, g.target,
        ...                   ["a", "s"], g.num_metapaths, hidden=8)
        >>> module = HeCoModule(enc, CoContrastiveLoss(pos_num=3), sample_rate=[2, 1],
        ...                     device="cpu", progress=False)
        >>> len(module.fit(g, epochs=2).losses), module.embed(g).shape
        (2, torch.Size([30, 8]))
    """

    def __init__(self, encoder: nn.Module, objective: nn.Module, head: nn.Module | None = None,
                 *, sample_rate, schema_types=None, binary: bool = True,
                 row_normalize: bool = True, **loop) -> None:
        super().__init__(**loop)
        if not isinstance(encoder, nn.Module) or not isinstance(objective, nn.Module):
            raise ValueError("HeCoModule needs an encoder and an objective that are nn.Modules, "
                             f"got {type(encoder).__name__} and {type(objective).__name__}")
        self.encoder = encoder
        self.objective = objective
        self.head = head if head is not None else nn.Identity()
        self.schema_types = schema_types if schema_types is None else list(schema_types)
        self.sample_rate = sample_rate
        self.binary = bool(binary)
        self.row_normalize = bool(row_normalize)
        self._prepared: tuple | None = None
        self.to(self.device)

    def inputs_for(self, graph: MetaPathGraph) -> dict:
        """The encoder's inputs for ``graph``, prepared once and kept for the last graph."""
        _check_metapath_graph(self, graph)
        if self._prepared is not None and self._prepared[0] is graph:
            return self._prepared[1]
        adjs = []
        for a in graph.adjs:
            m = sp.csr_matrix(torch_to_scipy(a) if isinstance(a, Tensor) else a, dtype=np.float64)
            if self.binary:
                m.data[:] = (m.data != 0).astype(np.float64)
                m.eliminate_zeros()
            adjs.append(_to_sparse(normalize_metapath_adj(m), self.device, True))
        schema = schema_neighbors(graph, self.schema_types)
        rates = self.sample_rate
        rates = [int(rates)] * len(schema) if isinstance(rates, int) else [int(r) for r in rates]
        if len(rates) != len(schema):
            raise ValueError(f"sample_rate has {len(rates)} values for the {len(schema)} schema "
                             f"types {[t for t, _ in schema]} of {graph.name!r}")
        csr = [(torch.from_numpy(m.indptr.astype(np.int64)).to(self.device),
                torch.from_numpy(m.indices.astype(np.int64)).to(self.device)) for _, m in schema]
        has = [None if bool((rp[1:] > rp[:-1]).all()) else (rp[1:] > rp[:-1]) for rp, _ in csr]
        norm = row_normalize if self.row_normalize else (lambda v: v)
        inputs = {"x": {t: norm(v).to(self.device) for t, v in graph.x_dict.items()
                        if t in (graph.target, *[t for t, _ in schema])}, "adjs": adjs,
                  "csr": csr, "rates": rates, "has": has, "types": [t for t, _ in schema]}
        self._prepared = (graph, inputs)
        return inputs

    def setup(self, data, *, move: bool = True):
        """Prepare the inputs and call the parts' ``setup`` (the objective's positives)."""
        inputs = self.inputs_for(data)
        for part in (self.encoder, self.objective, self.head):
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        self.history.meta["schema_types"] = inputs["types"]
        return data

    def sample(self, inputs: dict) -> list[Tensor]:
        """One draw of the schema view's neighbours (``[N, k_t]`` per type)."""
        return [sample_fixed_neighbors(rp, cols, k)[0]
                for (rp, cols), k in zip(inputs["csr"], inputs["rates"])]

    def training_step(self, batch, epoch: int) -> Step:
        inputs = self.inputs_for(batch)
        z_mp, z_sc = self.encoder(inputs, self.sample(inputs))
        h_mp, h_sc = self.head(z_mp), self.head(z_sc)
        step = Step(epoch=epoch, data=batch, z=(z_mp, z_sc), h=(h_mp, h_sc),
                    encoder=self.encoder)
        step.loss = self.objective(h_mp, h_sc, step=step)
        return step

    @torch.no_grad()
    def embed(self, data, *, mode: str = "eval") -> Tensor:
        """The meta-path view's embeddings (eval mode by default; ``"train"`` keeps the
        attention dropout on)."""
        if mode not in ("eval", "train"):
            raise ValueError(f"embed mode must be 'eval' or 'train', got {mode!r}")
        inputs = self.inputs_for(data)
        was = self.encoder.training
        self.encoder.train(mode == "train")
        try:
            return self.encoder.embed(inputs).detach()
        finally:
            self.encoder.train(was)
