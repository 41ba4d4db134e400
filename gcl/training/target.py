"""A target network: a slowly moving copy of an online network (BYOL, BGRL).

:class:`TargetNetwork` is a part like any other: a training module holds one beside the online
network it follows, calls it in ``training_step`` (without gradients) and puts what it produces
in the :class:`~gcl.objectives.Step` (``step.target``). After every optimiser step the one loop
calls :meth:`TargetNetwork.after_optimizer_step` (through
:meth:`gcl.training.TrainingModule.after_optimizer_step`), which moves the target's parameters
towards the online ones by an exponential moving average whose momentum follows a schedule over
the run. Its parameters are registered, so checkpoints and resume carry them.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from .._utils import check_choice, check_probability

__all__ = ["TargetNetwork", "momentum_at", "SCHEDULES"]

#: Momentum schedules: ``"cosine"`` rises from the base momentum to 1 along a half cosine over
#: the run (BYOL, BGRL); ``"constant"`` keeps the base momentum.
SCHEDULES = ("cosine", "constant")


def momentum_at(progress: float, base: float = 0.99, schedule: str = "cosine") -> float:
    """The moving-average momentum ``τ`` after a fraction ``progress`` of the run.

    ``"cosine"``: ``τ = 1 - (1 - base) · (cos(π · progress) + 1) / 2``, so ``τ = base`` at the
    first step and ``τ → 1`` at the end; ``"constant"``: ``τ = base``.

    Args:
        progress: fraction of the run's optimiser steps done before this update, in [0, 1].
        base: the momentum at the start, in [0, 1] (default: 0.99).
        schedule: ``"cosine"`` or ``"constant"`` (default: ``"cosine"``).

    Returns:
        float: the momentum ``τ``.

    Raises:
        ValueError: ``progress`` or ``base`` outside [0, 1], or an unknown schedule.

    Example:
        >>> momentum_at(0.0), momentum_at(0.5), momentum_at(1.0)
        (0.99, 0.995, 1.0)
    """
    if not 0.0 <= float(progress) <= 1.0:
        raise ValueError(f"progress must be in [0, 1], got {progress}")
    base = check_probability(base, "momentum", "TargetNetwork")
    schedule = check_choice(schedule, "schedule", SCHEDULES, "TargetNetwork")
    if schedule == "constant":
        return base
    return 1.0 - (1.0 - base) * (math.cos(math.pi * float(progress)) + 1.0) / 2.0


class TargetNetwork(nn.Module):
    """A copy of ``online`` updated as ``θ_target ← τ θ_target + (1 - τ) θ_online`` after every
    optimiser step, with ``τ`` from :func:`momentum_at`; it never receives gradients.

    Only parameters follow the online network; buffers (batch-norm statistics) are the target's
    own, updated by its own forward passes in training mode, as in the BGRL reference code.
    Calling it runs the copy under ``torch.no_grad()`` with the online network's signature.

    Args:
        online: the network to follow (usually the encoder). It stays registered where it is;
            this part keeps a reference to it, not a second registration.
        momentum: the base momentum ``τ`` in [0, 1] (default: 0.99).
        schedule: ``"cosine"`` (``τ`` rises to 1 over the run, BGRL) or ``"constant"``
            (default: ``"cosine"``).
        init: ``"copy"`` (start equal to the online network, BYOL) or ``"reset"`` (a copy whose
            parameters are drawn afresh with the network's ``reset_parameters()``, as the BGRL
            reference code does) (default: ``"copy"``).

    Attributes:
        momentum_now: the momentum used by the last update (``None`` before the first).

    Example:
        >>> online = nn.Linear(3, 2)
        >>> target = TargetNetwork(online, momentum=0.5, schedule="constant")
        >>> with torch.no_grad():
        ...     _ = online.weight.add_(1.0)
        >>> before = target.network.weight.clone()
        >>> target.after_optimizer_step(0.0)
        >>> torch.allclose(target.network.weight, 0.5 * before + 0.5 * online.weight)
        True
    """

    def __init__(self, online: nn.Module, momentum: float = 0.99, schedule: str = "cosine",
                 init: str = "copy") -> None:
        super().__init__()
        if not isinstance(online, nn.Module):
            raise ValueError(f"TargetNetwork follows an nn.Module (e.g. the encoder), got "
                             f"{type(online).__name__}")
        self.base_momentum = check_probability(momentum, "momentum", "TargetNetwork")
        self.schedule = check_choice(schedule, "schedule", SCHEDULES, "TargetNetwork")
        self.init = check_choice(init, "init", ("copy", "reset"), "TargetNetwork")
        self._online = (online,)  # a tuple: not registered a second time
        self.network = copy.deepcopy(online)
        if self.init == "reset":
            reset = getattr(self.network, "reset_parameters", None)
            if not callable(reset):
                raise ValueError(f"TargetNetwork(init='reset') needs {type(online).__name__}."
                                 "reset_parameters(); use init='copy'")
            reset()
        for p in self.network.parameters():
            p.requires_grad_(False)
        self.momentum_now: float | None = None

    @property
    def online(self) -> nn.Module:
        """The online network this target follows."""
        return self._online[0]

    def forward(self, *args, **kwargs):
        with torch.no_grad():
            return self.network(*args, **kwargs)

    @torch.no_grad()
    def update(self, momentum: float) -> None:
        """Move every parameter towards the online one: ``t ← m·t + (1 - m)·o``.

        Args:
            momentum: the momentum ``m`` in [0, 1].

        Raises:
            ValueError: when the online network's parameters no longer match the copy's.
        """
        m = check_probability(momentum, "momentum", "TargetNetwork.update")
        online = dict(self.online.named_parameters())
        target = dict(self.network.named_parameters())
        if online.keys() != target.keys():
            raise ValueError("TargetNetwork: the online network's parameters changed since the "
                             "copy was made; build the TargetNetwork after the network is final")
        for name, t in target.items():
            o: Tensor = online[name]
            t.mul_(m).add_(o.detach().to(t.dtype), alpha=1.0 - m)
        self.momentum_now = m

    def after_optimizer_step(self, progress: float) -> None:
        """The loop's per-step hook: update with the momentum of the schedule at ``progress``
        (the fraction of the run's optimiser steps done before this one).

        Args:
            progress: in [0, 1].
        """
        self.update(momentum_at(progress, self.base_momentum, self.schedule))

    def extra_repr(self) -> str:
        return f"momentum={self.base_momentum}, schedule={self.schedule}, init={self.init}"
