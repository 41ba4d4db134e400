"""Run a method's protocol on a dataset for several seeds and produce a result record."""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .._utils import check_positive, resolve_device, seed_everything
from ..callbacks import CostEstimate
from ..distributed import get_world
from ..manifest import prepare_run
from ..results import make_record
from ..training.history import mean_cpu_share
from .base import get_method, load_config

__all__ = ["run", "default_evaluate", "default_fit", "protocol_callbacks", "load_method_data",
           "apply_plugins"]


def apply_plugins(module, config: dict):
    """Apply the method-independent options of ``config`` to a built module: ``pot: true`` adds
    :class:`gcl.objectives.POT` (``kappa``, ``pot_batch``, ``pot_sound``), for any two-view
    recipe with a 2-layer GCN encoder and edge-dropping views. Returns the module.

    Args:
        module: a built training module (a :class:`~gcl.Pipeline` for POT; modified in place).
        config: the run configuration; read here: ``pot`` (default: off), ``kappa`` (default:
            0.5), ``pot_batch`` (default: ``None``) and ``pot_sound`` (default: ``False``).

    Returns:
        the same module, with the POT regularizer added when ``pot`` is true.

    Raises:
        ValueError: ``pot`` is true and the module cannot carry POT (see
            :func:`gcl.objectives.pot.add_pot`).

    Example:
        >>> from gcl.methods.grace import grace
        >>> pipe = apply_plugins(grace(8, hidden=8, proj_hidden=8, device="cpu"),
        ...                      {"pot": True, "kappa": 0.4})
        >>> pipe.regularizers[0]
        POT(kappa=0.4, pot_batch=None, sound=False)
    """
    if config.get("pot"):
        from ..objectives.pot import add_pot

        add_pot(module, kappa=float(config.get("kappa", 0.5)),
                pot_batch=config.get("pot_batch"), sound=bool(config.get("pot_sound", False)),
                orientation=str(config.get("pot_orientation", "reference")))
    return module


def default_fit(module, data, config: dict, callbacks=()):
    """Train ``module`` on ``data`` for ``config["epochs"]`` epochs with the one loop.

    With ``config["task"] == "link"`` the undirected edges are first split (a fraction
    ``link_test_ratio`` held out, seeded from the run's RNG) and the module trains on the
    training edges only; the split is kept on the module as ``link_split`` for evaluation.

    Args:
        module: the method's training module (e.g. a :class:`~gcl.Pipeline`).
        data: the graph.
        config: the run configuration (``epochs``, optional ``task``).
        callbacks: the protocol's callbacks (see :func:`protocol_callbacks`).

    Returns:
        History: the module's training history.

    Example:
        >>> from gcl.methods.grace import grace
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = grace(8, hidden=8, proj_hidden=8, device="cpu", progress=False)
        >>> cbs = protocol_callbacks("grace", {"monitor_every": 2, "monitor_probe_epochs": 20},
        ...                          data)
        >>> h = default_fit(pipe, data, {"epochs": 4}, cbs)
        >>> [e["epoch"] for e in h.evals]
        [2, 4]
    """
    if config.get("task", "node") == "link":
        from ..evaluation.links import split_edges

        split_seed = int(torch.randint(0, 2**31 - 1, ()).item())
        split = split_edges(data, float(config.get("link_test_ratio", 0.1)), seed=split_seed)
        module.link_split = split
        data = split.train_data
    return module.fit(data, epochs=int(config["epochs"]), callbacks=list(callbacks))


def protocol_callbacks(method: str, config: dict, data) -> list:
    """The callbacks of ``method``'s protocol: its own (:attr:`Method.callbacks`: early
    stopping, per-epoch scores), or by default a linear probe every ``monitor_every`` epochs
    (``gcl train --eval-every K``; ``monitor_probe_epochs`` steps, default 300), whose scores
    land in ``history.evals`` and in the result record's ``runs[i]["evals"]``.

    Args:
        method: a registered method name.
        config: the run configuration.
        data: the graph (a method's callbacks may read its labels).

    Returns:
        list: the callbacks, for ``module.fit(data, epochs, callbacks=...)``.

    Raises:
        ValueError: a negative ``monitor_every``.

    Example:
        >>> [type(c).__name__ for c in protocol_callbacks("meow", {"patience": 5}, None)]
        ['EarlyStopping']
    """
    spec = get_method(method)
    if spec.callbacks is not None:
        return list(spec.callbacks(config, data))
    every = int(config.get("monitor_every") or 0)
    if every < 0:
        raise ValueError(f"monitor_every (--eval-every) must be >= 0, got {every}")
    if every == 0:
        return []
    return [_monitor(every, int(config.get("monitor_probe_epochs", 300)),
                     float(config.get("probe_lr", 0.01)))]


def _monitor(every: int, probe_epochs: int, probe_lr: float):
    from ..callbacks import PeriodicEval
    from ..evaluation import linear_probe

    def score(module, data):
        masks = [getattr(data, k, None) for k in ("train_mask", "val_mask", "test_mask")]
        if any(m is None for m in masks) or getattr(data, "y", None) is None:
            raise ValueError("monitor_every needs labels and train/val/test masks on the data")
        r = linear_probe(module.embed(data), data.y, *masks, epochs=probe_epochs, lr=probe_lr)
        return {"val_accuracy": r["val_accuracy"]["mean"], "test_accuracy": r["accuracy"]["mean"]}

    return PeriodicEval(score, every=every)


def default_evaluate(pipeline, data, config: dict, seed: int) -> dict:
    """A linear probe on the frozen clean-graph embeddings, by default the GCA protocol (torch
    logistic regression, test scores at the best validation accuracy; ``probe_protocol: grace``
    for GRACE's own, see :func:`gcl.evaluation.evaluate_embeddings`), and k-means clustering.

    Args:
        pipeline: the trained :class:`~gcl.Pipeline`.
        data: the graph with labels and split masks.
        config: the run configuration (``probe_protocol``, ``probe_epochs``, ``probe_lr``,
            ``probe_eval_every``, ``clustering``).
        seed: seed of the probe's initialisation.

    Returns:
        dict: metric name -> summary ``{"mean", "std", "values"}`` over splits / k-means seeds.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods.grace import grace
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = grace(8, hidden=8, proj_hidden=8, device="cpu", progress=False)
        >>> scores = default_evaluate(pipe, data, {"probe_epochs": 20, "clustering": False}, 0)
        >>> sorted(scores)
        ['accuracy', 'macro_f1', 'micro_f1']
    """
    from ..evaluation import evaluate_embeddings

    task = config.get("task", "node")
    if task not in ("node", "link"):
        raise ValueError(f"config key 'task' must be 'node' or 'link', got {task!r}")
    if task == "link":
        return _link_evaluate(pipeline, data, config, seed)
    z = pipeline.embed(data)
    protocol = str(config.get("probe_protocol", "gca"))
    probe_kwargs = {
        "epochs": int(config.get("probe_epochs", 3000)),
        "lr": float(config.get("probe_lr", 0.01)),
        "eval_every": int(config.get("probe_eval_every", 20)),
        "seed": seed,
    } if protocol != "grace" else {"seed": seed}
    scores = evaluate_embeddings(
        z, data, probe=True, clustering=bool(config.get("clustering", True)),
        probe_kwargs=probe_kwargs, cluster_kwargs={}, missing="skip", probe_protocol=protocol,
    )
    if config.get("reconstruction_auc", False):
        from ..evaluation.links import reconstruction_auc

        scores.update(reconstruction_auc(z, data.edge_index, data.num_nodes, seed=seed))
    return scores


def _link_evaluate(pipeline, data, config: dict, seed: int) -> dict:
    """Held-out link prediction (AUC, AP) on the split made by :func:`default_fit`; with
    ``reconstruction_auc`` also the reference's reconstruction AUC on the training edges."""
    from ..evaluation.links import link_prediction, reconstruction_auc

    split = getattr(pipeline, "link_split", None)
    if split is None:
        raise ValueError("task 'link' needs the edge split made while training: train with "
                         "gcl.methods.default_fit (or set pipeline.link_split)")
    z = pipeline.embed(split.train_data)
    scores = link_prediction(z, split)
    if config.get("reconstruction_auc", False):
        scores.update(reconstruction_auc(z, split.train_data.edge_index, data.num_nodes, seed=seed))
    return scores


def load_method_data(dataset: str, config: dict, *, root=None, seed: int = 0):
    """Load ``dataset`` as the method's config asks (feature normalisation, split seed).

    Args:
        dataset: a dataset name.
        config: the run configuration (``normalize_features``).
        root: the data root (default: ``$GCL_DATA``, else the repository's ``datasets/``).
        seed: seed of random splits (default: 0).

    Returns:
        Data: the graph with split masks.

    Example:
        >>> data = load_method_data("synthetic", {"normalize_features": True})
        >>> bool(data.x.sum(1).le(1.0 + 1e-5).all())
        True
    """
    from .. import data as gdata

    return gdata.load(dataset, root=root, split_seed=seed,
                      normalize_features=bool(config.get("normalize_features", False)))


#: Configuration keys a checkpointed run may change when it is resumed: more epochs, and how
#: much memory the loss may use for speed (the values it computes are the same).
_RESUMABLE_KEYS = ("epochs", "keep_blocks_mb")


def run(method: str, dataset: str, *, config_path=None, overrides: dict | None = None,
        runs: int = 1, seed: int = 0, device: str = "auto", data_root=None,
        progress: bool | None = None, log: Callable[[str], None] | None = print,
        save_embeddings: str | Path | None = None, checkpoint_dir: str | Path | None = None,
        checkpoint_every: int | None = None, resume: bool = False) -> dict:
    """Train and evaluate ``method`` on ``dataset`` ``runs`` times (seeds ``seed .. seed+runs-1``).

    Each run seeds everything, loads the data (random splits are drawn with the run's seed),
    builds the method's pipeline from its configuration, trains it, and evaluates the clean-graph
    embeddings with the method's protocol.

    Args:
        method: a registered method name (``gcl.methods.available_methods()``).
        dataset: a dataset name (``gcl.data.list_datasets()``).
        config_path: a YAML file layered over the shipped configuration.
        overrides: ``{key: value}`` layered last (``--epochs`` and ``--set`` on the command line).
        runs: number of independent runs (default: 1).
        seed: first seed (default: 0).
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (default: ``"auto"``).
        data_root: dataset root (default: ``GCL_DATA``, else the repo's ``datasets/``).
        progress: progress bars (default: only on a terminal).
        log: where to print one line per run (``None`` for silence).
        save_embeddings: save the last run's embeddings, labels and split masks to this file.
        checkpoint_dir: keep a resumable checkpoint of each run in ``checkpoint_dir/seed-<s>/``
            (see :class:`gcl.training.Trainer`; every method); default: none.
        checkpoint_every: checkpoint period in epochs (default: 10).
        resume: continue each run from its checkpoint when there is one; finished runs are
            only re-evaluated (default: ``False``).

    Under ``torchrun`` (an initialised process group of several ranks, see
    :func:`gcl.distributed.init_distributed`) every rank trains its share (data-parallel, see
    :class:`gcl.training.Trainer`); rank 0 alone logs, evaluates and saves embeddings, and
    its record names the backend and the number of processes (``record["distributed"]``);
    the other ranks return a record without metrics.

    Returns:
        dict: the result record (see :mod:`gcl.results`); metrics are summarised over runs,
        each run's value being its mean over splits (or k-means seeds).

    Example:
        >>> record = run("grace", "synthetic", overrides={"epochs": 2, "probe_epochs": 20},
        ...              device="cpu", log=None)
        >>> sorted(record["metrics"])[:3]
        ['accuracy', 'ari', 'cluster_acc']
    """
    from ..evaluation import summarize

    check_positive(runs, "runs", "run", integer=True)
    check_positive(seed, "seed", "run", allow_zero=True, integer=True)
    if checkpoint_every is not None:
        check_positive(checkpoint_every, "checkpoint_every", "run", integer=True)
    if resume and checkpoint_dir is None:
        raise ValueError("resume needs a checkpoint folder: pass checkpoint_dir "
                         "(gcl train --checkpoint-dir DIR --resume)")
    spec = get_method(method)
    dataset = prepare_run(spec, dataset)  # canonical name; kind check; config fallback warning
    config = load_config(spec.name, dataset, config_path, overrides)
    dev = resolve_device(device)
    evaluate = spec.evaluate or default_evaluate
    world = get_world()
    main = world is None or world.is_main
    if not main:
        log, save_embeddings = None, None

    per_run: list[dict] = []
    seeds = list(range(seed, seed + runs))
    epoch_times: list[float] = []
    peak = 0.0
    data = None
    last_z = None
    for r, s in enumerate(seeds):
        seed_everything(s)
        with world.rank_zero_first() if world is not None else contextlib.nullcontext():
            data = load_method_data(dataset, config, root=data_root, seed=s)
        module = spec.build({**config, "device": str(dev), "progress": progress}, data)
        if checkpoint_dir is not None:
            module.meta.update(method=spec.name, dataset=dataset, seed=s,
                               config={k: v for k, v in config.items()
                                       if k not in _RESUMABLE_KEYS})
            module.configure_checkpoints(Path(checkpoint_dir) / f"seed-{s}",
                                         checkpoint_every, resume)
        apply_plugins(module, config)
        callbacks = protocol_callbacks(spec.name, config, data)
        if log is not None:
            callbacks.append(CostEstimate(runs=runs - r, log=log))
        t0 = time.perf_counter()
        history = default_fit(module, data, config, callbacks)
        train_s = time.perf_counter() - t0
        resumes = history.meta.get("resumes")
        if resumes:
            # this fit resumed from a checkpoint (a fresh pipeline's history has no resumes):
            # add the training time spent before it
            train_s += float(resumes[-1].get("train_s") or 0.0)
        scores = evaluate(module, data, config, s) if main else {}
        epoch_times.extend(e["time_s"] for e in history.epochs)
        peak = max(peak, float(history.meta.get("peak_mem_mb") or 0.0))
        per_run.append({
            "seed": s,
            "metrics": {k: v["mean"] if isinstance(v, dict) else v for k, v in scores.items()},
            "metrics_detail": scores,
            "train_s": train_s,
            **({"cpu_share": history.meta["cpu_share"]} if "cpu_share" in history.meta else {}),
            "epochs": len(history.epochs),
            "loss": [e["loss"] for e in history.epochs],
            "evals": history.evals,
            "meta": dict(history.meta),
        })
        if save_embeddings is not None and r == runs - 1:
            last_z = module.embed(data).cpu()
        if log is not None:
            shown = ", ".join(f"{k}={v:.4f}" for k, v in per_run[-1]["metrics"].items()
                              if isinstance(v, float))
            log(f"[{spec.name}/{dataset}] run {r + 1}/{runs} seed={s} "
                f"train {train_s:.1f}s: {shown}")

    names = [k for k in per_run[0]["metrics"] if isinstance(per_run[0]["metrics"][k], float)]
    metrics = {k: summarize([run_["metrics"][k] for run_ in per_run]) for k in names}
    timing = {
        "train_s": statistics.fmean(run_["train_s"] for run_ in per_run),
        "epoch_s_median": statistics.median(epoch_times) if epoch_times else None,
        "peak_mem_mb": peak,
        **mean_cpu_share(per_run),
    }
    record = make_record(method=spec.name, dataset=dataset, config=config, seeds=seeds,
                         metrics=metrics, timing=timing, device=dev, runs=per_run)
    if world is not None:
        record["distributed"] = {"backend": world.backend, "world_size": world.size}
        record["device"] += f"; {world.size} processes ({world.backend})"
    if save_embeddings is not None and last_z is not None:
        record["embeddings"] = str(save_embedding_file(save_embeddings, last_z, data, seeds[-1]))
    return record


def save_embedding_file(path, z, data, seed: int) -> Path:
    """Save embeddings with labels and split masks (``torch.load(..., weights_only=True)``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"embeddings": z, "seed": seed}
    for key in ("y", "train_mask", "val_mask", "test_mask"):
        value = getattr(data, key, None)
        if value is not None:
            payload[key] = value.cpu()
    torch.save(payload, path)
    return path
