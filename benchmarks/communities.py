"""CSGCL's one-off preprocessing: community detection + strength + CED edge weights (CPU).

For each dataset: the stages one by one (the functions ``get_communities`` calls, on one thread
as it runs them), then ``get_communities`` + ``Communities.edge_weights`` end to end from a cold
cache, in wall time and in process CPU time. Medians over ``--repeats`` runs. The detection runs
once per graph in training, so this is the whole preprocessing cost of CSGCL's communities.
Writes ``benchmarks/results/communities.json`` (``--no-write``: print only).

Usage:
    GCL_DATA=/path/to/datasets python benchmarks/communities.py --datasets amazon-computers
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gcl import data as gdata  # noqa: E402
from gcl.augment.communities import (  # noqa: E402
    _detect,
    _one_cpu_thread,
    _strength,
    clear_community_cache,
    communal_edge_weights,
    get_communities,
    undirected_edges,
)


def measure(dataset: str, *, method: str = "leiden", seed: int = 0, repeats: int = 5,
            data_root=None) -> dict:
    """Stage and end-to-end timings of the community preprocessing on one dataset."""
    data = gdata.load(dataset, root=data_root)
    n = int(data.num_nodes)
    stages = {"undirected_s": [], "detect_s": [], "strength_s": [], "edge_weights_s": [],
              "total_s": [], "total_cpu_s": []}
    for _ in range(repeats):
        with _one_cpu_thread():
            t0 = time.perf_counter()
            edges = undirected_edges(data.edge_index, n)
            t1 = time.perf_counter()
            membership = _detect(edges, n, method, seed, 1.0)
            t2 = time.perf_counter()
            strength, _, _ = _strength(edges, membership, n)
            t3 = time.perf_counter()
            weights = communal_edge_weights(data.edge_index, membership, strength)
            t4 = time.perf_counter()
        clear_community_cache()
        c0, w0 = time.process_time(), time.perf_counter()
        comms = get_communities(data, method=method, seed=seed)
        weights = comms.edge_weights(data.edge_index)
        w1, c1 = time.perf_counter(), time.process_time()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, w1 - w0, c1 - c0)):
            stages[key].append(value)
    return {
        "dataset": dataset,
        "method": method,
        "num_nodes": n,
        "num_directed_edges": int(data.edge_index.size(1)),
        "num_communities": comms.num_communities,
        "modularity": round(comms.modularity, 4),
        "num_edge_weights": int(weights.numel()),
        **{k: round(statistics.median(v), 4) for k, v in stages.items()},
        "repeats": repeats,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "torch_threads": torch.get_num_threads(),
    }


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["amazon-computers"])
    parser.add_argument("--method", default="leiden", choices=["leiden", "louvain"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)

    results = []
    for name in args.datasets:
        res = measure(name, method=args.method, seed=args.seed, repeats=args.repeats,
                      data_root=args.data_root)
        print(json.dumps(res))
        results.append(res)
    if not args.no_write:
        from _common import write_bench

        rows = [[r["dataset"], r["num_nodes"], r["num_directed_edges"], r["num_communities"],
                 r["modularity"], r["undirected_s"], r["detect_s"], r["strength_s"],
                 r["edge_weights_s"], r["total_s"], r["total_cpu_s"], r["load_average_1min"]]
                for r in results]
        write_bench(
            "communities",
            title="Community preprocessing (CSGCL)",
            description=("Seeded modularity Leiden (igraph, to convergence) + community strength + "
                         "CED edge weights, once per graph; seconds, median of "
                         f"{args.repeats} runs. 'total' is get_communities + edge_weights from a "
                         "cold cache (wall and process CPU time)."),
            columns=["dataset", "nodes", "directed edges", "communities", "modularity",
                     "undirected (s)", "detect (s)", "strength (s)", "edge weights (s)",
                     "total wall (s)", "total CPU (s)", "load avg"],
            rows=rows, device="cpu",
            notes=["The machine is shared: wall times grow with the load average (last column); "
                   "the CPU time is the cost of the work itself."],
        )
    return results


if __name__ == "__main__":
    main()
