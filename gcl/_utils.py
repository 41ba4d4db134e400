"""Small shared helpers: device resolution, seeding and input validation.

Every check raises a single :class:`ValueError` that names the offending input and says how to fix
it, so that users never see a traceback from deep inside torch for a malformed graph.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "resolve_device",
    "seed_everything",
    "check_probability",
    "check_positive",
    "check_choice",
    "validate_graph",
    "make_generator",
]


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, *, durable: bool = False) -> Iterator[Path]:
    """Yield a fresh temporary file beside ``path``; once the block ends, rename it over ``path``.

    Readers never see a half-written file, and processes that write the same cache entry at
    once cannot collide: each gets its own temporary name (it keeps ``path``'s suffix, so
    ``np.savez`` and ``scipy.sparse.save_npz`` add nothing). The temporary file is removed when
    the block raises. ``durable=True`` also fsyncs the file and the folder (for checkpoints).
    The file gets the usual permissions (``0o666`` less the umask), not ``mkstemp``'s ``0o600``.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_target(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}",
                                dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
        if durable:
            with contextlib.suppress(OSError):  # e.g. Windows cannot open a folder
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


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
            f"unknown device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:<index>'"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} was requested but CUDA is not available on this machine; "
            "use device='auto' or 'cpu'"
        )
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and CUDA) with one integer.

    CUDA scatter operations stay non-deterministic unless
    ``torch.use_deterministic_algorithms(True)`` is also set, so report seeds and spreads
    rather than promising bit-identical GPU runs.

    Args:
        seed: a non-negative integer.

    Example:
        >>> seed_everything(0)
        >>> a = torch.rand(2); seed_everything(0); bool((a == torch.rand(2)).all())
        True
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
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
        raise ValueError(f"argument '{name}'{where} must be a number in [0, 1], got {value!r}")
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
        raise ValueError(f"argument '{name}'{where} must be a finite {kind}, got {value!r}")
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
        raise ValueError(f"argument '{name}'{where} must be one of {choices}, got {value!r}")
    return value.lower()


def validate_graph(data: Any, *, name: str = "data", require_x: bool = True,
                   require_y: bool = False) -> None:
    """Check a PyG ``Data`` object before training on it.

    Checks that ``edge_index`` is an integer tensor of shape ``[2, E]`` with every index in
    ``[0, num_nodes)``; that ``x`` (when present or required) is a dense 2-D floating tensor with
    one row per node and only finite values; that ``edge_weight`` (when present) has one finite
    value per edge; that ``y`` and the split masks (``train_mask``, ``val_mask``, ``test_mask``,
    when present) have one entry per node; and that the graph has at least one node. Isolated
    nodes, self-loops and duplicate edges are allowed: the encoders handle them.

    Args:
        data: the graph.
        name: how to call the graph in error messages (default: ``"data"``).
        require_x: fail when ``data.x`` is missing (default: ``True``).
        require_y: fail when ``data.y`` is missing (default: ``False``).

    Raises:
        ValueError: naming the first problem found and how to fix it.

    Example:
        >>> from torch_geometric.data import Data
        >>> validate_graph(Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]])))
    """
    if not hasattr(data, "edge_index") or not hasattr(data, "num_nodes"):
        raise ValueError(
            f"{name} must be a torch_geometric.data.Data graph (with x and edge_index), got "
            f"{type(data).__name__}"
        )
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise ValueError(f"{name}.edge_index is missing: give the graph a [2, E] edge_index tensor")
    if not isinstance(edge_index, Tensor):
        raise ValueError(f"{name}.edge_index must be a torch.Tensor, got {type(edge_index).__name__}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(
            f"{name}.edge_index must have shape [2, E], got {list(edge_index.shape)}; "
            "if you have a list of (source, target) pairs, pass edge_index.t().contiguous()"
        )
    if edge_index.dtype.is_floating_point or edge_index.dtype == torch.bool:
        raise ValueError(
            f"{name}.edge_index must hold integer node indices, got dtype {edge_index.dtype}; "
            "convert it with edge_index.long()"
        )
    x = getattr(data, "x", None)
    num_nodes = data.num_nodes if hasattr(data, "num_nodes") else None
    if num_nodes is None or num_nodes == 0:
        raise ValueError(f"{name} has no nodes: an empty graph cannot be trained on or evaluated")
    if edge_index.numel() > 0:
        lo, hi = int(edge_index.min()), int(edge_index.max())
        if lo < 0 or hi >= num_nodes:
            bad = lo if lo < 0 else hi
            source = f" (the number of rows of {name}.x)" if x is not None else ""
            raise ValueError(
                f"{name}.edge_index holds node index {bad}, outside [0, {num_nodes - 1}] for a graph "
                f"with {num_nodes} nodes{source}; fix the edge list, or give every node a row"
            )
    if x is None:
        if require_x:
            raise ValueError(f"{name}.x is missing: give every node a feature row ([N, F] tensor)")
    else:
        if isinstance(x, Tensor) and x.layout != torch.strided:
            raise ValueError(f"{name}.x is a sparse tensor ({x.layout}); pass x.to_dense()")
        if not isinstance(x, Tensor) or x.dim() != 2:
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"{name}.x must be a 2-D [num_nodes, num_features] tensor, got {shape}")
        if x.size(0) != num_nodes:
            raise ValueError(
                f"{name}.x has {x.size(0)} rows but the graph has {num_nodes} nodes; "
                "x needs one row per node"
            )
        if not x.is_floating_point():
            raise ValueError(f"{name}.x must be a floating tensor, got {x.dtype}; use x.float()")
        if x.numel() > 0 and not bool(torch.isfinite(x).all()):
            bad_rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten()
            raise ValueError(
                f"{name}.x holds NaN or infinite values in {bad_rows.numel()} row(s) "
                f"(first: node {int(bad_rows[0])}); impute or drop them before training"
            )
    edge_weight = getattr(data, "edge_weight", None)
    if edge_weight is not None:
        if not isinstance(edge_weight, Tensor) or edge_weight.dim() != 1 \
                or edge_weight.numel() != edge_index.size(1):
            shape = list(edge_weight.shape) if isinstance(edge_weight, Tensor) else \
                type(edge_weight).__name__
            raise ValueError(
                f"{name}.edge_weight must be a [E] tensor with one weight per edge "
                f"(E = {edge_index.size(1)}), got {shape}; filter it together with edge_index"
            )
        if not edge_weight.is_floating_point():
            raise ValueError(f"{name}.edge_weight must be a floating tensor, got "
                             f"{edge_weight.dtype}; use edge_weight.float()")
        if not bool(torch.isfinite(edge_weight).all()):
            bad = int((~torch.isfinite(edge_weight)).sum())
            raise ValueError(f"{name}.edge_weight holds {bad} NaN or infinite value(s); fix or "
                             "drop those edges before training")
    for key in ("train_mask", "val_mask", "test_mask"):
        mask = getattr(data, key, None)
        if isinstance(mask, Tensor) and mask.dtype == torch.bool and (
                mask.dim() == 0 or mask.size(0) != num_nodes):
            raise ValueError(
                f"{name}.{key} has shape {list(mask.shape)} but the graph has {num_nodes} nodes; "
                "a boolean mask needs one entry per node ([N] or [N, num_splits])"
            )
    y = getattr(data, "y", None)
    if y is None:
        if require_y:
            raise ValueError(f"{name}.y is missing: evaluation needs one label per node")
    elif isinstance(y, Tensor) and (y.dim() == 0 or y.size(0) != num_nodes):
        raise ValueError(
            f"{name}.y has {y.size(0) if y.dim() else 0} entries but the graph has {num_nodes} nodes; "
            "labels need one entry per node"
        )
