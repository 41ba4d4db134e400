"""Method registry and per-dataset configurations.

A method is a :class:`Method`: a name, a ``build(config, data) -> Pipeline`` recipe, a YAML file
of per-dataset hyperparameters, and the evaluation protocol of its paper. Third-party methods
register with :func:`register`.
"""

from __future__ import annotations

import copy
import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Method", "register", "get_method", "available_methods", "load_config",
           "parse_override", "recipe_kwargs", "CONFIG_DIR", "GENERIC_KEYS"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Configuration keys every method accepts (plug-ins applied by the runner to any recipe whose
#: pipeline supports them): ``pot`` adds the POT regularizer (2-layer GCN, edge-dropping views)
#: with weight ``kappa``, node chunks of ``pot_batch``, the certified variant ``pot_sound`` and
#: the orientation ``pot_orientation`` of the sampled view (see :class:`gcl.objectives.POT`).
#: ``monitor_every`` / ``monitor_probe_epochs`` probe the embeddings every K epochs during training
#: (``gcl train --eval-every K``, see ``default_fit``).
GENERIC_KEYS = ("pot", "kappa", "pot_batch", "pot_sound", "pot_orientation", "monitor_every",
                "monitor_probe_epochs")
_REGISTRY: dict[str, Method] = {}


@dataclass
class Method:
    """A registered method (recipe).

    Attributes:
        name: the method's name (``gcl train --method NAME``).
        build: ``build(config, data) -> Pipeline``.
        config_file: YAML file with ``defaults`` and per-dataset ``datasets`` sections.
        description: one line for ``gcl train --help``.
        evaluate: ``evaluate(pipeline, data, config, seed) -> dict`` of metric summaries
            (default: linear probe and k-means clustering on the clean-graph embeddings).
        fit: ``fit(pipeline, data, config) -> History`` (default: ``pipeline.fit`` for
            ``config["epochs"]`` epochs).
        datasets: dataset names the method is configured for (informative).

    Example:
        >>> from gcl.methods import get_method
        >>> spec = get_method("grace")
        >>> spec.name, spec.config_file.name
        ('grace', 'grace.yaml')
    """

    name: str
    build: Callable[[dict, Any], Any]
    config_file: Path
    description: str = ""
    evaluate: Callable | None = None
    fit: Callable | None = None
    datasets: tuple[str, ...] = field(default_factory=tuple)


def register(method: Method) -> Method:
    """Add a method to the registry (replacing one of the same name).

    Args:
        method: the :class:`Method` to register under ``method.name``.

    Returns:
        Method: ``method`` itself, so ``register`` can wrap a definition.

    Example:
        >>> from gcl.methods import get_method
        >>> get_method("grace").name
        'grace'
    """
    _REGISTRY[method.name] = method
    return method


def available_methods() -> list[str]:
    """Names of the registered methods, sorted.

    Returns:
        list[str]: the names ``gcl train --method`` accepts.

    Example:
        >>> "grace" in available_methods()
        True
    """
    return sorted(_REGISTRY)


def get_method(name: str) -> Method:
    """Look a method up by name (case-insensitive).

    Args:
        name: a registered method name.

    Returns:
        Method: the registered method.

    Raises:
        ValueError: for an unknown name, listing the known ones.

    Example:
        >>> get_method("GRACE").name
        'grace'
    """
    key = str(name).lower()
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown method {name!r}; available: {', '.join(available_methods())}.{hint}"
        )
    return _REGISTRY[key]


def recipe_kwargs(recipe: Callable, config: dict) -> dict:
    """The entries of ``config`` that are keyword arguments of ``recipe``.

    Args:
        recipe: a recipe function ``recipe(in_channels, **kwargs) -> Pipeline``.
        config: a run configuration (recipe keys, training and evaluation keys).

    Returns:
        dict: the keys of ``config`` that ``recipe`` accepts (``in_channels`` excluded).

    Example:
        >>> def recipe(in_channels, *, tau=0.5): ...
        >>> recipe_kwargs(recipe, {"tau": 0.2, "epochs": 10})
        {'tau': 0.2}
    """
    import inspect

    params = inspect.signature(recipe).parameters
    return {k: v for k, v in config.items() if k in params and k != "in_channels"}


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        with open(path) as fh:
            content = yaml.safe_load(fh)
    except FileNotFoundError as err:
        raise FileNotFoundError(f"config file not found: {path}") from err
    except yaml.YAMLError as err:
        raise ValueError(f"config file {path} is not valid YAML: {err}") from err
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise ValueError(f"config file {path} must hold a mapping of keys to values")
    return content


def parse_override(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` (the value read as YAML: numbers, lists, booleans, strings).

    Args:
        text: one ``--set`` argument, e.g. ``"tau=0.5"``.

    Returns:
        tuple: ``(key, value)``.

    Raises:
        ValueError: when there is no ``=``, the key is empty or the value is not valid YAML.

    Example:
        >>> parse_override("drop_edge=[0.3, 0.2]")
        ('drop_edge', [0.3, 0.2])
    """
    import yaml

    if "=" not in text:
        raise ValueError(f"override {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ValueError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        raise ValueError(f"override {text!r}: cannot parse the value: {err}") from err
    return key, value


def load_config(method: str, dataset: str, path: str | Path | None = None,
                overrides: dict | None = None) -> dict:
    """The configuration of ``method`` on ``dataset``.

    Layers, later ones winning: the method's ``defaults``, its section for ``dataset``, the
    user's YAML file ``path`` (either a flat mapping, or ``defaults``/``datasets`` sections like
    the shipped files), then ``overrides``. Unknown keys in user input raise a ``ValueError``,
    so typos never pass silently. The keys every method accepts (:data:`GENERIC_KEYS`) are
    always known.

    Args:
        method: a registered method name.
        dataset: the dataset whose section applies (none for an unconfigured dataset).
        path: a user YAML file layered over the shipped configuration (default: ``None``).
        overrides: ``{key: value}`` layered last (default: ``None``).

    Returns:
        dict: the merged configuration.

    Example:
        >>> cfg = load_config("grace", "cora", overrides={"epochs": 10})
        >>> cfg["tau"], cfg["epochs"]
        (0.4, 10)
    """
    spec = get_method(method)
    shipped = _read_yaml(spec.config_file)
    config = copy.deepcopy(shipped.get("defaults", {}))
    known = set(config) | set(GENERIC_KEYS)
    for section in shipped.get("datasets", {}).values():
        known.update(section or {})
    config.update(copy.deepcopy(shipped.get("datasets", {}).get(dataset, {}) or {}))

    def merge(layer: dict, source: str) -> None:
        unknown = sorted(set(layer) - known)
        if unknown:
            raise ValueError(
                f"unknown config key(s) {unknown} in {source} for method {spec.name!r}; "
                f"known keys: {sorted(known)}"
            )
        config.update(layer)

    if path is not None:
        user = _read_yaml(Path(path))
        if "defaults" in user or "datasets" in user:
            merge(user.get("defaults", {}) or {}, str(path))
            merge((user.get("datasets", {}) or {}).get(dataset, {}) or {}, str(path))
        else:
            merge(user, str(path))
    if overrides:
        merge(dict(overrides), "the command-line overrides")
    return config
