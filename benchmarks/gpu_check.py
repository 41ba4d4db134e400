"""The prepared GPU check: what matters first on a GPU lent for minutes, in one call.

Runs the steps below in order of value, each in its own process under a time budget (a step
that overruns is stopped, and the next one starts), and writes every measurement as a
``gcl-bench/1`` record into the folder given on the command line, plus ``gpu_check.json``, the
steps' status; then prints a short table. Full sizes take under 8 minutes on one H100
(``--budget-s``, default 450 s, all steps together). Without a GPU every step runs at tiny sizes
on the CPU, so that CI keeps the script working (``tests/test_gpu_check.py``).

1. ``tests``: ``pytest -m cuda``, the CUDA variants of the core tests (``tests/test_cuda.py``).
2. ``loss``: blockwise InfoNCE forward + backward at N = 16k, 64k and 169k (d = 128) in fp32,
   TF32 and bf16 against the device's matmul rate on the same products, with peak memory, and
   the dense loss where it fits.
3. ``methods``: epoch time and peak memory of GRACE, GCA, CSGCL and GCN + PamC on
   Amazon-Computers and Coauthor-CS, and MEOW on ACM and AMiner, through ``gcl.methods.run``.
4. ``scale``: a full-batch GRACE epoch on a graph of ogbn-arxiv's size at each precision, and
   mini-batch steps on a graph of ogbn-products' size (the epoch estimated).
5. ``csgcl``: a 50-epoch CSGCL run on Amazon-Photo, to estimate the full protocol per seed.

The records are at most six files (the device tool brings back eight); copy them into
``benchmarks/results/`` and run ``python benchmarks/report.py`` to put them in
``docs/benchmarks.md``. Datasets are read from ``--data-root`` (default ``$GCL_DATA``); a step
skips, with a note, the graphs that are not there.

Adding a step: a function ``step_<name>(ctx)`` in ``benchmarks/_gpu_steps.py`` that writes one
record through ``Table``, registered in ``STEPS`` there, and a budget in :data:`BUDGETS` here.
The multi-GPU comparison is the ``scaling`` step (``benchmarks/_gpu_scaling.py``), among the
default steps only when ``torch.cuda.device_count() > 1`` (the summary records the count): GRACE
epochs on Amazon-Computers with 1 process and with ``torchrun --nproc-per-node N``, written to
``gpu_scaling.json`` (world size, epoch ms, the loss's share, peak MiB per GPU, speed-up over one
GPU). Asked for on fewer GPUs (``--steps scaling``), it records why it did not run.

Usage:
    python benchmarks/gpu_check.py OUT_DIR                 # make gpu-check GPU_CHECK_OUT=DIR
    python benchmarks/gpu_check.py OUT_DIR --steps loss scale --budget-s 200
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_bench  # noqa: E402
from _gpu_scaling import step_scaling  # noqa: E402
from _gpu_steps import STEPS, Context  # noqa: E402

STEPS = {**STEPS, "scaling": step_scaling}
#: Each step's share of the time (seconds at full size, scaled to ``--budget-s``), in order.
BUDGETS = {"tests": 110, "loss": 110, "methods": 110, "scale": 70, "csgcl": 50, "scaling": 120}
#: The steps run by default: all of them, the multi-GPU one only where several GPUs are visible.
DEFAULT_STEPS = [s for s in BUDGETS if s != "scaling" or torch.cuda.device_count() > 1]
#: A step starts only with at least this many seconds left.
MIN_START_S = 20


def _headline(record: dict | None) -> str:
    """A one-line summary of a step's record for the table."""
    if not record or not record.get("rows"):
        return (record or {}).get("notes", ["no rows"])[0] if record else "no rows"
    cols, rows = record["columns"], record["rows"]

    def col(name):
        i = cols.index(name)
        return [r[i] for r in rows]

    name = record["name"]
    if name == "gpu_tests":
        passed, failed, errors, skipped = (rows[0][1], rows[0][2], rows[0][3], rows[0][4])
        return f"{passed} passed, {failed} failed, {errors} errors, {skipped} skipped"
    if name == "gpu_loss":
        return "; ".join(f"{p} N={n}: {f:.0f}% of matmul" for n, p, f in
                         zip(col("N"), col("precision"), col("% of matmul")))
    if name == "gpu_methods":
        return "; ".join(f"{m}/{d} {t:.0f} ms" for m, d, t in
                         zip(col("method"), col("dataset"), col("epoch ms")))
    if name == "gpu_scale":
        return "; ".join(f"{r} {p}: {s:.2f} s/epoch" for r, p, s in
                         zip(col("run"), col("precision"), col("epoch s (estimated for mini-batch)")))
    if name == "gpu_scaling":
        return "; ".join(f"{w} GPU(s): {e:.0f} ms/epoch, x{x:.2f}" for w, e, x in
                         zip(col("world size"), col("epoch ms"), col("speed-up over 1 GPU")))
    if name == "gpu_csgcl":
        return f"{rows[0][0]}: about {rows[0][-1]:.0f} s per seed"
    return f"{len(rows)} rows"


def _run_step(name: str, args, seconds: float, command: str) -> tuple[str, float]:
    """Run one step in its own process for at most ``seconds``; returns its status."""
    cmd = [sys.executable, __file__, str(args.out), "--step", name,
           "--deadline", str(time.time() + seconds), "--command", command]
    if args.tiny:
        cmd.append("--tiny")
    if args.data_root:
        cmd += ["--data-root", args.data_root]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, timeout=seconds + 15)
        status = "ok" if proc.returncode == 0 else f"failed (exit {proc.returncode})"
    except subprocess.TimeoutExpired:
        status = "stopped at its budget"
    return status, time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("out", type=Path, help="folder for the records")
    parser.add_argument("--steps", nargs="+", choices=list(BUDGETS), default=DEFAULT_STEPS)
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="time for all steps together")
    parser.add_argument("--tiny", action="store_true",
                        help="tiny sizes (the default without a GPU)")
    parser.add_argument("--data-root", default=None, help="dataset root (default: $GCL_DATA)")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--command", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    args.tiny = args.tiny or device.type != "cuda"
    args.out.mkdir(parents=True, exist_ok=True)
    if args.step:  # one step, in this process
        STEPS[args.step](Context(args.out, device, args.tiny, args.deadline, args.data_root,
                                 args.command))
        return 0

    command = "python " + " ".join(shlex.quote(a) for a in [
        "benchmarks/gpu_check.py", *(argv if argv is not None else sys.argv[1:])])
    scale = args.budget_s / sum(BUDGETS[s] for s in args.steps)
    end = time.time() + args.budget_s
    rows = []
    for name in args.steps:
        left = end - time.time()
        budget = min(BUDGETS[name] * scale, left)
        if budget < MIN_START_S:
            rows.append([name, "not started: time budget", 0.0, budget, None, ""])
            continue
        print(f"[gpu-check] {name}: up to {budget:.0f} s", flush=True)
        status, seconds = _run_step(name, args, budget, command)
        path = args.out / f"gpu_{name}.json"
        record = json.loads(path.read_text()) if path.exists() else None
        rows.append([name, status, seconds, budget, path.name if record else None,
                     _headline(record)])
    write_bench("gpu_check", title=f"GPU check: steps ({'tiny sizes' if args.tiny else 'full'})",
                description="Each step of `benchmarks/gpu_check.py`, in its own process under "
                            "its time budget; the figures are in the records named.",
                columns=["step", "status", "seconds", "budget s", "record", "headline"],
                rows=rows, device=device, results_dir=args.out, command=command,
                notes=[f"GPUs visible: {torch.cuda.device_count()}",
                       f"total budget {args.budget_s:.0f} s"],
                extra={"order": 200, "gpu_check": True, "tiny": args.tiny})
    print(f"\n{'step':<8} {'status':<24} {'s':>6}  headline")
    for name, status, seconds, _, _, headline in rows:
        print(f"{name:<8} {status:<24} {seconds:>6.0f}  {headline}")
    return 0 if all(r[1] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
