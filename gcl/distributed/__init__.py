"""Data-parallel training on ``torch.distributed``: several processes, GPUs or machines.

Launch ``gcl train`` (or any script that calls ``fit``) with ``torchrun``; each process joins
the process group (:func:`init_distributed`), the one training loop wraps the module in
``DistributedDataParallel`` and every objective computes only its rank's share of the loss,
with exact global negatives (see ``docs/scale.md``, "Several GPUs and machines").

* :class:`World`, :func:`get_world`, :func:`init_distributed`, :func:`current_world`,
  :func:`using_world`, :func:`is_main_process` — who is where;
* :func:`gather_rows`, :func:`global_sum`, :func:`all_reduce_sum` — collectives with gradients;
* :func:`shard_rows`, :func:`triangle_rows`, :func:`rank_seed` — how work and seeds are split;
* :func:`sharded_info_nce` — the row-sharded blockwise InfoNCE;
* :func:`launch` — ``gcl train --nproc N``: torchrun's launcher on this machine.
"""

from .gather import all_reduce_sum, gather_rows, global_sum
from .world import (
    World,
    current_world,
    get_world,
    init_distributed,
    is_main_process,
    rank_seed,
    shard_rows,
    triangle_rows,
    using_world,
)

__all__ = ["World", "get_world", "init_distributed", "current_world", "using_world",
           "is_main_process", "gather_rows", "global_sum", "all_reduce_sum", "shard_rows",
           "triangle_rows", "rank_seed", "sharded_info_nce", "launch"]


def __getattr__(name: str):
    # imported on first use: they import gcl.objectives, which imports this package
    if name == "sharded_info_nce":
        from .infonce import sharded_info_nce

        return sharded_info_nce
    if name == "launch":
        from .launch import launch

        return launch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
