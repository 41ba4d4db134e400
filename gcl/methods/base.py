"""Method registry and per-dataset configurations.

A method is a :class:`Method`: a name, a recipe and its ``build(config, data)`` (a training module
of the one loop), a YAML file of per-dataset hyperparameters, and the training callbacks and
evaluation protocol of its paper. Third-party methods register with :func:`register`.
"""

from __future__ import annotations

import copy
import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._files import excerpt
from .._yaml import check_config_types, mixed_kinds, parse_yaml_value, read_config_file, shipped_values

__all__ = ["Method", "register", "get_method", "available_methods", "load_config",
           "build_from_recipe",
           "parse_override", "recipe_kwargs", "CONFIG_DIR", "GENERIC_KEYS", "RUN_KEYS", "PROBE_KEYS"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

#: Configuration keys every method accepts (plug-ins applied by the runner to any recipe whose
#: pipeline supports them): ``pot`` adds the POT regularizer (2-layer GCN, edge-dropping views)
#: with weight ``kappa``, node chunks of ``pot_batch``, the certified variant ``pot_sound`` and
#: the orientation ``pot_orientation`` of the sampled view (see :class:`gcl.objectives.POT`).
#: ``monitor_every`` / ``monitor_probe_epochs`` probe the embeddings every K epochs during training
#: (``gcl train --eval-every K``, see ``protocol_callbacks``); ``normalize_features`` row-normalises
#: the features when the data is loaded.
GENERIC_KEYS = ("pot", "kappa", "pot_batch", "pot_sound", "pot_orientation", "monitor_every",
                "monitor_probe_epochs", "normalize_features")
#: the kind of value each generic key takes (checked with gcl._yaml.check_config_types)
_GENERIC_KINDS = {"pot": False, "kappa": 0.5, "pot_sound": False, "pot_orientation": "reference",
                  "monitor_every": 0, "monitor_probe_epochs": 0, "normalize_features": False}
#: The protocol keys of the two-view methods: training length, feature normalisation, the linear
#: probe and k-means evaluation, and held-out link prediction (``task: link``).
PROBE_KEYS = ("epochs", "probe_epochs", "probe_lr", "probe_eval_every", "probe_protocol",
              "clustering", "task", "link_test_ratio", "reconstruction_auc")
_REGISTRY: dict[str, Method] = {}


#: Keys the runner sets itself for every run (never configuration keys).
RUN_KEYS = ("device", "progress", "seed")


@dataclass(kw_only=True)
class Method:
    """A registered method: a recipe, its per-dataset configurations and its paper's protocol.

    Attributes:
        name: the method's name (``gcl train --method NAME``).
        build: ``build(config, data) -> TrainingModule`` (a :class:`gcl.Pipeline` or another
            module of the one loop) (default: :func:`build_from_recipe` with ``recipe``).
        config_file: YAML file with ``defaults`` (protocol keys) and per-dataset ``datasets``
            sections.
        description: one line for ``gcl methods`` (default: the configuration file's
            ``method.description``).
        evaluate: ``evaluate(module, data, config, seed) -> dict`` of metric summaries
            (default: linear probe and k-means clustering on the clean-graph embeddings).
        callbacks: ``callbacks(config, data) -> list`` of the protocol's callbacks (early
            stopping, per-epoch scores); the runner adds them to every ``fit`` (default: none).
        recipe: the recipe function; its keyword arguments are configuration keys and their
            defaults are the defaults (the one place they live).
        protocol_keys: the other configuration keys (training and evaluation settings).
        datasets: dataset names the method is configured for (informative; default: the
            catalog datasets its configuration file has a section for).

    Example:
        >>> from gcl.methods import get_method
        >>> spec = get_method("grace")
        >>> spec.name, spec.config_file.name, spec.defaults()["tau"]
        ('grace', 'grace.yaml', 0.4)
    """

    name: str
    config_file: Path
    build: Callable[[dict, Any], Any] | None = None
    description: str = ""
    evaluate: Callable | None = None
    callbacks: Callable[[dict, Any], list] | None = None
    recipe: Callable | None = None
    protocol_keys: tuple[str, ...] = ()
    datasets: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self):
        # the configuration file's ``method`` header (gcl.manifest) fills what is not given
        from ..manifest import method_about

        about = method_about(self.config_file)
        self.description = self.description or about["description"]
        self.datasets = tuple(self.datasets) or about["datasets"]
        if self.build is None:
            if self.recipe is None:
                raise ValueError(f"method {self.name!r} needs a build function or a recipe")
            self.build = functools.partial(build_from_recipe, self.recipe)

    @property
    def kind(self) -> str:
        """The kind of graph it trains on: ``"graph"`` (a PyG ``Data``) or ``"metapath"`` (a
        :class:`gcl.data.MetaPathGraph`), from the configuration file's ``method.graph``."""
        from ..manifest import method_about

        return "metapath" if method_about(self.config_file)["graph"] == "heterogeneous" \
            else "graph"

    def defaults(self) -> dict:
        """The recipe's keyword defaults (lists where the signature has tuples), without the
        keys the runner sets (:data:`RUN_KEYS`)."""
        import inspect

        if self.recipe is None:
            return {}
        out = {}
        for name, param in inspect.signature(self.recipe).parameters.items():
            if param.kind is not param.KEYWORD_ONLY or name in RUN_KEYS:
                continue
            value = param.default
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def accepted_keys(self) -> set[str]:
        """Every configuration key this method reads: the recipe's keyword arguments, its
        protocol keys and the keys every method accepts (:data:`GENERIC_KEYS`)."""
        return set(self.defaults()) | set(self.protocol_keys) | set(GENERIC_KEYS)

    def check_keys(self, config: dict, source: str) -> None:
        """Refuse keys this method does not read (naming them, and the accepted ones).

        Raises:
            ValueError: for an unknown key.
        """
        accepted = self.accepted_keys()
        unknown = sorted(set(config) - accepted - set(RUN_KEYS))
        if unknown:
            close = {k: difflib.get_close_matches(k, accepted, n=1) for k in unknown}
            hints = "; ".join(f"{k!r}: did you mean {c[0]!r}?" for k, c in close.items() if c)
            raise ValueError(
                f"unknown config key(s) {excerpt(unknown)} in {source} for method {self.name!r}"
                + (f" ({hints})" if hints else "") + f"; accepted keys: {sorted(accepted)}")


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


def build_from_recipe(recipe: Callable, config: dict, data):
    """A method's module from its configuration: ``recipe(data.num_features, **kwargs)`` with
    the configuration's keys that are keyword arguments of ``recipe`` (the default ``build`` of
    a :class:`Method`).

    Args:
        recipe: a recipe ``recipe(in_channels, **kwargs)``, e.g. :func:`gcl.methods.grace`.
        config: a run configuration (from :func:`gcl.methods.load_config`, plus ``device``).
        data: the graph; its feature dimension sizes the encoder.

    Returns:
        the module the recipe builds (a :class:`gcl.Pipeline` for the two-view methods).

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import grace, load_config
        >>> data = synthetic(num_nodes=40, num_features=6, num_classes=2, seed=0)
        >>> pipe = build_from_recipe(grace, {**load_config("grace", "cora"), "device": "cpu"},
        ...                          data)
        >>> pipe.objective.tau
        0.4
    """
    return recipe(data.num_features, **recipe_kwargs(recipe, config))


def recipe_kwargs(recipe: Callable, config: dict) -> dict:
    """The entries of ``config`` that are keyword arguments of ``recipe`` (its positional
    arguments, such as ``in_channels``, excluded). The configuration's other keys are the
    protocol's; :meth:`Method.check_keys` refuses the unknown ones.

    Args:
        recipe: a recipe function ``recipe(in_channels, **kwargs)``.
        config: a run configuration (recipe keys, training and evaluation keys).

    Returns:
        dict: the keys of ``config`` that ``recipe`` accepts as keywords.

    Example:
        >>> def recipe(in_channels, *, tau=0.5): ...
        >>> recipe_kwargs(recipe, {"tau": 0.2, "epochs": 10})
        {'tau': 0.2}
    """
    import inspect

    params = inspect.signature(recipe).parameters
    return {k: v for k, v in config.items()
            if k in params and params[k].kind is inspect.Parameter.KEYWORD_ONLY}


def _read_yaml(path: Path) -> dict:
    return read_config_file(path)  # bounded: size, depth, YAML aliases; folders, binary files


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
    if "=" not in text:
        raise ValueError(f"override {excerpt(text)} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ValueError(f"override {excerpt(text)} has an empty key")
    return key, parse_yaml_value(raw, f"override {excerpt(text)}")


def load_config(method: str, dataset: str, path: str | Path | None = None,
                overrides: dict | None = None) -> dict:
    """The configuration of ``method`` on ``dataset``.

    Layers, later ones winning: the recipe's own defaults (:meth:`Method.defaults`), the
    method's YAML ``defaults`` (its protocol keys), its section for ``dataset``, the user's YAML
    file ``path`` (either a flat mapping, or ``defaults``/``datasets`` sections like the
    shipped files), then ``overrides``. A key the method does not read raises a
    ``ValueError`` naming it and the accepted keys, so typos never pass silently.

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
    config = spec.defaults()
    # the kind of value each key takes: the recipe's default, else the shipped value (the set
    # of kinds for a key shipped with values of several)
    reference = {**_GENERIC_KINDS, **shipped_values(shipped),
                 **{k: v for k, v in config.items() if v is not None},
                 **mixed_kinds(shipped, config)}

    def merge(layer: dict, source: str) -> None:
        spec.check_keys(layer, source)
        check_config_types(layer, reference, source)
        config.update(copy.deepcopy(layer))

    merge(shipped.get("defaults", {}) or {}, str(spec.config_file))
    merge(shipped.get("datasets", {}).get(dataset, {}) or {}, str(spec.config_file))
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
