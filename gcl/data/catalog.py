"""The catalog of known datasets: names, aliases, files, checksums, sources, licences.

The catalog is the JSON file ``datasets/catalog.json`` at the repository root (a wheel ships it
as ``gcl/data/catalog.json``). Each entry gives the dataset's canonical name, its aliases, its
kind (``planetoid``, ``amazon``, ``coauthor``, ``wikics``, ``ogb`` or ``synthetic``), its folder
relative to the data root, the expected files (with sha256 and size where known), the source
URL, the licence, a citation and node/edge/feature/class counts.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
import re
from pathlib import Path

from .._files import path_in
from .embedded import EMBEDDED_ROOT, has_embedded_copy
from .storage import cache_dir, resolve_root

__all__ = ["catalog", "list_datasets", "canonical_name", "dataset_entry", "dataset_status",
           "catalog_path", "locate_files", "download_folder", "downloaded_files"]


def catalog_path() -> Path:
    """The catalog file in use: ``<repo>/datasets/catalog.json``, else the packaged copy.

    Returns:
        Path: the path of ``catalog.json``.

    Raises:
        FileNotFoundError: when neither file exists (a broken installation).

    Example:
        >>> catalog_path().name
        'catalog.json'
    """
    here = Path(__file__).resolve().parent
    candidates = [here.parents[1] / "datasets" / "catalog.json", here / "catalog.json"]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        "gcl's dataset catalog is missing; looked for "
        + " and ".join(str(p) for p in candidates)
        + ". Reinstall gcl, or restore datasets/catalog.json in the repository."
    )


@functools.lru_cache(maxsize=4)
def _read(path: str) -> dict:
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    datasets = doc.get("datasets")
    if not isinstance(datasets, dict) or not datasets:
        raise ValueError(f"{path} is not a gcl dataset catalog: it has no 'datasets' mapping")
    return datasets


def _datasets() -> dict:
    return _read(str(catalog_path()))


def catalog() -> dict:
    """All catalog entries, keyed by canonical dataset name (a deep copy: edit it freely).

    Returns:
        dict: ``{name: entry}``, each entry a dict with ``name``, ``aliases``, ``kind``,
        ``folder``, ``files``, ``source``, ``license``, ``citation``, ``stats``,
        ``default_split``, ...

    Example:
        >>> catalog()["cora"]["stats"]["num_nodes"]
        2708
    """
    return copy.deepcopy(_datasets())


def list_datasets() -> list[str]:
    """The canonical names of all datasets :func:`gcl.data.load` knows, in catalog order.

    Returns:
        list[str]: e.g. ``["cora", "citeseer", ..., "synthetic"]``.

    Example:
        >>> "amazon-photo" in list_datasets()
        True
    """
    return list(_datasets())


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


@functools.lru_cache(maxsize=4)
def _alias_table(path: str) -> dict:
    table = {}
    for canonical, entry in _read(path).items():
        for alias in [canonical, *entry.get("aliases", [])]:
            table.setdefault(_key(alias), canonical)
    return table


def canonical_name(name: str) -> str:
    """Map a dataset name or alias to its canonical catalog name (case and ``-_ `` ignored).

    Args:
        name: e.g. ``"Cora"``, ``"amazon_photo"``, ``"Amazon Photo"``, ``"ogbn_arxiv"``.

    Returns:
        str: the canonical name, e.g. ``"amazon-photo"``.

    Raises:
        ValueError: for an unknown name; the message lists the known names and suggests the
            closest one.

    Example:
        >>> canonical_name("Amazon_Photo")
        'amazon-photo'
    """
    if not isinstance(name, str):
        raise ValueError(f"dataset name must be a string, got {type(name).__name__}")
    table = _alias_table(str(catalog_path()))
    found = table.get(_key(name))
    if found is not None:
        return found
    known = list_datasets()
    close = difflib.get_close_matches(name.lower(), known + list(table), n=1, cutoff=0.5)
    hint = ""
    if close:
        guess = table.get(_key(close[0]), close[0])
        hint = f" Did you mean '{guess}'?"
    raise ValueError(f"unknown dataset {name!r}.{hint} Known datasets: {', '.join(known)}.")


def dataset_entry(name: str) -> dict:
    """The catalog entry of one dataset (a deep copy), looked up by name or alias.

    Args:
        name: a dataset name or alias.

    Returns:
        dict: the entry (see :func:`catalog`).

    Example:
        >>> dataset_entry("Photo")["folder"]
        'amazon/Photo'
    """
    return copy.deepcopy(_datasets()[canonical_name(name)])


def locate_files(entry: dict, root: Path) -> tuple[Path | None, list[Path]]:
    """Find an entry's files under ``root``: its folder, else one of its ``alt_folders``.

    Args:
        entry: a catalog entry.
        root: the data root.

    Returns:
        tuple: ``(folder, missing)`` — the first folder holding every expected file (``None``
        when there is none) and the full paths missing from the primary folder.

    Example:
        >>> folder, missing = locate_files(dataset_entry("cora"), Path("/nonexistent"))
        >>> folder is None, missing[0].name
        (True, 'ind.cora.x')
    """
    rels = [f["path"] for f in entry.get("files", [])]
    folders = [entry["folder"], *entry.get("alt_folders", [])]
    primary_missing: list[Path] = []
    for i, folder in enumerate(folders):
        base = root / folder
        missing = [base / rel for rel in rels if not (base / rel).is_file()]
        if i == 0:
            primary_missing = missing
        if not missing:
            return base, []
    return None, primary_missing


def download_folder(name: str) -> Path:
    """The cache folder that receives a dataset downloaded with ``download=True``.

    Args:
        name: a canonical dataset name.

    Returns:
        Path: ``<cache>/<name>/download``.

    Example:
        >>> download_folder("cora").parts[-2:]
        ('cora', 'download')
    """
    return path_in(cache_dir(), name, "download")


def downloaded_files(entry: dict) -> Path | None:
    """The download folder of ``entry`` when it holds every expected file, else ``None``.

    Args:
        entry: a catalog entry.

    Returns:
        Path | None: ``<cache>/<name>/download/<mirror folder>`` (what ``download=True`` left
        there), or ``None`` when it is incomplete or absent.

    Example:
        >>> downloaded_files(dataset_entry("synthetic")) is None
        True
    """
    if not entry.get("files"):
        return None
    base = download_folder(entry["name"]) / entry.get("mirror_folder", ".")
    if all((base / f["path"]).is_file() for f in entry["files"]):
        return base
    return None


def dataset_status(root=None) -> list[dict]:
    """Which catalog datasets can be loaded from ``root`` (used by ``gcl datasets``).

    A dataset is available when every expected file is under the data root, when the package
    ships a copy (Cora), or when an earlier ``download=True`` left a complete copy in the cache.
    Nothing is hashed or written.

    Args:
        root: the data root (default: :func:`gcl.data.resolve_root`).

    Returns:
        list[dict]: one dict per dataset with ``name``, ``kind``, ``available`` (bool),
        ``missing`` (full paths, as strings), ``root`` (string), ``location`` (the folder the
        files were found in, or ``None``) and ``source`` (``"root"``, ``"embedded"``,
        ``"cache"``, ``"generated"`` or ``None``).

    Example:
        >>> rows = dataset_status("/nonexistent")
        >>> [(r["name"], r["source"]) for r in rows if r["name"] in ("cora", "pubmed")]
        [('cora', 'embedded'), ('pubmed', None)]
    """
    root = resolve_root(root)
    rows = []
    for name, entry in _datasets().items():
        row = {"name": name, "kind": entry["kind"], "root": str(root), "missing": [],
               "available": False, "location": None, "source": None}
        if entry["kind"] == "synthetic":
            row.update(available=True, source="generated")
        else:
            folder, missing = locate_files(entry, root)
            if folder is not None:
                row.update(available=True, location=str(folder), source="root")
            elif has_embedded_copy(entry):
                row.update(available=True, source="embedded",
                           location=str(EMBEDDED_ROOT / entry["embedded"]["folder"]))
            else:
                cached = downloaded_files(entry)
                if cached is not None:
                    row.update(available=True, location=str(cached), source="cache")
                else:
                    row["missing"] = [str(p) for p in missing]
        rows.append(row)
    return rows
