"""The one training loop: :class:`Trainer` runs any :class:`~gcl.training.TrainingModule`."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from .._utils import check_positive, seed_everything
from ..distributed.training import LocalFit, fit_context
from .history import NonFiniteLossError, cpu_share, peak_memory_mb
from .inputs import check_batch, check_cpu_precision, check_loader_graph
from .state import CHECKPOINT_FILE

__all__ = ["Trainer"]


class Trainer:
    """Train a :class:`~gcl.training.TrainingModule`: the loop every method shares.

    It owns the epochs and mini-batches, the optimiser and scheduler steps, the non-finite
    guard, the progress bar, seeding, device placement of the whole module, timing and peak
    memory, callbacks, and checkpoints in one format (callback state included); after every
    optimiser step it calls the module's
    :meth:`~gcl.training.TrainingModule.after_optimizer_step` hook (a target network's moving
    average). The module supplies only :meth:`~gcl.training.TrainingModule.setup`,
    :meth:`~gcl.training.TrainingModule.training_step` and its parameters.

    Args:
        epochs: number of epochs to run: full-batch steps, or passes over ``loader``.
        callbacks: :class:`~gcl.callbacks.Callback` objects (periodic evaluation, early
            stopping...); their state is checkpointed and restored on resume.
        progress: show a progress bar (default: the module's ``progress`` setting, else only
            when stderr is a terminal).
        loader: mini-batch training: an iterable of sampled subgraphs (e.g.
            :class:`gcl.data.NeighborSampler` over ``data``), each with ``batch_size`` seed
            nodes first. Every batch is one optimiser step; the epoch's loss is the mean over
            batches. ``data`` stays where it is; batches move to the device one at a time.
        checkpoint_dir: folder of the rolling checkpoint ``last.pt`` (default: none), written
            atomically every ``checkpoint_every`` epochs and when training ends.
        checkpoint_every: checkpoint period in epochs (default: 10).
        resume: continue from the checkpoint in ``checkpoint_dir`` when there is one; ``epochs``
            then counts from the start of the interrupted run, so the same call finishes it
            (default: ``False``: an existing checkpoint is an error, so that a run is never
            overwritten by accident).
        distributed: data-parallel training over the ranks of an initialised
            ``torch.distributed`` process group (launched by ``torchrun``): ``None`` (default)
            uses it when there is one with several ranks, ``False`` trains alone. The module is
            wrapped in ``DistributedDataParallel``, the objectives compute their rank's share of
            the loss, rank 0 alone writes checkpoints and shows progress, and every rank resumes
            from the same checkpoint (see :mod:`gcl.distributed.training`).

    Attributes:
        runs: how many ``fit`` calls every trainer of this process has started (a class
            attribute).

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import DropEdge
        >>> from gcl.encoders import GCNEncoder
        >>> from gcl.objectives import InfoNCE
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
        >>> pipe = Pipeline(GCNEncoder(6, 8), InfoNCE(), augment=DropEdge(0.2), device="cpu",
        ...                 progress=False)
        >>> len(Trainer(epochs=3).fit(pipe, data).losses)
        3
    """

    runs = 0

    def __init__(self, epochs: int = 100, *, callbacks: Iterable = (),
                 progress: bool | None = None, loader: Iterable | None = None,
                 checkpoint_dir: str | os.PathLike | None = None, checkpoint_every: int = 10,
                 resume: bool = False, distributed: bool | None = None) -> None:
        from ..callbacks import Callback

        self.epochs = int(check_positive(epochs, "epochs", "fit", integer=True))
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise ValueError(f"callbacks must be gcl.callbacks.Callback objects (e.g. "
                                 f"gcl.EarlyStopping, gcl.PeriodicEval), got {cb!r}")
        self.progress = progress
        if loader is not None and (isinstance(loader, (str, bytes, dict)) or
                                   not isinstance(loader, Iterable)):
            raise ValueError(f"loader must be an iterable of sampled subgraphs (e.g. "
                             f"gcl.data.NeighborSampler), got {type(loader).__name__}")
        self.loader = loader
        self.checkpoint_dir = checkpoint_dir
        self.checkpoint_every = int(check_positive(checkpoint_every, "checkpoint_every", "fit",
                                                   integer=True))
        self.resume = bool(resume)
        self.distributed = distributed
        self._ranks = LocalFit()  # the hooks of a data-parallel run, set by fit

    def _show_progress(self, module) -> bool:
        if not self._ranks.writes:
            return False
        progress = self.progress if self.progress is not None else module.progress
        if progress is None:
            progress = sys.stderr.isatty()
        return bool(progress)

    def _checkpoint_path(self) -> Path | None:
        if self.checkpoint_dir is None:
            return None
        folder = Path(self.checkpoint_dir)
        if folder.exists() and not folder.is_dir():
            raise ValueError(f"checkpoint_dir {folder} is a file, not a folder: give a folder "
                             "(it is created when missing)")
        return folder / CHECKPOINT_FILE

    def fit(self, module, data):
        """Train ``module`` on ``data`` and return its :class:`~gcl.training.History`.

        Raises:
            NonFiniteLossError: when the loss or a gradient becomes NaN/inf (the last good
                parameters are kept).
            ValueError: for a checkpoint that cannot be read or does not fit this module.
        """
        Trainer.runs += 1
        ckpt = self._checkpoint_path()
        if module.seed is not None and module.epoch == 0:
            seed_everything(module.seed)
        module.to(module.device)
        check_cpu_precision(module)
        check_loader_graph(self.loader, data)
        data = module.setup(data, move=self.loader is None)
        module.ensure_optimizer()
        target = module.epoch + self.epochs
        payload = None
        if ckpt is not None and ckpt.exists():
            if not self.resume:
                raise ValueError(
                    f"checkpoint {ckpt} already exists: pass resume=True (gcl train --resume) "
                    "to continue that run, or choose an empty checkpoint folder")
            payload = module.load_checkpoint(ckpt, load_optimizer=True, restore_rng=True,
                                             check_meta=True)
            module.history.note_resume(module.epoch)
        self._ranks = fit_context(module, self.loader, self.distributed)
        self._ranks.check_resumed(module)
        if module.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(module.device)
        module.fit_target = target  # the epoch this fit trains to (callbacks read it)
        for cb in self.callbacks:
            cb.on_fit_start(module, data)
        if payload is not None:
            self._restore_callbacks(ckpt, payload.get("callbacks"))
            if payload.get("stopped") or module.epoch >= target:
                return self._end(module)  # a finished run: nothing to train
        return self._loop(module, data, target, ckpt)

    def _restore_callbacks(self, ckpt: Path, states) -> None:
        """Give each stateful callback the saved state of the callback of its type and rank."""
        saved: dict[str, list] = {}
        for entry in states or []:
            saved.setdefault(entry["type"], []).append(entry["state"])
        wanted: dict[str, int] = {}
        for cb in self.callbacks:
            if not cb.state_dict():
                continue
            name = type(cb).__name__
            rank = wanted.get(name, 0)
            wanted[name] = rank + 1
            if rank < len(saved.get(name, [])):
                try:
                    cb.load_state_dict(saved[name][rank])
                except (KeyError, TypeError, ValueError, AttributeError, RuntimeError) as err:
                    detail = " ".join(str(err).split()) or type(err).__name__
                    raise ValueError(f"checkpoint {ckpt}: the saved state of {name} does not "
                                     f"fit it ({detail}); the file was changed or written by "
                                     "something else: delete it to start over") from err
        have = {k: len(v) for k, v in saved.items()}
        if have and have != wanted:
            raise ValueError(f"checkpoint {ckpt} holds the state of the callbacks {have} but "
                             f"this run has {wanted}; resume with the same callbacks (the same "
                             "--eval-every and early-stopping settings)")

    def _loop(self, module, data, target: int, ckpt: Path | None):
        history = module.history
        bar = None
        if self._show_progress(module):
            from tqdm.auto import tqdm

            bar = tqdm(total=target - module.epoch, desc="train", unit="epoch", leave=False)
        last_finite = history.epochs[-1]["loss"] if history.epochs else None
        start, cpu_start = time.perf_counter(), time.process_time()
        prior_train_s = history.meta.get("train_s", 0.0)
        prior_cpu_s = history.meta.get("cpu_s", 0.0)
        stop = False
        try:
            while module.epoch < target:
                epoch = module.epoch + 1
                t0 = time.perf_counter()
                module.train()
                loss_value, logs = self._epoch(module, data, epoch, last_finite)
                if module.scheduler is not None:
                    module.scheduler.step()
                if module.device.type == "cuda":
                    torch.cuda.synchronize(module.device)
                module.epoch = epoch
                last_finite = loss_value
                logs = {"epoch": epoch, "loss": loss_value, "time_s": time.perf_counter() - t0,
                        **logs}
                history.epochs.append(logs)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
                stop = False
                for cb in self.callbacks:
                    stop = bool(cb.on_epoch_end(module, epoch, logs)) or stop
                stop = self._ranks.agree_stop(stop)
                if ckpt is not None and self._ranks.writes and not stop \
                        and epoch % self.checkpoint_every == 0 and epoch < target:
                    # the training time so far travels with the checkpoint (kept on resume)
                    history.meta.update(train_s=prior_train_s + time.perf_counter() - start,
                                        cpu_s=prior_cpu_s + time.process_time() - cpu_start)
                    module.save(ckpt, callbacks=self.callbacks)
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
            times = [e["time_s"] for e in history.epochs]
            train_s = prior_train_s + time.perf_counter() - start
            cpu_s = prior_cpu_s + time.process_time() - cpu_start
            if module.device.type == "cpu":  # on a GPU the host mostly waits: no share
                history.meta["cpu_share"] = cpu_share(cpu_s, train_s)
            history.meta.update(
                train_s=train_s,
                cpu_s=cpu_s,
                epoch_s_median=statistics.median(times) if times else None,
                peak_mem_mb=peak_memory_mb(module.device),
                device=str(module.device),
                epochs=module.epoch,
            )
        self._ranks.describe(history.meta, module)  # collective: on the path every rank takes
        # the last state, before callbacks such as restore-best act
        if ckpt is not None and self._ranks.writes:
            module.save(ckpt, stopped=stop, callbacks=self.callbacks)
        return self._end(module)

    def _end(self, module):
        for cb in self.callbacks:
            cb.on_fit_end(module, module.history)
        return module.history

    def _epoch(self, module, data, epoch: int, last_finite: float | None) -> tuple[float, dict]:
        """One epoch: a full-batch step, or one step per mini-batch of the loader. After each
        optimiser step the module's :meth:`~gcl.training.TrainingModule.after_optimizer_step`
        hook gets the fraction of this fit's steps done before it."""
        self._ranks.begin_epoch(module, epoch)
        total = max(int(getattr(module, "fit_target", epoch)), epoch)
        if self.loader is None:
            out = self._step(module, data, epoch, last_finite)
            module.after_optimizer_step((epoch - 1) / total)
            return out
        batches = len(self.loader) if hasattr(self.loader, "__len__") else 0
        values, logs = [], {}
        for i, batch in enumerate(self.loader):
            check_batch(batch)
            value, logs = self._step(module, module.transfer_batch(batch), epoch, last_finite)
            within = min(i / batches, 1.0) if batches else 0.0
            module.after_optimizer_step((epoch - 1 + within) / total)
            values.append(value)
        if not values:
            raise ValueError("the loader yielded no batches")
        return sum(values) / len(values), {**logs, "batches": float(len(values))}

    def _step(self, module, batch, epoch: int, last_finite: float | None) -> tuple[float, dict]:
        """One optimiser step with the non-finite guard; returns the loss and the step's logs."""
        optimizer = module.optimizer
        optimizer.zero_grad(set_to_none=True)
        step = self._ranks.training_step(module, batch, epoch)
        loss = step.loss
        loss_value = self._ranks.loss_value(float(loss.detach()), module)
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(epoch, last_finite, "loss")
        loss.backward()
        grads = [p.grad for p in module.parameters() if p.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):
            optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(epoch, last_finite, "gradient")
        optimizer.step()
        return loss_value, step.logs
