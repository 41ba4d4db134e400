"""Reading configuration YAML (files and ``--set key=value``) with bounds.

YAML aliases let a few hundred bytes expand into gigabytes (``a: &a [x, x]``, ``b: &b [*a, *a]``,
...), and deep nesting exhausts the stack. Configuration text is therefore bounded before it
is turned into Python objects: its size (:data:`MAX_FILE_BYTES`, :data:`MAX_VALUE_CHARS`), its
nesting depth (:data:`MAX_DEPTH`) and the number of values it expands to with its aliases
resolved (:data:`MAX_VALUES`). Errors show at most a short excerpt of the text.

:func:`check_config_types` keeps a value of the wrong kind from being read as something else
(``normalize_features=maybe`` is a string, not "true").
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from ._files import excerpt

__all__ = ["read_config_file", "parse_yaml_value", "check_config_types", "shipped_values",
           "mixed_kinds"]

#: the largest configuration file read
MAX_FILE_BYTES = 1 << 20
#: the longest ``--set`` value read
MAX_VALUE_CHARS = 10_000
#: the deepest nesting of lists and mappings
MAX_DEPTH = 32
#: the most values (scalars, lists, mappings) a text may expand to, aliases resolved
MAX_VALUES = 100_000


def _check_bounds(node, source: str) -> None:
    import yaml

    count, stack = 0, [(node, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_VALUES:
            raise ValueError(f"{source} expands to more than {MAX_VALUES} values (nested YAML "
                             "aliases?); configuration values must be small")
        if depth > MAX_DEPTH:
            raise ValueError(f"{source} nests deeper than {MAX_DEPTH} levels (or an alias "
                             "refers to itself); configuration values must be shallow")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack.extend(((key, depth + 1), (value, depth + 1)))


def _load(text: str, source: str) -> Any:
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        _check_bounds(node, source)
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        problem = getattr(err, "problem", None) or type(err).__name__
        raise ValueError(f"{source} is not valid YAML{at}: {excerpt(problem, 120, text=True)}") \
            from None
    except RecursionError:
        raise ValueError(f"{source} nests too deeply to be read") from None


def read_config_file(path: str | os.PathLike) -> dict:
    """A YAML configuration file as a mapping (``{}`` for an empty file), within the bounds.

    Args:
        path: the file.

    Returns:
        dict: its content.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder, a binary or huge file, invalid YAML, a value over the bounds, or
            content that is not a mapping (the message names the file).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "c.yaml"; _ = p.write_text("tau: 0.3\\n")
        >>> read_config_file(p)
        {'tau': 0.3}
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"config file {path} is a folder; give a YAML file")
    if not path.exists():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValueError(f"config file {path} has {size} bytes, more than the "
                             f"{MAX_FILE_BYTES >> 10} KiB a configuration may have")
        raw = path.read_bytes()
    except OSError as err:
        raise ValueError(f"cannot read config file {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is None or "\x00" in text:
        raise ValueError(f"config file {path} is not a text file (YAML); give a YAML file")
    content = _load(text, f"config file {path}")
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"config file {path} must hold a mapping of keys to values, got a "
                         f"{type(content).__name__}")
    return content


def parse_yaml_value(raw: str, source: str) -> Any:
    """One ``--set`` value read as YAML (numbers, lists, booleans, strings), within the bounds.

    Args:
        raw: the text after ``=``.
        source: how to name it in messages (e.g. ``"override 'tau=...'"``).

    Returns:
        the value.

    Raises:
        ValueError: over :data:`MAX_VALUE_CHARS` characters, invalid YAML or over the bounds.

    Example:
        >>> parse_yaml_value("[0.3, 0.2]", "override")
        [0.3, 0.2]
    """
    if len(raw) > MAX_VALUE_CHARS:
        raise ValueError(f"{source} has a value of {len(raw)} characters, more than the "
                         f"{MAX_VALUE_CHARS} a configuration value may have")
    return _load(raw, source)


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "str"
    return None


def check_config_types(layer: dict, reference: dict, source: str) -> None:
    """Check that each value of ``layer`` has the kind of the shipped value of its key.

    A key whose shipped value is a boolean takes only ``true``/``false``; a number, only
    finite numbers (or a list of them, for per-view or per-path values); a string, only a
    string. Keys shipped as ``null``, lists or mappings are not checked here (their recipes
    check them).

    Args:
        layer: the user's values.
        reference: the shipped values of the same keys.
        source: where ``layer`` came from, for the message.

    Raises:
        ValueError: naming the key, the value, the kind expected and ``source``.

    Example:
        >>> check_config_types({"normalize_features": "maybe"}, {"normalize_features": True},
        ...                    "--set")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: config key 'normalize_features' in --set must be true or false, got 'maybe'...
    """
    for key, value in layer.items():
        kind = reference.get(key)
        if isinstance(kind, frozenset):  # a key of several kinds (see mixed_kinds)
            have = _kind(value[0] if isinstance(value, list) and value else value)
            if value is not None and have not in kind:
                raise ValueError(f"config key {key!r} in {source} must be one of: "
                                 f"{', '.join(_KIND_NAMES[k] for k in sorted(kind))}; got "
                                 f"{excerpt(value)}")
            continue
        kind = _kind(kind)
        if kind is None or value is None:
            continue
        if kind == "bool" and not isinstance(value, bool):
            raise ValueError(f"config key {key!r} in {source} must be true or false, got "
                             f"{excerpt(value)}; write {key}=true or {key}=false")
        if kind == "number":
            items = value if isinstance(value, list) else [value]
            if not items or not all(_kind(v) == "number" and math.isfinite(v) for v in items):
                raise ValueError(f"config key {key!r} in {source} must be a finite number (or "
                                 f"a list of them), got {excerpt(value)}")
        if kind == "str" and not isinstance(value, str):
            raise ValueError(f"config key {key!r} in {source} must be a string, got "
                             f"{excerpt(value)}")


_KIND_NAMES = {"bool": "true or false", "number": "a number", "str": "a string"}


def mixed_kinds(shipped: dict, defaults: dict) -> dict:
    """The keys whose recipe default and shipped values are of more than one kind (MVGRL's
    ``threshold``: a number or ``auto``), each with the set of its kinds; the value checked
    against them then takes any of those kinds (its recipe checks the rest).

    Args:
        shipped: the parsed file (``{"defaults": {...}, "datasets": {name: {...}}}``).
        defaults: the recipe's keyword defaults.

    Returns:
        dict: key -> frozenset of kinds (``"bool"``, ``"number"``, ``"str"``).

    Example:
        >>> kinds = mixed_kinds({"datasets": {"x": {"t": "auto"}, "y": {"t": 0.1}}}, {"t": 1e-4})
        >>> {k: sorted(v) for k, v in kinds.items()}
        {'t': ['number', 'str']}
    """
    seen: dict[str, set] = {}
    sections = [defaults, shipped.get("defaults") or {},
                *((s or {}) for s in (shipped.get("datasets") or {}).values())]
    for section in sections:
        for key, value in section.items():
            kind = _kind(value)
            if kind is not None:
                seen.setdefault(key, set()).add(kind)
    return {k: frozenset(v) for k, v in seen.items() if len(v) > 1}


def shipped_values(shipped: dict) -> dict:
    """The reference value of each key of a shipped configuration file: its ``defaults`` value,
    else its first non-null value in a ``datasets`` section.

    Args:
        shipped: the parsed file (``{"defaults": {...}, "datasets": {name: {...}}}``).

    Returns:
        dict: key -> value.

    Example:
        >>> shipped_values({"defaults": {"a": 1}, "datasets": {"x": {"b": True, "a": 2}}})
        {'a': 1, 'b': True}
    """
    out = dict(shipped.get("defaults") or {})
    for section in (shipped.get("datasets") or {}).values():
        for key, value in (section or {}).items():
            if out.get(key) is None:
                out[key] = value
    return out
