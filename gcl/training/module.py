"""The contract every method implements, and the state the one loop keeps on it.

A method is a :class:`TrainingModule`: it says how to prepare a graph once (:meth:`setup`), how
to compute one step's loss (:meth:`training_step`), which parameters the optimiser updates
(:meth:`parameter_groups`) and how to embed a graph (:meth:`embed`). Everything methods share —
epochs and mini-batches, the optimiser step, the non-finite guard, progress, seeding, device
placement, timing and memory, callbacks and checkpoints — belongs to the loop,
:class:`gcl.training.Trainer`, which :meth:`fit` runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import Tensor, nn

from .._utils import check_positive, resolve_device
from .checkpoint_check import check_checkpoint_fields
from .history import History
from .state import (
    CHECKPOINT_FORMAT,
    check_checkpoint_meta,
    generator_states,
    get_rng_state,
    read_checkpoint,
    set_generator_states,
    set_rng_state,
    write_checkpoint,
)

__all__ = ["TrainingModule"]


class TrainingModule(nn.Module):
    """Base class of every trainable method (two-view pipelines, meta-path and deep-clustering
    modules alike).

    Subclasses implement :meth:`training_step` and :meth:`embed`, and override :meth:`setup`
    when a graph needs preparing (communities, PathSim inputs, autoencoder pretraining);
    :meth:`parameter_groups` and :meth:`augmentations` have sensible defaults.

    Args:
        lr: learning rate of Adam (default: 1e-3).
        weight_decay: weight decay of Adam (default: 0).
        optimizer: ``"adam"`` or a callable ``params -> torch.optim.Optimizer`` (default: Adam).
        scheduler: optional callable ``optimizer -> torch.optim.lr_scheduler.LRScheduler``; the
            scheduler steps once per epoch and is saved in checkpoints (default: none).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` ... (default: ``"auto"``).
            The whole module is moved there when :meth:`fit` starts, parts assigned after
            construction included.
        seed: seed everything at the start of the first :meth:`fit` (default: ``None``, leave
            the random states alone).
        progress: show a tqdm bar; ``None`` shows it only when stderr is a terminal.
        meta: free-form facts saved with checkpoints and checked on resume.

    Example:
        >>> from gcl.objectives import Step
        >>> class Center(TrainingModule):
        ...     def __init__(self):
        ...         super().__init__(lr=0.1, device="cpu", progress=False)
        ...         self.w = nn.Parameter(torch.ones(2))
        ...     def training_step(self, batch, epoch):
        ...         return Step(epoch=epoch, data=batch, loss=(self.w - batch).pow(2).sum())
        ...     def embed(self, data):
        ...         return self.w.detach()
        >>> module = Center()
        >>> history = module.fit(torch.zeros(2), epochs=3)
        >>> history.losses[0] > history.losses[-1]
        True
    """

    def __init__(self, *, lr: float = 1e-3, weight_decay: float = 0.0,
                 optimizer: str | Callable = "adam", scheduler: Callable | None = None,
                 device: str | torch.device = "auto", seed: int | None = None,
                 progress: bool | None = None, meta: dict | None = None) -> None:
        super().__init__()
        owner = type(self).__name__
        self.lr = float(check_positive(lr, "lr", owner))
        self.weight_decay = float(check_positive(weight_decay, "weight_decay", owner,
                                                 allow_zero=True))
        if not (callable(optimizer) or optimizer == "adam"):
            raise ValueError(f"optimizer must be 'adam' or a callable params -> Optimizer, got "
                             f"{optimizer!r}")
        self._optimizer_spec = optimizer
        self.optimizer: torch.optim.Optimizer | None = None
        if scheduler is not None and not callable(scheduler):
            raise ValueError(
                f"scheduler must be a callable optimizer -> LRScheduler (e.g. lambda opt: "
                f"torch.optim.lr_scheduler.StepLR(opt, 100)), got {scheduler!r}"
            )
        self._scheduler_spec = scheduler
        self.scheduler = None
        self._checkpointing: dict = {"checkpoint_dir": None, "checkpoint_every": None,
                                     "resume": False}
        self.device = resolve_device(device)
        if seed is not None:
            check_positive(seed, "seed", owner, allow_zero=True, integer=True)
        self.seed = seed
        self.progress = progress
        self.meta = dict(meta or {})
        self.history = History()
        self.epoch = 0  # epochs completed so far (fit continues from here)

    # -- the contract ---------------------------------------------------------------------
    def setup(self, data, *, move: bool = True):
        """Prepare ``data`` once before training and return what :meth:`training_step` receives
        as the full batch (default: ``data`` on the module's device; with ``move=False``, in
        mini-batch training, ``data`` where it is)."""
        return data.to(self.device) if move and hasattr(data, "to") else data

    def training_step(self, batch, epoch: int):
        """One step's loss: returns a :class:`gcl.objectives.Step` whose ``loss`` is set and
        whose ``logs`` hold the named parts to record. ``epoch`` counts from 1."""
        raise NotImplementedError(f"{type(self).__name__} must implement training_step")

    def parameter_groups(self) -> list:
        """What the optimiser updates: parameters or parameter groups (default: every trainable
        parameter of the module)."""
        return [p for p in self.parameters() if p.requires_grad]

    def embed(self, data) -> Tensor:
        """The trained embeddings of ``data`` (eval mode, no augmentation)."""
        raise NotImplementedError(f"{type(self).__name__} must implement embed")

    def after_optimizer_step(self, progress: float) -> None:
        """Called by the loop after every optimiser step with ``progress``, the fraction (in
        [0, 1)) of this fit's optimiser steps done before that step. By default it calls
        ``after_optimizer_step(progress)`` on every part that defines one (a
        :class:`~gcl.training.TargetNetwork`'s moving average), so a part updated outside
        gradient descent works in any module."""
        for part in self.modules():
            if part is not self and not isinstance(part, TrainingModule):
                hook = getattr(part, "after_optimizer_step", None)
                if callable(hook):
                    hook(progress)

    def transfer_batch(self, batch):
        """Move one mini-batch to the device (default: ``batch.to(device)``)."""
        return batch.to(self.device)

    def augmentations(self) -> list:
        """Augmentations whose own seeded generators are saved in checkpoints (default: none)."""
        return []

    # -- state ------------------------------------------------------------------------------
    def model_state_dict(self) -> dict:
        """The trainable state (every registered part)."""
        return self.state_dict()

    def load_model_state_dict(self, state: dict) -> None:
        """Load a state produced by :meth:`model_state_dict`."""
        self.load_state_dict(state)

    def build_optimizer(self) -> torch.optim.Optimizer:
        """Create the optimiser over :meth:`parameter_groups` (called by the first :meth:`fit`)."""
        params = self.parameter_groups()
        if callable(self._optimizer_spec):
            return self._optimizer_spec(params)
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def ensure_optimizer(self) -> None:
        """Build the optimiser and scheduler if they do not exist yet."""
        if self.optimizer is None:
            self.optimizer = self.build_optimizer()
        if self.scheduler is None and self._scheduler_spec is not None:
            self.scheduler = self._scheduler_spec(self.optimizer)

    def configure_checkpoints(self, checkpoint_dir: str | os.PathLike | None,
                              checkpoint_every: int | None = None,
                              resume: bool = False) -> TrainingModule:
        """Defaults for the checkpoint arguments of :meth:`fit` (used by ``gcl train``).

        Returns:
            TrainingModule: ``self``.
        """
        if checkpoint_every is not None:
            check_positive(checkpoint_every, "checkpoint_every", type(self).__name__,
                           integer=True)
        self._checkpointing = {"checkpoint_dir": checkpoint_dir,
                               "checkpoint_every": checkpoint_every, "resume": bool(resume)}
        return self

    # -- training ---------------------------------------------------------------------------
    def fit(self, data, epochs: int = 100, callbacks: Iterable = (),
            progress: bool | None = None, loader: Iterable | None = None, *,
            checkpoint_dir: str | os.PathLike | None = None,
            checkpoint_every: int | None = None, resume: bool | None = None) -> History:
        """Train for ``epochs`` more epochs on ``data`` with the one loop and return the history.

        Calling ``fit`` again continues training (epochs keep counting up). See
        :class:`gcl.training.Trainer` for every argument.

        Returns:
            History: per-epoch losses and timings, periodic evaluations and run facts.
        """
        from .loop import Trainer

        owner = f"{type(self).__name__}.fit"
        check_positive(epochs, "epochs", owner, integer=True)
        defaults = self._checkpointing
        if checkpoint_every is None:
            checkpoint_every = defaults["checkpoint_every"] or 10
        check_positive(checkpoint_every, "checkpoint_every", owner, integer=True)
        trainer = Trainer(
            epochs, callbacks=callbacks, progress=progress, loader=loader,
            checkpoint_dir=defaults["checkpoint_dir"] if checkpoint_dir is None else checkpoint_dir,
            checkpoint_every=checkpoint_every,
            resume=defaults["resume"] if resume is None else resume)
        return trainer.fit(self, data)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, *, stopped: bool = False,
             callbacks: Iterable = ()) -> Path:
        """Save the full training state atomically, in a form that loads with
        ``torch.load(weights_only=True)``: the model, optimiser and scheduler states, every
        random state (Python, NumPy, torch CPU and CUDA, the augmentations' own generators),
        the epoch, the history, ``meta`` and the callbacks' states.

        Args:
            path: the file to write (its folder is created).
            stopped: record that training was stopped by a callback (resuming does not go on).
            callbacks: the callbacks whose state to keep (the loop passes its own).

        Returns:
            Path: the written file.
        """
        payload = {
            "format": CHECKPOINT_FORMAT,
            "kind": type(self).__name__,
            "model": self.model_state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "stopped": bool(stopped),
            "history": self.history.to_dict(),
            "meta": self.meta,
            "rng": get_rng_state(),
            "generators": generator_states(self.augmentations()),
            "callbacks": [{"type": type(cb).__name__, "state": cb.state_dict()}
                          for cb in callbacks if cb.state_dict()],
        }
        return write_checkpoint(payload, path)

    def load(self, path: str | os.PathLike, *, load_optimizer: bool = True,
             restore_rng: bool = False) -> TrainingModule:
        """Load a file written by :meth:`save` into this (identically built) module.

        Loading uses ``weights_only=True``, so a checkpoint cannot execute code.

        Args:
            path: the checkpoint file.
            load_optimizer: also load the optimiser and scheduler states (default: ``True``).
            restore_rng: also restore every random state, as resuming training does
                (default: ``False``, leave the random streams alone).

        Returns:
            TrainingModule: ``self``.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            ValueError: when it is corrupt, truncated, not a gcl checkpoint, or was written by a
                differently built module; the message names the file.
        """
        self.load_checkpoint(path, load_optimizer=load_optimizer, restore_rng=restore_rng)
        return self

    def load_checkpoint(self, path: str | os.PathLike, *, load_optimizer: bool,
                        restore_rng: bool, check_meta: bool = False) -> dict:
        """Load a checkpoint into this module and return its payload (the loop reads the
        callbacks' states and the ``stopped`` flag from it)."""
        path = Path(path)
        payload = read_checkpoint(path, CHECKPOINT_FORMAT, "gcl")
        check_checkpoint_fields(payload, path)
        if check_meta:
            check_checkpoint_meta(path, payload, self.meta)
        kind = payload.get("kind")
        if kind is not None and kind != type(self).__name__:
            raise ValueError(f"checkpoint {path} was written by a {kind}, not a "
                             f"{type(self).__name__}; use another checkpoint folder")
        try:
            self.load_model_state_dict(payload["model"])
            if load_optimizer and payload.get("optimizer") is not None:
                self.ensure_optimizer()
                self.optimizer.load_state_dict(payload["optimizer"])
                if payload.get("scheduler") is not None:
                    if self.scheduler is None:
                        raise ValueError("it holds a scheduler state but this module has no "
                                         "scheduler")
                    self.scheduler.load_state_dict(payload["scheduler"])
        except (RuntimeError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(
                f"checkpoint {path} does not fit this {type(self).__name__} (was it written with "
                f"another configuration?): {detail}"
            ) from err
        if restore_rng:
            if "rng" in payload:
                set_rng_state(payload["rng"])
            set_generator_states(self.augmentations(), payload.get("generators") or {})
        self.epoch = int(payload.get("epoch", 0))
        self.history = History.from_dict(payload.get("history"))
        self.meta.update(payload.get("meta") or {})
        return payload
