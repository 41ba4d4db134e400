"""PathSim top-k under the three tie orders: how many kept edges join two nodes of the same class.

    python benchmarks/pathsim_ties.py [--datasets acm dblp aminer imdb] [--methods meow adameow]

For every meta-path of each dataset, with the ``nei_max`` of each method's configuration, the
top-k graph of :func:`gcl.data.metapath_ops.pathsim_topk` is built with ``ties="index"`` (the
default), ``"random"`` (seed 0) and ``"reference"`` (numpy's argsort, as the reference code),
and the share of its kept off-diagonal entries whose two nodes have the same label is printed,
with the number of rows that keep the node itself. The ``reference`` order depends on numpy's
sort implementation, hence the numpy version in the notes; the CPU is in the device field.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def same_class_share(top, y: np.ndarray) -> tuple[float, int]:
    m = top.tocoo()
    off = m.row != m.col
    return float((y[m.row[off]] == y[m.col[off]]).mean()), int((~off).sum())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", nargs="+", default=["acm", "dblp", "aminer", "imdb"])
    parser.add_argument("--methods", nargs="+", default=["meow", "adameow"])
    parser.add_argument("--root", default=None, help="data root (default: $GCL_DATA)")
    args = parser.parse_args(argv)

    from _common import write_bench

    from gcl.augment.metapath import per_metapath as _per_path
    from gcl.data.hetero import load_hetero, torch_to_scipy
    from gcl.data.metapath_ops import TIES, pathsim_topk
    from gcl.methods import load_config

    rows = []
    for name in args.datasets:
        graph = load_hetero(name, args.root)
        y = graph.y.numpy()
        seen = set()
        for method in args.methods:
            ks = _per_path(load_config(method, name)["nei_max"], graph.num_metapaths, "nei_max")
            for path, adj, k in zip(graph.metapaths, graph.adjs, ks):
                if (path, int(k)) in seen:
                    continue
                seen.add((path, int(k)))
                m = torch_to_scipy(adj)
                row = [name, path, int(k), int(m.nnz), None]
                for ties in TIES:
                    t0 = time.perf_counter()
                    top = pathsim_topk(m, int(k), ties=ties, rng=np.random.default_rng(0))
                    share, self_rows = same_class_share(top, y)
                    if ties == "index":
                        row[4] = int(top.nnz)
                    row += [round(100 * share, 1), self_rows]
                    print(f"{name} {path} k={k} {ties}: {100 * share:.1f}% same class, "
                          f"self kept in {self_rows} rows ({time.perf_counter() - t0:.1f} s)",
                          flush=True)
                rows.append(row)
    columns = ["dataset", "meta-path", "top-k", "entries", "kept"]
    for ties in TIES:
        columns += [f"same class % ({ties})", f"self kept ({ties})"]
    write_bench(
        "pathsim_ties", title="PathSim top-k: tie order and same-class edges",
        description=("Share of the kept off-diagonal entries of each meta-path's PathSim top-k "
                     "graph that join two nodes of the same class, and the rows that keep the "
                     "node itself, for the three tie orders of `pathsim_topk` (`index`: the "
                     "default, `random`: seed 0, `reference`: numpy's argsort as the reference "
                     "code). Top-k values are those of the MEOW and AdaMEOW configurations."),
        columns=columns, rows=rows, device="cpu",
        notes=[f"numpy {np.__version__}: the `reference` order depends on numpy's sort "
               "implementation (version and CPU SIMD support); other rules are portable."])


if __name__ == "__main__":
    main()
