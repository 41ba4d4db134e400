"""What a training run records: the :class:`History`, the non-finite error, peak memory."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

__all__ = ["History", "NonFiniteLossError", "peak_memory_mb"]


class NonFiniteLossError(RuntimeError):
    """Raised when the loss or a gradient becomes NaN or infinite.

    The loop keeps the last good parameters (the step that produced the non-finite value is
    not applied). ``epoch`` is the failing epoch and ``last_finite_loss`` the previous loss.

    Args:
        epoch: the epoch whose loss or gradient was not finite.
        last_finite_loss: the loss of the last good epoch (``None`` at the first epoch).
        what: ``"loss"`` or ``"gradient"`` (default: ``"loss"``).

    Example:
        >>> err = NonFiniteLossError(7, 1.25)
        >>> err.epoch, err.last_finite_loss
        (7, 1.25)
    """

    def __init__(self, epoch: int, last_finite_loss: float | None, what: str = "loss") -> None:
        self.epoch = epoch
        self.last_finite_loss = last_finite_loss
        last = "none (first epoch)" if last_finite_loss is None else f"{last_finite_loss:.6g}"
        super().__init__(
            f"the {what} became NaN or infinite at epoch {epoch}; last finite loss: {last}. "
            "Training stopped and the parameters of the last good step were kept. Try a smaller "
            "learning rate, a larger temperature, or check the input features for extreme values."
        )


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: CUDA's peak allocation on a GPU, the process's peak RSS on the CPU.

    Args:
        device: the training device.

    Returns:
        float: the peak in MiB (NaN where the platform cannot tell).

    Example:
        >>> peak_memory_mb(torch.device("cpu")) > 0
        True
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20
    except ImportError:  # pragma: no cover - Windows
        return float("nan")


@dataclass
class History:
    """What a training run recorded (:meth:`gcl.Pipeline.fit` and every other module's ``fit``).

    Attributes:
        epochs: one dict per epoch with ``epoch``, ``loss``, ``time_s`` and any logged loss parts.
        evals: one dict per periodic evaluation (``epoch`` plus the scores).
        meta: run-level facts (``train_s``, ``epoch_s_median``, ``peak_mem_mb``, ``device``, ...).

    Example:
        >>> h = History(epochs=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}])
        >>> h.losses
        [2.0, 1.5]
    """

    epochs: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def losses(self) -> list[float]:
        """The loss of every epoch, in order."""
        return [e["loss"] for e in self.epochs]

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return {"epochs": list(self.epochs), "evals": list(self.evals), "meta": dict(self.meta)}

    @classmethod
    def from_dict(cls, d: dict | None) -> History:
        """The inverse of :meth:`to_dict` (missing parts are empty)."""
        d = d or {}
        return cls(list(d.get("epochs", [])), list(d.get("evals", [])), dict(d.get("meta", {})))

    def note_resume(self, epoch: int) -> None:
        """Record in ``meta["resumes"]`` that training was picked up from a checkpoint at
        ``epoch``, with the training time spent before (``meta["train_s"]``)."""
        self.meta.setdefault("resumes", []).append(
            {"epoch": epoch, "train_s": self.meta.get("train_s", 0.0)})
