"""Building a graph from raw files through PyG or OGB, kept in a cache gcl reads safely.

PyG and OGB keep their processed graphs as pickles (``processed/data.pt``,
``processed/pre_transform.pt``) and load them with ``weights_only=False`` (PyG retries that way
when the safe load refuses a class), so a file planted in the cache would run on the next load.
gcl therefore never lets them open a processed file they did not write in the same call:

1. the graph is read from gcl's own cache, ``<mirror>/graph/<variant>.pt``: tensors only,
   loaded with ``torch.load(weights_only=True)`` and checked
   (:func:`gcl._files.load_tensor_file`); one that cannot be read is removed with a warning
   naming it and rebuilt once (:func:`gcl._files.read_cache`);
2. otherwise the PyG/OGB ``processed/`` folder is deleted, the raw files are hashed (every time:
   Planetoid's are pickles) right before the dataset class reads them, the class processes
   them, and gcl writes its cache and deletes ``processed/`` again.

A full disk while processing or caching gives one :class:`gcl._files.DiskFullError` naming the
folder and the space needed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import warnings
from pathlib import Path

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import coalesce
from torch_geometric.utils import to_undirected as _to_undirected

from .._files import as_disk_full, atomic_target, load_tensor_file, path_in, read_cache
from .splits import index_to_mask
from .storage import DatasetNotFoundError, verify_files

__all__ = ["build_graph", "expected_files", "ogb_evaluator"]

#: the form of gcl's graph cache (changing it makes older caches unreadable: they are rebuilt)
GRAPH_CACHE_FORMAT = 1


def expected_files(entry: dict, base: Path) -> list[tuple[Path, str | None, int | None]]:
    """``(path, sha256, size)`` of each catalog file of ``entry`` under ``base``.

    Args:
        entry: a catalog entry.
        base: the folder holding the entry's files.

    Returns:
        list: ``(path, expected sha256 or None, expected size or None)`` triples.

    Example:
        >>> from gcl.data import dataset_entry
        >>> expected_files(dataset_entry("cora"), Path("/d"))[0][0].as_posix()
        '/d/raw/ind.cora.x'
    """
    return [(base / f["path"], f.get("sha256"), f.get("size")) for f in entry["files"]]


def build_graph(entry: dict, pyg_root: Path, *, allow_download: bool,
                to_undirected: bool) -> tuple[Data, dict]:
    """The graph of a PyG/OGB catalog entry whose raw files are under ``pyg_root``.

    Args:
        entry: the catalog entry.
        pyg_root: the cache mirror (or download folder) the dataset class is pointed at.
        allow_download: let the class download missing raw files.
        to_undirected: symmetrise the edges.

    Returns:
        tuple: ``(data, fixed)``, ``fixed`` holding the dataset's own split masks (Planetoid,
        WikiCS, OGB), else empty.

    Example:
        >>> import tempfile
        >>> from gcl.data import dataset_entry
        >>> from gcl.data.fake_ogb import make_fake_ogb
        >>> root = Path(tempfile.mkdtemp())
        >>> _ = make_fake_ogb(root, "ogbn-arxiv", num_nodes=60, num_features=4, num_classes=3)
        >>> data, fixed = build_graph(dataset_entry("ogbn-arxiv"), root, allow_download=False,
        ...                           to_undirected=True)
        >>> data.num_nodes, sorted(fixed), sorted(p.name for p in (root / "graph").iterdir())
        (60, ['test_mask', 'train_mask', 'val_mask'], ['as-read-v1.pt'])
    """
    kind, name = entry["kind"], entry["name"]
    pyg_root.mkdir(parents=True, exist_ok=True)
    variant = "undirected" if kind == "wikics" and to_undirected else "as-read"
    cache = path_in(pyg_root / "graph", f"{variant}-v{GRAPH_CACHE_FORMAT}.pt")
    stored = read_cache(cache, _read_graph, what=f"processed graph of '{name}'")
    if stored is None:
        stored = _process(entry, pyg_root, allow_download=allow_download,
                          to_undirected=to_undirected)
        _write_graph(cache, *stored)
    else:  # gcl keeps no processed/ folder: whatever is there was not written by it
        shutil.rmtree(pyg_root / entry.get("mirror_folder", ".") / "processed",
                      ignore_errors=True)
    data, fixed = stored
    if kind in ("planetoid", "wikics"):
        fixed = {k: data[k] for k in ("train_mask", "val_mask", "test_mask")}
    if to_undirected and kind == "ogb" and entry.get("edges_symmetric"):
        # ogbn-products: ogb already added every reverse edge; sorting is enough, and it
        # avoids doubling 124M edges before deduplicating them.
        data.edge_index = coalesce(data.edge_index, num_nodes=data.num_nodes)
    elif to_undirected and kind != "wikics":
        data.edge_index = _to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return data, fixed


# -- gcl's own cache -------------------------------------------------------------------------------


def _read_graph(path: Path) -> tuple[Data, dict]:
    stored = load_tensor_file(path, depth=2)
    if set(stored) != {"data", "fixed"} or not isinstance(stored["data"], dict) \
            or not isinstance(stored["fixed"], dict):
        raise ValueError(f"{path} is not a gcl graph cache (expected 'data' and 'fixed')")
    tensors = dict(stored["data"])
    num_nodes = tensors.pop("num_nodes", None)
    edge_index = tensors.get("edge_index")
    if not isinstance(edge_index, Tensor) or edge_index.dim() != 2 or edge_index.size(0) != 2 \
            or not isinstance(num_nodes, Tensor) or num_nodes.numel() != 1:
        raise ValueError(f"{path}: no [2, E] edge_index or node count")
    n = int(num_nodes)
    for key, value in tensors.items():
        if key != "edge_index" and value.dim() > 0 and value.size(0) != n:
            raise ValueError(f"{path}: {key} has {value.size(0)} rows for {n} nodes")
    return Data(**tensors, num_nodes=n), dict(stored["fixed"])


def _write_graph(path: Path, data: Data, fixed: dict) -> None:
    tensors = {k: v for k, v in data.items() if isinstance(v, Tensor)}
    tensors["num_nodes"] = torch.tensor(int(data.num_nodes))
    size = sum(t.element_size() * t.numel() for t in [*tensors.values(), *fixed.values()])
    with atomic_target(path, size_hint=size) as tmp:
        torch.save({"data": tensors, "fixed": dict(fixed)}, tmp)


# -- processing the raw files ------------------------------------------------------------------------


def _guarded(cls, entry: dict, base: Path, *, allow_download: bool):
    """A subclass of a PyG/OGB dataset class that hashes the raw files before processing them,
    and (offline) refuses to download."""
    name = entry["name"]

    def process(self):
        verify_files(expected_files(entry, base), dataset=name, always_hash=True)
        return cls.process(self)

    attrs = {"process": process}
    if not allow_download:
        def download(self):  # pragma: no cover - only reached if the mirror is incomplete
            raise DatasetNotFoundError(
                f"dataset '{name}': raw files are missing and download=False", dataset=name)

        attrs["download"] = download
    return type(cls.__name__, (cls,), attrs)


def _process(entry: dict, pyg_root: Path, *, allow_download: bool,
             to_undirected: bool) -> tuple[Data, dict]:
    base = pyg_root / entry.get("mirror_folder", ".")
    processed = base / "processed"
    shutil.rmtree(processed, ignore_errors=True)  # never open a processed file not written now
    try:
        if entry["kind"] == "ogb":
            result = _process_ogb(entry, pyg_root, base, allow_download=allow_download)
        else:
            result = _process_pyg(entry, pyg_root, base, allow_download=allow_download,
                                  to_undirected=to_undirected)
    except Exception as err:
        raw = sum(p.stat().st_size for p, _, _ in expected_files(entry, base) if p.exists())
        full = as_disk_full(err, processed, needed=2 * raw or None)
        if full is not None:
            raise full from err
        raise
    finally:
        shutil.rmtree(processed, ignore_errors=True)
    return result


def _process_pyg(entry: dict, pyg_root: Path, base: Path, *, allow_download: bool,
                 to_undirected: bool) -> tuple[Data, dict]:
    from torch_geometric import datasets as pyg_datasets

    kind = entry["kind"]
    if kind == "planetoid":
        cls, args = pyg_datasets.Planetoid, {"name": entry["pyg_name"]}
    elif kind == "amazon":
        cls, args = pyg_datasets.Amazon, {"name": entry["pyg_name"]}
    elif kind == "coauthor":
        cls, args = pyg_datasets.Coauthor, {"name": entry["pyg_name"]}
    elif kind == "wikics":
        cls, args = pyg_datasets.WikiCS, {"is_undirected": bool(to_undirected)}
    else:  # pragma: no cover - guarded by the catalog
        raise ValueError(f"dataset '{entry['name']}' has an unknown kind {kind!r}")
    cls = _guarded(cls, entry, base, allow_download=allow_download)
    return cls(root=str(pyg_root), **args)[0], {}


def _import_ogb_offline():
    """Import ``ogb.nodeproppred`` without its online version check.

    ``ogb/version.py`` starts a thread that asks PyPI whether ogb is outdated (through the
    ``outdated`` package). Setting ``OUTDATED_IGNORE`` only silences the warning, so the check
    function is swapped for an offline stub while ogb is first imported.
    """
    os.environ.setdefault("OUTDATED_IGNORE", "1")
    if "ogb.version" not in sys.modules:
        try:
            import outdated
        except ImportError:
            outdated = None
        original = getattr(outdated, "check_outdated", None)
        if outdated is not None:
            outdated.check_outdated = lambda package, version, *a, **k: (False, version)
        try:
            import ogb.version  # noqa: F401
        finally:
            if outdated is not None:
                outdated.check_outdated = original
    from ogb.nodeproppred import PygNodePropPredDataset

    add_safe = getattr(torch.serialization, "add_safe_globals", None)
    if add_safe is not None:
        # torch >= 2.6 loads with weights_only=True; ogb's processed file holds PyG objects.
        from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
        from torch_geometric.data.storage import GlobalStorage

        add_safe([DataEdgeAttr, DataTensorAttr, GlobalStorage])
    return PygNodePropPredDataset


def ogb_evaluator(name: str):
    """OGB's official ``Evaluator`` for ``ogbn-arxiv`` / ``ogbn-products``, imported offline.

    Args:
        name: the OGB dataset name (``"ogbn-arxiv"`` or ``"ogbn-products"``).

    Returns:
        ogb.nodeproppred.Evaluator: call ``.eval({"y_true": [n, 1], "y_pred": [n, 1]})``.

    Example:
        >>> ev = ogb_evaluator("ogbn-arxiv")
        >>> ev.eval({"y_true": torch.tensor([[1], [2]]), "y_pred": torch.tensor([[1], [0]])})
        {'acc': 0.5}
    """
    if name not in ("ogbn-arxiv", "ogbn-products"):
        raise ValueError(f"ogb_evaluator: expected 'ogbn-arxiv' or 'ogbn-products', got {name!r}")
    _import_ogb_offline()
    from ogb.nodeproppred import Evaluator

    return Evaluator(name)


def _process_ogb(entry: dict, pyg_root: Path, base: Path, *,
                 allow_download: bool) -> tuple[Data, dict]:
    name = entry["name"]
    cls = _import_ogb_offline()
    release = base / "RELEASE_v1.txt"
    if allow_download:
        if base.exists() and not release.exists():
            shutil.rmtree(base)  # a half-finished download in our own cache
    elif not release.exists():
        # Without it ogb asks "Will you update the dataset now?" on stdin.
        release.write_text("written by gcl: raw files linked from the data root\n")
    listed = {base / f["path"] for f in entry["files"]}
    for foreign in base.glob("split/*/split_dict.pt"):  # ogb would torch.load it: not ours
        if foreign not in listed:
            foreign.unlink()
    cls = _guarded(cls, entry, base, allow_download=allow_download)
    with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
        # ogb prints its progress to stdout, and warns about its own read-only numpy arrays.
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        dataset = cls(name=name, root=str(pyg_root))
        split_idx = dataset.get_idx_split()
    data = dataset[0]
    n = data.num_nodes
    fixed = {"train_mask": index_to_mask(split_idx["train"], n),
             "val_mask": index_to_mask(split_idx["valid"], n),
             "test_mask": index_to_mask(split_idx["test"], n)}
    return data, fixed
