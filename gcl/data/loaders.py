"""``gcl.data.load``: one call from a dataset name to a validated PyG ``Data`` with split masks.

How a load works:

1. the name is mapped to its catalog entry (:func:`gcl.data.canonical_name`);
2. the raw files are looked up under the data root (:func:`gcl.data.resolve_root`), else in the
   package's embedded copy (Cora, :mod:`gcl.data.embedded`; every file hashed before each use),
   else in the cache's download folder of an earlier ``download=True``; when they are missing,
   :class:`DatasetNotFoundError` says which files, where, and how to get them;
3. the files are checked against the catalog's sha256 and size (once per file version);
4. a cache mirror of symlinks is built under ``<cache>/<name>/`` and the PyG or OGB dataset class
   is pointed at it, so ``processed/`` files land in the cache and the data root is only read;
5. the graph is standardised (float32 ``x``, 1-D long ``y``, undirected ``edge_index``), given
   its split masks, optionally row-normalised and checked with :func:`gcl._utils.validate_graph`.

Nothing touches the network unless ``download=True``.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
from torch_geometric.data import Data
from torch_geometric.utils import to_undirected as _to_undirected

from .._files import path_in
from .._utils import validate_graph
from .catalog import (
    canonical_name,
    dataset_entry,
    download_folder,
    downloaded_files,
    locate_files,
)
from .embedded import embedded_folder
from .pyg_build import build_graph, expected_files, ogb_evaluator
from .registry import registered_graph
from .splits import SplitSpec, parse_split, random_split
from .storage import (
    DatasetNotFoundError,
    cache_dir,
    file_lock,
    prepare_mirror,
    resolve_root,
    verify_files,
)
from .synthetic import synthetic
from .transforms import RowNormalize

__all__ = ["load", "ogb_evaluator", "SPLITS_BY_KIND"]  # ogb_evaluator: re-exported

#: the ``split=`` kinds each dataset kind supports (the first is the default)
SPLITS_BY_KIND = {
    "planetoid": ("public", "full", "random"),
    "amazon": ("random",),
    "coauthor": ("random",),
    "wikics": ("public", "random"),
    "ogb": ("ogb", "random"),
    "synthetic": ("random",),
    "sdcn": ("random",),
    "hetero": ("fixed-20-40-60",),
}

_SYNTHETIC_SPLIT_KWARGS = {"train_ratio", "val_ratio", "num_splits", "split_seed"}


def load(name: str, root: str | os.PathLike | None = None, *, split: str | None = None,
         split_seed: int = 0, num_splits: int = 1, normalize_features: bool = False,
         download: bool = False, to_undirected: bool = True, **kwargs) -> Data:
    """Load a node-classification dataset as one PyG ``Data`` with split masks.

    Args:
        name: a dataset name or alias, case-insensitive (``"cora"``, ``"citeseer"``,
            ``"pubmed"``, ``"amazon-photo"``, ``"amazon-computers"``, ``"coauthor-cs"``,
            ``"coauthor-physics"``, ``"wikics"``, ``"ogbn-arxiv"``, ``"ogbn-products"``,
            ``"synthetic"``; also ``"Cora"``, ``"amazon_photo"``, ``"photo"``, ...), or the name
            of a graph of your own registered with :func:`gcl.data.register_graph`. The
            heterogeneous ``"acm"``, ``"dblp"``, ``"aminer"``, ``"imdb"``, ``"heco-acm"``, ...
            return a :class:`gcl.data.MetaPathGraph` (see :func:`gcl.data.load_hetero`; the
            split arguments do not apply: their 20/40/60 splits are fixed).
        root: the data root (default: ``$GCL_DATA``, else the repository's ``datasets/``). Its
            layout is the one of the offline mirror: ``planetoid/Cora/raw/ind.cora.*``,
            ``amazon/Photo/raw/*.npz``, ``coauthor/CS/raw/*.npz``, ``wikics/raw/data.json``,
            ``ogb/ogbn_arxiv/{raw,split,...}`` (see ``datasets/README.md``). It is only read.
        split: which split masks to attach (default: the dataset's own: ``"public"`` for
            Planetoid and WikiCS, ``"ogb"`` for OGB, ``"random"`` (10/10/80) otherwise).
            ``"random:0.01:0.01"`` (or ``"random:1:1"``, percentages) gives 1/1/98; ``"full"``
            (Planetoid) trains on every node outside the public validation and test sets.
            See :mod:`gcl.data.splits` for the syntax.
        split_seed: seed of random splits (default: 0).
        num_splits: number of random split columns; masks are ``[N]`` for 1, else ``[N, S]``
            (default: 1). Fixed splits keep their own shape (WikiCS: 20 train/val columns and
            one test column) and ignore this with a warning.
        normalize_features: divide each feature row by its sum with the legacy semantics
            ``x / x.sum(-1).clamp(min=1)`` (see :class:`gcl.data.RowNormalize`; default: False).
        download: allow PyG/OGB to download missing files into the cache (default: False).
        to_undirected: symmetrise the graph (default: True). PyG's Planetoid, Amazon and
            Coauthor graphs are undirected already; ogbn-arxiv is a directed citation graph.
        **kwargs: forwarded to :func:`gcl.data.synthetic` (``num_nodes``, ``num_classes``,
            ``num_features``, ``avg_degree``, ``p_intra``, ``seed``, ...); other datasets
            accept none.

    Returns:
        Data: ``x`` float32 ``[N, F]``, ``edge_index`` long ``[2, E]``, ``y`` long ``[N]``,
        boolean ``train_mask``/``val_mask``/``test_mask`` (``[N]`` or ``[N, S]``), ``name``
        (the canonical name) and ``split_name`` (e.g. ``"public"``, ``"random-0.1-0.1"``,
        ``"ogb"``).

    Raises:
        ValueError: for an unknown name (with the closest known one), an unsupported split,
            a file that fails its integrity check, or an invalid graph.
        DatasetNotFoundError: when files are missing and ``download=False``; the message names
            the files, the data root and how to get them.
        TypeError: for keyword arguments a non-synthetic dataset does not take.

    Example:
        >>> data = load("synthetic", num_nodes=200, num_classes=4)
        >>> data.name, data.split_name, int(data.train_mask.sum())
        ('synthetic', 'random-0.1-0.1', 20)
    """
    user_graph = registered_graph(name)
    if user_graph is not None:  # a graph of the user's own (gcl.data.register_graph)
        from .user import load_registered

        return load_registered(user_graph, name=name, split=split, split_seed=split_seed,
                               num_splits=num_splits, normalize_features=normalize_features)
    canonical = canonical_name(name)
    entry = dataset_entry(canonical)
    kind = entry["kind"]
    if kind == "hetero":
        from .hetero import load_hetero

        return load_hetero(canonical, root)
    spec = parse_split(split if split is not None else entry.get("default_split", "random"))
    if kind == "ogb" and spec.kind == "public":
        spec = SplitSpec("ogb")
    if spec.kind not in SPLITS_BY_KIND[kind]:
        raise ValueError(
            f"dataset '{canonical}' has no {spec.kind!r} split; use one of "
            f"{list(SPLITS_BY_KIND[kind])} (random splits also as 'random:TRAIN:VAL')"
        )
    for value, label in ((split_seed, "split_seed"), (num_splits, "num_splits")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0 or (
                label == "num_splits" and value < 1):
            bound = "a positive" if label == "num_splits" else "a non-negative"
            raise ValueError(f"{label} must be {bound} integer, got {value!r}")

    if kind == "synthetic":
        clash = sorted(_SYNTHETIC_SPLIT_KWARGS & set(kwargs))
        if clash:
            raise TypeError(f"load('synthetic') sets the split itself; pass split=, split_seed= "
                            f"and num_splits= instead of {clash}")
        data = synthetic(train_ratio=spec.train_ratio, val_ratio=spec.val_ratio,
                         num_splits=num_splits, split_seed=split_seed, **kwargs)
        if normalize_features:
            data = RowNormalize()(data)
        validate_graph(data, name=canonical, require_y=True)
        return data
    if kwargs:
        raise TypeError(f"load() got unexpected keyword argument(s) {sorted(kwargs)}: extra "
                        "keyword arguments are forwarded to gcl.data.synthetic only")

    root_source = ("the root argument" if root not in (None, "") else
                   "$GCL_DATA" if os.environ.get("GCL_DATA") else
                   "the default (the repository's datasets/ folder)")
    root = resolve_root(root)
    data, fixed = _read_dataset(entry, root, download=download, root_source=root_source,
                                to_undirected=to_undirected)
    data = _standardize(data, entry)
    _attach_masks(data, entry, spec, fixed, split_seed=split_seed, num_splits=num_splits)
    if normalize_features:
        data = RowNormalize()(data)
    data.name = canonical
    data.split_name = spec.name
    validate_graph(data, name=canonical, require_y=True)
    return data


# -- finding, verifying and mirroring the raw files ----------------------------------------------


def _read_dataset(entry: dict, root: Path, *, download: bool, root_source: str,
                  to_undirected: bool) -> tuple[Data, dict]:
    name = entry["name"]
    if entry["kind"] == "sdcn":
        return _build_sdcn(entry, root, root_source=root_source, to_undirected=to_undirected)
    mirror_folder = entry.get("mirror_folder", ".")
    folder, missing = locate_files(entry, root)
    if folder is None:  # a copy shipped in the package (Cora), hashed before every use
        folder = embedded_folder(entry)
    if folder is not None:
        verify_files(expected_files(entry, folder), dataset=name)
        digest = hashlib.sha1(str(folder).encode()).hexdigest()[:12]
        pyg_root = path_in(cache_dir(), name, f"root-{digest}")
        links = [(folder / f["path"], f"{mirror_folder}/{f['path']}") for f in entry["files"]]
        with file_lock(pyg_root / ".lock"):
            prepare_mirror(pyg_root, links, processed_dirs=[f"{mirror_folder}/processed", "graph"])
            return build_graph(entry, pyg_root, allow_download=False,
                               to_undirected=to_undirected)
    cached = downloaded_files(entry)
    if cached is not None:
        verify_files(expected_files(entry, cached), dataset=name)
        pyg_root = download_folder(name)
        with file_lock(pyg_root / ".lock"):
            return build_graph(entry, pyg_root, allow_download=False,
                               to_undirected=to_undirected)
    if not download:
        raise _not_found(entry, root, missing, root_source)
    pyg_root = download_folder(name)
    with file_lock(pyg_root / ".lock"):  # the raw files are hashed before they are processed
        return build_graph(entry, pyg_root, allow_download=True, to_undirected=to_undirected)


def _not_found(entry: dict, root: Path, missing: list[Path], root_source: str):
    name, folder = entry["name"], root / entry["folder"]
    expected = [folder / f["path"] for f in entry["files"]]
    missing_set = set(missing)
    if not root.is_dir():
        where = (f"the data root {root} does not exist" if not root.exists() else
                 f"the data root {root} is not a folder")
        lines = [f"dataset '{name}' is not available: {where} (it came from {root_source}). "
                 "Point --data-root (or GCL_DATA) at the folder holding the datasets; the "
                 "files it would need:"]
    else:
        lines = [
            f"dataset '{name}' is not available: {len(missing)} of {len(expected)} file(s) "
            f"missing under the data root {root} (first missing: {missing[0]})",
            f"The data root came from {root_source}. Looked for:",
        ]
    lines += [f"  [{'missing' if p in missing_set else 'found  '}] {p}" for p in expected]
    for alt in entry.get("alt_folders", []):
        lines.append(f"  (also looked for the same files under {root / alt})")
    partial = root / "partial" / entry["folder"]
    if partial.is_dir():
        lacks = [f["path"] for f in entry["files"] if not (partial / f["path"]).is_file()]
        if lacks:
            lines.append(f"A partial copy is at {partial}; it lacks {', '.join(lacks)}. Add the "
                         f"missing file(s) there, then move the folder to {folder}.")
        else:
            lines.append(f"A complete copy is at {partial}: move it to {folder}.")
    src = entry.get("source", {})
    if entry["kind"] == "ogb":
        lines.append(f"To get it: download {src.get('url')}, unzip it and put its folder at "
                     f"{folder} (OGB's layout: raw/, split/, RELEASE_v1.txt);")
    else:
        urls = [f.get("url") for f in entry["files"] if folder / f["path"] in missing_set]
        urls = [u for u in urls if u]
        shown = ", ".join(urls[:3]) + (f" (+{len(urls) - 3} more)" if len(urls) > 3 else "")
        lines.append(f"To get it: download {shown or src.get('url')} into {folder / 'raw'};")
    lines.append(f"or call gcl.data.load({name!r}, download=True) to let "
                 f"{'OGB' if entry['kind'] == 'ogb' else 'PyG'} download it into the cache "
                 f"({download_folder(name)});")
    lines.append("or pass root= (or set the GCL_DATA environment variable) to a data root that "
                 "has the files.")
    return DatasetNotFoundError("\n".join(lines), dataset=name, root=root, missing=missing)


def _build_sdcn(entry: dict, root: Path, *, root_source: str,
                to_undirected: bool) -> tuple[Data, dict]:
    """An SDCN-layout set; features from ``data/<stem>.txt``, else from ``features_from``."""
    from .sdcn import read_sdcn

    name = entry["name"]
    folder, missing = locate_files(entry, root)
    if folder is None:
        raise _not_found(entry, root, missing, root_source)
    verify_files(expected_files(entry, folder), dataset=name)
    stem, source = entry["sdcn_name"], entry.get("features_from")
    x = None
    if source and not (folder / "data" / f"{stem}.txt").is_file():
        donor = load(source, root=root)
        data = read_sdcn(folder, stem, k=entry.get("sdcn_k"), x=donor.x)
        if not torch.equal(data.y, donor.y):
            raise ValueError(f"dataset '{name}': the labels of {folder} do not match those of "
                             f"'{source}', so its features cannot be used for this set")
    else:
        data = read_sdcn(folder, stem, k=entry.get("sdcn_k"), x=x)
    if to_undirected:
        data.edge_index = _to_undirected(data.edge_index, num_nodes=data.num_nodes)
    return data, {}


# -- standardising ---------------------------------------------------------------------------------


def _standardize(data: Data, entry: dict) -> Data:
    if data.x is not None and data.x.dtype != torch.float32:
        data.x = data.x.float()
    y = data.y
    if y is not None:
        if y.dim() == 2 and y.size(1) == 1:
            y = y.view(-1)
        y = y.long()
        num_classes = (entry.get("stats") or {}).get("num_classes")
        if y.numel() and (entry.get("labels_one_based") or (
                num_classes and int(y.min()) == 1 and int(y.max()) == num_classes)):
            y = y - 1  # 1-based labels (max == num_classes cannot be 0-based)
        data.y = y
    if data.edge_index.dtype != torch.long:
        data.edge_index = data.edge_index.long()
    return data


def _attach_masks(data: Data, entry: dict, spec: SplitSpec, fixed: dict, *, split_seed: int,
                  num_splits: int) -> None:
    n = data.num_nodes
    if spec.kind == "random":
        train, val, test = random_split(n, spec.train_ratio, spec.val_ratio, num_splits,
                                        split_seed)
        for key in ("stopping_mask",):
            if key in data:
                del data[key]
    else:
        if num_splits != 1:
            warnings.warn(f"num_splits={num_splits} is ignored for the fixed {spec.kind!r} split "
                          f"of '{entry['name']}'; use split='random' for several random splits",
                          stacklevel=3)
        train, val, test = fixed["train_mask"], fixed["val_mask"], fixed["test_mask"]
        if spec.kind == "full":
            train = ~(val | test)
    data.train_mask, data.val_mask, data.test_mask = train.bool(), val.bool(), test.bool()
