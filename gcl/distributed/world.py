"""The processes of one data-parallel run: who is where, and the few collectives the loss needs.

A :class:`World` wraps an initialised ``torch.distributed`` process group (``torchrun`` sets it
up; :func:`init_distributed` joins it). The training loop makes it *current* for the duration of
each training step (:func:`using_world`), and the objectives read it with :func:`current_world`
to compute only their rank's share of the loss. Outside a training step, and in a single
process, :func:`current_world` is ``None`` and every objective computes the whole loss.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import math
import os

import torch
from torch import Tensor

__all__ = ["World", "get_world", "init_distributed", "current_world", "using_world",
           "shard_rows", "triangle_rows", "rank_seed", "is_main_process"]

_CURRENT: contextvars.ContextVar[World | None] = contextvars.ContextVar("gcl_world", default=None)
_CACHE: dict[int, World] = {}


class World:
    """The ranks of the initialised default process group, seen by the loss.

    The loss's collectives (the reduced log-sum-exps, the gathered mini-batch) run on a
    process group of their own, created here, so that they never interleave with the gradient
    all-reduces that ``DistributedDataParallel`` issues on the default group during the
    backward pass.

    Construction is collective: every rank must create it at the same point (use
    :func:`get_world`, which creates it once per process).

    Attributes:
        rank: this process's rank (0 .. ``size - 1``).
        size: the number of processes.
        backend: ``"gloo"`` or ``"nccl"``.
        group: the loss's own process group (same ranks as the default group).

    Example:
        >>> get_world() is None  # no process group in this process
        True
    """

    def __init__(self) -> None:
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()):
            raise ValueError("World needs an initialised process group: launch with torchrun "
                             "and call gcl.distributed.init_distributed() (gcl train does)")
        self.rank = dist.get_rank()
        self.size = dist.get_world_size()
        self.backend = str(dist.get_backend())
        self.group = dist.new_group(backend=self.backend)

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0 (the rank that writes files and shows progress)."""
        return self.rank == 0

    def all_reduce_(self, tensor: Tensor, op: str = "sum") -> Tensor:
        """Reduce ``tensor`` in place over the ranks (``op``: ``"sum"``, ``"max"`` or ``"min"``)
        and return it."""
        import torch.distributed as dist

        ops = {"sum": dist.ReduceOp.SUM, "max": dist.ReduceOp.MAX, "min": dist.ReduceOp.MIN}
        dist.all_reduce(tensor, op=ops[op], group=self.group)
        return tensor

    def reduce_lse_(self, run_max: Tensor, run_sum: Tensor) -> Tensor:
        """Combine per-rank running log-sum-exps ``(run_max, run_sum)`` (any shape; an entry a
        rank has not seen holds ``(-inf, 0)``) into the global ``log sum exp``, returned.

        Two all-reduces: the global maximum, then the sums rescaled to it."""
        local = run_max.clone()
        self.all_reduce_(run_max, "max")
        shift = torch.where(torch.isfinite(run_max), run_max, torch.zeros_like(run_max))
        run_sum.mul_(torch.exp(local - shift))
        self.all_reduce_(run_sum, "sum")
        return shift + torch.log(run_sum)

    def scalar_mean(self, value: float, device: torch.device | str = "cpu") -> float:
        """The mean of a Python float over the ranks (float64)."""
        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        return float(self.all_reduce_(t, "sum")[0]) / self.size

    def broadcast_flag(self, flag: bool, device: torch.device | str = "cpu") -> bool:
        """Rank 0's ``flag``, on every rank (a decision every rank must share)."""
        import torch.distributed as dist

        t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=device)
        dist.broadcast(t, src=0, group=self.group)
        return bool(t[0])

    def all_gather_floats(self, value: float, device: torch.device | str = "cpu") -> list[float]:
        """Every rank's ``value``, in rank order."""
        import torch.distributed as dist

        t = torch.tensor([float(value)], dtype=torch.float64, device=device)
        out = [torch.empty_like(t) for _ in range(self.size)]
        dist.all_gather(out, t, group=self.group)
        return [float(o[0]) for o in out]

    def broadcast_(self, tensor: Tensor) -> Tensor:
        """Overwrite ``tensor`` in place with rank 0's (random draws every rank must share,
        e.g. a subset of the global mini-batch) and return it."""
        import torch.distributed as dist

        dist.broadcast(tensor, src=0, group=self.group)
        return tensor

    def barrier(self) -> None:
        """Wait until every rank reaches this point."""
        import torch.distributed as dist

        dist.barrier(group=self.group)

    @contextlib.contextmanager
    def rank_zero_first(self):
        """Run the block on rank 0 first, then on the other ranks (caches it writes, such as
        a processed dataset, are then read, not written again at the same time)."""
        if not self.is_main:
            self.barrier()
        try:
            yield
        finally:
            if self.is_main:
                self.barrier()

    def __repr__(self) -> str:
        return f"World(rank={self.rank}, size={self.size}, backend={self.backend!r})"


def get_world() -> World | None:
    """The :class:`World` of the initialised default process group, or ``None`` when there is
    none or it has a single rank (then training runs as one process). Created on the first call
    (a collective: every rank must call it).

    Returns:
        World | None: the world.

    Example:
        >>> get_world() is None
        True
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    key = id(dist.group.WORLD)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = World()
    return _CACHE[key]


def init_distributed(device: str | torch.device = "auto") -> tuple[World | None, str]:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE``,
    ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``...), once.

    The backend is NCCL when this rank trains on a GPU and gloo on the CPU; on a GPU each rank
    takes the device of its local rank (``cuda:LOCAL_RANK``).

    Args:
        device: the requested device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``
            (default: ``"auto"``).

    Returns:
        tuple: the :class:`World` (``None`` outside ``torchrun`` or with one process) and the
        device this rank trains on, as a string.

    Raises:
        ValueError: ``cuda:N`` was asked for under torchrun (each rank picks its own GPU), or
            a rank has no GPU of its own.

    Example:
        >>> init_distributed("cpu")  # not launched by torchrun: one process
        (None, 'cpu')
    """
    import torch.distributed as dist

    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size < 2:
        return get_world(), str(device)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    want = str(device)
    if want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    if want.startswith("cuda"):
        if ":" in want:
            raise ValueError(f"under torchrun each rank uses the GPU of its local rank: pass "
                             f"--device cuda (or auto), not {want!r}")
        if local >= torch.cuda.device_count():
            raise ValueError(f"local rank {local} has no GPU ({torch.cuda.device_count()} "
                             "visible): use --nproc-per-node <= the number of GPUs")
        torch.cuda.set_device(local)
        want = f"cuda:{local}"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want.startswith("cuda") else "gloo")
    return get_world(), want


def is_main_process() -> bool:
    """Whether this process is rank 0 of its process group, or runs alone.

    Returns:
        bool: ``True`` on rank 0 and in a single process.

    Example:
        >>> is_main_process()
        True
    """
    world = get_world()
    return world is None or world.is_main


def current_world() -> World | None:
    """The world of the training step being computed, or ``None`` (one process, or outside a
    training step).

    Returns:
        World | None: the current world.

    Example:
        >>> current_world() is None
        True
    """
    return _CURRENT.get()


@contextlib.contextmanager
def using_world(world: World | None):
    """Make ``world`` current inside the block (the loop wraps every training step in it).

    Args:
        world: the world, or ``None`` for a single process.

    Example:
        >>> with using_world(None):
        ...     current_world() is None
        True
    """
    token = _CURRENT.set(world)
    try:
        yield world
    finally:
        _CURRENT.reset(token)


def shard_rows(n: int, rank: int, size: int) -> tuple[int, int]:
    """The contiguous rows ``[start, stop)`` of ``n`` that ``rank`` of ``size`` owns: disjoint,
    covering, sizes differing by at most one.

    Args:
        n: the number of rows.
        rank: the rank.
        size: the number of ranks.

    Returns:
        tuple: ``(start, stop)``.

    Example:
        >>> [shard_rows(10, r, 3) for r in range(3)]
        [(0, 3), (3, 6), (6, 10)]
    """
    return n * rank // size, n * (rank + 1) // size


def triangle_rows(n: int, rank: int, size: int) -> tuple[int, int]:
    """Rows ``[start, stop)`` of the upper triangle of an ``n x n`` matrix (row ``i`` holds the
    ``n - i`` entries ``i..n-1``) such that every rank gets about the same number of entries.

    Args:
        n: the matrix size.
        rank: the rank.
        size: the number of ranks.

    Returns:
        tuple: ``(start, stop)``; the ranges of all ranks are disjoint and cover ``0..n``.

    Example:
        >>> [triangle_rows(100, r, 2) for r in range(2)]
        [(0, 29), (29, 100)]
    """

    def cut(k: int) -> int:
        if k <= 0:
            return 0
        if k >= size:
            return n
        # rows [0, t) hold t n - t (t - 1) / 2 entries; solve for the k/size share of all
        target = k / size * n * (n + 1) / 2
        t = (n + 0.5) - math.sqrt(max((n + 0.5) ** 2 - 2 * target, 0.0))
        return min(max(int(round(t)), 0), n)

    return cut(rank), cut(rank + 1)


def rank_seed(*parts: int) -> int:
    """A seed in ``[0, 2**63)`` derived from integers (a run's base seed, the epoch, the rank):
    the same parts give the same seed on every machine, different parts unrelated streams.

    Args:
        parts: the integers to mix.

    Returns:
        int: the seed.

    Example:
        >>> rank_seed(0, 1, 0) == rank_seed(0, 1, 0), rank_seed(0, 1, 0) == rank_seed(0, 1, 1)
        (True, False)
    """
    text = ":".join(str(int(p)) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little") >> 1
