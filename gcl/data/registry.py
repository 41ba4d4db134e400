"""Graphs of the user's own, registered under a name so that the catalog's doors open for them.

:func:`register_graph` keeps a graph (a PyG ``Data`` or a :class:`gcl.data.MetaPathGraph`)
under a name of its own; :func:`gcl.data.load` then returns it (with seeded random splits when
it has none, feature normalisation when asked), and :func:`gcl.methods.run` and ``gcl train``
train and evaluate it like a catalog dataset. Registered names never shadow catalog names.

This module imports nothing heavy: it only holds the registry.

Example:
    >>> import torch
    >>> from torch_geometric.data import Data
    >>> g = Data(x=torch.eye(3), edge_index=torch.tensor([[0, 1], [1, 0]]))
    >>> register_graph("toy-graph", g)
    'toy-graph'
    >>> registered_graph_kind("toy-graph"), registered_graph_kind("cora")
    ('homogeneous', None)
    >>> unregister_graph("toy-graph")
"""

from __future__ import annotations

import re

__all__ = ["register_graph", "check_graph_name", "unregister_graph", "registered_graph",
           "registered_graph_kind",
           "registered_names"]

_GRAPHS: dict = {}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def register_graph(name: str, graph) -> str:
    """Keep ``graph`` under ``name`` for :func:`gcl.data.load` and :func:`gcl.methods.run`.

    Args:
        name: letters, digits, ``.``, ``_`` and ``-`` (at most 64, starting with a letter or
            digit; it names result files), and not a catalog dataset's name or alias.
        graph: a PyG ``Data`` (homogeneous) or a :class:`gcl.data.MetaPathGraph`
            (heterogeneous; build one from a ``HeteroData`` with
            :func:`gcl.data.from_hetero_data`). A graph registered again under the same name
            replaces the earlier one.

    Returns:
        str: ``name``.

    Raises:
        ValueError: for a name that is malformed or taken by the catalog, or a graph of
            another type (a ``HeteroData`` needs its meta-paths first).

    Example:
        >>> register_graph("cora", object())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: graph name 'cora' is a catalog dataset ...
    """
    check_graph_name(name)
    _kind(graph)
    _GRAPHS[name] = graph
    return name


def check_graph_name(name: str) -> str:
    """Check a name for :func:`register_graph` (before reading any file).

    Args:
        name: the proposed name.

    Returns:
        str: ``name``.

    Raises:
        ValueError: for a malformed name or one the catalog uses.

    Example:
        >>> check_graph_name("my-graph")
        'my-graph'
    """
    from .catalog import canonical_name

    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"graph name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit (it names result files)")
    try:
        taken = canonical_name(name)
    except ValueError:
        taken = None
    if taken is not None:
        raise ValueError(f"graph name {name!r} is a catalog dataset ({taken!r}); give your graph "
                         "another name (gcl train --name NAME)")
    return name


def _kind(graph) -> str:
    from torch_geometric.data import Data, HeteroData

    from .hetero import MetaPathGraph

    if isinstance(graph, MetaPathGraph):
        return "heterogeneous"
    if isinstance(graph, HeteroData):
        raise ValueError("a HeteroData needs its meta-paths: convert it with "
                         "gcl.data.from_hetero_data(data, metapaths) (gcl train: --metapath)")
    if isinstance(graph, Data):
        return "homogeneous"
    raise ValueError(f"cannot register a {type(graph).__name__}: expected a PyG Data or a "
                     "gcl.data.MetaPathGraph")


def unregister_graph(name: str) -> None:
    """Forget a registered graph (nothing happens for an unknown name).

    Args:
        name: the name given to :func:`register_graph`.

    Example:
        >>> unregister_graph("never-registered")
    """
    _GRAPHS.pop(name, None)


def registered_graph(name):
    """The graph registered under ``name``, else ``None``.

    Args:
        name: a name (anything: a catalog name simply gives ``None``).

    Returns:
        the registered ``Data`` / ``MetaPathGraph``, or ``None``.

    Example:
        >>> registered_graph("cora") is None
        True
    """
    return _GRAPHS.get(name) if isinstance(name, str) else None


def registered_graph_kind(name) -> str | None:
    """``"homogeneous"`` or ``"heterogeneous"`` for a registered graph, else ``None``.

    Args:
        name: a name.

    Returns:
        str | None: the kind, or ``None`` when nothing is registered under ``name``.

    Example:
        >>> registered_graph_kind("acm") is None
        True
    """
    graph = registered_graph(name)
    return None if graph is None else _kind(graph)


def registered_names() -> list[str]:
    """The names of the registered graphs, sorted.

    Returns:
        list[str]: the names.

    Example:
        >>> isinstance(registered_names(), list)
        True
    """
    return sorted(_GRAPHS)
