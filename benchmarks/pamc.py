"""PamC's meta-node loss vs. the dense node-pair baseline: step time and peak memory.

    python benchmarks/pamc.py     # sdcn-cite, synthetic 10k, Amazon-Computers, Coauthor-CS, 100k
    python benchmarks/pamc.py --graphs sdcn-cite synthetic:30000 --device cuda

Each (graph, variant) is measured in a fresh subprocess, so the peak memory of one does not
hide another's. Two timings, both medians over ``--repeats`` steps after one warm-up step:

* ``loss``: the contrastive loss alone, forward + backward with respect to embeddings
  ``z [N, 10]`` (the part PamC changes; the encoder is the same for both variants);
* ``step`` (graphs with ``--full-step``): a whole training step of the PamC model (MLP
  d-500-500-2000-10, Student-t head, KL + contrastive loss, Adam).

Memory is the subprocess's peak resident memory minus its resident memory just before the first
step (on a GPU: ``torch.cuda.max_memory_allocated`` after a reset). The node-pair baseline
materialises several ``N x N`` buffers; when their estimated size exceeds ``--max-dense-gb`` it
is not run and is recorded as ``not run`` with the estimate, to keep shared machines alive; a
run that fails with an out-of-memory error is recorded as ``oom``.

Writes ``benchmarks/results/pamc.json`` (format ``gcl-bench/1``); ``python benchmarks/report.py``
renders it into ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DENSE_BUFFERS = 5  # sims, exp/logsumexp, their gradients, the diagonal mask: a rough count

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import current_rss_mb, peak_rss_mb, reset_peak_rss  # noqa: E402


def _load(graph: str, data_root):
    import gcl

    if graph.startswith("synthetic:"):
        n = int(graph.split(":")[1])
        return gcl.data.synthetic(num_nodes=n, num_classes=10, num_features=64,
                                  avg_degree=10, seed=0)
    return gcl.data.load(graph, root=data_root)


def measure(graph: str, variant: str, order: int, repeats: int, full_step: bool, device: str,
            data_root) -> dict:
    """Measure one (graph, variant) in this process; returns a dict of results."""
    import torch

    from gcl.methods.pamc import pamc
    from gcl.objectives.pamc import influence_matrix, pamc_loss

    torch.manual_seed(0)
    dev = torch.device(device)
    data = _load(graph, data_root)
    n, k = data.num_nodes, int(data.y.max()) + 1
    t0 = time.perf_counter()
    target = influence_matrix(data.edge_index.to(dev), n, order)
    precompute_s = time.perf_counter() - t0
    z = torch.randn(n, 10, device=dev, requires_grad=True)
    labels = torch.randint(0, k, (n,), device=dev)
    negatives = "meta_node" if variant == "pamc" else "node_pair"

    def loss_step():
        loss = pamc_loss(z, target, labels, num_classes=k, temperature=2.0, negatives=negatives)
        loss.backward()
        z.grad = None

    out = {"graph": graph, "variant": variant, "num_nodes": n, "num_classes": k,
           "order": order, "nnz_target": int(target._nnz()), "precompute_s": precompute_s}
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        reset_peak_rss()
        base = current_rss_mb()

    def timed(fn) -> float:
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            fn()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    out["loss_s"] = timed(loss_step)
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
            else peak_rss_mb())
    out["loss_peak_mb"] = peak - base
    if full_step:
        module = pamc(data.num_features, k, negatives=negatives, order=order, device=device)
        graph = data.to(dev)
        module.objective.target = target  # the set-up's influence matrix, computed above
        module.objective.initialized.fill_(True)  # random centroids: the step costs the same
        module.ensure_optimizer()
        opt = module.optimizer

        def train_step():  # one step of the one loop, by hand (no pretraining here)
            opt.zero_grad()
            module.training_step(graph, 1).loss.backward()
            opt.step()

        if dev.type == "cpu":
            reset_peak_rss()
        out["step_s"] = timed(train_step)
        peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
                else peak_rss_mb())
        out["step_peak_mb"] = peak - base
    return out


def _child(args) -> int:
    result = measure(args.graph, args.variant, args.order, args.repeats, args.full_step,
                     args.device, args.data_root)
    print("RESULT " + json.dumps(result))
    return 0


def _run_child(graph, variant, args) -> dict:
    order = args.order_cite if graph == "sdcn-cite" else args.order
    cmd = [sys.executable, __file__, "--child", "--graph", graph, "--variant", variant,
           "--order", str(order), "--repeats", str(args.repeats), "--device", args.device]
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    if graph in args.full_step_graphs:
        cmd.append("--full-step")
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    oom = proc.returncode == -9 or any(
        "out of memory" in t.lower() or "memoryerror" in t.lower() for t in tail)
    return {"graph": graph, "variant": variant, "status": "oom" if oom else "failed",
            "error": " | ".join(tail), "returncode": proc.returncode}


def _num_nodes(graph: str, data_root) -> int:
    if graph.startswith("synthetic:"):
        return int(graph.split(":")[1])
    from gcl.data import dataset_entry

    return int(dataset_entry(graph)["stats"]["num_nodes"])


def render(rows: list[dict], meta: dict) -> str:
    lines = ["# PamC vs. node-pair negatives: step time and memory", "",
             f"Device: {meta['device']}. Command: `{meta['command']}`. Times are medians over "
             f"{meta['repeats']} steps after a warm-up; memory is the peak increase over the "
             "resident memory before the first step (CPU: process RSS). `loss` is the "
             "contrastive loss forward + backward w.r.t. z [N, 10]; `step` is a full PamC "
             "training step (MLP d-500-500-2000-10, KL + loss, Adam). Node-pair runs whose "
             f"N x N buffers would exceed {meta['max_dense_gb']} GB (estimated) are not run "
             "and shown as NOT RUN.", "",
             "| graph | N | r | nnz(S) | variant | loss ms | loss peak MB | step ms | "
             "step peak MB |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r.get("status"):
            lines.append(f"| {r['graph']} | {r.get('num_nodes', '')} | | | {r['variant']} | "
                         f"{r['status'].upper()} | {r.get('error', '')[:80]} | | |")
            continue

        def f(key, scale=1.0, row=r):
            return f"{row[key] * scale:.1f}" if key in row else "–"

        lines.append(f"| {r['graph']} | {r['num_nodes']} | {r['order']} | {r['nnz_target']} | "
                     f"{r['variant']} | {f('loss_s', 1000)} | {f('loss_peak_mb')} | "
                     f"{f('step_s', 1000)} | {f('step_peak_mb')} |")
    lines += ["", "Ratios (node-pair / PamC):", ""]
    by = {(r["graph"], r["variant"]): r for r in rows}
    for graph in dict.fromkeys(r["graph"] for r in rows):
        a, b = by.get((graph, "pamc")), by.get((graph, "node_pair"))
        if not a or not b or a.get("status"):
            continue
        if b.get("status"):
            lines.append(f"- {graph}: node-pair {b['status'].upper()}; PamC loss "
                         f"{1000 * a['loss_s']:.1f} ms, {a['loss_peak_mb']:.1f} MB")
            continue
        parts = [f"loss time {b['loss_s'] / a['loss_s']:.1f}x",
                 f"loss memory {b['loss_peak_mb'] / max(a['loss_peak_mb'], 1e-3):.1f}x"]
        if "step_s" in a and "step_s" in b:
            parts.append(f"step time {b['step_s'] / a['step_s']:.2f}x")
            parts.append(f"step memory {b['step_peak_mb'] / max(a['step_peak_mb'], 1e-3):.1f}x")
        lines.append(f"- {graph}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


BENCH_FORMAT = "gcl-bench/1"


def bench_record(rows: list[dict], meta: dict) -> dict:
    """The measurements as one ``gcl-bench/1`` table (``benchmarks/results/pamc.json``), the
    format ``python benchmarks/report.py`` renders into ``docs/benchmarks.md``."""
    from gcl.results import versions

    columns = ["graph", "N", "r", "nnz(S)", "variant", "loss ms", "loss peak MB", "step ms",
               "step peak MB"]
    table = []
    for r in rows:
        if r.get("status"):
            table.append([r["graph"], r.get("num_nodes"), None, None, r["variant"],
                          r["status"].upper(), r.get("error", ""), None, None])
            continue
        table.append([r["graph"], r["num_nodes"], r["order"], r["nnz_target"], r["variant"],
                      round(1000 * r["loss_s"], 1), round(r["loss_peak_mb"], 1),
                      round(1000 * r["step_s"], 1) if "step_s" in r else None,
                      round(r["step_peak_mb"], 1) if "step_peak_mb" in r else None])
    ratios = [line[2:] for line in render(rows, meta).splitlines() if line.startswith("- ")]
    return {
        "format": BENCH_FORMAT, "name": "pamc",
        "title": "PamC meta-node negatives vs. dense node-pair negatives",
        "description": (
            f"Medians over {meta['repeats']} steps after a warm-up, each (graph, variant) in a "
            "fresh process. 'loss': the contrastive loss forward + backward w.r.t. z [N, 10] "
            "(the part PamC changes); 'step': a full PamC training step (MLP "
            "d-500-500-2000-10, KL + loss, Adam). Memory: peak increase over the resident "
            "memory before the first step (CPU: process RSS, peak mark reset after loading). "
            f"Node-pair runs whose N x N buffers would exceed {meta['max_dense_gb']} GB "
            "(estimated) are not run."),
        "columns": columns, "rows": table,
        "notes": ["ratios node-pair / PamC: " + "; ".join(ratios)],
        "device": meta["device"], "versions": versions(), "command": meta["command"],
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "raw": rows,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--graphs", nargs="+",
                   default=["sdcn-cite", "synthetic:10000", "amazon-computers", "coauthor-cs",
                            "synthetic:100000"])
    p.add_argument("--full-step-graphs", nargs="*", default=["sdcn-cite"],
                   help="graphs where the whole training step is timed as well")
    p.add_argument("--order", type=int, default=1, help="r of S on the other graphs")
    p.add_argument("--order-cite", type=int, default=3, help="r of S on sdcn-cite (PamC's)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", default=None)
    p.add_argument("--max-dense-gb", type=float, default=4.0)
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "pamc.json"))
    p.add_argument("--from-raw", default=None, metavar="FILE.json",
                   help="re-write --out from an earlier run's raw rows, without measuring")
    # internal: one measurement in a subprocess
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--graph", help=argparse.SUPPRESS)
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--full-step", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)

    from gcl.results import device_description, write_json

    if args.from_raw:
        raw = json.loads(Path(args.from_raw).read_text())
        record = bench_record(raw.get("raw") or raw["rows"], raw["meta"])
        record["command"] = raw["meta"]["command"]
        write_json(record, args.out)
        print(render(raw.get("raw") or raw["rows"], raw["meta"]))
        return 0
    rows = []
    for graph in args.graphs:
        for variant in ("pamc", "node_pair"):
            n = _num_nodes(graph, args.data_root)
            need_gb = DENSE_BUFFERS * n * n * 4 / 1e9
            if variant == "node_pair" and need_gb > args.max_dense_gb:
                row = {"graph": graph, "variant": variant, "num_nodes": n, "status": "not run",
                       "error": f"~{need_gb:.0f} GB of N x N buffers estimated > "
                                f"{args.max_dense_gb} GB"}
            else:
                row = _run_child(graph, variant, args)
            print(json.dumps(row), flush=True)
            rows.append(row)
    meta = {"device": device_description(args.device), "repeats": args.repeats,
            "max_dense_gb": args.max_dense_gb,
            "command": "python benchmarks/pamc.py " + " ".join(sys.argv[1:])}
    record = bench_record(rows, meta)
    record["meta"] = meta
    write_json(record, args.out)
    print(render(rows, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())
