"""Run a method's protocol on a dataset for several seeds and produce a result record."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .._utils import check_positive, resolve_device, seed_everything
from ..results import make_record
from .base import get_method, load_config

__all__ = ["run", "default_evaluate", "default_fit", "load_method_data", "apply_plugins"]


def apply_plugins(pipeline, config: dict):
    """Apply the method-independent options of ``config`` to a built pipeline: ``pot: true``
    adds :class:`gcl.objectives.POT` (``kappa``, ``pot_batch``, ``pot_sound``), for any recipe with
    a 2-layer GCN encoder and edge-dropping views. Returns the pipeline.

    Example:
        >>> from gcl.methods.grace import grace
        >>> pipe = apply_plugins(grace(8, hidden=8, proj_hidden=8, device="cpu"),
        ...                      {"pot": True, "kappa": 0.4})
        >>> pipe.regularizers[0]
        POT(kappa=0.4, pot_batch=None, sound=False)
    """
    if config.get("pot"):
        from ..objectives.pot import add_pot

        add_pot(pipeline, kappa=float(config.get("kappa", 0.5)),
                pot_batch=config.get("pot_batch"), sound=bool(config.get("pot_sound", False)))
    return pipeline


def default_fit(pipeline, data, config: dict):
    """Train ``pipeline`` on ``data`` for ``config["epochs"]`` epochs."""
    return pipeline.fit(data, epochs=int(config["epochs"]))


def default_evaluate(pipeline, data, config: dict, seed: int) -> dict:
    """The GRACE/GCA protocol: a torch linear probe on the frozen clean-graph embeddings (test
    scores at the best validation accuracy) and k-means clustering (NMI, ARI, ACC, F1).

    Returns:
        dict: metric name -> summary ``{"mean", "std", "values"}`` over splits / k-means seeds.
    """
    from ..evaluation import evaluate_embeddings

    z = pipeline.embed(data)
    probe_kwargs = {
        "epochs": int(config.get("probe_epochs", 3000)),
        "lr": float(config.get("probe_lr", 0.01)),
        "eval_every": int(config.get("probe_eval_every", 20)),
        "seed": seed,
    }
    return evaluate_embeddings(
        z, data, probe=True, clustering=bool(config.get("clustering", True)),
        probe_kwargs=probe_kwargs, cluster_kwargs={},
    )


def load_method_data(dataset: str, config: dict, *, root=None, seed: int = 0):
    """Load ``dataset`` as the method's config asks (feature normalisation, split seed)."""
    from .. import data as gdata

    return gdata.load(dataset, root=root, split_seed=seed,
                      normalize_features=bool(config.get("normalize_features", False)))


def run(method: str, dataset: str, *, config_path=None, overrides: dict | None = None,
        runs: int = 1, seed: int = 0, device: str = "auto", data_root=None,
        progress: bool | None = None, log: Callable[[str], None] | None = print,
        save_embeddings: str | Path | None = None) -> dict:
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
    spec = get_method(method)
    config = load_config(spec.name, dataset, config_path, overrides)
    dev = resolve_device(device)
    fit = spec.fit or default_fit
    evaluate = spec.evaluate or default_evaluate

    per_run: list[dict] = []
    seeds = list(range(seed, seed + runs))
    epoch_times: list[float] = []
    peak = 0.0
    data = None
    last_z = None
    for r, s in enumerate(seeds):
        seed_everything(s)
        data = load_method_data(dataset, config, root=data_root, seed=s)
        pipeline = spec.build({**config, "device": str(dev), "progress": progress}, data)
        apply_plugins(pipeline, config)
        t0 = time.perf_counter()
        history = fit(pipeline, data, config)
        train_s = time.perf_counter() - t0
        scores = evaluate(pipeline, data, config, s)
        epoch_times.extend(e["time_s"] for e in history.epochs)
        peak = max(peak, float(history.meta.get("peak_mem_mb") or 0.0))
        per_run.append({
            "seed": s,
            "metrics": {k: v["mean"] if isinstance(v, dict) else v for k, v in scores.items()},
            "metrics_detail": scores,
            "train_s": train_s,
            "epochs": len(history.epochs),
            "loss": [e["loss"] for e in history.epochs],
            "evals": history.evals,
        })
        if save_embeddings is not None and r == runs - 1:
            last_z = pipeline.embed(data).cpu()
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
    }
    record = make_record(method=spec.name, dataset=dataset, config=config, seeds=seeds,
                         metrics=metrics, timing=timing, device=dev, runs=per_run)
    if save_embeddings is not None and last_z is not None:
        save_embedding_file(save_embeddings, last_z, data, seeds[-1])
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
