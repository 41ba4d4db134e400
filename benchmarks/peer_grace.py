"""GRACE in gcl against an independent plain implementation, same process, data and settings.

The peer is a straightforward GRACE written here in plain PyTorch + PyG the way the paper's
code computes it: dense N×N similarity matrices, ``exp`` of every entry, and the loss
``-log(between_ii / (Σ_j refl_ij + Σ_j between_ij − refl_ii))`` for both views. PyGCL
(``pip install PyGCL``) would be the natural peer, but version 0.1.2 imports ``dgl``,
``torch_sparse`` and ``torch_scatter`` at import time, none of which installs from a wheel here.

Both sides use the same graph, encoder size, augmentation rates, temperature, learning rate and
seed; each side runs in a fresh process per dataset: ``--warmup`` epochs, then ``--epochs`` timed
epochs; peak memory is the peak resident set size of the timed epochs above the level after
loading the graph (the C heap trimmed before each reading, the kernel's peak mark reset before
the timed epochs).

Usage:
    python benchmarks/peer_grace.py --datasets cora amazon-photo
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    current_rss_mb,
    peak_rss_mb,
    reset_peak_rss,
    run_worker,
    trim_heap,
    write_bench,
)


class PeerGRACE(nn.Module):
    """GRACE as the paper's code computes it (dense similarities), used only as a yardstick."""

    def __init__(self, in_dim: int, hidden: int, proj: int, tau: float) -> None:
        super().__init__()
        from torch_geometric.nn import GCNConv

        self.conv1, self.conv2 = GCNConv(in_dim, 2 * hidden), GCNConv(2 * hidden, hidden)
        self.fc1, self.fc2 = nn.Linear(hidden, proj), nn.Linear(proj, hidden)
        self.tau = tau

    def encode(self, x, edge_index):
        return F.relu(self.conv2(F.relu(self.conv1(x, edge_index)), edge_index))

    def project(self, z):
        return self.fc2(F.elu(self.fc1(z)))

    def semi_loss(self, z1, z2):
        z1, z2 = F.normalize(z1), F.normalize(z2)
        refl = torch.exp(z1 @ z1.t() / self.tau)
        between = torch.exp(z1 @ z2.t() / self.tau)
        return -torch.log(between.diag() / (refl.sum(1) + between.sum(1) - refl.diag()))

    def loss(self, h1, h2):
        return 0.5 * (self.semi_loss(h1, h2) + self.semi_loss(h2, h1)).mean()


def _views(x, edge_index, pe, pf, gen):
    keep = torch.rand(edge_index.size(1), generator=gen) >= pe
    cols = torch.rand(x.size(1), generator=gen) >= pf
    return x * cols.to(x.dtype), edge_index[:, keep]


def peer_epochs(data, cfg, epochs, seed):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = PeerGRACE(data.num_features, cfg["hidden"], cfg["proj_hidden"], cfg["tau"])
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        opt.zero_grad()
        x1, e1 = _views(data.x, data.edge_index, cfg["drop_edge"][0], cfg["drop_feature"][0], gen)
        x2, e2 = _views(data.x, data.edge_index, cfg["drop_edge"][1], cfg["drop_feature"][1], gen)
        h1 = model.project(model.encode(x1, e1))
        h2 = model.project(model.encode(x2, e2))
        loss = model.loss(h1, h2)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return times, float(loss.detach())


def gcl_epochs(data, cfg, epochs, seed):
    from gcl.methods import get_method

    pipe = get_method("grace").build({**cfg, "device": "cpu", "seed": seed, "progress": False},
                                     data)
    history = pipe.fit(data, epochs=epochs)
    return [e["time_s"] for e in history.epochs], history.losses[-1]


def worker(dataset: str, impl: str, warmup: int, epochs: int, seed: int) -> dict:
    """One side on one dataset in this (fresh) process: median epoch time and the peak memory
    of the timed epochs above the level after loading the graph."""
    from gcl.methods import load_config
    from gcl.methods.runner import load_method_data

    cfg = load_config("grace", dataset)
    data = load_method_data(dataset, cfg, seed=seed)
    run = gcl_epochs if impl == "gcl" else peer_epochs
    trim_heap()
    base = current_rss_mb()
    run(data, cfg, warmup, seed)
    trim_heap()  # the warm-up's leftovers in the allocator neither hide nor inflate the peak
    reset_peak_rss()
    times, loss = run(data, cfg, epochs, seed)
    return {"nodes": int(data.num_nodes), "epoch_s": statistics.median(times),
            "peak_mb": max(peak_rss_mb() - base, 0.0), "loss": loss}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["cora", "amazon-photo"])
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", nargs=2, metavar=("DATASET", "IMPL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(*args.worker, args.warmup, args.epochs, args.seed)))
        return

    rows, notes = [], []
    for dataset in args.datasets:
        measured = {}
        for name in ("gcl", "peer"):
            res = run_worker(__file__, ["--worker", dataset, name, "--warmup", str(args.warmup),
                                        "--epochs", str(args.epochs), "--seed", str(args.seed)])
            if "error" in res:
                notes.append(f"{name} on {dataset}: {res['error']}")
                print(f"{dataset:>14} {name:>5}: {res['error']}", flush=True)
                continue
            measured[name] = res
            print(f"{dataset:>14} {name:>5}: {1000 * res['epoch_s']:.1f} ms/epoch, "
                  f"{res['peak_mb']:.0f} MiB peak, loss {res['loss']:.4f}", flush=True)
        if len(measured) < 2:
            continue
        g, p = measured["gcl"], measured["peer"]
        rows.append([dataset, g["nodes"], 1000 * g["epoch_s"], 1000 * p["epoch_s"],
                     p["epoch_s"] / g["epoch_s"], g["peak_mb"], p["peak_mb"],
                     p["peak_mb"] / max(g["peak_mb"], 1e-9)])
    write_bench(
        "peer_grace", title="GRACE: gcl vs a plain dense implementation (same data and settings)",
        description=f"Median of {args.epochs} epochs after {args.warmup} warm-up epoch(s) with "
                    "GRACE's shipped configuration for each dataset. Ratios > 1 mean gcl is "
                    "faster / leaner.",
        columns=["dataset", "nodes", "gcl ms/epoch", "peer ms/epoch", "time ratio (peer/gcl)",
                 "gcl peak MiB", "peer peak MiB", "memory ratio (peer/gcl)"],
        rows=rows, device="cpu", extra={"order": 30},
        notes=["The peer is written in the benchmark (see its docstring): PyGCL 0.1.2 imports "
               "dgl, torch_sparse and torch_scatter at import time and does not install here.",
               *notes],
    )


if __name__ == "__main__":
    main()
