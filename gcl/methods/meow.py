"""MEOW (Yu et al., SDM 2023) and AdaMEOW (Yu et al., IEEE TKDE 2024) on meta-path graphs.

Preprocessing (once): PathSim top-k per meta-path (counts kept), MEOW's normalisation, the
coarse adjacency (mean over meta-paths), an edge mask per meta-path and a feature mask on the
target features, all drawn once with the run's seed. Training: full batch, Adam; MEOW stops early
on the training loss (patience) and restores the best state, AdaMEOW trains a fixed number of
epochs. Embeddings are the fused fine-view ``z``, taken in eval mode (dropout off).

Differences from the reference code (documented, with flags):

* ``restore_best`` (default ``True``): the reference keeps the last state, not the best one.
* ``embed_mode="eval"`` (default): the reference takes ``z`` of the last training step in
  train mode (dropout on); ``"train"`` reproduces that.
* PathSim ties are broken deterministically (see :mod:`gcl.data.metapath_ops`).
* k-means is a seeded torch implementation of faiss's IP-assignment k-means.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import torch

from .._utils import check_positive, resolve_device
from ..data.metapath_ops import (
    mask_feature_entries,
    mask_metapath_edges,
    normalize_metapath_adj,
    pathsim_topk,
)
from ..encoders.meow import MEOWEncoder
from ..objectives.meow import AdaMEOWLoss, MEOWLoss
from ..pipeline import (
    CHECKPOINT_FILE,
    History,
    _atomic_torch_save,
    check_checkpoint_meta,
    get_rng_state,
    read_checkpoint,
    set_rng_state,
)
from .base import CONFIG_DIR, Method, register

__all__ = ["prepare_inputs", "input_features", "MEOWModel", "build_meow", "build_adameow", "fit_meow",
           "evaluate_meow"]


def _per_path(value, count: int, name: str) -> list:
    if isinstance(value, (list, tuple)):
        if len(value) != count:
            raise ValueError(f"config key {name!r} needs one value per meta-path ({count}), "
                             f"got {list(value)}")
        return list(value)
    return [value] * count


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


def input_features(graph, config: dict):
    """The graph with the inputs ``config["features"]`` asks for: ``"given"`` (default: the
    graph's own features) or ``"metapath2vec"`` (:func:`gcl.data.metapath2vec_features`, with
    the ``m2v_*`` keys as its parameters: ``m2v_walks_per_node`` → ``walks_per_node``, …;
    computed once and cached, progress on stderr).

    Args:
        graph: a :class:`gcl.data.MetaPathGraph`.
        config: a MEOW/AdaMEOW configuration (reads ``features`` and the ``m2v_*`` keys).

    Returns:
        MetaPathGraph: ``graph`` itself for ``"given"``, else a copy with ``x_paths``.

    Raises:
        ValueError: an unknown ``features`` value.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(6), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> input_features(g, {}) is g
        True
        >>> input_features(g, {"features": "words"})
        Traceback (most recent call last):
        ...
        ValueError: config key 'features' must be 'given' or 'metapath2vec', got 'words'
    """
    features = str(config.get("features", "given"))
    if features == "given":
        return graph
    if features != "metapath2vec":
        raise ValueError(f"config key 'features' must be 'given' or 'metapath2vec', got "
                         f"{features!r}")
    from ..data.metapath2vec import metapath2vec_features

    params = {k[4:]: v for k, v in config.items() if k.startswith("m2v_")}
    return metapath2vec_features(graph, progress=True, **params)


def _masked(x, rate, gen):
    """:func:`mask_feature_entries`; a sparse result without its masked entries (explicit
    zeros): the same products, less memory."""
    out = mask_feature_entries(x, float(rate), gen)
    if out.is_sparse:
        out = out.coalesce()
        keep = out.values() != 0
        out = torch.sparse_coo_tensor(out.indices()[:, keep], out.values()[keep], out.shape,
                                      is_coalesced=True, check_invariants=False)
    return out


def prepare_inputs(graph, *, nei_max, adj_mask, feat_mask: float, seed: int = 0,
                   device="cpu", csr: bool = True, pathsim_ties: str = "index") -> dict:
    """Everything MEOW's encoder reads, computed once before training.

    Args:
        graph: a :class:`gcl.data.MetaPathGraph`.
        nei_max: PathSim top-k per meta-path (a list, or one value for all).
        adj_mask: edge-mask rate per meta-path (a list, or one value).
        feat_mask: fraction of the target features' non-zero entries set to 0.
        seed: seed of the masks (default: 0).
        device: where the tensors live (default: CPU).
        csr: store adjacencies and incidences as CSR matrices with int32 indices (8 bytes per
            entry) instead of COO (20 bytes per entry) (default: ``True``). On the CPU each is
            stored once (the backward pass reads it transposed in place); on other devices as a
            pair ``(A, Aᵀ)``, the stored transpose serving the backward pass.
        pathsim_ties: order of equal PathSim values in the top-k, ``"index"`` (default),
            ``"random"`` (drawn from ``seed``) or ``"reference"`` (numpy's argsort, as the
            reference code); see :mod:`gcl.data.metapath_ops`.

    Returns:
        dict: ``x``, ``x_masked``, ``contexts``, ``adjs``, ``adjs_masked``, ``coarse`` (the list
        of ``adjs``: the GCN averages their products) and ``kept`` (entries kept by PathSim per
        meta-path); for a graph with per-path target features (``graph.x_paths``) also
        ``x_paths`` and ``x_masked_paths`` (each matrix masked at ``feat_mask``), and
        ``x_masked`` is ``None``.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> ones = lambda r, c: scipy_to_torch(sp.csr_matrix(np.ones((r, c))))
        >>> g = MetaPathGraph("toy", "p", {"p": torch.eye(3), "a": torch.eye(2)}, ["pap"],
        ...                   [ones(3, 3)], [[("a", ones(3, 2))]])
        >>> inp = prepare_inputs(g, nei_max=2, adj_mask=0.5, feat_mask=0.0)
        >>> inp["kept"]
        [6]
    """
    p = graph.num_metapaths
    ks = _per_path(nei_max, p, "nei_max")
    rates = _per_path(adj_mask, p, "adj_mask")
    rng = np.random.default_rng(int(seed))
    gen = torch.Generator().manual_seed(int(seed))
    tie_rng = np.random.default_rng([int(seed), 1])  # its own stream: the masks do not move
    adjs, masked, kept = [], [], []
    for a, k, rate in zip(graph.adjs, ks, rates):
        top = pathsim_topk(a, int(k), ties=pathsim_ties, rng=tie_rng)
        kept.append(int(top.nnz))
        adjs.append(_to_sparse(normalize_metapath_adj(top), device, csr))
        masked.append(_to_sparse(mask_metapath_edges(top, float(rate), rng), device, csr))
    # the coarse adjacency is the mean of the normalised ones: Ā·X = mean_p(A_p·X), so it is
    # kept as the list of the meta-path adjacencies instead of a third copy of their entries
    coarse = list(adjs)
    x = {t: v.to(device) for t, v in graph.x_dict.items()}
    paths = getattr(graph, "x_paths", None)
    extra = {}
    if paths is not None:  # one target matrix per meta-path, each masked (in meta-path order)
        extra = {"x_paths": [xp.to(device) for xp in paths],
                 "x_masked_paths": [_masked(xp, feat_mask, gen).to(device) for xp in paths]}
        x_masked = None
    else:
        x_masked = _masked(graph.x, feat_mask, gen).to(device)
    contexts = []
    for triples in graph.contexts:
        out = []
        for t, inc in triples:
            from ..data.hetero import torch_to_scipy

            inc = torch_to_scipy(inc)
            count = torch.from_numpy(np.asarray(inc.sum(1), dtype=np.float32)).clamp(min=1)
            out.append((t, _to_sparse(inc, device, csr), (1.0 / count).to(device)))
        contexts.append(out)
    return {"x": x, "x_masked": x_masked, "contexts": contexts, "adjs": adjs,
            "adjs_masked": masked, "coarse": coarse, "kept": kept, **extra}


class MEOWModel:
    """A MEOW or AdaMEOW model bound to one meta-path graph (what ``build`` returns).

    Building it preprocesses the graph once (:func:`prepare_inputs`, masks drawn with ``seed``),
    then creates the encoder, the loss and an Adam optimizer over both.

    Args:
        graph: a :class:`gcl.data.MetaPathGraph`.
        config: a configuration (``configs/meow.yaml`` or ``configs/adameow.yaml``). Required
            keys: ``nei_max``, ``adj_mask``, ``feat_mask``, ``tau``, ``lr`` and, for MEOW,
            ``num_clusters``. Optional: ``device`` (default ``"auto"``), ``seed`` (default:
            derived from torch's initial seed), ``hidden`` (64), ``proj_dim`` (``hidden``),
            ``dropout`` (0.2), ``masked_dropout`` (``True``), ``weight_decay`` (0), for MEOW
            ``proto_weight`` (1.0), ``kmeans_niter`` (20), ``kmeans_nredo`` (5), for AdaMEOW
            ``weight_hidden`` (16), ``pathsim_ties`` (``"index"``, see :func:`prepare_inputs`),
            ``features`` (``"given"``, or ``"metapath2vec"`` with ``m2v_*`` keys, see
            :func:`input_features`).
        variant: ``"meow"`` (default); any other value builds AdaMEOW (the registered builder
            passes ``"adameow"``).

    Attributes:
        encoder: the :class:`gcl.encoders.meow.MEOWEncoder`.
        loss: :class:`gcl.objectives.meow.MEOWLoss` or ``AdaMEOWLoss``.
        variant: ``"meow"`` or ``"adameow"``.
        inputs: the prepared tensors (see :func:`prepare_inputs`).
        optimizer: Adam over the encoder's and the loss's parameters.
        config, device, seed: the configuration (a copy), the resolved device and the mask seed.
        meta: free-form facts saved with checkpoints and checked when resuming (the CLI stores
            the method, dataset, seed and configuration).

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> from gcl.methods import load_config
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> cfg = load_config("adameow", "acm", overrides={"nei_max": 3, "hidden": 8, "proj_dim": 8})
        >>> model = MEOWModel(g, {**cfg, "device": "cpu", "seed": 0}, "adameow")
        >>> model.inputs["kept"], model.embed(g).shape
        ([18], torch.Size([6, 8]))
    """

    def __init__(self, graph, config: dict, variant: str = "meow"):
        self.variant = variant
        self.config = dict(config)
        self.device = resolve_device(config.get("device", "auto"))
        seed = int(config.get("seed", torch.initial_seed() % (2**31)))
        self.seed = seed
        graph = input_features(graph, config)
        self.inputs_info = graph.info.get("metapath2vec")
        self.inputs_seconds = graph.info.get("metapath2vec_s")
        self.inputs = prepare_inputs(graph, nei_max=config["nei_max"],
                                     adj_mask=config["adj_mask"],
                                     feat_mask=float(config["feat_mask"]), seed=seed,
                                     device=self.device,
                                     pathsim_ties=str(config.get("pathsim_ties", "index")))
        in_dims = {t: int(v.shape[1]) for t, v in graph.x_dict.items()}
        hidden = int(config.get("hidden", 64))
        proj = int(config.get("proj_dim", hidden))
        self.encoder = MEOWEncoder(in_dims, graph.target, [[t for t, _ in c] for c in
                                                           graph.contexts],
                                   hidden=hidden, proj_dim=proj,
                                   dropout=float(config.get("dropout", 0.2)),
                                   masked_dropout=bool(config.get("masked_dropout", True)),
                                   shared_context_dropout=bool(config.get("shared_context_dropout")),
                                   path_dims=None if graph.x_paths is None else
                                   [int(x.shape[1]) for x in graph.x_paths],
                                   init=str(config.get("init", "xavier")),
                                   checkpoint=bool(config.get("checkpoint", True))
                                   ).to(self.device)
        if variant == "meow":
            self.loss = MEOWLoss(tau=float(config["tau"]), num_clusters=config["num_clusters"],
                                 proto_weight=float(config.get("proto_weight", 1.0)),
                                 niter=int(config.get("kmeans_niter", 20)),
                                 nredo=int(config.get("kmeans_nredo", 5))).to(self.device)
        else:
            self.loss = AdaMEOWLoss(proj, hidden=int(config.get("weight_hidden", 16)),
                                    tau=float(config["tau"])).to(self.device)
        params = list(self.encoder.parameters()) + list(self.loss.parameters())
        self.optimizer = torch.optim.Adam(params, lr=float(config["lr"]),
                                          weight_decay=float(config.get("weight_decay", 0.0)))
        self.meta: dict = {}
        self.checkpointing = {"checkpoint_dir": None, "checkpoint_every": 10, "resume": False}

    def configure_checkpoints(self, checkpoint_dir, checkpoint_every: int | None = None,
                              resume: bool = False) -> MEOWModel:
        """Let :func:`fit_meow` keep a resumable checkpoint in ``checkpoint_dir/last.pt``
        (every ``checkpoint_every`` epochs, default 10, and at the end); with ``resume`` an
        existing one is continued (without, it is an error). Returns ``self``."""
        if checkpoint_every is not None:
            check_positive(checkpoint_every, "checkpoint_every", "MEOWModel", integer=True)
        self.checkpointing = {"checkpoint_dir": checkpoint_dir,
                              "checkpoint_every": int(checkpoint_every or 10),
                              "resume": bool(resume)}
        return self

    def step(self) -> float:
        """One full-batch training step; returns the loss."""
        self.encoder.train()
        self.loss.train()
        self.optimizer.zero_grad()
        _, _, u, v = self.encoder(self.inputs)
        loss = self.loss(u, v) if self.variant == "meow" else self.loss(v, u)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

    def state(self) -> dict:
        """A copy of the trainable state (encoder and loss parameters)."""
        return {"encoder": copy.deepcopy(self.encoder.state_dict()),
                "loss": copy.deepcopy(self.loss.state_dict())}

    def load_state(self, state: dict) -> None:
        """Restore a :meth:`state`."""
        self.encoder.load_state_dict(state["encoder"])
        self.loss.load_state_dict(state["loss"])

    @torch.no_grad()
    def embed(self, graph=None, *, mode: str = "eval") -> torch.Tensor:
        """The fused fine-view embeddings ``z`` (eval mode by default; ``"train"`` keeps
        dropout on, like the reference)."""
        self.encoder.train(mode == "train")
        _, z, _, _ = self.encoder(self.inputs)
        self.encoder.train()
        return z.detach()


def fit_meow(model: MEOWModel, graph, config: dict) -> History:
    """Train: up to ``epochs`` steps; with ``patience`` > 0 stop when the loss has not improved
    for ``patience`` steps (MEOW), and restore the best state when ``restore_best``.

    With :meth:`MEOWModel.configure_checkpoints` the run keeps a checkpoint (current and best
    states, optimiser, early-stopping counters, history, random states) and a resumed run
    continues exactly where it was saved; ``history.meta["resumes"]`` lists where.

    Args:
        model: the model from :func:`build_meow` or :func:`build_adameow`.
        graph: the meta-path graph (the model holds its inputs; the labels and splits serve
            ``monitor_every``).
        config: ``epochs`` (required), ``patience`` (default: 0, no early stopping),
            ``restore_best`` (default: ``True``) and ``monitor_every`` (default: 0, off; ``K``
            scores the current state every ``K`` steps and after the last one with
            :func:`monitor_meow`, into ``history.evals``: ``gcl train --eval-every K``).

    Returns:
        History: one entry per step (``epoch``, ``loss``, ``time_s`` and the loss's own terms)
        and ``meta`` with ``train_s``, ``best_loss``, ``stopped_epoch``, ``device``,
        ``pathsim_kept`` and ``peak_mem_mb``.

    Raises:
        ValueError: ``epochs`` is not a positive integer, or ``monitor_every`` is set on a
            graph without labels and splits.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> from gcl.methods import load_config
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> cfg = load_config("meow", "acm", overrides={"nei_max": 3, "adj_mask": 0.2, "hidden": 8,
        ...                                             "proj_dim": 8, "epochs": 3})
        >>> cfg = {**cfg, "device": "cpu", "seed": 0}
        >>> history = fit_meow(build_meow(cfg, g), g, cfg)
        >>> history.meta["stopped_epoch"], sorted(history.epochs[0])
        (3, ['epoch', 'info', 'loss', 'proto', 'time_s'])
    """
    epochs = int(check_positive(config["epochs"], "epochs", "fit_meow", integer=True))
    patience = int(config.get("patience", 0) or 0)
    restore = bool(config.get("restore_best", True))
    every = int(config.get("monitor_every") or 0)
    if every < 0:
        raise ValueError(f"monitor_every must be >= 0, got {every}")
    if every and (getattr(graph, "y", None) is None or not getattr(graph, "splits", None)):
        raise ValueError("monitor_every needs labels and splits on the graph (y, splits)")
    history = History()
    best, best_state, wait, done, stopped = float("inf"), None, 0, 0, False
    ckpt_cfg = getattr(model, "checkpointing", None) or {}
    ckpt = None
    if ckpt_cfg.get("checkpoint_dir") is not None:
        ckpt = Path(ckpt_cfg["checkpoint_dir"]) / CHECKPOINT_FILE
        if ckpt.exists():
            if not ckpt_cfg.get("resume"):
                raise ValueError(f"checkpoint {ckpt} already exists: pass resume=True "
                                 "(gcl train --resume) to continue that run, or choose an empty "
                                 "checkpoint folder")
            state = _load_meow_checkpoint(model, ckpt)
            history = History.from_dict(state["history"])
            best, best_state, wait = float(state["best"]), state["best_state"], int(state["wait"])
            done, stopped = int(state["epoch"]), bool(state["stopped"])
            history.note_resume(done)
    if torch.cuda.is_available() and model.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(model.device)
    prior_train_s = history.meta.get("train_s", 0.0)
    t_start = time.perf_counter()
    for epoch in range(done + 1, 1 if stopped else epochs + 1):
        t0 = time.perf_counter()
        loss = model.step()
        entry = {"epoch": epoch, "loss": loss, "time_s": time.perf_counter() - t0}
        entry.update(getattr(model.loss, "last", {}) or {})
        history.epochs.append(entry)
        if loss < best:
            best, wait = loss, 0
            if restore:
                best_state = model.state()
        else:
            wait += 1
        done = epoch
        if every and epoch % every == 0:
            history.evals.append({"epoch": epoch, **monitor_meow(model, graph, config)})
        if patience and wait >= patience:
            stopped = True
            break
        if ckpt is not None and epoch % ckpt_cfg["checkpoint_every"] == 0 and epoch < epochs:
            history.meta["train_s"] = prior_train_s + time.perf_counter() - t_start
            _save_meow_checkpoint(model, ckpt, history, best, best_state, wait, done, False)
    if every and done and (not history.evals or history.evals[-1]["epoch"] != done):
        history.evals.append({"epoch": done, **monitor_meow(model, graph, config)})
    if ckpt is not None:
        history.meta["train_s"] = prior_train_s + time.perf_counter() - t_start
        _save_meow_checkpoint(model, ckpt, history, best, best_state, wait, done, stopped)
    if restore and best_state is not None:
        model.load_state(best_state)
    history.meta.update(train_s=prior_train_s + time.perf_counter() - t_start, best_loss=best,
                        stopped_epoch=len(history.epochs), device=str(model.device),
                        pathsim_kept=model.inputs["kept"])
    if model.inputs_seconds:  # the metapath2vec derivation the inputs came from (once per cache)
        history.meta["metapath2vec_s"] = model.inputs_seconds
    if model.device.type == "cuda":
        history.meta["peak_mem_mb"] = torch.cuda.max_memory_allocated(model.device) / 2**20
    else:
        import resource

        history.meta["peak_mem_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return history


def monitor_meow(model: MEOWModel, graph, config: dict) -> dict:
    """Scores of the current state along training (``monitor_every``): a short HeCo
    classification at every split size (``monitor_heads`` heads, default 5, of
    ``eval_steps`` steps) and k-means NMI/ARI (``monitor_cluster_fits`` fits, default 3) on the
    embeddings of ``embed_mode``. Every global random state is restored afterwards, so a
    monitored run trains exactly as an unmonitored one.

    Args:
        model: the :class:`MEOWModel` being trained.
        graph: the meta-path graph, with ``y`` and ``splits``.
        config: the run configuration (``eval_lr``, ``eval_wd``, ``eval_steps``,
            ``monitor_heads``, ``monitor_cluster_fits``, ``embed_mode``).

    Returns:
        dict: ``"macro_f1@S"``, ``"micro_f1@S"``, ``"auc@S"`` for every split size ``S``,
        ``"nmi"`` and ``"ari"``, as means.
    """
    short = {**config, "eval_heads": config.get("monitor_heads", 5), "clustering": True,
             "cluster_fits": config.get("monitor_cluster_fits", 3)}
    rng = get_rng_state()
    try:
        scores = evaluate_meow(model, graph, short, seed=0)
    finally:
        set_rng_state(rng)
    return {key: float(value["mean"]) for key, value in scores.items()}


MEOW_CHECKPOINT_FORMAT = "gcl-meow/1"


def _save_meow_checkpoint(model: MEOWModel, path: Path, history: History, best: float,
                          best_state, wait: int, epoch: int, stopped: bool) -> None:
    """Everything :func:`fit_meow` needs to go on exactly: the current and the best states,
    the optimiser, the early-stopping counters (``stopped``: early stopping ended the run, a
    resume does not go on), the history and every random state."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_torch_save({
        "format": MEOW_CHECKPOINT_FORMAT, "variant": model.variant, "state": model.state(),
        "optimizer": model.optimizer.state_dict(), "best": best, "best_state": best_state,
        "wait": wait, "epoch": epoch, "stopped": stopped, "history": history.to_dict(),
        "meta": model.meta, "rng": get_rng_state(),
    }, path)


def _load_meow_checkpoint(model: MEOWModel, path: Path) -> dict:
    payload = read_checkpoint(path, MEOW_CHECKPOINT_FORMAT, "MEOW")
    check_checkpoint_meta(path, payload, model.meta)
    if payload.get("variant") != model.variant:
        raise ValueError(f"checkpoint {path} is of {payload.get('variant')}, not {model.variant}")
    try:
        model.load_state(payload["state"])
        model.optimizer.load_state_dict(payload["optimizer"])
    except (RuntimeError, ValueError, KeyError) as err:
        raise ValueError(f"checkpoint {path} does not fit this model (was it written with "
                         f"another configuration?): {' '.join(str(err).split())}") from err
    set_rng_state(payload["rng"])
    return payload


def evaluate_meow(model: MEOWModel, graph, config: dict, seed: int) -> dict:
    """HeCo's protocol on the eval-mode embeddings: macro/micro-F1 and AUC at 20/40/60 labels
    per class (``eval_heads`` heads × ``eval_steps`` steps) and k-means NMI/ARI.

    Args:
        model: a (trained) :class:`MEOWModel`.
        graph: the meta-path graph, with labels ``y`` and ``splits`` (one entry per split size).
        config: ``eval_lr`` (required), ``eval_wd`` (default: 0), ``eval_heads`` (50),
            ``eval_steps`` (200), ``clustering`` (``True``), ``cluster_fits`` (10 k-means seeds)
            and ``embed_mode`` (``"eval"``; ``"train"`` keeps dropout on, as the reference).
        seed: seed of the classification heads.

    Returns:
        dict: ``"macro_f1@S"``, ``"micro_f1@S"`` and ``"auc@S"`` for every split size ``S``,
        plus ``"nmi"`` and ``"ari"`` with clustering, each a summary ``{"mean", "std",
        "values"}`` (see :func:`gcl.evaluation.heco_evaluate`).

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> from gcl.methods import load_config
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> g.y, idx = torch.tensor([0, 0, 0, 1, 1, 1]), torch.arange(6)
        >>> g.splits = {1: (idx[[0, 3]], idx[[1, 4]], idx[[2, 5]])}
        >>> cfg = load_config("adameow", "acm", overrides={"nei_max": 3, "hidden": 8, "proj_dim": 8,
        ...                                                "eval_heads": 2, "eval_steps": 5,
        ...                                                "cluster_fits": 1})
        >>> model = build_adameow({**cfg, "device": "cpu", "seed": 0}, g)
        >>> sorted(evaluate_meow(model, g, cfg, seed=0))
        ['ari', 'auc@1', 'macro_f1@1', 'micro_f1@1', 'nmi']
    """
    from ..evaluation import heco_evaluate

    z = model.embed(graph, mode=str(config.get("embed_mode", "eval")))
    return heco_evaluate(z, graph, lr=float(config["eval_lr"]),
                         weight_decay=float(config.get("eval_wd", 0.0)),
                         heads=int(config.get("eval_heads", 50)),
                         steps=int(config.get("eval_steps", 200)), seed=seed,
                         clustering=bool(config.get("clustering", True)),
                         cluster_seeds=range(int(config.get("cluster_fits", 10))))


def build_meow(config: dict, graph) -> MEOWModel:
    """Build MEOW for a meta-path graph from a configuration (``configs/meow.yaml``).

    Args:
        config: a configuration from :func:`gcl.methods.load_config` (see :class:`MEOWModel`
            for the keys it reads).
        graph: the :class:`gcl.data.MetaPathGraph` to train on.

    Returns:
        MEOWModel: the MEOW variant (prototype loss over k-means clusterings), ready for
        :func:`fit_meow`.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> from gcl.methods import load_config
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> cfg = load_config("meow", "acm", overrides={"nei_max": 3, "adj_mask": 0.2, "hidden": 8})
        >>> model = build_meow({**cfg, "device": "cpu", "seed": 0}, g)
        >>> model.variant, type(model.loss).__name__, model.loss.num_clusters
        ('meow', 'MEOWLoss', [100, 300])
    """
    return MEOWModel(graph, config, "meow")


def build_adameow(config: dict, graph) -> MEOWModel:
    """Build AdaMEOW for a meta-path graph from a configuration (``configs/adameow.yaml``).

    Args:
        config: a configuration from :func:`gcl.methods.load_config` (see :class:`MEOWModel`
            for the keys it reads).
        graph: the :class:`gcl.data.MetaPathGraph` to train on.

    Returns:
        MEOWModel: the AdaMEOW variant (learned soft negative weights), ready for
        :func:`fit_meow`.

    Example:
        >>> import scipy.sparse as sp
        >>> from gcl.data.hetero import MetaPathGraph, scipy_to_torch
        >>> from gcl.methods import load_config
        >>> pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))  # 6 papers, 2 authors
        >>> g = MetaPathGraph("toy", "p", {"p": torch.rand(6, 4), "a": torch.eye(2)}, ["pap"],
        ...                   [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        >>> cfg = load_config("adameow", "acm", overrides={"nei_max": 3, "hidden": 8})
        >>> model = build_adameow({**cfg, "device": "cpu", "seed": 0}, g)
        >>> model.variant, type(model.loss).__name__
        ('adameow', 'AdaMEOWLoss')
    """
    return MEOWModel(graph, config, "adameow")


register(Method(
    name="meow",
    build=build_meow,
    config_file=CONFIG_DIR / "meow.yaml",
    description="MEOW: meta-path contexts, coarse/fine views, cluster-weighted negatives + "
                "prototype loss",
    fit=fit_meow,
    evaluate=evaluate_meow,
    datasets=("acm", "dblp", "aminer", "imdb"),
))

register(Method(
    name="adameow",
    build=build_adameow,
    config_file=CONFIG_DIR / "adameow.yaml",
    description="AdaMEOW: MEOW's views with learned soft negative weights",
    fit=fit_meow,
    evaluate=evaluate_meow,
    datasets=("acm", "dblp", "aminer", "imdb"),
))
