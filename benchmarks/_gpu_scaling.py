"""The multi-GPU step of the GPU check (``benchmarks/gpu_check.py``): one GRACE epoch with one
process on one GPU against ``torchrun --nproc-per-node N`` on N GPUs (NCCL, the shipped
configuration, the same global graph), through ``benchmarks/distributed.py``'s ``compare``.
The driver runs it only where more than one GPU is visible; elsewhere it records why not."""

from __future__ import annotations

import torch
from _gpu_steps import Context, Table
from distributed import compare

#: The graph the step trains on (a catalog name; a step without it says so in a note).
DATASET = "amazon-computers"


def step_scaling(ctx: Context) -> None:
    """Time GRACE epochs on 1 GPU and on every visible GPU; write ``gpu_scaling.json``."""
    gpus = torch.cuda.device_count() if ctx.device.type == "cuda" else 0
    table = Table(ctx, "gpu_scaling", "GPU check: one GPU against all of them",
                  f"One GRACE epoch on {DATASET} (shipped configuration) with one process on "
                  "one GPU and with torchrun, one process per GPU (NCCL, the loss's rows "
                  "sharded); median epoch of 3 after a warm-up epoch, the loss's share of it, "
                  "the largest per-GPU peak memory, the speed-up over one GPU.",
                  ["world size", "nodes", "epoch ms", "loss ms", "loss % of epoch",
                   "peak MiB per GPU", "speed-up over 1 GPU"], order=250)
    if gpus < 2:
        table.note(f"not run: {gpus} GPU(s) visible; this step compares 1 GPU with N >= 2")
        return
    rows, notes = compare([(1, 1), (gpus, 1)], device="cuda", dataset=DATASET, repeats=1)
    for _label, procs, nodes, epoch_ms, loss_ms, share, peak, speedup, _ in rows:
        table.add([procs, nodes, epoch_ms, loss_ms, share, peak, speedup])
    for note in notes:
        table.note(note)
