"""Training state on disk: random states, the augmentations' own generators and the one
checkpoint format every module writes (``torch.load(weights_only=True)``, atomic writes)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch

from .._utils import atomic_target

__all__ = ["CHECKPOINT_FORMAT", "CHECKPOINT_FILE", "get_rng_state", "set_rng_state",
           "read_checkpoint", "check_checkpoint_meta", "write_checkpoint", "generator_states",
           "set_generator_states"]

#: The tag of every checkpoint a :class:`gcl.training.TrainingModule` writes.
CHECKPOINT_FORMAT = "gcl-pipeline/1"
#: Name of the rolling checkpoint that ``fit(checkpoint_dir=...)`` keeps in its folder.
CHECKPOINT_FILE = "last.pt"


def get_rng_state() -> dict:
    """Every global random state (Python, NumPy, torch CPU and CUDA) as plain values and tensors,
    so that it saves and loads with ``torch.load(weights_only=True)``.

    Returns:
        dict: ``"python"`` (:func:`random.getstate`), ``"torch"`` (the CPU generator's state),
        ``"numpy"`` (the legacy global generator's state, its keys as an int64 tensor) and, when
        CUDA is available, ``"cuda"`` (one state per device).

    Example:
        >>> state = get_rng_state()
        >>> a = torch.rand(3)
        >>> set_rng_state(state)
        >>> torch.equal(a, torch.rand(3))
        True
    """
    import random

    state: dict = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                          "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}
    except ImportError:  # pragma: no cover - numpy ships with torch_geometric
        pass
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random states captured by :func:`get_rng_state`.

    The state may have gone through ``torch.save``/``torch.load`` (lists are accepted where
    tuples were saved). The CUDA states are restored only when CUDA is available and the number
    of devices equals the number of saved states; otherwise they are skipped.

    Args:
        state: a dict from :func:`get_rng_state` (``"numpy"`` and ``"cuda"`` are optional).

    Example:
        >>> import io, random
        >>> buf = io.BytesIO()
        >>> torch.save(get_rng_state(), buf); _ = buf.seek(0)
        >>> a = random.random(), torch.rand(2)
        >>> set_rng_state(torch.load(buf, weights_only=True))
        >>> b = random.random(), torch.rand(2)
        >>> a[0] == b[0] and torch.equal(a[1], b[1])
        True
    """
    import random

    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"].cpu())
    if "numpy" in state:
        import numpy as np

        npst = state["numpy"]
        keys = npst["keys"].cpu().numpy().astype(np.uint32)
        np.random.set_state((npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _generator_owners(roots: Sequence, prefix: str = "augment") -> dict[str, object]:
    """Augmentations (and nested ones) that hold their own seeded generators, by path."""
    owners: dict[str, object] = {}
    seen: set[int] = set()

    def walk(obj, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(getattr(obj, "_generators", None), dict):
            owners[path] = obj
        for i, child in enumerate(getattr(obj, "augmentations", None) or []):
            walk(child, f"{path}.{i}")

    for i, root in enumerate(roots):
        walk(root, f"{prefix}{i + 1}")
    return owners


def generator_states(augmentations: Sequence) -> dict:
    """The states of the seeded generators of ``augmentations`` (nested ones included), by
    position, as :func:`set_generator_states` restores them.

    Args:
        augmentations: the augmentations (nested ones are walked).

    Returns:
        dict: generator states by augmentation path and device.

    Example:
        >>> from gcl.augment import DropEdge
        >>> aug = DropEdge(0.5, seed=0)
        >>> _ = aug.generator("cpu")
        >>> list(generator_states([aug]))
        ['augment1']
    """
    return {path: {dev: gen.get_state() for dev, gen in owner._generators.items()}
            for path, owner in _generator_owners(augmentations).items()}


def set_generator_states(augmentations: Sequence, states: dict) -> None:
    """Give ``augmentations`` the generator states saved by :func:`generator_states`.

    Args:
        augmentations: the augmentations, built as when the states were saved.
        states: the saved states.

    Example:
        >>> from gcl.augment import DropEdge
        >>> aug = DropEdge(0.5, seed=0)
        >>> first = torch.rand(3, generator=aug.generator("cpu"))
        >>> saved = generator_states([aug])
        >>> a = torch.rand(3, generator=aug.generator("cpu"))
        >>> set_generator_states([aug], saved)
        >>> torch.equal(a, torch.rand(3, generator=aug.generator("cpu")))
        True
    """
    for path, owner in _generator_owners(augmentations).items():
        gens = {}
        for dev, state in (states.get(path) or {}).items():
            gen = torch.Generator(device=torch.device(dev))
            gen.set_state(state.cpu())
            gens[dev] = gen
        owner._generators = gens


def read_checkpoint(path: str | os.PathLike, fmt: str = CHECKPOINT_FORMAT,
                    kind: str = "gcl") -> dict:
    """Load a checkpoint file with ``weights_only=True`` and check its ``format`` tag.

    Args:
        path: the file.
        fmt: the expected ``format`` tag (default: :data:`CHECKPOINT_FORMAT`).
        kind: how to name the expected kind in errors (default: ``"gcl"``).

    Returns:
        dict: the payload.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupt, truncated or not a ``kind`` checkpoint (named).

    Example:
        >>> import tempfile
        >>> path = write_checkpoint({"format": CHECKPOINT_FORMAT, "epoch": 3},
        ...                         Path(tempfile.mkdtemp()) / "last.pt")
        >>> read_checkpoint(path)["epoch"]
        3
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - report any corruption with the file name
        detail = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(
            f"could not read checkpoint {path} (corrupt or truncated?): {detail}. Delete it "
            "to start over, or restore it from a backup"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a {kind} checkpoint ({fmt})")
    return payload


def check_checkpoint_meta(path: str | os.PathLike, payload: dict, meta: dict) -> None:
    """Refuse a checkpoint whose ``meta`` differs from this run's on a key both have.

    Args:
        path: the checkpoint file (named in the error).
        payload: its content.
        meta: this run's ``meta``.

    Raises:
        ValueError: naming the keys that differ and their two values.

    Example:
        >>> check_checkpoint_meta("last.pt", {"meta": {"seed": 1}}, {"seed": 1, "epochs": 5})
        >>> try:
        ...     check_checkpoint_meta("last.pt", {"meta": {"seed": 1}}, {"seed": 2})
        ... except ValueError as err:
        ...     print(str(err)[:59])
        checkpoint last.pt belongs to another run (seed: 1 there, 2
    """
    saved = payload.get("meta") or {}
    differ = sorted(k for k in meta if k in saved and saved[k] != meta[k])
    if differ:
        shown = "; ".join(f"{k}: {saved[k]!r} there, {meta[k]!r} here" for k in differ)
        raise ValueError(
            f"checkpoint {path} belongs to another run ({shown}); "
            "use the same settings to resume, or another checkpoint folder"
        )


def write_checkpoint(payload: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync it, then rename over
    ``path`` (its folder is created), so a reader never sees half a file.

    Args:
        payload: what to save (tensors and plain values, for ``weights_only`` loading).
        path: the file.

    Returns:
        Path: the written file.

    Example:
        >>> import tempfile
        >>> write_checkpoint({"epoch": 1}, Path(tempfile.mkdtemp()) / "ck" / "last.pt").name
        'last.pt'
    """
    path = Path(path)
    with atomic_target(path, durable=True) as tmp:
        torch.save(payload, tmp)
    return path
