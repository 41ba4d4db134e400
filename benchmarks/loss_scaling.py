"""Dense vs blockwise InfoNCE: forward+backward time, peak memory and FLOP/s as N grows.

Each (implementation, N) point runs in its own subprocess, so its peak memory is measured from a
clean process (the peak resident set size above the level after the inputs were made), and a
dense point that cannot allocate its N×N matrices fails alone: the subprocess's address space is
capped (``--mem-cap-gb``) so it stops with an allocation error instead of waking the OOM killer.

FLOP/s counts the matrix products the implementation executes (the exp/log work is not counted):
the dense loss runs 3 products forward and 6 backward (18·N²·d flops). The blockwise one computes
the inter-view matrix in row blocks and, of each symmetric intra-view matrix, only the row blocks of
its upper triangle; its backward pass recomputes those blocks and needs two products per
inter-view block and two per triangle block (one for its rows, one, transposed, for its columns):
4·N² + 2 · 4·N²/2 products of length d, about 16·N²·d flops. "% of matmul" divides that rate by the
rate of the same sequence of matrix products, with the same shapes, run alone on the same device:
each timed loss run is followed by one run of those products, and the median of the pairs' ratios
is reported (a shared machine's load drifts between the runs of one point).

``--baseline REV`` also measures the blockwise loss of another revision (its
``gcl/objectives/blockwise.py``, read with ``git show`` and loaded beside the installed package,
with its own default block size) in the same run, each point in its own process as the others,
so that a change to the loss is compared before and after on the same machine at the same time.

Usage:
    python benchmarks/loss_scaling.py                      # N = 1k .. 50k, d = 128
    python benchmarks/loss_scaling.py --sizes 1000 4000 --device cuda
    python benchmarks/loss_scaling.py --sizes 16000 32000 --baseline HEAD~3 --repeat-max-n 32000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch


def _products(impl: str, n: int, d: int, block: int) -> list[tuple[int, int, int]]:
    """The (m, k, n) shapes of the matrix products one forward+backward executes."""
    if impl == "dense":
        return [(n, d, n)] * 3 + [(n, n, d)] * 6
    shapes = []
    for s in range(0, n, block):
        b = min(block, n - s)
        r = n - s  # columns of the row block S[s:e, s:] of a symmetric intra-view matrix
        # inter-view block S12[s:e]: forward, recomputation, gradients of both factors
        shapes += [(b, d, n)] * 2 + [(b, n, d), (n, b, d)]
        for _ in range(2):  # intra-view S11 and S22 (symmetric loss), upper-triangle row blocks
            shapes += [(b, d, r)] * 2 + [(b, r, d)]  # forward, recomputation, rows s:e
            if r > b:
                shapes.append((r - b, b, d))  # the block's transpose, to rows e:
    return shapes


def _flops(shapes) -> float:
    return float(sum(2 * m * k * n for m, k, n in shapes))


def _operands(shapes, device, dtype) -> dict:
    """Operands ``(a [m, k], b [k, n])`` for every distinct shape, each a contiguous view of the
    front of one of two shared buffers: the blockwise loss's triangle blocks have a different
    width per row block (thousands of shapes at large N), too many to allocate one by one."""
    shapes = set(shapes)
    a_buf = torch.randn(max(m * k for m, k, _ in shapes), device=device, dtype=dtype)
    b_buf = torch.randn(max(k * n for _, k, n in shapes), device=device, dtype=dtype)
    return {(m, k, n): (a_buf[:m * k].view(m, k), b_buf[:k * n].view(k, n))
            for m, k, n in shapes}


#: Clocks a point can be timed with: wall time, or the process's CPU time (``--clock cpu``: on
#: a shared CPU with one torch thread, time spent waiting for a core is not counted).
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _reference(shapes, device, dtype):
    """A function that runs the given products back to back (operands from
    :func:`_operands`), after one warm-up run."""
    cache = _operands(shapes, device, dtype)

    def run():
        for shape in shapes:
            a, b = cache[shape]
            torch.mm(a, b)

    run()
    return run


def _clocked(fn, device, clock: str) -> float:
    """Seconds of one ``fn()`` by ``clock`` (:data:`CLOCKS`), the device synchronised."""
    now = CLOCKS[clock]
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = now()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return now() - t0


def _matmul_rate(shapes, device, dtype, repeats: int = 1, clock: str = "wall") -> float:
    """FLOP/s of the given products run back to back, the median of ``repeats`` runs after a
    warm-up, timed with ``clock``."""
    run = _reference(shapes, device, dtype)
    times = sorted(_clocked(run, device, clock) for _ in range(repeats))
    return _flops(shapes) / times[len(times) // 2]


def load_baseline(path: str):
    """The blockwise module saved at ``path`` (another revision's
    ``gcl/objectives/blockwise.py``), loaded as a module of ``gcl.objectives`` so that its
    relative imports resolve against the installed package."""
    spec = importlib.util.spec_from_file_location("gcl.objectives._baseline_blockwise", path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "gcl.objectives"
    spec.loader.exec_module(module)
    return module


def write_baseline(rev: str, folder: str) -> tuple[str, str]:
    """Write ``gcl/objectives/blockwise.py`` at git revision ``rev`` into ``folder``; returns
    the file and the revision's short commit hash."""
    repo = Path(__file__).resolve().parents[1]

    def git(*cmd):
        return subprocess.run(["git", *cmd], cwd=repo, capture_output=True, text=True,
                              check=True).stdout

    commit = git("rev-parse", "--short", f"{rev}^{{commit}}").strip()
    path = Path(folder) / "baseline_blockwise.py"
    path.write_text(git("show", f"{commit}:gcl/objectives/blockwise.py"))
    return str(path), commit


def worker(impl: str, n: int, d: int, block: int | None, device: str, repeats: int,
           mem_cap_gb: float, baseline: str | None = None, clock: str = "wall") -> dict:
    import torch.nn.functional as F

    from gcl.objectives import info_nce
    from gcl.objectives.blockwise import auto_block_size

    dev = torch.device(device)
    if dev.type == "cpu" and mem_cap_gb > 0:
        cap = int(mem_cap_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    if impl == "baseline":
        module = load_baseline(baseline)
        if block is None:
            block = module.auto_block_size(n, device=dev.type)
    elif impl == "blockwise" and block is None:
        block = auto_block_size(n, device=dev.type)
    g = torch.Generator().manual_seed(n)
    h1 = torch.randn(n, d, generator=g).to(dev).requires_grad_()
    h2 = torch.randn(n, d, generator=g).to(dev).requires_grad_()
    bs = 0 if impl == "dense" else block

    def step_on(x1, x2, size):
        if impl == "baseline":  # the same work as info_nce's blockwise path
            loss = module.blockwise_info_nce_normalized(F.normalize(x1, dim=1),
                                                        F.normalize(x2, dim=1), 0.5,
                                                        block_size=size)
        else:
            loss = info_nce(x1, x2, 0.5, block_size=size)
        loss.backward()
        x1.grad = x2.grad = None
        return loss

    def step():
        return step_on(h1, h2, bs)

    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev)
    else:
        with open("/proc/self/statm") as fh:
            base = int(fh.read().split()[1]) * resource.getpagesize()
    shapes = _products("dense" if impl == "dense" else "blockwise", n, d, block or n)
    flops = _flops(shapes)
    times, ref_times = [], []
    try:
        warm = torch.Generator().manual_seed(0)  # first-call costs (thread pool, kernels)
        small = min(n, 512)
        step_on(torch.randn(small, d, generator=warm).to(dev).requires_grad_(),
                torch.randn(small, d, generator=warm).to(dev).requires_grad_(), min(bs, small))
        times.append(_clocked(step, dev, clock))
    except (RuntimeError, MemoryError) as err:  # allocation failure
        return {"impl": impl, "n": n, "d": d, "block": block, "error": str(err).splitlines()[0][:240]}
    # the peak of the loss alone, before the reference's operands exist
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    # the loss and its reference alternate, so that a change of the machine's load between
    # them shifts both: each pair gives one ratio, and the median ratio is reported
    reference = _reference(shapes, dev, torch.float32)
    ref_times.append(_clocked(reference, dev, clock))
    for _ in range(repeats - 1):
        times.append(_clocked(step, dev, clock))
        ref_times.append(_clocked(reference, dev, clock))
    ratios = sorted(r / t for r, t in zip(ref_times, times))
    t = sorted(times)[len(times) // 2]
    ref = sorted(ref_times)[len(ref_times) // 2]
    return {"impl": impl, "n": n, "d": d, "block": block, "time_s": t, "times_s": times,
            "peak_mb": max(peak, 0) / 2**20, "gflops": flops / t / 1e9,
            "matmul_gflops": flops / ref / 1e9, "matmul_fraction": ratios[len(ratios) // 2]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+",
                        default=[1000, 2000, 4000, 8000, 16000, 32000, 50000])
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--block-size", type=int, default=None,
                        help="blockwise block size (default: automatic)")
    parser.add_argument("--dense-max", type=int, default=32000,
                        help="largest N tried with the dense loss")
    parser.add_argument("--mem-cap-gb", type=float, default=16.0,
                        help="address-space cap of each CPU measurement subprocess (0: none)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed runs per point up to --repeat-max-n (one run above it); "
                             "the medians are reported")
    parser.add_argument("--repeat-max-n", type=int, default=8000,
                        help="largest N timed --repeats times")
    parser.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                        help="time points by wall clock or by the process's CPU time (a shared "
                             "CPU: run with one torch thread, OMP_NUM_THREADS=1)")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also measure the blockwise loss of this git revision")
    parser.add_argument("--baseline-file", help=argparse.SUPPRESS)
    parser.add_argument("--worker", nargs=2, metavar=("IMPL", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        impl, n = args.worker[0], int(args.worker[1])
        repeats = args.repeats if n <= args.repeat_max_n else 1
        print(json.dumps(worker(impl, n, args.dim, args.block_size, args.device, repeats,
                                args.mem_cap_gb, args.baseline_file, args.clock)))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _common import run_worker, write_bench

    with tempfile.TemporaryDirectory() as tmp:
        impls = ["dense", "blockwise"]
        common = ["--dim", str(args.dim), "--device", args.device,
                  "--mem-cap-gb", str(args.mem_cap_gb), "--clock", args.clock]
        common += ["--repeats", str(args.repeats), "--repeat-max-n", str(args.repeat_max_n)]
        commit = None
        if args.baseline:
            impls.insert(1, "baseline")
            path, commit = write_baseline(args.baseline, tmp)
            common += ["--baseline-file", path]
        points = {}
        for n in args.sizes:
            for impl in impls:
                if impl == "dense" and n > args.dense_max:
                    points[(impl, n)] = {"error": f"not tried (N > --dense-max {args.dense_max})"}
                    continue
                cmd = ["--worker", impl, str(n), *common]
                if args.block_size:
                    cmd += ["--block-size", str(args.block_size)]
                res = run_worker(__file__, cmd)
                points[(impl, n)] = res
                shown = (f"{res['time_s']:.3f} s, {res['peak_mb']:.0f} MiB, "
                         f"{100 * res['matmul_fraction']:.0f}% of matmul"
                         if "time_s" in res else res["error"])
                print(f"N={n:>6} {impl:>9}: {shown}", flush=True)

    before = f"blockwise@{commit}" if commit else None
    rows = []
    for n in args.sizes:
        de, bw = points[("dense", n)], points[("blockwise", n)]
        old = points.get(("baseline", n), {})
        row = [n, bw.get("block"), de.get("time_s"), bw.get("time_s"),
               bw["time_s"] / de["time_s"] if "time_s" in de and "time_s" in bw else None,
               de.get("peak_mb"), bw.get("peak_mb"),
               100 * bw["peak_mb"] / de["peak_mb"] if "peak_mb" in de and "peak_mb" in bw
               else None,
               de.get("gflops"), bw.get("gflops"),
               100 * de["matmul_fraction"] if "matmul_fraction" in de else None,
               100 * bw["matmul_fraction"] if "matmul_fraction" in bw else None]
        if before:
            row += [old.get("block"), old.get("time_s"),
                    100 * old["matmul_fraction"] if "matmul_fraction" in old else None]
        rows.append(row)
    columns = ["N", "block", "dense s", "blockwise s", "time ratio (blk/dense)",
               "dense peak MiB", "blockwise peak MiB", "memory % of dense",
               "dense GFLOP/s", "blockwise GFLOP/s", "dense % of matmul",
               "blockwise % of matmul"]
    if before:
        columns += [f"{before} block", f"{before} s", f"{before} % of matmul"]
    shown_repeats = f"median of {args.repeats} runs up to N = {args.repeat_max_n}, one run above"
    notes = [f"d = {args.dim}, float32, τ = 0.5, intra-view negatives, symmetric (GRACE's loss); "
             f"time = forward + backward, {shown_repeats}; the matmul reference likewise, "
             "each run right after one of the loss's ('% of matmul': the median of the "
             "pairs' ratios); "
             + ("wall-clock time." if args.clock == "wall" else
                "the process's CPU time (`--clock cpu`: time waiting for a core of the shared "
                "machine is not counted).")]
    if before:
        notes.append(f"{before}: the blockwise loss of gcl commit {commit} (`--baseline`), "
                     "with its own default block size (or --block-size), measured in the same "
                     "run, each point in its own process.")
    for (impl, n), res in sorted(points.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if "error" in res:
            notes.append(f"{before if impl == 'baseline' else impl} at N = {n}: {res['error']}")
    write_bench(
        "loss_scaling", title=f"InfoNCE: dense vs blockwise (d = {args.dim}, {args.device})",
        description="Peak memory is the peak above the inputs, in its own process. "
                    "FLOP/s counts the matrix products executed; '% of matmul' compares it with "
                    "the same products run alone (see `benchmarks/loss_scaling.py`).",
        columns=columns, rows=rows, device=args.device, notes=notes,
        extra={"order": 10, "points": [{"impl": k[0], "n": k[1], **v} for k, v in points.items()]},
    )


if __name__ == "__main__":
    main()
