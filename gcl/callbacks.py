"""Training callbacks: periodic evaluation and early stopping.

Callbacks hook into the one training loop (:class:`gcl.training.Trainer`), whatever the method.
Their state (an early-stopping counter, the best state so far) goes into the checkpoint through
:meth:`Callback.state_dict` and comes back on resume through :meth:`Callback.load_state_dict`.
"""

from __future__ import annotations

import copy
import math
import statistics
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._utils import check_positive

if TYPE_CHECKING:  # pragma: no cover
    from .training import History, TrainingModule

__all__ = ["Callback", "PeriodicEval", "EarlyStopping", "LambdaCallback", "CostEstimate"]


class Callback:
    """Hooks called by the training loop.

    Override any of :meth:`on_fit_start`, :meth:`on_epoch_end` and :meth:`on_fit_end`;
    :meth:`on_epoch_end` returns ``True`` to stop training after this epoch. A callback with
    state that must survive an interruption overrides :meth:`state_dict` and
    :meth:`load_state_dict` (plain values and tensors: checkpoints load with
    ``weights_only=True``).

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, module, epoch, logs):
        ...         print(epoch, round(logs["loss"], 3))
    """

    def on_fit_start(self, module: TrainingModule, data: Any) -> None:
        """Called once before the first epoch of a ``fit`` (also when it resumes)."""

    def on_epoch_end(self, module: TrainingModule, epoch: int, logs: dict) -> bool | None:
        """Called after every epoch with that epoch's logs; return ``True`` to stop."""
        return None

    def on_fit_end(self, module: TrainingModule, history: History) -> None:
        """Called once after training (also after an early stop)."""

    def state_dict(self) -> dict:
        """The callback's state for the checkpoint (default: none)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        """Restore a :meth:`state_dict` (called on resume, after :meth:`on_fit_start`)."""


class LambdaCallback(Callback):
    """A callback from a function ``fn(module, epoch, logs) -> bool | None`` called every epoch.

    Args:
        fn: called after every epoch; returning ``True`` stops training.

    Example:
        >>> cb = LambdaCallback(lambda module, epoch, logs: epoch >= 3)  # stop after epoch 3
    """

    def __init__(self, fn: Callable[[Any, int, dict], bool | None]) -> None:
        if not callable(fn):
            raise ValueError(f"LambdaCallback needs a function (module, epoch, logs), got {fn!r}")
        self.fn = fn

    def on_epoch_end(self, module, epoch, logs):
        return self.fn(module, epoch, logs)


class PeriodicEval(Callback):
    """Evaluate the model every ``every`` epochs and store the scores in ``history.evals``.

    Every global random state is put back after each evaluation, so a run trains exactly as it
    would without the callback (an evaluation that draws dropout masks or k-means seeds does
    not shift the training's random streams).

    Args:
        fn: ``fn(module, data) -> dict`` of scores, e.g. a linear probe on
            ``module.embed(data)``.
        every: evaluation period in epochs (default: 100).
        at_end: also evaluate after the last epoch when it is not a multiple of ``every``
            (default: ``True``).
        at_start: also evaluate before the first epoch, as epoch 0 (default: ``False``).

    Example:
        >>> from gcl.evaluation import linear_probe
        >>> def probe(module, data):
        ...     z = module.embed(data)
        ...     r = linear_probe(z, data.y, data.train_mask, data.val_mask, data.test_mask)
        ...     return {"accuracy": r["accuracy"]["mean"]}
        >>> cb = PeriodicEval(probe, every=50)
    """

    def __init__(self, fn: Callable[[Any, Any], dict], every: int = 100, at_end: bool = True,
                 at_start: bool = False):
        if not callable(fn):
            raise ValueError(f"PeriodicEval needs a function (module, data) -> dict, got {fn!r}")
        self.fn = fn
        self.every = check_positive(every, "every", "PeriodicEval", integer=True)
        self.at_end = at_end
        self.at_start = at_start
        self._data = None
        self._last = -1

    def on_fit_start(self, module, data):
        self._data = data
        if self.at_start and module.epoch == 0 and self._last < 0:
            self._run(module, 0)

    def _run(self, module, epoch):
        from .training.state import get_rng_state, set_rng_state

        state = get_rng_state()
        try:
            scores = dict(self.fn(module, self._data))
        finally:
            set_rng_state(state)
        module.history.evals.append({"epoch": epoch, **scores})
        self._last = epoch

    def on_epoch_end(self, module, epoch, logs):
        if epoch % self.every == 0:
            self._run(module, epoch)
        return None

    def on_fit_end(self, module, history):
        last = history.epochs[-1]["epoch"] if history.epochs else 0
        if self.at_end and last and self._last != last:
            self._run(module, last)

    def state_dict(self) -> dict:
        return {"last": self._last}

    def load_state_dict(self, state: dict) -> None:
        self._last = int(state.get("last", self._last))


class EarlyStopping(Callback):
    """Stop when a logged quantity has not improved for ``patience`` epochs, and (by default)
    put the best state back when training ends.

    Args:
        monitor: the log key to watch (default: ``"loss"``).
        patience: epochs without improvement before stopping; ``None`` never stops and only
            keeps the best state (default: 20).
        mode: ``"min"`` (default) or ``"max"``.
        min_delta: smallest change that counts as an improvement (default: 0).
        restore_best: load the best state back when training ends (default: ``True``).

    The counters and the best state are saved in checkpoints, so a resumed run stops where an
    uninterrupted one would. ``history.meta`` gets ``best_epoch``, ``best_<monitor>`` and, when
    it stopped the run, ``stopped_epoch``.

    Example:
        >>> stopper = EarlyStopping(patience=20)   # MEOW/DGI style: stop on the loss
    """

    def __init__(self, monitor: str = "loss", patience: int | None = 20, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"argument 'mode' of EarlyStopping must be 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        if patience is not None:
            patience = check_positive(patience, "patience", "EarlyStopping", integer=True)
        self.patience = patience
        self.mode = mode
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self._reset()

    def _reset(self) -> None:
        self.best: float = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.stopped_epoch, self._wait = 0, 0, 0
        self._best_state: dict | None = None

    def on_fit_start(self, module, data):
        self._reset()

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, module, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs "
                f"({sorted(logs)}); pick one of those"
            )
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self._best_state = copy.deepcopy(module.model_state_dict())
            return None
        self._wait += 1
        if self.patience is not None and self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_fit_end(self, module, history):
        if self.restore_best and self._best_state is not None:
            module.load_model_state_dict(self._best_state)
        history.meta["best_epoch"] = self.best_epoch
        history.meta[f"best_{self.monitor}"] = self.best
        if self.stopped_epoch:
            history.meta["stopped_epoch"] = self.stopped_epoch

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self._wait,
                "stopped_epoch": self.stopped_epoch, "best_state": self._best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best = float(state["best"])
        self.best_epoch = int(state["best_epoch"])
        self._wait = int(state["wait"])
        self.stopped_epoch = int(state["stopped_epoch"])
        self._best_state = state.get("best_state")


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class CostEstimate(Callback):
    """Say what a long run will cost once its first epochs have run: the time per epoch, the
    time for the run and for all ``runs``, and the peak memory so far (once per fit, and only
    when the estimate exceeds ``min_total_s``).

    Args:
        runs: how many runs of this size are still to go, this one included (default: 1).
        after_epochs: epochs to time before estimating (default: 3; the median is used).
        min_total_s: stay silent when the whole estimate is below this (default: 60 s).
        log: where the line goes (default: standard error).

    Example:
        >>> lines = []
        >>> cb = CostEstimate(runs=2, after_epochs=1, min_total_s=0, log=lines.append)
    """

    def __init__(self, runs: int = 1, after_epochs: int = 3, min_total_s: float = 60.0,
                 log: Callable[[str], None] | None = None) -> None:
        self.runs = int(check_positive(runs, "runs", "CostEstimate", integer=True))
        self.after_epochs = int(check_positive(after_epochs, "after_epochs", "CostEstimate",
                                               integer=True))
        self.min_total_s = float(min_total_s)
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._times: list[float] = []
        self._done = False

    def on_fit_start(self, module, data):
        self._times, self._done, self._last = [], False, time.perf_counter()

    def on_epoch_end(self, module, epoch, logs):
        now = time.perf_counter()
        self._times.append(now - self._last)  # callbacks and checkpoints included
        self._last = now
        if self._done or len(self._times) < self.after_epochs:
            return None
        self._done = True
        per_epoch = statistics.median(self._times)
        target = int(getattr(module, "fit_target", epoch))
        total = per_epoch * target
        every = total * self.runs
        if every < self.min_total_s:
            return None
        from .training.history import peak_memory_mb

        peak = peak_memory_mb(module.device)
        runs = f" (~{_duration(every)} for {self.runs} runs)" if self.runs > 1 else ""
        self.log(f"[gcl] {per_epoch:.3g} s per epoch: ~{_duration(total)} for this run's "
                 f"{target} epochs{runs}; peak memory so far {peak / 1024:.2f} GiB on "
                 f"{module.device}")
        return None
