"""Data-parallel GRACE: one process against several, each rank computing its share of the loss.

For every configuration ``P`` processes x ``T`` threads (CPU) or ``P`` GPUs, torchrun starts
``P`` ranks of this script; each loads the graph, builds GRACE from its shipped configuration,
trains ``--warmup`` epochs, then times ``--epochs`` epochs (the median epoch) and, on the
trained model's two views, the loss's forward and backward pass alone (the median of
``--loss-repeats``; with several ranks, the rank's share of the sharded loss with its
all-reduces). The peak memory of the timed epochs above the level after building the model is
read on every rank (CPU: peak resident set size; CUDA: the allocator's peak). Each
configuration runs ``--repeats`` times in fresh processes and the table shows the medians (the
machine may be shared: repeats and medians keep a one-off stall out of the figures).

Usage:
    python benchmarks/distributed.py          # CPU: 1 x 2 threads, 2 x 1 thread, 1 x 1 thread
    python benchmarks/distributed.py --device cuda --configs 1x1 8x1   # 1 GPU vs 8 GPUs
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import current_rss_mb, peak_rss_mb, reset_peak_rss, trim_heap, write_bench  # noqa: E402


def worker(dataset: str, device: str, warmup: int, epochs: int, loss_repeats: int) -> None:
    """One rank: train, time, measure; rank 0 prints one JSON line with every rank's figures."""
    from gcl.distributed import init_distributed, using_world
    from gcl.methods import get_method, load_config
    from gcl.methods.runner import load_method_data
    from gcl.objectives import info_nce

    world, dev = init_distributed(device)
    dev = torch.device(dev)
    config = load_config("grace", dataset)
    data = load_method_data(dataset, config, seed=0)
    torch.manual_seed(0)
    pipe = get_method("grace").build({**config, "device": str(dev), "progress": False}, data)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    if dev.type == "cuda":
        sync()
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        trim_heap()
        base = current_rss_mb()
    pipe.fit(data, epochs=warmup)
    if dev.type == "cuda":
        sync()
        torch.cuda.reset_peak_memory_stats(dev)
    else:
        trim_heap()
        reset_peak_rss()
    history = pipe.fit(data, epochs=epochs)
    epoch_s = statistics.median(e["time_s"] for e in history.epochs[-epochs:])
    peak = (torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda"
            else peak_rss_mb()) - base

    graph = data.to(dev)
    with torch.no_grad():
        views = (pipe.augment1(graph), pipe.augment2(graph))
        h = [pipe.head(pipe.encode(v)) for v in views]
    h1, h2 = (t.detach().requires_grad_() for t in h)
    times = []
    for k in range(loss_repeats + 1):
        sync()
        t0 = time.perf_counter()
        with using_world(world):
            loss = info_nce(h1, h2, pipe.objective.tau, block_size=pipe.objective.block_size)
        loss.backward()
        sync()
        if k:  # the first pass warms up
            times.append(time.perf_counter() - t0)
    loss_s = statistics.median(times)
    peaks = world.all_gather_floats(peak, _small_device(world)) if world else [peak]
    losses = world.all_gather_floats(loss_s, _small_device(world)) if world else [loss_s]
    if world is None or world.is_main:
        print(json.dumps({"processes": 1 if world is None else world.size,
                          "threads": torch.get_num_threads(), "nodes": int(data.num_nodes),
                          "epoch_s": epoch_s, "loss_s": max(losses), "peak_mb": peaks,
                          "device": str(dev)}), flush=True)
    if world is not None:
        import torch.distributed as dist

        dist.destroy_process_group()


def _small_device(world):
    return torch.device("cuda", torch.cuda.current_device()) if world.backend == "nccl" \
        else torch.device("cpu")


def launch(nproc: int, threads: int, dataset: str, device: str, warmup: int, epochs: int,
           loss_repeats: int) -> dict:
    """Run ``nproc`` ranks of :func:`worker` under torchrun with ``threads`` torch threads each;
    returns rank 0's figures (or ``{"error": ...}``)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           str(nproc), __file__, "--worker", "--datasets", dataset, "--device", device,
           "--warmup", str(warmup), "--epochs", str(epochs), "--loss-repeats", str(loss_repeats)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


def compare(configs: list[tuple[int, int]], *, device: str = "cpu",
            dataset: str = "amazon-photo", repeats: int = 3, warmup: int = 1, epochs: int = 3,
            loss_repeats: int = 3) -> tuple[list[list], list[str]]:
    """Time one GRACE epoch in each configuration ``(processes, threads per process)``
    (``repeats`` fresh launches each, interleaved); returns the table rows (speed-up against
    the first configuration) and notes. On GPUs each rank has its own GPU and the threads
    are ignored. The hook for a GPU check: ``compare([(1, 1), (torch.cuda.device_count(),
    1)], device="cuda", repeats=1)``."""
    runs: dict[tuple[int, int], list[dict]] = {c: [] for c in configs}
    notes = []
    for r in range(repeats):
        for procs, threads in configs:
            res = launch(procs, threads, dataset, device, warmup, epochs, loss_repeats)
            if "error" in res:
                notes.append(f"{procs} x {threads}, repeat {r + 1}: {res['error']}")
            else:
                runs[(procs, threads)].append(res)
            print(f"repeat {r + 1}, {procs} x {threads}: {res}", flush=True)
    rows = []
    first = None
    for (procs, threads), done in runs.items():
        if not done:
            continue
        epoch = statistics.median(x["epoch_s"] for x in done)
        loss = statistics.median(x["loss_s"] for x in done)
        peak = statistics.median(max(x["peak_mb"]) for x in done)
        first = epoch if first is None else first
        label = f"{procs} x {threads} thread(s)" if device == "cpu" else f"{procs} GPU(s)"
        rows.append([label, procs, done[0]["nodes"], 1000 * epoch, 1000 * loss,
                     100 * loss / epoch, peak, first / epoch, len(done)])
    return rows, notes


def _config(text: str) -> tuple[int, int]:
    procs, _, threads = text.partition("x")
    try:
        return int(procs), int(threads or 1)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"a configuration is PxT (processes x threads), "
                                         f"got {text!r}") from err


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--configs", type=_config, nargs="+",
                        default=[(1, 2), (2, 1), (1, 1)], metavar="PxT",
                        help="processes x threads per process (GPUs: processes = GPUs)")
    parser.add_argument("--datasets", default="amazon-photo")
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--loss-repeats", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.datasets, args.device, args.warmup, args.epochs, args.loss_repeats)
        return
    rows, notes = compare(args.configs, device=args.device, dataset=args.datasets,
                          repeats=args.repeats, warmup=args.warmup, epochs=args.epochs,
                          loss_repeats=args.loss_repeats)
    if args.device == "cpu":
        from gcl.results import _cpu_name

        where = f"cpu: {_cpu_name()} ({os.cpu_count()} cores)"
    else:
        from gcl.results import device_description

        where = device_description(args.device)
    how = "gloo" if args.device == "cpu" else "NCCL, one GPU per process"
    write_bench(
        "distributed", title=f"Data-parallel GRACE on {args.datasets} ({args.device})",
        description=f"One GRACE epoch (shipped configuration) with each number of processes "
                    f"(torchrun; {how}): "
                    f"median epoch over {args.epochs} epochs after {args.warmup} warm-up "
                    f"epoch(s); the loss's forward and backward pass alone (the rank's share "
                    f"of the sharded loss with its all-reduces; the slowest rank) and its share "
                    f"of the epoch; the largest per-rank peak memory of the timed epochs above "
                    f"the level after building the model. Medians over {args.repeats} fresh "
                    f"launches per configuration, interleaved.",
        columns=["configuration", "processes", "nodes", "epoch ms", "loss ms", "loss % of epoch",
                 "peak MiB per rank", "speed-up", "runs"],
        rows=rows, device=where, notes=notes, extra={"order": 25},
    )


if __name__ == "__main__":
    main()
