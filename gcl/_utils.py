"""Small shared helpers: device resolution, seeding and input validation.

Every check raises a single :class:`ValueError` that names the offending input and says how to fix
it, so that users never see a traceback from deep inside torch for a malformed graph.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from typing import Any

import torch

from ._files import atomic_target, excerpt  # noqa: F401  (atomic_target: re-exported)
from ._graphs import validate_graph  # noqa: F401  (re-exported)

__all__ = [
    "resolve_device",
    "seed_everything",
    "check_probability",
    "check_positive",
    "check_choice",
    "validate_graph",
    "make_generator",
    "check_cluster_count",
    "check_allocation",
]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or a :class:`torch.device` into a device.

    ``"auto"`` (and ``None``) picks CUDA when it is available and the CPU otherwise.

    Args:
        device: the requested device (default: ``"auto"``).

    Returns:
        torch.device: the resolved device.

    Raises:
        ValueError: for an unknown name, or ``"cuda"`` on a machine without CUDA.

    Example:
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"unknown device {excerpt(device)}: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'"
        ) from err
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device {excerpt(device)} is not supported: gcl trains on 'cpu' or 'cuda' "
            "('cuda:<index>'); use device='auto' to pick CUDA when it is available"
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or 'cpu'"
        )
    return dev


#: the largest seed: seeds travel as torch/numpy int64 values
from ._constants import MAX_SEED  # noqa: E402,F401  (re-exported)


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one integer.

    CUDA scatter operations stay non-deterministic unless
    ``torch.use_deterministic_algorithms(True)`` is also set, so report seeds and spreads
    rather than promising bit-identical GPU runs.

    Args:
        seed: an integer in ``[0, 2**63 - 1]`` (what a torch ``int64`` holds).

    Example:
        >>> seed_everything(0)
        >>> a = torch.rand(2); seed_everything(0); bool((a == torch.rand(2)).all())
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**63 - 1], got {excerpt(seed)}")
    random.seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % (2**32))
    except ImportError:  # pragma: no cover - numpy ships with torch_geometric
        pass
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator | None:
    """A :class:`torch.Generator` on ``device`` seeded with ``seed``, or ``None`` for ``seed=None``.

    ``None`` means "draw from torch's global RNG" (seeded by :func:`seed_everything`).

    Example:
        >>> g = make_generator(3)
        >>> float(torch.rand(1, generator=g)) == float(torch.rand(1, generator=make_generator(3)))
        True
    """
    if seed is None:
        return None
    gen = torch.Generator(device=torch.device(device))
    gen.manual_seed(int(seed))
    return gen


def check_probability(value: Any, name: str, owner: str | None = None) -> float:
    """Return ``value`` as a float after checking that it lies in [0, 1].

    Args:
        value: the number to check.
        name: the argument's name, used in the error message.
        owner: the class or function the argument belongs to, used in the error message.

    Raises:
        ValueError: when ``value`` is not a real number in [0, 1].

    Example:
        >>> check_probability(0.3, "p")
        0.3
    """
    where = f" of {owner}" if owner else ""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"argument '{name}'{where} must be a number in [0, 1], got "
                         f"{excerpt(value)}")
    value = float(value)
    if not (0.0 <= value <= 1.0) or math.isnan(value):
        raise ValueError(
            f"argument '{name}'{where} must be a probability in [0, 1], got {value}"
        )
    return value


def check_positive(value: Any, name: str, owner: str | None = None, *, allow_zero: bool = False,
                   integer: bool = False) -> Any:
    """Check that ``value`` is a (strictly, unless ``allow_zero``) positive number.

    Example:
        >>> check_positive(0.5, "tau")
        0.5
    """
    where = f" of {owner}" if owner else ""
    kind = "integer" if integer else "number"
    ok_type = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, ok_type) or (
        isinstance(value, float) and not math.isfinite(value)
    ):
        raise ValueError(f"argument '{name}'{where} must be a finite {kind}, got "
                         f"{excerpt(value)}")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"argument '{name}'{where} must be {bound}, got {value}")
    return value


def check_choice(value: Any, name: str, choices: Iterable[str], owner: str | None = None) -> str:
    """Check that ``value`` is one of ``choices`` (case-insensitive) and return it lower-cased.

    Example:
        >>> check_choice("ReLU", "activation", ["relu", "prelu"])
        'relu'
    """
    choices = list(choices)
    where = f" of {owner}" if owner else ""
    if not isinstance(value, str) or value.lower() not in choices:
        raise ValueError(f"argument '{name}'{where} must be one of {choices}, got "
                         f"{excerpt(value)}")
    return value.lower()


def check_cluster_count(k: Any, n: int, name: str, owner: str) -> int:
    """Check that ``k`` clusters can be formed from ``n`` points (``1 <= k <= n``).

    Args:
        k: the cluster count.
        n: the number of points clustered.
        name: the argument's name, for the message.
        owner: the class or function it belongs to, for the message.

    Returns:
        int: ``k``.

    Example:
        >>> check_cluster_count(3, 10, "num_clusters", "MEOWLoss")
        3
    """
    k = check_positive(k, name, owner, integer=True)
    if k > n:
        raise ValueError(
            f"argument '{name}' of {owner} asks for {k} clusters of {n} nodes; a clustering "
            f"needs at least one node per cluster: use at most {n}"
        )
    return k


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_allocation(num_bytes: float, what: str, fix: str) -> None:
    """Refuse an allocation larger than the memory available, before torch tries it.

    Args:
        num_bytes: the size the computation would allocate.
        what: what it is, e.g. ``"the probe's one-hot targets (N x C)"``.
        fix: how to avoid it.

    Raises:
        ValueError: naming the size, what needs it and the fix.

    Example:
        >>> check_allocation(1024, "a small buffer", "nothing to fix")
    """
    from ._files import format_bytes

    available = _available_memory()
    if available is None:
        available = 1 << 50
    if num_bytes > available:
        raise ValueError(f"{what} would need {format_bytes(num_bytes)}, more than the "
                         f"{format_bytes(available)} of memory available; {fix}")
