"""What a training run records: the :class:`History`, the non-finite error, peak memory."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import torch

__all__ = ["History", "NonFiniteLossError", "cpu_share", "mean_cpu_share", "peak_memory_mb",
           "share_suffix"]


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


def cpu_share(cpu_s: float, wall_s: float, threads: int | None = None) -> float:
    """The share of the CPU a process got while it trained: its CPU time over what its
    ``threads`` torch threads could have used in ``wall_s`` (about 1 on an idle machine, 0.5 when
    another busy process shares each core). Records and estimates carry it, so that a time
    measured on a loaded machine shows it.

    Args:
        cpu_s: the process's CPU time (:func:`time.process_time`) over the span.
        wall_s: the span's wall-clock time.
        threads: torch threads (default: :func:`torch.get_num_threads`).

    Returns:
        float: the share (above 1 when other threads of the process, such as data loading,
        worked too).

    Example:
        >>> cpu_share(3.0, 4.0, threads=1), cpu_share(3.0, 2.0, threads=2)
        (0.75, 0.75)
    """
    threads = torch.get_num_threads() if threads is None else threads
    return float(cpu_s) / max(float(wall_s) * max(int(threads), 1), 1e-9)


def mean_cpu_share(runs: list[dict]) -> dict:
    """``{"cpu_share": mean}`` over ``runs`` when every run recorded the share of the CPU it
    trained with (see :func:`cpu_share`), else ``{}``: a record's timing
    says whether its times were taken on a busy machine.

    Args:
        runs: per-run entries of a record (each may hold ``cpu_share``).

    Returns:
        dict: ``{"cpu_share": mean}``, or ``{}`` when a run lacks it.

    Example:
        >>> mean_cpu_share([{"cpu_share": 0.5}, {"cpu_share": 1.0}]), mean_cpu_share([{}])
        ({'cpu_share': 0.75}, {})
    """
    shares = [run.get("cpu_share") for run in runs]
    if not shares or any(s is None for s in shares):
        return {}
    return {"cpu_share": sum(shares) / len(shares)}


def share_suffix(share: float | None) -> str:
    """How tables and summaries show a CPU share after the device: ``", CPU share 0.87"``, or
    nothing when there is none (a GPU run, an older record).

    Args:
        share: the CPU share (:func:`cpu_share`) or ``None``.

    Returns:
        str: the text to append after the device.

    Example:
        >>> share_suffix(0.871), share_suffix(None)
        (', CPU share 0.87', '')
    """
    return "" if share is None else f", CPU share {share:.2f}"


@dataclass
class History:
    """What a training run recorded (:meth:`gcl.Pipeline.fit` and every other module's ``fit``).

    Attributes:
        epochs: one dict per epoch with ``epoch``, ``loss``, ``time_s`` and any logged loss parts.
        evals: one dict per periodic evaluation (``epoch`` plus the scores).
        meta: run-level facts (``train_s``, ``cpu_s``, ``cpu_share`` on the CPU,
            ``epoch_s_median``, ``peak_mem_mb``, ``device``, ...).

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
