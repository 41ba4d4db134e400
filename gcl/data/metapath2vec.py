"""metapath2vec input features for meta-path graphs (MEOW's AMiner inputs).

MEOW's AMiner release feeds the model 64-d metapath2vec embeddings instead of raw features:
two for the papers (one trained on P-A-P walks, one on P-R-P walks), one for the authors (P-A-P
walks) and one for the references (P-R-P walks). Those files are not in the mirror, so
:func:`metapath2vec_features` derives them with PyG's :class:`~torch_geometric.nn.MetaPath2Vec`
from the graph itself: for every meta-path ``T-X-T`` with one context type, skip-gram with
negative sampling on ``T-X-T-X-…`` walks over the context incidence (the ``T-X`` edges), seeded
and cached on disk.

Differences from the reference features (documented in ``docs/meow.md``):

* **walks per node**: the file names say 1000 walks of length 100 per start node. That is about
  13 hours per meta-path on one CPU thread here, so the default is 10 walks (``walks_per_node``);
  each walk still yields ~94 skip-gram windows, and the embeddings are trained to a plateau.
* **optimiser**: Adam on dense embedding tables (lr 0.01) instead of word2vec's SGD with a
  linearly decaying rate; window 7 and 5 negatives, the original metapath2vec's values (the
  reference's script is not published).

The result is a new :class:`~gcl.data.MetaPathGraph` with ``x_paths`` (one target feature matrix
per meta-path) and the context types' features replaced by their embeddings.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._files import path_in, read_cache
from .._utils import atomic_target

__all__ = ["METAPATH2VEC_DEFAULTS", "metapath2vec_embeddings", "metapath2vec_features"]

#: Defaults of :func:`metapath2vec_features` (the recipes' ``m2v_*`` keys override them).
METAPATH2VEC_DEFAULTS = {"dim": 64, "walks_per_node": 10, "walk_length": 100, "context_size": 7,
                         "negatives": 5, "epochs": 1, "lr": 0.01, "walks_per_batch": 256,
                         "seed": 0}


def _edge_index(incidence: Tensor) -> Tensor:
    """``[2, E]`` (row, column) of a sparse (COO or CSR) or dense ``[N, M]`` incidence."""
    if incidence.layout == torch.sparse_csr:
        incidence = incidence.to_sparse_coo()
    if incidence.is_sparse:
        inc = incidence.coalesce()
        return inc.indices()[:, inc.values() != 0]
    return incidence.nonzero().t()


def metapath2vec_embeddings(incidence: Tensor, *, dim: int = 64, walks_per_node: int = 10,
                            walk_length: int = 100, context_size: int = 7, negatives: int = 5,
                            epochs: int = 1, lr: float = 0.01, walks_per_batch: int = 256,
                            seed: int = 0, progress: bool = False,
                            label: str = "") -> tuple[Tensor, Tensor]:
    """metapath2vec on ``T-X-T-…`` walks over one bipartite incidence.

    Args:
        incidence: ``[N, M]`` binary incidence between the ``N`` nodes of type ``T`` (walks start
            there) and the ``M`` nodes of type ``X``.
        dim: embedding width (default: 64).
        walks_per_node: walks per start node and epoch (default: 10).
        walk_length: steps per walk (default: 100).
        context_size: skip-gram window, the centre included (default: 7).
        negatives: negative samples per positive window (default: 5).
        epochs: passes over the start nodes (default: 1).
        lr: Adam learning rate (default: 0.01).
        walks_per_batch: walks per optimisation step (default: 256).
        seed: seed of the walks, the negatives and the initialisation (default: 0).
        progress: report each tenth of an epoch on stderr (default: ``False``).
        label: name shown in the progress lines.

    Returns:
        tuple: ``(emb_T [N, dim], emb_X [M, dim])``.

    Example:
        >>> inc = torch.tensor([[1., 0], [1, 0], [0, 1], [0, 1]])  # two papers per author
        >>> p, a = metapath2vec_embeddings(inc, dim=4, walks_per_node=2, walk_length=6,
        ...                                context_size=3, epochs=2)
        >>> p.shape, a.shape
        (torch.Size([4, 4]), torch.Size([2, 4]))
    """
    from torch_geometric.nn import MetaPath2Vec

    for name, value in (("dim", dim), ("walks_per_node", walks_per_node),
                        ("walk_length", walk_length), ("context_size", context_size),
                        ("negatives", negatives), ("epochs", epochs),
                        ("walks_per_batch", walks_per_batch)):
        if int(value) != value or value < 1:
            raise ValueError(f"metapath2vec: {name} must be a positive integer, got {value!r}")
    if context_size > walk_length + 1:
        raise ValueError(f"metapath2vec: context_size ({context_size}) exceeds the walk "
                         f"({walk_length} steps)")
    n, m = int(incidence.shape[0]), int(incidence.shape[1])
    ei = _edge_index(incidence)
    if ei.shape[1] == 0:
        raise ValueError("metapath2vec: the incidence has no entries")
    edges = {("t", "to", "x"): ei, ("x", "from", "t"): ei.flip(0)}
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        model = MetaPath2Vec(edges, embedding_dim=int(dim),
                             metapath=[("t", "to", "x"), ("x", "from", "t")],
                             walk_length=int(walk_length), context_size=int(context_size),
                             walks_per_node=int(walks_per_node),
                             num_negative_samples=int(negatives), sparse=False,
                             num_nodes_dict={"t": n, "x": m})
        with torch.no_grad():  # word2vec's initialisation (PyG's default is N(0, 1))
            model.embedding.weight.uniform_(-0.5 / dim, 0.5 / dim)
        batch = max(1, int(walks_per_batch) // int(walks_per_node))
        loader = model.loader(batch_size=batch, shuffle=True)
        opt = torch.optim.Adam(model.parameters(), lr=float(lr))
        steps = len(loader)
        start = time.perf_counter()
        for epoch in range(int(epochs)):
            total, count = 0.0, 0
            for i, (pos, neg) in enumerate(loader):
                opt.zero_grad()
                loss = model.loss(pos, neg)
                loss.backward()
                opt.step()
                total, count = total + float(loss.detach()), count + 1
                if progress and ((i + 1) % max(1, steps // 10) == 0 or i + 1 == steps):
                    print(f"[metapath2vec{' ' + label if label else ''}] epoch {epoch + 1}/"
                          f"{epochs} step {i + 1}/{steps} loss {total / count:.4f} "
                          f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)
                    total, count = 0.0, 0
        with torch.no_grad():
            return model("t").detach().clone(), model("x").detach().clone()
    finally:
        torch.random.set_rng_state(state)


def _cache_key(graph, params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    h.update(graph.name.encode())
    for p, triples in zip(graph.metapaths, graph.contexts):
        ei = _edge_index(triples[0][1])
        h.update(p.encode())
        h.update(np.ascontiguousarray(ei.numpy()).tobytes())
    return h.hexdigest()[:16]


def _read_embeddings(path: Path, graph, dim: int) -> dict:
    """The cached embeddings, checked: float arrays of the graph's sizes, nothing pickled."""
    with np.load(path, allow_pickle=False) as f:
        stored = {k: torch.from_numpy(f[k]) for k in f.files}
    expected = {}
    for p, triples in zip(graph.metapaths, graph.contexts):
        t, inc = triples[0]
        expected[f"path_{p}"] = (int(inc.shape[0]), dim)
        expected[f"type_{t}"] = (int(inc.shape[1]), dim)
    for key, shape in expected.items():
        if key not in stored:
            raise ValueError(f"{path} has no array {key!r}")
        value = stored[key]
        if not value.is_floating_point() or tuple(value.shape) != shape:
            raise ValueError(f"{path}: {key} is {value.dtype} {tuple(value.shape)}, expected "
                             f"floats of shape {shape}")
    return stored


def metapath2vec_features(graph, *, cache: str | os.PathLike | None | bool = None,
                          progress: bool = False, **params):
    """The graph with metapath2vec inputs: one target feature matrix per meta-path
    (``x_paths``) and, for each context type, the embedding from the first meta-path that
    reaches it.

    Every meta-path must have exactly one context type (``T-X-T``: ACM, AMiner, IMDB); the
    walks follow that incidence. Embeddings are computed with a fixed ``seed`` (default 0; not
    the training seed, so every training seed reads the same inputs, as with released
    feature files) and cached as ``$GCL_CACHE/hetero/metapath2vec/<name>-<key>.npz``, the key
    hashing the parameters and the incidences.

    Args:
        graph: a :class:`~gcl.data.MetaPathGraph`.
        cache: cache folder; ``None`` for the default above, ``False`` for no cache.
        progress: report progress on stderr (default: ``False``).
        **params: :data:`METAPATH2VEC_DEFAULTS` to override.

    Returns:
        MetaPathGraph: a copy with ``x_paths`` and the new context features;
        ``info["inputs"]`` says ``"metapath2vec"``, ``info["metapath2vec"]`` the parameters and
        ``info["metapath2vec_s"]`` the seconds each meta-path's derivation took when it was
        computed (kept in the cache; ``None`` for caches written before it was recorded).

    Raises:
        ValueError: an unknown parameter, or a meta-path without exactly one context type.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(6), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> g2 = metapath2vec_features(g, cache=False, dim=8, walk_length=10, context_size=3)
        >>> [tuple(x.shape) for x in g2.x_paths], tuple(g2.x_dict["a"].shape)
        ([(6, 8)], (2, 8))
    """
    unknown = set(params) - set(METAPATH2VEC_DEFAULTS)
    if unknown:
        raise ValueError(f"metapath2vec_features: unknown parameters {sorted(unknown)}; "
                         f"known: {sorted(METAPATH2VEC_DEFAULTS)}")
    params = {**METAPATH2VEC_DEFAULTS, **params}
    for p, triples in zip(graph.metapaths, graph.contexts):
        if len(triples) != 1:
            raise ValueError(f"metapath2vec_features: meta-path {p!r} has {len(triples)} context "
                             "types; only T-X-T meta-paths (one context type) are supported")
    path = None
    if cache is not False:
        from .storage import cache_dir

        folder = Path(cache) if cache is not None else cache_dir() / "hetero" / "metapath2vec"
        path = path_in(folder, f"{graph.name}-{_cache_key(graph, params)}.npz")
    stored = None
    if path is not None:
        stored = read_cache(path, lambda f: _read_embeddings(f, graph, params["dim"]),
                            what="metapath2vec embedding")
    if stored is None:
        stored = {}
        for p, triples in zip(graph.metapaths, graph.contexts):
            t, inc = triples[0]
            start = time.perf_counter()
            emb_t, emb_x = metapath2vec_embeddings(inc, progress=progress, label=p, **params)
            stored[f"seconds_{p}"] = torch.tensor(time.perf_counter() - start, dtype=torch.float64)
            stored[f"path_{p}"] = emb_t
            stored.setdefault(f"type_{t}", emb_x)
        if path is not None:
            with atomic_target(path) as tmp:
                np.savez(tmp, **{k: v.numpy() for k, v in stored.items()})
    x_dict = dict(graph.x_dict)
    for triples in graph.contexts:
        t = triples[0][0]
        x_dict[t] = stored[f"type_{t}"]
    x_paths = [stored[f"path_{p}"] for p in graph.metapaths]
    seconds = None
    if all(f"seconds_{p}" in stored for p in graph.metapaths):
        seconds = {p: float(stored[f"seconds_{p}"]) for p in graph.metapaths}
    info = {**graph.info, "inputs": "metapath2vec", "metapath2vec": params,
            "metapath2vec_s": seconds}
    return replace(graph, x_dict=x_dict, x_paths=x_paths, info=info)
