"""Each method's training-step time and peak memory on the benchmark graphs.

For every registered method and dataset the method is configured for, a fresh process loads the
graph, builds the method's pipeline from its shipped configuration, runs ``--warmup`` epochs (plus
the epochs in which the method's objective trains with another loss, such as gcn-pamc's InfoNCE
warm-up; a learning-rate warm-up, such as BGRL's or G-BT's, is part of the training step and adds
nothing), then times ``--epochs`` more; the figures are the median epoch time and the peak memory of
the timed epochs above the level after loading the graph and building the model (CPU: peak resident
set size, with the C heap trimmed before the base reading and again before the timed epochs; CUDA:
the allocator's peak).

Usage:
    python benchmarks/training_step.py
    python benchmarks/training_step.py --methods grace --datasets cora amazon-photo --device cuda
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    current_rss_mb,
    peak_rss_mb,
    reset_peak_rss,
    run_worker,
    trim_heap,
    write_bench,
)

DATASETS = ["cora", "amazon-photo", "amazon-computers", "coauthor-cs", "acm"]


def loss_warmup_epochs(module) -> int:
    """Epochs in which ``module``'s objective trains with another loss before its own (0 when
    it has no such phase): the objective's ``warmup_epochs``, e.g. PamC's InfoNCE warm-up.

    Example:
        >>> from types import SimpleNamespace as NS
        >>> loss_warmup_epochs(NS(objective=NS(warmup_epochs=3))), loss_warmup_epochs(NS())
        (3, 0)
    """
    return int(getattr(getattr(module, "objective", None), "warmup_epochs", 0) or 0)


def worker(method: str, dataset: str, device: str, warmup: int, epochs: int) -> dict:
    from gcl.methods import get_method, load_config
    from gcl.methods.runner import default_fit, load_method_data, protocol_callbacks

    spec = get_method(method)
    config = load_config(method, dataset)
    data = load_method_data(dataset, config, seed=0)
    config = {**config, "device": device, "progress": False}
    pipe = spec.build(config, data)

    def fit(module, graph, cfg):  # the one loop with the method's own callbacks
        return default_fit(module, graph, cfg, protocol_callbacks(method, cfg, graph))

    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        trim_heap()
        base = current_rss_mb()
    # a phase in which the objective trains with another loss (gcn-pamc's InfoNCE epochs) is not
    # the method's training step; the objective says how long it is, since the configuration key
    # of the same name means a learning-rate warm-up for other methods (BGRL: 1000 epochs)
    fit(pipe, data, {**config, "epochs": warmup + loss_warmup_epochs(pipe)})
    # the peak counts the timed epochs only, above the level before the first epoch: what
    # training holds (optimiser state, caches) plus the step's own peak; the allocator's
    # leftovers from the warm-up are handed back first so that they neither hide nor inflate it
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    else:
        trim_heap()
        reset_peak_rss()
    t0 = time.perf_counter()
    history = fit(pipe, data, {**config, "epochs": epochs})
    total = time.perf_counter() - t0
    times = [e["time_s"] for e in getattr(history, "epochs", [])][-epochs:]
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20 - base
    else:
        peak = max(peak_rss_mb() - base, 0.0)
    return {"method": method, "dataset": dataset, "nodes": int(data.num_nodes),
            "edges": int(data.edge_index.size(1)) if getattr(data, "edge_index", None) is not None
            else None,
            "epoch_s": statistics.median(times) if times else total / epochs, "peak_mb": peak}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=None, help="default: every registered one")
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--name", default="training_step",
                        help="record name (benchmarks/results/NAME.json): another name keeps "
                             "the rows of a subset of methods apart from the full table")
    parser.add_argument("--worker", nargs=2, metavar=("METHOD", "DATASET"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.device, args.warmup, args.epochs)))
        return

    from gcl.data import dataset_status
    from gcl.methods import available_methods, get_method

    methods = args.methods or available_methods()
    rows, notes = [], []
    status = {row["name"]: row["available"] for row in dataset_status()}
    for dataset in args.datasets:
        if not status.get(dataset, False):
            why = "not in the catalog" if dataset not in status else "not at the data root"
            notes.append(f"{dataset}: {why}, skipped")
            continue
        for method in methods:
            configured = get_method(method).datasets
            if configured and dataset not in configured:
                continue
            res = run_worker(__file__, ["--worker", method, dataset, "--device", args.device,
                                        "--warmup", str(args.warmup), "--epochs", str(args.epochs)])
            if "error" in res:
                notes.append(f"{method} on {dataset}: {res['error']}")
                print(f"{method:>10} {dataset:>17}: {res['error']}", flush=True)
                continue
            rows.append([method, dataset, res["nodes"], res["edges"], 1000 * res["epoch_s"],
                         res["peak_mb"]])
            print(f"{method:>10} {dataset:>17}: {1000 * res['epoch_s']:.1f} ms/epoch, "
                  f"{res['peak_mb']:.0f} MiB", flush=True)
    title = f"Training step per method ({args.device})"
    if args.name != "training_step":
        title += ": " + ", ".join(methods)
    write_bench(
        args.name, title=title,
        description=f"Median epoch time over {args.epochs} epochs after {args.warmup} warm-up "
                    "epoch(s), with each method's shipped configuration for the dataset; peak "
                    "memory of the timed epochs above the level after loading the graph and "
                    "building the model (optimiser state included), in a fresh process.",
        columns=["method", "dataset", "nodes", "edges", "epoch ms", "peak MiB"],
        rows=rows, device=args.device, notes=notes, extra={"order": 20},
    )


if __name__ == "__main__":
    main()
