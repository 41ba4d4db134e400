"""The one training loop and the contract every method implements.

* :class:`TrainingModule` — what a method supplies: ``setup``, ``training_step``,
  ``parameter_groups``, ``embed``.
* :class:`Trainer` — the loop every method shares: epochs and mini-batches, optimiser,
  non-finite guard, progress, seeding, device placement, timing and memory, callbacks and
  checkpoints.
* :class:`History`, :class:`NonFiniteLossError` and the checkpoint helpers.
* :class:`TargetNetwork` — a moving-average copy of a network (BYOL/BGRL), updated after every
  optimiser step through :meth:`TrainingModule.after_optimizer_step`.
"""

from .history import History, NonFiniteLossError, peak_memory_mb
from .loop import Trainer
from .module import TrainingModule
from .state import CHECKPOINT_FILE, CHECKPOINT_FORMAT, get_rng_state, set_rng_state
from .target import TargetNetwork, momentum_at

__all__ = ["TrainingModule", "Trainer", "History", "NonFiniteLossError", "peak_memory_mb",
           "get_rng_state", "set_rng_state", "CHECKPOINT_FILE", "CHECKPOINT_FORMAT",
           "TargetNetwork", "momentum_at"]
