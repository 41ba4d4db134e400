"""Training callbacks: periodic evaluation and early stopping."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._utils import check_positive

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline import History, Pipeline

__all__ = ["Callback", "PeriodicEval", "EarlyStopping", "LambdaCallback"]


class Callback:
    """Hooks called by :meth:`gcl.Pipeline.fit`.

    Override any of :meth:`on_fit_start`, :meth:`on_epoch_end` and :meth:`on_fit_end`.
    :meth:`on_epoch_end` returns ``True`` to stop training after this epoch.

    Example:
        >>> class PrintLoss(Callback):
        ...     def on_epoch_end(self, pipeline, epoch, logs):
        ...         print(epoch, round(logs["loss"], 3))
    """

    def on_fit_start(self, pipeline: Pipeline, data: Any) -> None:
        """Called once before the first epoch."""

    def on_epoch_end(self, pipeline: Pipeline, epoch: int, logs: dict) -> bool | None:
        """Called after every epoch with that epoch's logs; return ``True`` to stop."""
        return None

    def on_fit_end(self, pipeline: Pipeline, history: History) -> None:
        """Called once after training (also after an early stop)."""


class LambdaCallback(Callback):
    """A callback from a function ``fn(pipeline, epoch, logs) -> bool | None`` called every epoch.

    Args:
        fn: called after every epoch; returning ``True`` stops training.

    Example:
        >>> cb = LambdaCallback(lambda p, epoch, logs: epoch >= 3)  # stop after epoch 3
    """

    def __init__(self, fn: Callable[[Any, int, dict], bool | None]) -> None:
        self.fn = fn

    def on_epoch_end(self, pipeline, epoch, logs):
        return self.fn(pipeline, epoch, logs)


class PeriodicEval(Callback):
    """Evaluate the embeddings every ``every`` epochs and store the scores in the history.

    Args:
        fn: ``fn(pipeline, data) -> dict`` of scores, e.g. a linear probe on
            ``pipeline.embed(data)``.
        every: evaluation period in epochs (default: 100).
        at_end: also evaluate after the last epoch when it is not a multiple of ``every``
            (default: ``True``).

    Example:
        >>> from gcl.evaluation import linear_probe
        >>> def probe(pipeline, data):
        ...     z = pipeline.embed(data)
        ...     r = linear_probe(z, data.y, data.train_mask, data.val_mask, data.test_mask)
        ...     return {"accuracy": r["accuracy"]["mean"]}
        >>> cb = PeriodicEval(probe, every=50)
    """

    def __init__(self, fn: Callable[[Any, Any], dict], every: int = 100, at_end: bool = True):
        self.fn = fn
        self.every = check_positive(every, "every", "PeriodicEval", integer=True)
        self.at_end = at_end
        self._data = None
        self._last = 0

    def on_fit_start(self, pipeline, data):
        self._data = data
        self._last = 0

    def _run(self, pipeline, epoch):
        scores = dict(self.fn(pipeline, self._data))
        pipeline.history.evals.append({"epoch": epoch, **scores})
        self._last = epoch

    def on_epoch_end(self, pipeline, epoch, logs):
        if epoch % self.every == 0:
            self._run(pipeline, epoch)
        return None

    def on_fit_end(self, pipeline, history):
        last = history.epochs[-1]["epoch"] if history.epochs else 0
        if self.at_end and last and self._last != last:
            self._run(pipeline, last)


class EarlyStopping(Callback):
    """Stop when a logged quantity has not improved for ``patience`` epochs.

    Args:
        monitor: the log key to watch (default: ``"loss"``).
        patience: epochs without improvement before stopping (default: 20).
        mode: ``"min"`` (default) or ``"max"``.
        min_delta: smallest change that counts as an improvement (default: 0).
        restore_best: load the best state back when training ends (default: ``True``).

    Example:
        >>> stopper = EarlyStopping(patience=20)   # MEOW/DGI style: stop on the loss
    """

    def __init__(self, monitor: str = "loss", patience: int = 20, mode: str = "min",
                 min_delta: float = 0.0, restore_best: bool = True) -> None:
        if mode not in ("min", "max"):
            raise ValueError(f"argument 'mode' of EarlyStopping must be 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.patience = check_positive(patience, "patience", "EarlyStopping", integer=True)
        self.mode = mode
        self.min_delta = float(min_delta)
        self.restore_best = restore_best
        self.best: float = math.inf if mode == "min" else -math.inf
        self.best_epoch = 0
        self.stopped_epoch = 0
        self._best_state: dict | None = None
        self._wait = 0

    def on_fit_start(self, pipeline, data):
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.stopped_epoch, self._wait, self._best_state = 0, 0, 0, None

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, pipeline, epoch, logs):
        if self.monitor not in logs:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which is not in the logs "
                f"({sorted(logs)}); pick one of those"
            )
        value = float(logs[self.monitor])
        if self._improved(value):
            self.best, self.best_epoch, self._wait = value, epoch, 0
            if self.restore_best:
                self._best_state = copy.deepcopy(pipeline.model_state_dict())
            return None
        self._wait += 1
        if self._wait >= self.patience:
            self.stopped_epoch = epoch
            return True
        return None

    def on_fit_end(self, pipeline, history):
        if self.restore_best and self._best_state is not None:
            pipeline.load_model_state_dict(self._best_state)
        history.meta["best_epoch"] = self.best_epoch
        if self.stopped_epoch:
            history.meta["stopped_epoch"] = self.stopped_epoch
