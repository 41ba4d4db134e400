"""Peak memory of one MEOW training step on ACM: sparse adjacencies vs dense N×N ones.

    python benchmarks/meow_memory.py [--dataset acm] [--out benchmarks/results/meow_memory_acm.json]

Each variant runs in a fresh process. After the graph is loaded, the baseline RSS is read; the
model and its inputs are built (sparse, or with the 2P+1 meta-path adjacencies made dense as in
the reference code), freed preprocessing memory is
returned to the system (``malloc_trim``) and the peak RSS is reset (Linux
``/proc/self/clear_refs``); then one full training step (forward, MEOW loss with its two k-means
clusterings, backward, Adam) runs. Reported: peak RSS during the step above the baseline, so the
held inputs (the adjacencies) count, and that peak minus the adjacency bytes (the rest of the
step, the same computation in both variants).
Both variants run with the default configuration (encoder stages checkpointed), then again with
``checkpoint: false`` (every activation kept), so the two effects can be told apart.
k-means restarts are set to 1 (time only; they do not change the memory picture).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import current_rss_mb, peak_rss_mb, reset_peak_rss, trim_heap, write_bench  # noqa: E402


def child(dataset: str, dense: bool, checkpoint: bool = True) -> dict:
    import torch

    from gcl.data import load
    from gcl.methods import get_method, load_config

    torch.manual_seed(0)
    graph = load(dataset)
    cfg = load_config("meow", dataset, overrides={"kmeans_nredo": 1, "checkpoint": checkpoint})
    cfg.update(device="cpu", seed=0)
    trim_heap()
    base = current_rss_mb()
    module = get_method("meow").build(cfg, graph)
    module.setup(graph)
    module.ensure_optimizer()
    inputs = module.inputs_for(graph)
    if dense:
        inp = inputs
        def dense_of(a):  # a CSR matrix, or a pair (A, Aᵀ) of them
            return (a[0] if isinstance(a, tuple) else a).to_dense()

        inp["adjs"] = [dense_of(a) for a in inp["adjs"]]
        inp["adjs_masked"] = [dense_of(a) for a in inp["adjs_masked"]]
        inp["coarse"] = sum(a for a in inp["adjs"]) / len(inp["adjs"])  # the reference's Ā
    trim_heap()  # drop what preprocessing freed; the held inputs stay
    reset_peak_rss()  # the peak now counts from here
    t0 = time.perf_counter()
    module.optimizer.zero_grad()
    step = module.training_step(graph, 1)  # one step of the one loop, by hand
    step.loss.backward()
    module.optimizer.step()
    loss = float(step.loss.detach())
    step_s = time.perf_counter() - t0
    peak = peak_rss_mb()
    def nbytes(a):
        if isinstance(a, tuple):
            return sum(nbytes(b) for b in a)
        if a.layout == torch.sparse_csr:
            return sum(t.numel() * t.element_size()
                       for t in (a.crow_indices(), a.col_indices(), a.values()))
        if a.is_sparse:
            return a._nnz() * 20
        return a.numel() * a.element_size()

    coarse = inputs["coarse"]
    adj_bytes = sum(nbytes(a) for a in [*inputs["adjs"], *inputs["adjs_masked"]])
    if not isinstance(coarse, list):
        adj_bytes += nbytes(coarse)
    return {"dense": dense, "checkpoint": checkpoint, "peak_mb": peak - base,
            "adjacency_mb": adj_bytes / 2**20, "step_s": step_s, "loss": loss,
            "num_nodes": graph.num_nodes}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dataset", default="acm")
    p.add_argument("--out", default="benchmarks/results/meow_memory_acm.json")
    p.add_argument("--child", choices=["sparse", "dense"], default=None)
    p.add_argument("--no-checkpoint", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--table-from", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.table_from:  # rewrite an older raw result file as a table
        write_table(json.loads(Path(args.table_from).read_text()), Path(args.out))
        return
    if args.child:
        print(json.dumps(child(args.dataset, args.child == "dense", not args.no_checkpoint)))
        return
    rows = []
    for variant, extra in (("sparse", []), ("dense", []), ("sparse", ["--no-checkpoint"]),
                           ("dense", ["--no-checkpoint"])):
        out = subprocess.run([sys.executable, __file__, "--dataset", args.dataset, "--child",
                              variant, *extra], capture_output=True, text=True, check=True,
                             env={**os.environ, "PYTHONWARNINGS": "ignore",
                                  # a fixed mmap threshold: every large buffer is mmapped and
                                  # returned on free, so RSS follows the live memory (glibc's
                                  # dynamic threshold would keep freed buffers in the heap)
                                  "MALLOC_MMAP_THRESHOLD_": "131072"})
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(rows[-1])
    from gcl.results import device_description, versions

    result = {"benchmark": "meow-step-peak-memory", "dataset": args.dataset, "rows": rows,
              "ratio_sparse_over_dense": rows[0]["peak_mb"] / rows[1]["peak_mb"],
              "ratio_sparse_over_dense_without_checkpointing":
                  rows[2]["peak_mb"] / rows[3]["peak_mb"],
              "device": device_description("cpu"), "versions": versions(),
              "command": " ".join(sys.argv)}
    write_table(result, Path(args.out))
    print(f"sparse/dense peak ratio: {result['ratio_sparse_over_dense']:.3f} "
          f"(without checkpointing: "
          f"{result['ratio_sparse_over_dense_without_checkpointing']:.3f})")


def write_table(result: dict, out: Path) -> None:
    """Write the measurements as a ``gcl-bench/1`` table (raw figures kept under ``raw``)."""
    rows = [["dense N×N" if r["dense"] else "sparse",
             "on" if r.get("checkpoint", False) else "off", r["num_nodes"], r["peak_mb"],
             r["adjacency_mb"], r["peak_mb"] - r["adjacency_mb"], r["loss"], r["step_s"]]
            for r in result["rows"]]
    notes = [f"sparse / dense peak ratio: {result['ratio_sparse_over_dense']:.3f}"]
    if "ratio_sparse_over_dense_without_checkpointing" in result:
        notes.append("sparse / dense peak ratio without checkpointing: "
                     f"{result['ratio_sparse_over_dense_without_checkpointing']:.3f}")
    notes.append("'rest' is the peak minus the adjacency bytes: everything else in the step "
                 "(features, activations, k-means, loss chunks, gradients, Adam), the same "
                 "computation in both variants")
    write_bench(
        out.stem, title=f"MEOW training step on {result['dataset'].upper()}: sparse vs dense "
                        "adjacencies",
        description="Peak resident memory of one MEOW step above the level before it, each "
                    "variant in its own process; the dense variant stores every meta-path "
                    "adjacency as an N×N matrix. 'checkpointing' is the encoder's "
                    "`checkpoint` option (on by default).",
        columns=["adjacencies", "checkpointing", "nodes", "step peak MiB", "adjacency MiB",
                 "rest MiB", "loss", "step s"],
        rows=rows, device=result["device"], results_dir=out.parent,
        command=result.get("command", "python benchmarks/meow_memory.py"),
        notes=notes,
        extra={"order": 50, "raw": result})


if __name__ == "__main__":
    main()
