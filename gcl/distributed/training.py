"""What the one training loop does differently when several processes train one module.

:func:`fit_context` gives the loop a :class:`LocalFit` (one process: every hook does nothing) or a
:class:`DistributedFit`, which

* wraps the module in ``DistributedDataParallel`` (its construction copies rank 0's parameters
  and buffers to every rank; its backward pass averages the gradients, overlapped with the
  computation) and runs each training step through it with the :class:`World` current, so that
  the objectives compute their rank's share of the loss;
* lets rank 0 alone write checkpoints and show progress;
* in mini-batch training, tells the loader the epoch (each rank takes its part of the same
  shuffled global batches) and seeds each rank's own random stream (views, neighbour
  sampling) from the run's seed, the epoch and the rank, so that a run resumed at any epoch
  draws what the uninterrupted run drew; in full-batch training every rank keeps the one
  shared stream (the views must agree: each rank encodes the whole graph);
* makes every decision the ranks must share collective: the logged loss (the mean over ranks,
  identical on each), early stopping (rank 0 decides), the epoch to resume from.
"""

from __future__ import annotations

import torch
from torch import nn

from .._utils import seed_everything
from .world import World, get_world, rank_seed, using_world

__all__ = ["LocalFit", "DistributedFit", "fit_context"]


class LocalFit:
    """The hooks of the loop for a single process: nothing changes.

    Example:
        >>> LocalFit().writes, LocalFit().agree_stop(True)
        (True, True)
    """

    world = None
    writes = True

    def training_step(self, module, batch, epoch: int):
        """Run the module's step."""
        return module.training_step(batch, epoch)

    def begin_epoch(self, module, epoch: int) -> None:
        """Nothing to prepare."""

    def loss_value(self, value: float, module) -> float:
        """The logged loss: the value itself."""
        return value

    def agree_stop(self, stop: bool) -> bool:
        """The callbacks' decision itself."""
        return stop

    def check_resumed(self, module) -> None:
        """Nothing to check."""

    def describe(self, meta: dict, module) -> None:
        """Nothing to add."""


class _Steps(nn.Module):
    """The module seen by DDP: its ``forward`` is one training step (DDP hooks its gradient
    all-reduce on the parameters of ``module``)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module
        self.last_step = None

    def forward(self, batch, epoch: int):
        step = self.module.training_step(batch, epoch)
        self.last_step = step
        return step.loss


class DistributedFit(LocalFit):
    """The loop's hooks for one rank of a data-parallel run (see the module docstring).

    Args:
        world: the world.
        module: the training module (already on its device, set up, resumed).
        loader: the mini-batch loader, or ``None`` for full-batch training.

    Raises:
        ValueError: a loader that does not split its seeds over these ranks.

    Example:
        >>> DistributedFit.__name__  # needs a process group; see tests/test_distributed.py
        'DistributedFit'
    """

    def __init__(self, world: World, module, loader=None) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.world = world
        self.writes = world.is_main
        self.loader = loader
        if loader is not None and getattr(loader, "world_size", None) != world.size:
            raise ValueError(
                f"in distributed mini-batch training the loader must give each of the "
                f"{world.size} ranks its own seeds: use gcl.data.NeighborSampler (it splits "
                "them when a process group is initialised, or pass rank= and world_size=)")
        device = module.device
        ids = [device.index] if device.type == "cuda" and device.index is not None else None
        # find_unused_parameters: some parameters sit out some steps (a warm-up objective)
        self.ddp = DistributedDataParallel(_Steps(module), device_ids=ids,
                                           find_unused_parameters=True)
        if loader is not None:
            # one number of the shared stream, kept with the run (resumes read it back)
            base = module.history.meta.get("rank_seed_base")
            if base is None:
                base = int(torch.randint(0, 2**62, (1,)).item())
                module.history.meta["rank_seed_base"] = base
            self.base = int(base)

    def training_step(self, module, batch, epoch: int):
        """Run the step through DDP with the world current; returns the module's Step."""
        with using_world(self.world):
            self.ddp(batch, epoch)
        return self.ddp.module.last_step

    def begin_epoch(self, module, epoch: int) -> None:
        """Mini-batch: tell the loader the epoch and seed this rank's stream for it."""
        if self.loader is None:
            return
        if hasattr(self.loader, "set_epoch"):
            self.loader.set_epoch(epoch)
        seed = rank_seed(self.base, epoch, self.world.rank)
        seed_everything(seed % 2**32)
        _reseed_augmentations(module, seed)

    def loss_value(self, value: float, module) -> float:
        """The mean of the ranks' loss values (the same global value in every objective that
        computes one; a rank-local term is averaged)."""
        return self.world.scalar_mean(value, _collective_device(self.world))

    def agree_stop(self, stop: bool) -> bool:
        """Rank 0's decision, on every rank."""
        return self.world.broadcast_flag(stop, _collective_device(self.world))

    def check_resumed(self, module) -> None:
        """Refuse ranks that resumed from different epochs (e.g. a stale checkpoint copy)."""
        lo = torch.tensor([module.epoch], dtype=torch.int64,
                          device=_collective_device(self.world))
        hi = lo.clone()
        self.world.all_reduce_(lo, "min")
        self.world.all_reduce_(hi, "max")
        if int(lo) != int(hi):
            raise ValueError(f"the ranks resumed from different epochs ({int(lo)} to {int(hi)}): "
                             "every rank must read the same checkpoint (a shared folder, or "
                             "the same copy on every machine)")

    def describe(self, meta: dict, module) -> None:
        """Record the backend, the number of processes and every rank's peak memory."""
        meta["world_size"] = self.world.size
        meta["backend"] = self.world.backend
        peak = meta.get("peak_mem_mb")
        meta["peak_mem_mb_per_rank"] = self.world.all_gather_floats(
            float("nan") if peak is None else float(peak),
            _collective_device(self.world))


def _collective_device(world: World) -> torch.device:
    """Where the loss group's small tensors live: the rank's GPU under NCCL, else the CPU."""
    if world.backend == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _reseed_augmentations(module, seed: int) -> None:
    """Give the augmentations that own a seeded generator a stream of this rank and epoch."""
    from ..training.state import _generator_owners

    owners = _generator_owners(module.augmentations())
    for k, owner in enumerate(owners.values()):
        if getattr(owner, "seed", None) is None:
            continue
        gen = torch.Generator(device=module.device)
        gen.manual_seed(rank_seed(seed, k, owner.seed))
        owner._generators = {str(torch.device(module.device)): gen}


def fit_context(module, loader=None, distributed: bool | None = None):
    """The loop's hooks for this process: :class:`DistributedFit` when a process group with
    several ranks is initialised (and ``distributed`` is not ``False``), else :class:`LocalFit`.

    Args:
        module: the training module, ready to train.
        loader: the mini-batch loader, or ``None``.
        distributed: ``None`` (default: use the process group when there is one), ``True``
            (require one) or ``False`` (train alone even under torchrun).

    Returns:
        LocalFit | DistributedFit: the hooks.

    Raises:
        ValueError: ``distributed=True`` without a process group of several ranks.

    Example:
        >>> type(fit_context(None)).__name__
        'LocalFit'
    """
    world = None if distributed is False else get_world()
    if world is None:
        if distributed:
            raise ValueError("distributed=True needs a process group with several ranks: "
                             "launch with torchrun and call gcl.distributed.init_distributed()")
        return LocalFit()
    return DistributedFit(world, module, loader)
