"""Where datasets live and how they are read without ever writing next to them.

Three places matter:

* the **data root** (:func:`resolve_root`): read-only raw files in the layout of the offline
  mirror (``planetoid/Cora/raw/...``, ``amazon/Photo/raw/...``, ``ogb/ogbn_arxiv/...``);
* the **cache** (:func:`cache_dir`): everything gcl writes — processed PyG/OGB files, the
  integrity stamp, and the *cache mirrors*;
* a **cache mirror** (:func:`prepare_mirror`): a folder ``<cache>/<dataset>/<root-id>/`` that
  holds symlinks to the raw files (copies where symlinks fail) in the layout a PyG or OGB dataset
  class expects. The class is pointed at the mirror, so its ``processed/`` folder lands in the
  cache and the data root is never touched.

Raw files are checked against the sha256 and size of the catalog. For the quick check of every
load, the result is remembered in ``<cache>/verified.json`` keyed by path, size and modification
time, so later loads do not hash 30 MB files again; right before a dataset class reads the raw
files (some readers unpickle them: Planetoid's), they are hashed again, whatever the stamp says
(``always_hash=True``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

__all__ = [
    "DatasetNotFoundError",
    "resolve_root",
    "cache_dir",
    "default_root",
    "sha256_file",
    "verify_files",
    "prepare_mirror",
    "file_lock",
]

_STAMP_NAME = "verified.json"
_SOURCE_STAMP = ".gcl-source.json"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's raw files are not under the data root (and ``download=False``).

    The message names every file looked for (full paths), the data root, and how to get the
    files. The same facts are available as attributes.

    Args:
        message: the full, multi-line message.
        dataset: the canonical dataset name.
        root: the data root that was searched.
        missing: full paths of the files that were not found.

    Attributes:
        dataset: the canonical dataset name.
        root: the data root that was searched.
        missing: full paths of the files that were not found.

    Example:
        >>> err = DatasetNotFoundError("no Cora", dataset="cora", root=Path("/data"),
        ...                            missing=[Path("/data/planetoid/Cora/raw/ind.cora.x")])
        >>> isinstance(err, FileNotFoundError), err.dataset
        (True, 'cora')
    """

    def __init__(self, message: str, *, dataset: str | None = None, root: Path | None = None,
                 missing: Iterable[Path] = ()) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.root = root
        self.missing = [Path(p) for p in missing]

    def __str__(self) -> str:
        return str(self.args[0])


def default_root() -> Path:
    """The repository's ``datasets/`` folder, the data root of last resort.

    Returns:
        Path: ``<repo>/datasets`` (the folder next to the ``gcl`` package).

    Example:
        >>> default_root().name
        'datasets'
    """
    import gcl

    return Path(gcl.__file__).resolve().parents[1] / "datasets"


def resolve_root(root: str | os.PathLike | None = None) -> Path:
    """Resolve the data root: ``root`` if given, else ``$GCL_DATA``, else the repo's ``datasets/``.

    The folder need not exist (a missing dataset is reported when it is loaded).

    Args:
        root: an explicit data root (default: ``None``).

    Returns:
        Path: the absolute data root.

    Example:
        >>> resolve_root("/tmp/my-data")
        PosixPath('/tmp/my-data')
    """
    if root is None or str(root) == "":
        env = os.environ.get("GCL_DATA", "")
        path = Path(env) if env else default_root()
    else:
        path = Path(root)
    return path.expanduser().absolute()


def cache_dir() -> Path:
    """The folder for everything gcl writes: ``$GCL_CACHE``, else ``~/.cache/gcl``.

    It is created on first write, not by this function.

    Returns:
        Path: the absolute cache folder.

    Example:
        >>> cache_dir().is_absolute()
        True
    """
    env = os.environ.get("GCL_CACHE", "")
    path = Path(env) if env else Path("~/.cache/gcl")
    return path.expanduser().absolute()


# -- locking and atomic writes -----------------------------------------------------------------


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed) for the ``with`` block.

    Two processes that build the same cache mirror at once would otherwise write the same
    ``processed/`` files concurrently. On platforms without :mod:`fcntl` this is a no-op.

    Args:
        path: the lock file.

    Example:
        >>> import tempfile
        >>> with file_lock(Path(tempfile.mkdtemp()) / ".lock"):
        ...     pass
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _write_json_atomic(path: Path, obj: Any) -> None:
    from .._utils import atomic_target  # imports torch: only when something is written

    with atomic_target(path) as tmp, open(tmp, "w") as handle:
        json.dump(obj, handle, indent=1, sort_keys=True)


def _read_json(path: Path) -> dict:
    try:
        with open(path) as handle:
            obj = json.load(handle)
    except (OSError, ValueError):
        return {}
    return obj if isinstance(obj, dict) else {}


# -- integrity -----------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """The hex sha256 of a file, read in chunks.

    Args:
        path: the file.
        chunk_size: bytes per read (default: 1 MiB).

    Returns:
        str: 64 lower-case hex digits.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "empty"; p.write_bytes(b"")
        0
        >>> sha256_file(p)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_files(files: Iterable[tuple[Path, str | None, int | None]], *,
                 dataset: str = "dataset", always_hash: bool = False) -> None:
    """Check files against their expected sha256 and size, remembering what was verified.

    A file whose path, size and modification time match an entry of ``<cache>/verified.json`` is
    not hashed again, unless ``always_hash``: a same-size replacement with a restored
    modification time passes the stamp, so files about to go through a reader that can unpickle
    are always hashed. Files without an expected hash are not hashed: their size is checked when
    it is known, else only their existence.

    Args:
        files: ``(path, expected_sha256 or None, expected_size or None)`` triples.
        dataset: the dataset name used in error messages.
        always_hash: hash every file, ignoring the remembered results (default: ``False``).

    Raises:
        DatasetNotFoundError: when a file does not exist.
        ValueError: when a file's size or sha256 differs from the expected one; the message
            names the file, the expected and the actual hash.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "f"; _ = p.write_bytes(b"abc")
        >>> verify_files([(p, None, 3)], dataset="demo")  # size only: nothing is hashed
        >>> verify_files([(p, None, 4)], dataset="demo")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: dataset 'demo': integrity check failed for ...: expected 4 bytes, found 3. ...
    """
    stamp_path = cache_dir() / _STAMP_NAME
    stamp: dict | None = None
    updated = False
    for path, expected_sha, expected_size in files:
        path = Path(path)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise DatasetNotFoundError(
                f"dataset '{dataset}': file {path} does not exist", dataset=dataset,
                missing=[path]) from None
        if expected_sha is None:
            if expected_size is not None and st.st_size != expected_size:
                raise ValueError(
                    f"dataset '{dataset}': integrity check failed for {path}: expected "
                    f"{expected_size} bytes, found {st.st_size}. Replace it with the original "
                    "(see gcl.data.catalog() for its source URL)."
                )
            continue
        if stamp is None:
            stamp = _read_json(stamp_path)
        key = str(path.resolve())
        rec = stamp.get(key)
        if (not always_hash and isinstance(rec, dict) and rec.get("size") == st.st_size
                and rec.get("mtime_ns") == st.st_mtime_ns and isinstance(rec.get("sha256"), str)):
            actual = rec["sha256"]
        else:
            actual = sha256_file(path)
            stamp[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": actual}
            updated = True
        size_bad = expected_size is not None and st.st_size != expected_size
        sha_bad = expected_sha is not None and actual != expected_sha.lower()
        if size_bad or sha_bad:
            if updated:
                _save_stamp(stamp_path, stamp)
            size_note = (f"; expected {expected_size} bytes, found {st.st_size}"
                         if size_bad else "")
            raise ValueError(
                f"dataset '{dataset}': integrity check failed for {path}: expected sha256 "
                f"{expected_sha}, actual sha256 {actual}{size_note}. The file is corrupt, "
                "truncated or a different version; replace it with the original (see "
                "gcl.data.catalog() for its source URL)."
            )
    if updated and stamp is not None:
        _save_stamp(stamp_path, stamp)


def _save_stamp(stamp_path: Path, stamp: dict) -> None:
    try:
        with file_lock(stamp_path.with_suffix(".lock")):
            merged = _read_json(stamp_path)
            merged.update(stamp)
            _write_json_atomic(stamp_path, merged)
    except OSError:  # a read-only cache only costs re-hashing next time
        pass


# -- cache mirrors -------------------------------------------------------------------------------


def _same_target(link: Path, target: Path) -> bool:
    try:
        return link.is_symlink() and Path(os.readlink(link)) == target
    except OSError:
        return False


def _place(src: Path, dst: Path) -> None:
    """Make ``dst`` a symlink to ``src`` (a copy where symlinks fail), replacing what is there."""
    if _same_target(dst, src):
        return
    if dst.is_symlink() or dst.exists():
        if not dst.is_symlink():
            s, d = src.stat(), dst.stat()
            if s.st_size == d.st_size and int(s.st_mtime) == int(d.st_mtime):
                return  # an up-to-date copy from an earlier fallback
        dst.unlink()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.symlink(src, dst)
    except (OSError, NotImplementedError):
        shutil.copy2(src, dst)


def prepare_mirror(mirror: Path, links: Iterable[tuple[Path, str]], *,
                   processed_dirs: Iterable[str] = ()) -> Path:
    """Build (or refresh) a cache mirror: ``mirror/<rel>`` links to each source file.

    When the set of sources or any source's size or modification time changed since the last
    call, the ``processed_dirs`` (relative to ``mirror``) are deleted so the dataset class
    processes the new raw files instead of serving a stale cache.

    Args:
        mirror: the mirror folder (inside the cache).
        links: ``(absolute source path, relative destination)`` pairs.
        processed_dirs: folders under ``mirror`` holding processed files.

    Returns:
        Path: ``mirror``.

    Example:
        >>> import tempfile
        >>> src = Path(tempfile.mkdtemp()) / "a.txt"; _ = src.write_text("x")
        >>> m = prepare_mirror(Path(tempfile.mkdtemp()) / "m", [(src, "raw/a.txt")])
        >>> (m / "raw" / "a.txt").read_text()
        'x'
    """
    links = [(Path(src), rel) for src, rel in links]
    mirror.mkdir(parents=True, exist_ok=True)
    signature = {}
    for src, rel in links:
        st = src.stat()
        signature[rel] = [str(src), st.st_size, st.st_mtime_ns]
    stamp_path = mirror / _SOURCE_STAMP
    if _read_json(stamp_path) != signature:
        for sub in processed_dirs:
            shutil.rmtree(mirror / sub, ignore_errors=True)
    for src, rel in links:
        _place(src, mirror / rel)
    if _read_json(stamp_path) != signature:
        _write_json_atomic(stamp_path, signature)
    return mirror
