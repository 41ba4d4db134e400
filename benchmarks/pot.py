"""GRACE vs GRACE+POT: epoch time and peak memory, side by side.

    GCL_DATA=/work/shared/datasets python benchmarks/pot.py --datasets cora amazon-photo

For each dataset both pipelines are built from GRACE's shipped configuration (POT with
``kappa=0.4``, full-graph POT batch) and trained in the same process, one epoch of each in turn,
so that both see the same machine load; the median epoch time of each is reported. Peak memory
is measured in a fresh subprocess per variant (peak RSS on the CPU, peak allocation on a GPU)
above the memory held once the data is loaded and the pipeline prepared, and the persistent state
POT keeps (the two sparse adjacency boxes) is reported in bytes. The result JSON goes to
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
    data = pipe.prepare(data)
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


def time_side_by_side(dataset: str, device: str, epochs: int) -> dict:
    base, data = build(dataset, False, device)
    pot, _ = build(dataset, True, device)
    d_base, d_pot = base.prepare(data), pot.prepare(data)
    for pipe, d in ((base, d_base), (pot, d_pot)):
        pipe.fit(d, epochs=1)  # warm-up (and optimiser creation)
    times = {"grace": [], "grace+pot": []}
    for _ in range(epochs):
        for name, pipe, d in (("grace", base, d_base), ("grace+pot", pot, d_pot)):
            t0 = time.perf_counter()
            pipe.fit(d, epochs=1)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"epoch_s": times, "epoch_s_median": med,
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
    args = p.parse_args()
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
        print(f"{ds}: N={entry['num_nodes']} E={entry['num_edges']}  epoch GRACE "
              f"{med['grace']:.3f}s, GRACE+POT {med['grace+pot']:.3f}s "
              f"(+{100 * entry['overhead']:.1f}%); peak memory above setup: GRACE "
              f"{mem['grace']['extra_peak_mb']:.0f} MiB, GRACE+POT "
              f"{mem['grace+pot']['extra_peak_mb']:.0f} MiB (+{entry['extra_memory_mb']:.0f} MiB); "
              f"POT state {mem['grace+pot']['pot_state_bytes'] / 2**20:.2f} MiB", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
