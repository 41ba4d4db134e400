"""Reading a user's graph files: edge lists, feature and label matrices, saved PyG graphs and
meta-path lists. Nothing here executes code from a file: text is parsed as numbers, ``.npy``
files are read without pickles (:func:`gcl.data.safe.safe_load_npy`), and saved PyG graphs are
read with ``torch.load(weights_only=True)``, allowing only PyG's graph containers.

Example:
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "edges.csv"
    >>> _ = p.write_text("source,target\\n0,1\\n1,2\\n")
    >>> read_edge_list(p).tolist()
    [[0, 1], [1, 2]]
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np

from .safe import CorruptFileError, safe_load_npy

__all__ = ["read_edge_list", "read_matrix", "read_labels", "read_graph_file", "parse_metapaths",
           "read_metapaths"]

_DELIMITERS = {".csv": ",", ".tsv": "\t"}


def _existing(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist" if not path.exists()
                                else f"{path} is not a file")
    return path


def _delimiter(path: Path, first: str) -> str | None:
    if path.suffix.lower() in _DELIMITERS:
        return _DELIMITERS[path.suffix.lower()]
    for candidate in (",", "\t"):
        if candidate in first:
            return candidate
    return None  # whitespace


def _read_table(path: Path, what: str) -> np.ndarray:
    """A numeric text table; a first line that is not numeric is a header and is skipped."""
    with open(path, encoding="utf-8", errors="replace") as handle:
        first = handle.readline()
    delimiter = _delimiter(path, first)
    tokens = [t.strip() for t in (first.split(delimiter) if delimiter else first.split())]
    try:
        [float(t) for t in tokens if t]
        header = 0
    except ValueError:
        header = 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": reported below
            table = np.loadtxt(path, dtype=np.float64, delimiter=delimiter, skiprows=header,
                               ndmin=2, comments="#")
    except ValueError as err:
        raise CorruptFileError(f"{path} is not a numeric {what} table: {err}") from err
    return table


def _integers(values: np.ndarray, path: Path, what: str) -> np.ndarray:
    if not np.all(np.isfinite(values)) or not np.array_equal(values, np.round(values)):
        raise CorruptFileError(f"{path}: {what} must be integers")
    if values.size and values.min() < 0:
        raise CorruptFileError(f"{path}: {what} must be non-negative (found {values.min():g})")
    return values.astype(np.int64)


def read_edge_list(path: str | os.PathLike) -> np.ndarray:
    """Read an edge list: two integer columns (source, target), one edge per line.

    Columns are separated by commas (``.csv``), tabs (``.tsv``) or whitespace (other
    extensions; a comma or tab on the first line is recognised too). A first line that is not
    numeric is a header; lines starting with ``#`` are comments. Node ids are non-negative
    integers (0-based row numbers of the feature and label files).

    Args:
        path: the file.

    Returns:
        np.ndarray: ``[E, 2]`` int64.

    Raises:
        FileNotFoundError: when the file does not exist.
        CorruptFileError: for non-integer ids, negative ids, or a number of columns other
            than two (the message names the file).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "g.txt"; _ = p.write_text("0 1\\n# c\\n2 0\\n")
        >>> read_edge_list(p).shape
        (2, 2)
    """
    path = _existing(path)
    edges = _read_table(path, "edge list")
    if edges.size == 0:
        raise CorruptFileError(f"{path} holds no edges")
    if edges.shape[1] != 2:
        raise CorruptFileError(f"{path}: an edge list has two columns (source, target), found "
                               f"{edges.shape[1]}; remove the others")
    return _integers(edges, path, "node ids")


def read_matrix(path: str | os.PathLike, *, what: str = "feature") -> np.ndarray:
    """Read a node-feature matrix, one row per node: ``.npy`` (no pickles) or a text table.

    Args:
        path: a ``.npy`` file, or a ``.csv`` / ``.tsv`` / whitespace-separated text file (a
            non-numeric first line is a header).
        what: the word used in error messages (default: ``"feature"``).

    Returns:
        np.ndarray: ``[N, F]`` float32 (a 1-D file is one feature per node).

    Raises:
        FileNotFoundError: when the file does not exist.
        CorruptFileError: for an unreadable file or non-numeric values.
        UnsafeFileError: for a ``.npy`` file holding pickled objects.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "x.npy"; np.save(p, np.eye(2))
        >>> read_matrix(p).dtype
        dtype('float32')
    """
    path = _existing(path)
    if path.suffix.lower() == ".npy":
        x = safe_load_npy(path)
        if not np.issubdtype(x.dtype, np.number) and x.dtype != np.bool_:
            raise CorruptFileError(f"{path}: {what} values must be numbers, found {x.dtype}")
    else:
        x = _read_table(path, what)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise CorruptFileError(f"{path}: a {what} matrix is 2-D (one row per node), found "
                               f"shape {x.shape}")
    return x.astype(np.float32)


def read_labels(path: str | os.PathLike) -> np.ndarray:
    """Read one integer class label per node (``.npy`` or text, one label per line).

    Args:
        path: the file.

    Returns:
        np.ndarray: ``[N]`` int64, all non-negative.

    Raises:
        FileNotFoundError: when the file does not exist.
        CorruptFileError: for non-integer or negative labels, or more than one column.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "y.csv"; _ = p.write_text("label\\n0\\n2\\n1\\n")
        >>> read_labels(p).tolist()
        [0, 2, 1]
    """
    path = _existing(path)
    y = np.asarray(read_matrix(path, what="label"), dtype=np.float64)
    if y.shape[1] != 1:
        raise CorruptFileError(f"{path}: labels are one column (one class per node), found "
                               f"shape {y.shape}")
    return _integers(y[:, 0], path, "labels (class ids)")


def _pyg_containers() -> list:
    """PyG's graph containers that ``torch.load(weights_only=True)`` must be allowed to rebuild,
    less those already allowed process-wide (PyG allows ``Data`` and ``HeteroData`` when it is
    imported): ``torch.serialization.safe_globals`` removes on exit what it was given, so it
    must only be given what it adds."""
    import torch
    from torch_geometric.data import Data, HeteroData
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import BaseStorage, EdgeStorage, GlobalStorage, NodeStorage

    allowed = set(torch.serialization.get_safe_globals())
    return [c for c in (Data, HeteroData, DataEdgeAttr, DataTensorAttr, BaseStorage,
                        GlobalStorage, NodeStorage, EdgeStorage) if c not in allowed]


def read_graph_file(path: str | os.PathLike):
    """Read a PyG ``Data`` or ``HeteroData`` saved with ``torch.save(data, path)``.

    The file is loaded with ``torch.load(weights_only=True)``: only tensors, plain containers
    and PyG's graph containers (``Data``, ``HeteroData`` and their storages) are rebuilt, so a
    planted pickle cannot run code.

    Args:
        path: the ``.pt`` file.

    Returns:
        Data | HeteroData: the graph (on the CPU).

    Raises:
        FileNotFoundError: when the file does not exist.
        CorruptFileError: for a file torch cannot read, or that holds something else than a
            graph (the message names the file and what it found).

    Example:
        >>> import tempfile, torch
        >>> from torch_geometric.data import Data
        >>> p = Path(tempfile.mkdtemp()) / "g.pt"
        >>> torch.save(Data(x=torch.eye(2), edge_index=torch.tensor([[0], [1]])), p)
        >>> read_graph_file(p)
        Data(x=[2, 2], edge_index=[2, 1])
    """
    import torch
    from torch_geometric.data import Data, HeteroData

    path = _existing(path)
    try:
        with torch.serialization.safe_globals(_pyg_containers()):
            graph = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any failure is reported with the file's name
        refused = re.search(r"GLOBAL ([\w.]+)", str(err))
        detail = (f"it references {refused.group(1)}, which is neither a tensor nor a PyG graph "
                  "container" if refused else
                  " ".join(str(err).split())[:200] or type(err).__name__)
        raise CorruptFileError(f"{path} is not a graph saved with torch.save(data) that can be "
                               f"read safely (weights_only=True): {detail}") from None
    if not isinstance(graph, (Data, HeteroData)):
        raise CorruptFileError(f"{path} holds a {type(graph).__name__}, not a PyG Data or "
                               "HeteroData; save the graph itself: torch.save(data, path)")
    return graph


def parse_metapaths(texts) -> list[tuple[str, ...]]:
    """Meta-paths written as node types joined by ``,`` or ``-`` (``"paper-author-paper"``).

    Args:
        texts: strings, or already-split sequences of node types.

    Returns:
        list[tuple[str, ...]]: one tuple of node types per meta-path.

    Raises:
        ValueError: for a meta-path with fewer than three types or empty type names.

    Example:
        >>> parse_metapaths(["paper-author-paper", "paper,subject,paper"])
        [('paper', 'author', 'paper'), ('paper', 'subject', 'paper')]
    """
    out = []
    for text in texts:
        if isinstance(text, str):
            parts = text.split(",") if "," in text else text.split("-")
        else:
            parts = list(text)
        parts = tuple(str(p).strip() for p in parts)
        if len(parts) < 3 or not all(parts):
            raise ValueError(f"meta-path {text!r}: give at least three node types joined by '-' "
                             "or ',' (e.g. paper-author-paper)")
        out.append(parts)
    return out


def read_metapaths(path: str | os.PathLike) -> dict:
    """Read meta-paths from a small YAML file.

    The file holds ``metapaths`` (a list of meta-paths, each a list of node types or a
    ``"paper-author-paper"`` string) and optionally ``target`` (the node type to embed; default:
    the first type of the first meta-path); a bare list is read as ``metapaths``.

    Args:
        path: the YAML file.

    Returns:
        dict: ``{"metapaths": [tuple, ...], "target": str | None}``.

    Raises:
        FileNotFoundError: when the file does not exist.
        ValueError: for invalid YAML, unknown keys or malformed meta-paths.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "mp.yaml"
        >>> _ = p.write_text("target: paper\\nmetapaths:\\n  - [paper, author, paper]\\n")
        >>> read_metapaths(p)
        {'metapaths': [('paper', 'author', 'paper')], 'target': 'paper'}
    """
    import yaml

    path = _existing(path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid YAML: {' '.join(str(err).split())[:200]}") from None
    if isinstance(content, list):
        content = {"metapaths": content}
    if not isinstance(content, dict) or not content.get("metapaths"):
        raise ValueError(f"{path}: expected a mapping with a 'metapaths' list (and optionally "
                         "'target')")
    unknown = sorted(set(content) - {"metapaths", "target"})
    if unknown:
        raise ValueError(f"{path}: unknown key(s) {unknown}; known: metapaths, target")
    target = content.get("target")
    return {"metapaths": parse_metapaths(content["metapaths"]),
            "target": None if target is None else str(target)}
