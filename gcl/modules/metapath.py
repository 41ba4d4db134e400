"""The meta-path module: MEOW's and AdaMEOW's coarse and fine views of a meta-path graph.

Preparation, once per graph (:meth:`MetaPathModule.setup`): optional input features (e.g.
metapath2vec), PathSim top-k per meta-path (counts kept), the masked view drawn by the module's
augmentation (:mod:`gcl.augment.metapath`), MEOW's normalisation and the sparse tensors the
encoder reads (:func:`encoder_inputs`). Each step encodes both views
(:class:`gcl.encoders.MEOWEncoder` returns the coarse-view and fused fine-view embeddings and
their projections ``u``, ``v``) and calls the objective as ``objective(u, v, step)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..augment.base import Identity
from ..augment.metapath import MetaPathEdgeMask, MetaPathFeatureMask, per_metapath
from ..data.hetero import MetaPathGraph, torch_to_scipy
from ..data.metapath_ops import normalize_metapath_adj, pathsim_topk
from ..objectives.base import Step
from ..training import TrainingModule

__all__ = ["MetaPathModule", "pathsim_graph", "encoder_inputs", "prepare_inputs"]


def _to_sparse(m, device, csr: bool):
    """scipy -> torch sparse: CSR with int32 indices (8 bytes per entry), or COO (20 bytes).

    CSR on the CPU is one matrix (the backward pass reads it transposed in place, see
    :func:`gcl.encoders.meow.spmm`); elsewhere a pair ``(A, Aᵀ)``.
    """
    import scipy.sparse as sp

    from ..data.hetero import scipy_to_torch

    if not csr:
        return scipy_to_torch(m).to(device)

    def one(mat):
        mat = sp.csr_matrix(mat)
        mat.sum_duplicates()
        return torch.sparse_csr_tensor(torch.from_numpy(mat.indptr.astype(np.int32)),
                                       torch.from_numpy(mat.indices.astype(np.int32)),
                                       torch.from_numpy(mat.data.astype(np.float32)),
                                       mat.shape, device=device, check_invariants=False)

    device = torch.device(device)
    if device.type == "cpu":
        return one(m)
    return one(m), one(sp.csr_matrix(m).T)  # the transpose serves the backward pass


def _check_metapath_graph(module, graph) -> None:
    if not isinstance(graph, MetaPathGraph):
        raise ValueError(f"{type(module).__name__} trains on a gcl.data.MetaPathGraph (load one "
                         f"with gcl.data.load_hetero or gcl.data.from_hetero_data), got "
                         f"{type(graph).__name__}")


def pathsim_graph(graph: MetaPathGraph, nei_max, *, ties: str = "index",
                  seed: int = 0) -> MetaPathGraph:
    """``graph`` with each meta-path adjacency reduced to its PathSim top-k per row (path counts
    kept, scipy CSR); see :func:`gcl.data.metapath_ops.pathsim_topk`.

    Args:
        graph: a meta-path graph.
        nei_max: ``k`` per meta-path (a list, or one value for all).
        ties: order of equal PathSim values (``"index"``, ``"random"``, ``"reference"``).
        seed: seed of the ``"random"`` tie order (its own stream).

    Returns:
        MetaPathGraph: a copy whose ``adjs`` are scipy CSR matrices of the kept counts.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import scipy_to_torch
        >>> ones = lambda r, c: scipy_to_torch(sp.csr_matrix(np.ones((r, c))))
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(3), "a": torch.eye(2)}, ["pap"],
        ...                   [ones(3, 3)], [[("a", ones(3, 2))]])
        >>> pathsim_graph(g, 2).adjs[0].nnz
        6
    """
    ks = per_metapath(nei_max, graph.num_metapaths, "nei_max")
    tie_rng = np.random.default_rng([int(seed), 1])  # its own stream: the masks do not move
    adjs = [pathsim_topk(a, int(k), ties=ties, rng=tie_rng) for a, k in zip(graph.adjs, ks)]
    return dataclasses.replace(graph, adjs=adjs)


def encoder_inputs(clean: MetaPathGraph, masked: MetaPathGraph, *, device="cpu",
                   csr: bool = True) -> dict:
    """The tensors :class:`gcl.encoders.MEOWEncoder` reads, from the clean graph (after
    PathSim) and its masked view.

    Args:
        clean: the PathSim-reduced graph.
        masked: its masked view (same meta-paths and nodes).
        device: where the tensors live.
        csr: store adjacencies and incidences as CSR matrices with int32 indices (8 bytes per
            entry) instead of COO (20 bytes per entry) (default: ``True``). On the CPU each is
            stored once (the backward pass reads it transposed in place); on other devices as a
            pair ``(A, Aᵀ)``, the stored transpose serving the backward pass.

    Returns:
        dict: ``x``, ``x_masked``, ``contexts``, ``adjs``, ``adjs_masked``, ``coarse`` (the
        list of ``adjs``: the GCN averages their products) and ``kept`` (entries kept by
        PathSim per meta-path); for a graph with per-path target features (``x_paths``) also
        ``x_paths`` and ``x_masked_paths``, and ``x_masked`` is ``None``.

    Example:
        >>> from gcl.data import synthetic_metapath_graph
        >>> clean = pathsim_graph(synthetic_metapath_graph(num_nodes=20, seed=0), 5)
        >>> inputs = encoder_inputs(clean, MetaPathEdgeMask(0.5, seed=0)(clean))
        >>> inputs["kept"] == [int(a.nnz) for a in clean.adjs], inputs["adjs"][0].layout
        (True, torch.sparse_csr)
    """
    def scipy(a):
        return torch_to_scipy(a) if isinstance(a, Tensor) else a

    adjs = [_to_sparse(normalize_metapath_adj(scipy(a)), device, csr) for a in clean.adjs]
    masked_adjs = [_to_sparse(normalize_metapath_adj(scipy(a)), device, csr)
                   for a in masked.adjs]
    x = {t: v.to(device) for t, v in clean.x_dict.items()}
    extra, x_masked = {}, None
    if clean.x_paths is not None:  # one target matrix per meta-path (in meta-path order)
        extra = {"x_paths": [xp.to(device) for xp in clean.x_paths],
                 "x_masked_paths": [xp.to(device) for xp in masked.x_paths]}
    else:
        x_masked = masked.x.to(device)
    contexts = []
    for triples in clean.contexts:
        out = []
        for t, inc in triples:
            inc = torch_to_scipy(inc)
            count = torch.from_numpy(np.asarray(inc.sum(1), dtype=np.float32)).clamp(min=1)
            out.append((t, _to_sparse(inc, device, csr), (1.0 / count).to(device)))
        contexts.append(out)
    # the coarse adjacency is the mean of the normalised ones: Ā·X = mean_p(A_p·X), so it is
    # kept as the list of the meta-path adjacencies instead of a third copy of their entries
    return {"x": x, "x_masked": x_masked, "contexts": contexts, "adjs": adjs,
            "adjs_masked": masked_adjs, "coarse": list(adjs),
            "kept": [int(a.nnz) for a in clean.adjs], **extra}


def prepare_inputs(graph: MetaPathGraph, *, nei_max, adj_mask, feat_mask: float, seed: int = 0,
                   device="cpu", csr: bool = True, pathsim_ties: str = "index") -> dict:
    """Everything MEOW's encoder reads, computed at once: PathSim top-k, the masks of
    :class:`~gcl.augment.MetaPathEdgeMask` and :class:`~gcl.augment.MetaPathFeatureMask`
    (both seeded with ``seed``) and :func:`encoder_inputs`.

    Args:
        graph: a :class:`gcl.data.MetaPathGraph`.
        nei_max: PathSim top-k per meta-path (a list, or one value for all).
        adj_mask: edge-mask rate per meta-path (a list, or one value).
        feat_mask: fraction of the target features' non-zero entries set to 0.
        seed: seed of the masks and of the random tie order (default: 0).
        device: where the tensors live (default: the CPU).
        csr: compressed sparse storage (default: ``True``).
        pathsim_ties: order of equal PathSim values (default: ``"index"``).

    Returns:
        dict: the encoder's inputs (see :func:`encoder_inputs`).

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import scipy_to_torch
        >>> ones = lambda r, c: scipy_to_torch(sp.csr_matrix(np.ones((r, c))))
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(3), "a": torch.eye(2)}, ["pap"],
        ...                   [ones(3, 3)], [[("a", ones(3, 2))]])
        >>> prepare_inputs(g, nei_max=2, adj_mask=0.5, feat_mask=0.0)["kept"]
        [6]
    """
    clean = pathsim_graph(graph, nei_max, ties=pathsim_ties, seed=seed)
    masked = MetaPathFeatureMask(feat_mask, seed=seed)(MetaPathEdgeMask(adj_mask, seed=seed)(clean))
    return encoder_inputs(clean, masked, device=device, csr=csr)


class MetaPathModule(TrainingModule):
    """A two-view method on a meta-path graph (MEOW, AdaMEOW, or a mix of parts).

    Args:
        encoder: a meta-path encoder, ``encoder(inputs) -> (z_coarse, z, u, v)`` (e.g.
            :class:`gcl.encoders.MEOWEncoder`).
        objective: any objective, called as ``objective(u, v, step)`` (``u``: the coarse
            view's projections, the anchors of MEOW's loss; ``v``: the fine view's).
        augment: the augmentation that draws the masked view from the PathSim-reduced graph
            (e.g. ``Compose([MetaPathEdgeMask(...), MetaPathFeatureMask(...)])``), applied once
            per graph when training starts (default: none, the masked view is the clean one).
        nei_max: PathSim top-k per meta-path (a list, or one value for all).
        pathsim_ties: order of equal PathSim values (see :mod:`gcl.data.metapath_ops`).
        tie_seed: seed of the ``"random"`` tie order (default: 0).
        transform: a function applied to the graph first (e.g. deriving metapath2vec
            features; default: none).
        csr: compressed sparse storage (see :func:`encoder_inputs`; default: ``True``).
        lr, weight_decay, optimizer, scheduler, device, seed, progress, meta: the loop's
            settings (see :class:`gcl.training.TrainingModule`).

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.augment import Compose
        >>> from gcl.data.hetero import scipy_to_torch
        >>> from gcl.encoders import MEOWEncoder
        >>> from gcl.objectives import MEOWLoss
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> module = MetaPathModule(
        ...     MEOWEncoder({"p": 4, "a": 2}, "p", [["a"]], hidden=8),
        ...     MEOWLoss(tau=0.5, num_clusters=[2], nredo=1),
        ...     augment=Compose([MetaPathEdgeMask(0.2, seed=0), MetaPathFeatureMask(0.3, seed=0)]),
        ...     nei_max=3, device="cpu", progress=False)
        >>> len(module.fit(g, epochs=2).losses), module.embed(g).shape
        (2, torch.Size([6, 8]))
    """

    def __init__(self, encoder: nn.Module, objective: nn.Module, augment=None, *, nei_max,
                 pathsim_ties: str = "index", tie_seed: int = 0,
                 transform: Callable | None = None, csr: bool = True, **loop) -> None:
        super().__init__(**loop)
        if not isinstance(encoder, nn.Module) or not isinstance(objective, nn.Module):
            raise ValueError("MetaPathModule needs an encoder and an objective that are "
                             f"nn.Modules, got {type(encoder).__name__} and "
                             f"{type(objective).__name__}")
        self.encoder = encoder
        self.objective = objective
        self.augment = augment if augment is not None else Identity()
        self.nei_max = nei_max
        self.pathsim_ties = pathsim_ties
        self.tie_seed = int(tie_seed)
        self.transform = transform
        self.csr = bool(csr)
        self._prepared: tuple | None = None  # (graph, inputs) of the last graph seen
        self.to(self.device)

    def augmentations(self) -> list:
        return [self.augment]

    def inputs_for(self, graph: MetaPathGraph) -> dict:
        """The encoder's inputs for ``graph``, prepared once and kept for the last graph."""
        _check_metapath_graph(self, graph)
        if self._prepared is not None and self._prepared[0] is graph:
            return self._prepared[1]
        source = self.transform(graph) if self.transform is not None else graph
        clean = pathsim_graph(source, self.nei_max, ties=self.pathsim_ties, seed=self.tie_seed)
        masked = self.augment(clean)
        inputs = encoder_inputs(clean, masked, device=self.device, csr=self.csr)
        inputs["info"] = {k: v for k, v in source.info.items()
                          if k in ("metapath2vec", "metapath2vec_s")}
        self._prepared = (graph, inputs)
        return inputs

    def setup(self, data, *, move: bool = True):
        """Call the parts' ``setup`` and prepare the encoder's inputs for ``data`` (once)."""
        for part in (self.augment, self.objective):
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        inputs = self.inputs_for(data)
        self.history.meta["pathsim_kept"] = inputs["kept"]
        if "metapath2vec_s" in inputs["info"]:  # the derivation's cost (once per cache)
            self.history.meta["metapath2vec_s"] = inputs["info"]["metapath2vec_s"]
        return data

    def training_step(self, batch, epoch: int) -> Step:
        inputs = self.inputs_for(batch)
        z_coarse, z, u, v = self.encoder(inputs)
        step = Step(epoch=epoch, data=batch, z=(z_coarse, z), h=(u, v), encoder=self.encoder,
                    augment=(None, self.augment))
        step.loss = self.objective(u, v, step=step)
        return step

    @torch.no_grad()
    def embed(self, data, *, mode: str = "eval") -> Tensor:
        """The fused fine-view embeddings ``z`` (eval mode by default; ``"train"`` keeps
        dropout on, as the MEOW reference code embeds)."""
        if mode not in ("eval", "train"):
            raise ValueError(f"embed mode must be 'eval' or 'train', got {mode!r}")
        inputs = self.inputs_for(data)
        self.encoder.train(mode == "train")
        _, z, _, _ = self.encoder(inputs)
        self.encoder.train()
        return z.detach()
