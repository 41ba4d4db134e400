"""Structural checks of a checkpoint's fields before any of them is used.

A checkpoint is a file the library reads on a user's behalf, so it is untrusted: a field of the
wrong type or out of range (a negative ``epoch``, a ``history`` that is not a dict of lists, a
``rng`` without its generators' states, a callback entry without its type) is refused in one line
naming the file and the field, instead of failing deep inside the loop or resuming from nonsense.
"""

from __future__ import annotations

import os

import torch

__all__ = ["check_checkpoint_fields"]


def _fail(path, field: str, what: str) -> None:
    raise ValueError(f"checkpoint {path}: field '{field}' {what}; the file was changed or written "
                     "by something else: delete it to start over, or restore it from a backup")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rng(path, rng) -> None:
    if not isinstance(rng, dict):
        _fail(path, "rng", f"is a {type(rng).__name__}, not a dict of random states")
    py = rng.get("python")
    if not (isinstance(py, (list, tuple)) and len(py) == 3 and isinstance(py[1], (list, tuple))
            and all(_is_int(v) for v in py[1])):
        _fail(path, "rng", "has no valid Python random state ('python')")
    state = rng.get("torch")
    if not (isinstance(state, torch.Tensor) and state.dtype == torch.uint8 and state.dim() == 1):
        _fail(path, "rng", "has no valid torch random state ('torch': a uint8 tensor)")
    if "numpy" in rng:
        np_state = rng["numpy"]
        if not (isinstance(np_state, dict) and isinstance(np_state.get("name"), str)
                and isinstance(np_state.get("keys"), torch.Tensor)
                and _is_int(np_state.get("pos")) and _is_int(np_state.get("has_gauss"))
                and isinstance(np_state.get("cached"), (int, float))):
            _fail(path, "rng", "has an invalid NumPy random state ('numpy')")
    if "cuda" in rng and not (isinstance(rng["cuda"], (list, tuple)) and all(
            isinstance(s, torch.Tensor) for s in rng["cuda"])):
        _fail(path, "rng", "has invalid CUDA random states ('cuda': a list of tensors)")


def _check_history(path, history) -> None:
    if not isinstance(history, dict):
        _fail(path, "history", f"is a {type(history).__name__}, not a dict")
    for key in ("epochs", "evals"):
        rows = history.get(key, [])
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            _fail(path, "history", f"has '{key}' that is not a list of dicts")
    if not isinstance(history.get("meta", {}), dict):
        _fail(path, "history", "has 'meta' that is not a dict")


def _check_callbacks(path, entries) -> None:
    if not isinstance(entries, list):
        _fail(path, "callbacks", f"is a {type(entries).__name__}, not a list")
    for entry in entries:
        if not (isinstance(entry, dict) and isinstance(entry.get("type"), str)
                and isinstance(entry.get("state"), dict)):
            _fail(path, "callbacks", "holds an entry that is not {'type': str, 'state': dict}")


def check_checkpoint_fields(payload: dict, path: str | os.PathLike) -> None:
    """Refuse a checkpoint whose fields have the wrong type or range.

    Args:
        payload: the loaded checkpoint (a dict with a ``format`` tag).
        path: its file, named in errors.

    Raises:
        ValueError: naming the file and the first field that is wrong.

    Example:
        >>> check_checkpoint_fields({"epoch": 3, "model": {}, "stopped": False}, "last.pt")
        >>> try:
        ...     check_checkpoint_fields({"epoch": -1, "model": {}}, "last.pt")
        ... except ValueError as err:
        ...     print(str(err)[:53])
        checkpoint last.pt: field 'epoch' is -1, not a number
    """
    epoch = payload.get("epoch", 0)
    if not _is_int(epoch) or epoch < 0:
        _fail(path, "epoch", f"is {epoch!r}, not a number of epochs (an int >= 0)")
    if not isinstance(payload.get("stopped", False), bool):
        _fail(path, "stopped", "is not true or false")
    if not isinstance(payload.get("model"), dict):
        _fail(path, "model", "is not a state dict")
    kind = payload.get("kind")
    if kind is not None and not isinstance(kind, str):
        _fail(path, "kind", "is not a class name")
    for field in ("optimizer", "scheduler"):
        value = payload.get(field)
        if value is not None and not isinstance(value, dict):
            _fail(path, field, "is not a state dict")
    optimizer = payload.get("optimizer")
    if optimizer is not None and not (isinstance(optimizer.get("state"), dict)
                                      and isinstance(optimizer.get("param_groups"), list)):
        _fail(path, "optimizer", "lacks the 'state' and 'param_groups' of an optimiser")
    if payload.get("history") is not None:
        _check_history(path, payload["history"])
        rows = len(payload["history"].get("epochs", []))
        if rows != epoch:
            _fail(path, "epoch", f"is {epoch} but the history holds {rows} epochs")
    if payload.get("meta") is not None and not isinstance(payload["meta"], dict):
        _fail(path, "meta", f"is a {type(payload['meta']).__name__}, not a dict")
    if payload.get("rng") is not None:
        _check_rng(path, payload["rng"])
    generators = payload.get("generators")
    if generators is not None and not (isinstance(generators, dict) and all(
            isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values())
            for v in generators.values())):
        _fail(path, "generators", "is not a dict of generator states (tensors) by augmentation")
    if payload.get("callbacks") is not None:
        _check_callbacks(path, payload["callbacks"])
