"""What the shipped methods are, read from their configuration files without importing them.

Each file ``gcl/methods/configs/<method>.yaml`` starts with a ``method`` section (a one-line
``description`` and the ``graph`` kind the method trains on), then its ``defaults`` and its
per-dataset ``datasets`` sections. Reading them needs only PyYAML, so ``gcl methods`` answers at
once, and a run can check that a method fits a graph, and say which configuration applies,
before anything heavy is imported or loaded.

Graph kinds: ``homogeneous`` (a PyG ``Data``: one node type, one edge type) and
``heterogeneous`` (several node types, seen through meta-paths: a
:class:`gcl.data.MetaPathGraph`, e.g. from a ``HeteroData`` and its meta-paths).

Example:
    >>> shipped_methods()["grace"]["graph"], shipped_methods()["meow"]["graph"]
    ('homogeneous', 'heterogeneous')
    >>> dataset_graph_kind("acm")
    'heterogeneous'
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

__all__ = ["CONFIG_DIR", "GRAPH_KINDS", "shipped_methods", "method_about", "method_graph_kind",
           "dataset_graph_kind", "methods_for", "prepare_run", "ConfigFallbackWarning"]

CONFIG_DIR = Path(__file__).resolve().parent / "methods" / "configs"

#: graph kind -> how messages name it
GRAPH_KINDS = {
    "homogeneous": "a homogeneous graph (one node and edge type, a PyG Data)",
    "heterogeneous": "a heterogeneous graph seen through meta-paths (a MetaPathGraph, e.g. a "
                     "HeteroData with --metapath)",
}


@functools.lru_cache(maxsize=8)
def _read(path: str) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        content = yaml.safe_load(handle) or {}
    return content if isinstance(content, dict) else {}


def method_about(config_file: str | Path) -> dict:
    """A method's header, read from its configuration file.

    Args:
        config_file: the method's YAML file (a missing file gives empty values).

    Returns:
        dict: ``description`` (its ``method.description``, else ``""``), ``graph`` (its
        ``method.graph``, else ``"homogeneous"``), ``datasets`` (the catalog datasets it has a
        section for) and ``config_file``.

    Raises:
        ValueError: for a ``method.graph`` that is not a known kind.

    Example:
        >>> method_about(CONFIG_DIR / "csgcl.yaml")["graph"]
        'homogeneous'
    """
    config_file = Path(config_file)
    content = _read(str(config_file)) if config_file.is_file() else {}
    about = content.get("method") or {}
    graph = about.get("graph", "homogeneous")
    if graph not in GRAPH_KINDS:
        raise ValueError(f"{config_file}: method.graph must be one of {sorted(GRAPH_KINDS)}, "
                         f"got {graph!r}")
    from .data.catalog import list_datasets

    known = set(list_datasets())
    return {"description": str(about.get("description", "")), "graph": graph,
            "datasets": tuple(d for d in (content.get("datasets") or {}) if d in known),
            "config_file": config_file}


def shipped_methods() -> dict:
    """The methods shipped with gcl, from their configuration files, sorted by name.

    Returns:
        dict: ``{name: {"description", "graph", "datasets", "config_file"}}``; ``datasets`` are
        the catalog datasets the file has a section for.

    Example:
        >>> "grace" in shipped_methods() and "cora" in shipped_methods()["grace"]["datasets"]
        True
    """
    return {path.stem: method_about(path)
            for path in sorted(CONFIG_DIR.glob("*.yaml"), key=lambda p: p.stem)}


def method_graph_kind(method) -> str:
    """The kind of graph a method trains on.

    Args:
        method: a method name, or a registered :class:`gcl.methods.Method` (its configuration
            file's ``method.graph``; ``homogeneous`` when the file does not say).

    Returns:
        str: ``"homogeneous"`` or ``"heterogeneous"``.

    Example:
        >>> method_graph_kind("adameow")
        'heterogeneous'
    """
    if isinstance(method, str):
        shipped = shipped_methods()
        if method in shipped:
            return shipped[method]["graph"]
        from .methods import get_method

        method = get_method(method)
    return method_about(method.config_file)["graph"]


def dataset_graph_kind(dataset: str) -> str:
    """The kind of a catalog dataset or of a graph registered with
    :func:`gcl.data.register_graph`.

    Args:
        dataset: a dataset name or alias, or a registered graph's name.

    Returns:
        str: ``"homogeneous"`` or ``"heterogeneous"``.

    Raises:
        ValueError: for an unknown name (with the closest known one).

    Example:
        >>> dataset_graph_kind("Cora")
        'homogeneous'
    """
    from .data.catalog import canonical_name, dataset_entry
    from .data.registry import registered_graph_kind

    kind = registered_graph_kind(dataset)
    if kind is not None:
        return kind
    return "heterogeneous" if dataset_entry(canonical_name(dataset))["kind"] == "hetero" \
        else "homogeneous"


def methods_for(kind: str) -> list[str]:
    """The shipped methods that train on graphs of ``kind``.

    Args:
        kind: ``"homogeneous"`` or ``"heterogeneous"``.

    Returns:
        list[str]: method names, sorted.

    Example:
        >>> methods_for("heterogeneous")
        ['adameow', 'heco', 'meow']
    """
    return [name for name, about in shipped_methods().items() if about["graph"] == kind]


def prepare_run(method, dataset: str) -> str:
    """Check that ``method`` fits ``dataset`` and say which configuration applies, before a run.

    The dataset name is made canonical (``"Cora"`` -> ``"cora"``), so that its configuration
    section is found whatever spelling was given. A method on a graph of the other kind is
    refused in one line naming both kinds and the methods that fit the dataset. A method with no
    section for the dataset warns, once per method and dataset, that it falls back to its
    recipe's defaults (and its file's ``defaults`` section for the protocol's keys).

    Args:
        method: the registered :class:`gcl.methods.Method` (or its name).
        dataset: a dataset name or alias, or a registered graph's name.

    Returns:
        str: the canonical dataset name.

    Raises:
        ValueError: for an unknown dataset or a method that does not fit its kind of graph.

    Example:
        >>> prepare_run("grace", "Cora")
        'cora'
        >>> prepare_run("meow", "cora")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: method 'meow' trains on a heterogeneous graph ... 'cora' is a homogeneous graph ...
    """
    from .data.catalog import canonical_name
    from .data.registry import registered_graph_kind

    name = getattr(method, "name", method)
    if registered_graph_kind(dataset) is None:
        dataset = canonical_name(dataset)
    need, have = method_graph_kind(method), dataset_graph_kind(dataset)
    if need != have:
        fits = ", ".join(methods_for(have)) or "none shipped"
        raise ValueError(f"method {name!r} trains on {GRAPH_KINDS[need]}, but {dataset!r} is "
                         f"{GRAPH_KINDS[have]}; methods that fit {dataset!r}: {fits}")
    config_file = Path(getattr(method, "config_file", CONFIG_DIR / f"{name}.yaml"))
    sections = _read(str(config_file)).get("datasets") or {}
    if dataset not in sections:
        warnings.warn(f"method {name!r} has no configuration for {dataset!r}: using its recipe's "
                      f"defaults and the 'defaults' section of {config_file.name} (configured "
                      f"for: {', '.join(sections) or 'no dataset'}); tune it with --config "
                      "FILE.yaml or --set KEY=VALUE", ConfigFallbackWarning, stacklevel=2)
    return dataset


class ConfigFallbackWarning(UserWarning):
    """A method runs on a dataset without a configuration section of its own (see
    :func:`prepare_run`).

    Example:
        >>> issubclass(ConfigFallbackWarning, UserWarning)
        True
    """
