"""Paths made from names: one sanitised component, inside its folder, checked writable.

:func:`safe_name` turns any name (a dataset, a method, a label, a record's field) into one
harmless file-name component; :func:`path_in` joins such components to a folder and checks that
the result resolves inside it; :func:`check_writable` checks an output path before any work is
done. They are re-exported by :mod:`gcl._files`.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

__all__ = ["safe_name", "path_in", "check_writable"]

#: the longest file-name component :func:`safe_name` returns
MAX_NAME = 200


def safe_name(text: Any, max_len: int = MAX_NAME) -> str:
    """``text`` as one harmless file-name component.

    Anything but ASCII letters, digits, ``.``, ``_`` and ``-`` becomes ``-`` (so ``/``, ``\\``,
    NUL and spaces cannot make a path), leading and trailing dots and dashes go (no ``..``, no
    hidden files), and the result is at most ``max_len`` characters (a longer one keeps its start
    and a hash of the whole); an empty result is ``"unnamed"``.

    Args:
        text: a name (converted with ``str``).
        max_len: the most characters kept (default: 200).

    Returns:
        str: the sanitised name.

    Example:
        >>> safe_name("/../../etc/passwd"), safe_name("amazon-photo"), safe_name("..")
        ('etc-passwd', 'amazon-photo', 'unnamed')
    """
    s = unicodedata.normalize("NFKC", str(text))
    s = re.sub(r"[^A-Za-z0-9._-]+", "-", s)
    s = re.sub(r"-{2,}", "-", s).strip(".-")
    if len(s) > max_len:  # keep names that differ only at the end apart
        digest = hashlib.sha256(s.encode()).hexdigest()[:16]
        s = f"{s[:max_len - 17].strip('.-')}-{digest}"
    return s or "unnamed"


def path_in(folder: str | os.PathLike, *names: Any) -> Path:
    """``folder / name / ...`` with each name made safe by :func:`safe_name`, checked to lie
    inside ``folder`` once resolved (a symlink there pointing out is refused).

    Args:
        folder: the folder the path must stay in.
        *names: path components made from names.

    Returns:
        Path: the path (not resolved).

    Raises:
        ValueError: when the resolved path leaves ``folder``.

    Example:
        >>> path_in("/results", "grace", "../../x.json").as_posix()
        '/results/grace/x.json'
    """
    folder = Path(folder)
    out = folder.joinpath(*(safe_name(n) for n in names))
    base, resolved = folder.resolve(), out.resolve()
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"refusing to write {out}: it resolves to {resolved}, outside {folder}; "
                         "remove the symbolic link there or choose another folder")
    return out


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(path: str | os.PathLike, what: str, *, folder: bool = False) -> Path:
    """Check, before any work, that ``path`` can be written (its folders created as needed).

    Args:
        path: the file (``folder=False``) or folder to write.
        what: how the path is called in the message (e.g. ``"--out"``).
        folder: ``path`` is a folder to write files into (default: a file).

    Returns:
        Path: ``path``.

    Raises:
        ValueError: ``path`` is an existing folder (a file was asked for) or file (a folder
            was), a parent is a file, or nothing can be written there.

    Example:
        >>> import tempfile
        >>> d = tempfile.mkdtemp()
        >>> check_writable(Path(d) / "new" / "r.json", "--out").name
        'r.json'
        >>> check_writable(d, "--out")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: --out ... is a folder; give a file path, e.g. .../result.json
    """
    path = Path(path)
    if not folder and path.is_dir():
        raise ValueError(f"{what} {path} is a folder; give a file path, e.g. {path / 'result.json'}")
    if folder and path.exists() and not path.is_dir():
        raise ValueError(f"{what} {path} is a file; give a folder")
    anchor = _existing_ancestor(path if folder else path.parent)
    if not anchor.is_dir():
        raise ValueError(f"{what} {path} cannot be written: {anchor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".gcl-write-check.", dir=anchor)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise ValueError(f"{what} {path} cannot be written: {anchor} is not writable "
                         f"({err.strerror or err}); choose another path") from None
    return path
