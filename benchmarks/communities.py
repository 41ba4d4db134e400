"""Time community detection + strength + CED edge weights on a real graph (CPU).

Usage:
    GCL_DATA=/path/to/datasets python benchmarks/communities.py --dataset amazon-computers

Prints one JSON line: the dataset, graph sizes, the number of communities, the modularity, and
the wall time of each stage (median of ``--repeats`` runs) and the end-to-end cold time of
``get_communities`` + ``edge_weights`` (cache cleared; wall and process CPU time). The detection
runs once per graph in training, so this is the whole one-off preprocessing cost of CSGCL's
communities.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import torch

from gcl import data as gdata
from gcl.augment.communities import (
    _detect,
    _one_cpu_thread,
    _strength,
    clear_community_cache,
    communal_edge_weights,
    get_communities,
    undirected_edges,
)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="amazon-computers")
    parser.add_argument("--method", default="leiden", choices=["leiden", "louvain"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--out", default=None, help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    data = gdata.load(args.dataset, root=args.data_root)
    n = int(data.num_nodes)
    stages = {"undirected_s": [], "detect_s": [], "strength_s": [], "edge_weights_s": [],
              "total_s": [], "total_cpu_s": []}
    for _ in range(args.repeats):
        # Stage by stage (the same functions get_communities calls, on one thread as it does) ...
        ctx = _one_cpu_thread()
        ctx.__enter__()
        t0 = time.perf_counter()
        edges = undirected_edges(data.edge_index, n)
        t1 = time.perf_counter()
        membership = _detect(edges, n, args.method, args.seed, 1.0)
        t2 = time.perf_counter()
        strength, _, _ = _strength(edges, membership, n)
        t3 = time.perf_counter()
        weights = communal_edge_weights(data.edge_index, membership, strength)
        t4 = time.perf_counter()
        ctx.__exit__(None, None, None)
        # ... and end to end, cold: what a training run pays once.
        clear_community_cache()
        c0, w0 = time.process_time(), time.perf_counter()
        comms = get_communities(data, method=args.method, seed=args.seed)
        weights = comms.edge_weights(data.edge_index)
        w1, c1 = time.perf_counter(), time.process_time()
        for key, value in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, w1 - w0, c1 - c0)):
            stages[key].append(value)
    result = {
        "dataset": args.dataset,
        "method": args.method,
        "num_nodes": int(data.num_nodes),
        "num_directed_edges": int(data.edge_index.size(1)),
        "num_communities": int(strength.numel()),
        "modularity": round(float(strength.double().sum()), 4),
        "num_edge_weights": int(weights.numel()),
        **{k: round(statistics.median(v), 4) for k, v in stages.items()},
        "repeats": args.repeats,
        "load_average_1min": round(os.getloadavg()[0], 2),
        "device": f"cpu ({torch.get_num_threads()} threads, {platform.machine()})",
    }
    print(json.dumps(result))
    if args.out:
        from gcl.results import write_json

        write_json(result, args.out)
    return result


if __name__ == "__main__":
    main()
