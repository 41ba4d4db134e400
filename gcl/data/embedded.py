"""Datasets whose raw files ship inside the package (Cora), the default when the data root lacks
them: ``make demo`` and the README's example run on real data on a fresh machine, offline.

A catalog entry with an ``embedded`` section has its files under
``gcl/data/embedded/<embedded.folder>/`` in the data root's layout, with the licence and
citations in ``<embedded.folder>/LICENSE``. Planetoid's files are pickles (PyG reads them with
``pickle.load``), so every file is hashed and compared with the catalog's sha256 before every
use (:func:`embedded_folder`), not once per file version.

Example:
    >>> from gcl.data.catalog import dataset_entry
    >>> embedded_folder(dataset_entry("cora")).name
    'Cora'
    >>> embedded_folder(dataset_entry("citeseer")) is None
    True
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EMBEDDED_ROOT", "embedded_folder", "has_embedded_copy"]

#: the folder holding the shipped datasets, in the data root's layout
EMBEDDED_ROOT = Path(__file__).resolve().parent / "embedded"


def has_embedded_copy(entry: dict) -> bool:
    """Whether ``entry`` ships its files in the package and they are all present (nothing is
    hashed: for listings such as ``gcl datasets``).

    Args:
        entry: a catalog entry.

    Returns:
        bool: ``True`` when every file of the entry is under its embedded folder.

    Example:
        >>> from gcl.data.catalog import dataset_entry
        >>> has_embedded_copy(dataset_entry("cora")), has_embedded_copy(dataset_entry("pubmed"))
        (True, False)
    """
    section = entry.get("embedded")
    if not section:
        return False
    base = EMBEDDED_ROOT / section["folder"]
    return all((base / f["path"]).is_file() for f in entry.get("files", []))


def embedded_folder(entry: dict) -> Path | None:
    """The verified embedded copy of ``entry``'s files, or ``None`` when it has none.

    Every file is hashed now and compared with the catalog's sha256 (the check
    :mod:`gcl.data.safe` makes before it unpickles a file), so a replaced file is refused
    before any reader opens it.

    Args:
        entry: a catalog entry.

    Returns:
        Path | None: the folder (``EMBEDDED_ROOT / embedded.folder``), or ``None`` when the
        entry ships no files or the installation lacks them.

    Raises:
        UnsafeFileError: a file whose sha256 differs from the catalog's (the message names it),
            or an embedded file without a sha256 in the catalog.

    Example:
        >>> from gcl.data.catalog import dataset_entry
        >>> sorted(p.name for p in (embedded_folder(dataset_entry("cora")) / "raw").iterdir())[0]
        'ind.cora.allx'
    """
    if not has_embedded_copy(entry):
        return None
    from .safe import UnsafeFileError, _check_sha

    base = EMBEDDED_ROOT / entry["embedded"]["folder"]
    for f in entry["files"]:
        if not f.get("sha256"):
            raise UnsafeFileError(f"refusing to read {base / f['path']}: the catalog has no "
                                  "sha256 for this embedded file")
        _check_sha(base / f["path"], f["sha256"])
    return base
