"""Files gcl writes and reads back: where they go, how they are written, how caches are read.

One helper per concern, used everywhere a path is made or a file written:

* :func:`safe_name` and :func:`path_in`: every path made from a name (a dataset, a method, a
  record's fields) is one sanitised component inside its folder, never a way out of it;
* :func:`check_writable`: an output path is checked before hours of training, not after;
* :func:`atomic_target`: write to a temporary file, then rename; temporary files left by a
  killed writer are removed on the next write of the same file, and a full disk gives one
  :class:`DiskFullError` naming the folder and the space needed;
* :func:`read_cache`: a cache that cannot be read is deleted with a warning naming it, so the
  caller rebuilds it once instead of failing on every later call;
  :func:`load_tensor_file` reads gcl's own tensor files with ``weights_only=True`` and checks
  that they hold nothing but tensors.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from ._paths import _existing_ancestor, check_writable, path_in, safe_name  # noqa: F401

__all__ = ["DiskFullError", "CacheRebuildWarning", "safe_name", "path_in", "check_writable",
           "atomic_target", "read_cache", "load_tensor_file", "format_bytes", "excerpt"]

T = TypeVar("T")

#: longest file-name component :func:`safe_name` returns
#: below this many free bytes a failed write is taken for a full disk
LOW_SPACE = 1 << 20
#: temporary files of another host, or of the old naming, are removed once this old (seconds)
STALE_AGE_S = 3600.0


def excerpt(value: Any, limit: int = 80, *, text: bool = False) -> str:
    """``repr(value)`` (``str(value)`` with ``text=True``) cut to ``limit`` characters, saying
    how long it was.

    Error messages show values through it, so a huge input never makes a huge message.

    Args:
        value: anything.
        limit: the most characters shown (default: 80).
        text: show ``str(value)`` instead of its ``repr`` (default: ``False``).

    Returns:
        str: the representation, or its start and its length.

    Example:
        >>> excerpt("x" * 1000, 10)
        "'xxxxxxxx… (1002 characters)"
    """
    try:
        text = str(value) if text else repr(value)
    except Exception:  # a broken __repr__ must not hide the error being reported
        text = f"<{type(value).__name__}>"
    if len(text) <= limit:
        return text
    return f"{text[:max(1, limit - 1)]}… ({len(text)} characters)"


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size.

    Example:
        >>> format_bytes(3 * 1024 ** 2)
        '3.0 MiB'
    """
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


class DiskFullError(OSError):
    """A write failed because the disk holding ``folder`` is full (``errno.ENOSPC``).

    Args:
        folder: the folder written into.
        needed: bytes the write needed, when known.
        free: bytes free on that disk, when known.

    Example:
        >>> err = DiskFullError(Path("/data/cache"), needed=2 ** 30, free=0)
        >>> "1.0 GiB" in str(err) and "/data/cache" in str(err)
        True
    """

    def __init__(self, folder: Path, needed: int | None = None, free: int | None = None):
        need = f"about {format_bytes(needed)} more are needed" if needed else \
            "more space is needed"
        have = f"{format_bytes(free)} free" if free is not None else "its free space unknown"
        super().__init__(
            errno.ENOSPC,
            f"no space left on the disk of {folder} ({have}; {need}); free some space there, "
            "or write elsewhere (GCL_CACHE for caches, --out / --save-emb for outputs)")
        self.folder, self.needed, self.free = Path(folder), needed, free

    def __str__(self) -> str:
        return str(self.strerror)


def as_disk_full(err: BaseException, folder: Path, needed: int | None = None) -> DiskFullError | None:
    """``err`` as a :class:`DiskFullError` when it came from a full disk, else ``None``.

    torch's zip writer reports a full disk as a bare ``RuntimeError``, so a failed write also
    counts as one when less than :data:`LOW_SPACE` is left on the folder's disk.

    Example:
        >>> as_disk_full(OSError(errno.ENOSPC, "No space left"), Path(".")) is not None
        True
    """
    if isinstance(err, DiskFullError):
        return err
    free = None
    with contextlib.suppress(OSError):
        free = shutil.disk_usage(_existing_ancestor(Path(folder))).free
    full = isinstance(err, OSError) and err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
    if not full and isinstance(err, (OSError, RuntimeError)) and free is not None:
        full = free < LOW_SPACE
    return DiskFullError(Path(folder), needed, free) if full else None


# -- atomic writes ---------------------------------------------------------------------------------

_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def clean_stale_temps(path: Path) -> list[Path]:
    """Remove the temporary files a killed writer of ``path`` left beside it.

    A temporary file of :func:`atomic_target` is named ``.NAME.<host>-<pid>-<random>.tmp<suffix>``:
    it is stale when its process (on this host) has ended. Files of another host, or named the
    old way (``.NAME.<random>.tmp<suffix>``), are stale after :data:`STALE_AGE_S` seconds.

    Args:
        path: the file whose temporary files to remove.

    Returns:
        list[Path]: the files removed.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp()); old = d / ".r.json.host-999999999-ab12cd.tmp.json"
        >>> _ = old.write_text("half"); os.utime(old, (0, 0))
        >>> [p.name for p in clean_stale_temps(d / "r.json")]
        ['.r.json.host-999999999-ab12cd.tmp.json']
    """
    name, suffix = re.escape(path.name), re.escape(f".tmp{path.suffix}")
    new = re.compile(rf"^\.{name}\.(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[A-Za-z0-9_]+{suffix}$")
    old = re.compile(rf"^\.{name}\.[A-Za-z0-9_]{{8}}{suffix}$")
    removed = []
    try:
        entries = list(os.scandir(path.parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        m = new.match(entry.name)
        if m is None and not old.match(entry.name):
            continue
        try:
            if m is not None and m["host"] == _HOST:
                stale = not _pid_alive(int(m["pid"]))
            else:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > STALE_AGE_S
            if stale:
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue
    return removed


@contextlib.contextmanager
def atomic_target(path: str | os.PathLike, *, durable: bool = False,
                  size_hint: int | None = None) -> Iterator[Path]:
    """Yield a fresh temporary file beside ``path``; once the block ends, rename it over ``path``.

    Readers never see a half-written file, and processes that write the same file at once
    cannot collide: each gets its own temporary name (it keeps ``path``'s suffix, so
    ``np.savez`` and ``scipy.sparse.save_npz`` add nothing). The temporary file is removed when
    the block raises, and those a killed writer left are removed first
    (:func:`clean_stale_temps`). ``durable=True`` also fsyncs the file and the folder (for
    checkpoints). The file gets the usual permissions (``0o666`` less the umask), not
    ``mkstemp``'s ``0o600``. A write that fails on a full disk raises :class:`DiskFullError`
    naming the folder, the space free and ``size_hint`` (or what was written) as the space
    needed.

    Args:
        path: the file to write.
        durable: fsync the file and its folder (default: ``False``).
        size_hint: bytes the write needs, for the full-disk message (default: unknown).

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_target(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.{_HOST}-{os.getpid()}-",
                                    suffix=f".tmp{path.suffix}", dir=path.parent)
    except OSError as err:
        full = as_disk_full(err, path.parent, size_hint)
        if full is not None:
            raise full from err
        raise
    os.close(fd)
    tmp = Path(name)
    try:
        try:
            yield tmp
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            if durable:
                with open(tmp, "rb+") as handle:
                    os.fsync(handle.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as err:
            written = tmp.stat().st_size if tmp.exists() else 0
            full = as_disk_full(err, path.parent, size_hint or written or None)
            if full is not None:
                raise full from err
            raise
        if durable:
            with contextlib.suppress(OSError):  # e.g. Windows cannot open a folder
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


# -- reading caches back -----------------------------------------------------------------------------


class CacheRebuildWarning(UserWarning):
    """A cache file could not be read; it was removed and is being rebuilt."""


def read_cache(path: str | os.PathLike, reader: Callable[[Path], T], *, what: str) -> T | None:
    """``reader(path)``, or ``None`` when the cache file is absent or cannot be read.

    A file that cannot be read (truncated by a killed write, planted, of another format or
    shape: whatever ``reader`` raises) is deleted with a :class:`CacheRebuildWarning` naming
    it, and ``None`` tells the caller to rebuild it from the raw inputs.

    Args:
        path: the cache file.
        reader: reads and checks the file; raises on anything unexpected.
        what: what the cache holds, for the warning (e.g. ``"processed graph"``).

    Returns:
        the reader's result, or ``None``.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "c.txt"; _ = p.write_text("x")
        >>> with warnings.catch_warnings(record=True):
        ...     warnings.simplefilter("always")
        ...     read_cache(p, lambda f: int(f.read_text()), what="count") is None, p.exists()
        (True, False)
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return reader(path)
    except Exception as err:  # anything wrong with a cache means: rebuild it
        warnings.warn(f"the {what} cache {path} cannot be read ({type(err).__name__}: "
                      f"{excerpt(err, 200, text=True)}); removing it and rebuilding it from the "
                      "raw data", CacheRebuildWarning, stacklevel=2)
        with contextlib.suppress(OSError):
            path.unlink()
        return None


def _check_tensor_tree(obj: Any, path: Path, where: str, depth: int) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        return
    if isinstance(obj, dict) and depth > 0:
        for key, value in obj.items():
            if not isinstance(key, str):
                raise ValueError(f"{path}: key {excerpt(key)} of {where} is not a string")
            _check_tensor_tree(value, path, f"{where}[{key!r}]", depth - 1)
        return
    raise ValueError(f"{path}: {where} is a {type(obj).__name__}, not a tensor")


def load_tensor_file(path: str | os.PathLike, *, depth: int = 2, like: dict | None = None) -> dict:
    """Read a file of tensors written with ``torch.save`` (``weights_only=True``: nothing in it
    can run), checking that it is a mapping of names to tensors (nested ``depth`` deep).

    Args:
        path: the file.
        depth: how deep dictionaries may nest (default: 2).
        like: a mapping of tensors (e.g. a model's ``state_dict()``): the file's tensors of the
            same names must have their shapes (default: no check).

    Returns:
        dict: the mapping, on the CPU.

    Raises:
        ValueError: a file that is not such a mapping (naming the file and the entry).
        pickle.UnpicklingError, RuntimeError, OSError: from ``torch.load`` for files that are
            not torch files or are truncated.

    Example:
        >>> import tempfile, torch
        >>> p = Path(tempfile.mkdtemp()) / "t.pt"; torch.save({"a": torch.ones(2)}, p)
        >>> load_tensor_file(p)["a"].tolist()
        [1.0, 1.0]
    """
    import torch

    path = Path(path)
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(obj, dict):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a mapping of tensors")
    _check_tensor_tree(obj, path, "the file", depth)
    for key, ref in (like or {}).items():
        if key in obj and tuple(obj[key].shape) != tuple(ref.shape):
            raise ValueError(f"{path}: {key} has shape {tuple(obj[key].shape)}, expected "
                             f"{tuple(ref.shape)}")
    return obj
