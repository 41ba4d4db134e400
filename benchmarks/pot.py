"""GRACE vs GRACE+POT: epoch time and peak memory, side by side.

    GCL_DATA=/work/shared/datasets python benchmarks/pot.py --datasets cora amazon-photo

For each dataset both pipelines are built from GRACE's shipped configuration (POT with
``kappa=0.4``, full-graph POT batch) and trained in the same process, one epoch (the pipeline's
training step) of each in turn after a warm-up epoch, so that both see the same machine load; the
median epoch time of each is reported. Peak memory
is reported three ways: the distinct tensor storage autograd keeps for one step's backward pass
(deterministic; what POT adds there is its per-step extra memory), the peak in a fresh subprocess
per variant above the memory held once the data is loaded (peak RSS on the CPU, which also sees
the loading phase and the allocator's caching, so it is coarse; peak allocation on a GPU), and the
persistent state POT keeps (the two sparse adjacency boxes), in bytes. The result JSON goes to
``benchmarks/results/pot.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def build(dataset: str, pot: bool, device: str, seed: int = 0):
    from gcl.methods import get_method, load_config
    from gcl.methods.runner import apply_plugins, load_method_data

    overrides = {"pot": True, "kappa": 0.4} if pot else {}
    cfg = load_config("grace", dataset, overrides=overrides)
    torch.manual_seed(seed)
    data = load_method_data(dataset, cfg)
    pipe = get_method("grace").build({**cfg, "device": device, "progress": False}, data)
    apply_plugins(pipe, cfg)
    return pipe, data


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory_probe(dataset: str, pot: bool, device: str, epochs: int) -> dict:
    """Run in a fresh process: memory before training and peak during ``epochs`` epochs."""
    from gcl.pipeline import peak_memory_mb

    pipe, data = build(dataset, pot, device)
    data = pipe.setup(data)
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev) / 2**20
    else:
        before = _rss_mb()
    pipe.fit(data, epochs=epochs)
    peak = peak_memory_mb(dev)
    state = 0
    for reg in pipe.regularizers:
        for box in getattr(reg, "boxes", None) or ():
            state += sum(t.numel() * t.element_size() for t in (box.index, box.lower, box.upper))
            for m in box.matrices():
                state += sum(t.numel() * t.element_size() for t in (m.indices(), m.values()))
    return {"before_mb": before, "peak_mb": peak, "extra_peak_mb": peak - before,
            "pot_state_bytes": state}


def _tensor_bytes(t: torch.Tensor) -> tuple[int, int]:
    if t.is_sparse:
        return (id(t), t.indices().untyped_storage().nbytes() + t.values().untyped_storage().nbytes())
    if t.layout != torch.strided:
        return (id(t), 0)
    storage = t.untyped_storage()
    return (storage.data_ptr(), storage.nbytes())


def saved_for_backward_mb(pipe, data) -> float:
    """MiB of distinct tensor storage autograd keeps for the backward pass of one step: the
    memory a training step holds at its peak besides the parameters and the inputs."""
    seen: dict[int, int] = {}

    def pack(t):
        key, nbytes = _tensor_bytes(t)
        seen[key] = nbytes
        return t

    pipe.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = pipe.training_step(data, pipe.epoch + 1).loss
    del loss
    return sum(seen.values()) / 2**20


def time_side_by_side(dataset: str, device: str, epochs: int) -> dict:
    base, data = build(dataset, False, device)
    pot, _ = build(dataset, True, device)
    d_base, d_pot = base.setup(data), pot.setup(data)
    for pipe in (base, pot):
        pipe.optimizer = pipe.build_optimizer()
    times = {"grace": [], "grace+pot": []}
    # one warm-up epoch each, then alternate; each epoch is exactly Pipeline.fit's training step
    # (data prepared once, as in a real run, rather than per fit() call)
    for i in range(epochs + 1):
        for name, pipe, d in (("grace", base, d_base), ("grace+pot", pot, d_pot)):
            pipe.train()
            t0 = time.perf_counter()
            pipe.optimizer.zero_grad(set_to_none=True)
            loss = pipe.training_step(d, pipe.epoch + 1).loss
            loss.backward()
            pipe.optimizer.step()
            if d.x.is_cuda:
                torch.cuda.synchronize(d.x.device)
            pipe.epoch += 1
            if i > 0:
                times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    saved = {"grace": saved_for_backward_mb(base, d_base),
             "grace+pot": saved_for_backward_mb(pot, d_pot)}
    return {"epoch_s": times, "epoch_s_median": med, "saved_for_backward_mb": saved,
            "extra_saved_for_backward_mb": saved["grace+pot"] - saved["grace"],
            "overhead": med["grace+pot"] / med["grace"] - 1.0,
            "num_nodes": int(data.num_nodes), "num_edges": int(data.edge_index.size(1))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=["cora", "amazon-photo"])
    p.add_argument("--epochs", type=int, default=5, help="timed epochs per variant")
    p.add_argument("--memory-epochs", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", default=str(HERE / "results" / "pot.json"))
    p.add_argument("--memory-probe", nargs=2, metavar=("DATASET", "POT"), help=argparse.SUPPRESS)
    p.add_argument("--table-from", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.table_from:  # rewrite an older raw result file as a table
        raw = json.loads(Path(args.table_from).read_text())
        write_table(raw, Path(args.out), command="python benchmarks/pot.py")
        return
    warnings.simplefilter("ignore")
    if args.memory_probe:
        ds, pot = args.memory_probe
        print(json.dumps(memory_probe(ds, pot == "1", args.device, args.memory_epochs)))
        return

    from gcl.results import device_description

    results = {"device": device_description(args.device),
               "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
               "platform": platform.platform(), "kappa": 0.4, "datasets": {}}
    for ds in args.datasets:
        entry = time_side_by_side(ds, args.device, args.epochs)
        for variant, flag in (("grace", "0"), ("grace+pot", "1")):
            out = subprocess.run([sys.executable, __file__, "--memory-probe", ds, flag, "--device",
                                  args.device, "--memory-epochs", str(args.memory_epochs)],
                                 capture_output=True, text=True, check=True)
            entry.setdefault("memory", {})[variant] = json.loads(out.stdout.strip().splitlines()[-1])
        mem = entry["memory"]
        entry["extra_memory_mb"] = mem["grace+pot"]["extra_peak_mb"] - mem["grace"]["extra_peak_mb"]
        results["datasets"][ds] = entry
        med = entry["epoch_s_median"]
        saved = entry["saved_for_backward_mb"]
        print(f"{ds}: N={entry['num_nodes']} E={entry['num_edges']}  epoch GRACE "
              f"{med['grace']:.3f}s, GRACE+POT {med['grace+pot']:.3f}s "
              f"(+{100 * entry['overhead']:.1f}%); saved for backward: GRACE "
              f"{saved['grace']:.1f} MiB, GRACE+POT {saved['grace+pot']:.1f} MiB "
              f"(+{entry['extra_saved_for_backward_mb']:.1f} MiB); peak memory above setup: GRACE "
              f"{mem['grace']['extra_peak_mb']:.0f} MiB, GRACE+POT "
              f"{mem['grace+pot']['extra_peak_mb']:.0f} MiB (+{entry['extra_memory_mb']:.0f} MiB); "
              f"POT state {mem['grace+pot']['pot_state_bytes'] / 2**20:.2f} MiB", flush=True)
    write_table(results, Path(args.out))


def write_table(results: dict, out: Path, command: str | None = None) -> None:
    """Write the measurements as a ``gcl-bench/1`` table (raw figures kept under ``raw``)."""
    sys.path.insert(0, str(HERE))
    from _common import write_bench

    rows = []
    for ds, e in results["datasets"].items():
        med, saved = e["epoch_s_median"], e["saved_for_backward_mb"]
        rows.append([ds, e["num_nodes"], e["num_edges"], 1000 * med["grace"],
                     1000 * med["grace+pot"], 100 * e["overhead"], saved["grace"],
                     saved["grace+pot"], e["extra_saved_for_backward_mb"],
                     e["memory"]["grace+pot"]["pot_state_bytes"] / 2**20])
    write_bench(
        out.stem, title="GRACE vs GRACE+POT: epoch time and memory",
        description="Both pipelines in one process, epochs alternating, median of the timed "
                    f"epochs (κ = {results['kappa']}). Memory: the tensors autograd holds for "
                    "the backward pass, and POT's stored adjacency box.",
        columns=["dataset", "nodes", "edges", "GRACE ms/epoch", "GRACE+POT ms/epoch",
                 "POT adds %", "GRACE saved MiB", "GRACE+POT saved MiB", "POT extra MiB",
                 "POT box MiB"],
        rows=rows, device=results["device"], results_dir=out.parent, command=command,
        extra={"order": 40, "raw": results})


if __name__ == "__main__":
    main()
