"""Loading numpy/scipy files without executing code from them.

``np.load(..., allow_pickle=True)`` runs arbitrary code hidden in a pickle. HeCo-format
``nei_*.npy`` files are object arrays of ragged index arrays and need unpickling, so they are read
by :func:`safe_load_npy`: the pickle stream is interpreted by :class:`RestrictedUnpickler`, which
only reconstructs numpy arrays and dtypes (any other global, e.g. ``os.system``, is refused), and,
when an expected sha256 is given, only after the file's hash matches it. Corrupt or truncated
files raise :class:`CorruptFileError` naming the file.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

__all__ = ["CorruptFileError", "UnsafeFileError", "RestrictedUnpickler", "safe_load_npy",
           "safe_load_sparse", "safe_loadtxt"]


class CorruptFileError(ValueError):
    """A data file is corrupt, truncated or not in the expected format (names the file).

    A subclass of ``ValueError``, raised by the loaders of :mod:`gcl.data` with a message that
    starts with the file's path.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "bad.npy"; _ = p.write_bytes(b"not an array")
        >>> try:
        ...     safe_load_npy(p)
        ... except CorruptFileError as err:
        ...     print(str(err).startswith(str(p)), "not a valid .npy file" in str(err))
        True True
    """


class UnsafeFileError(ValueError):
    """A data file would need code execution (or an unverified pickle) to be read.

    A subclass of ``ValueError``, raised for object arrays read without ``allow_object=True``, for
    a sha256 that differs from the expected one, and by :class:`RestrictedUnpickler` for a pickle
    that references anything but numpy arrays.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "obj.npy"
        >>> np.save(p, np.array([np.arange(2), np.arange(3)], dtype=object), allow_pickle=True)
        >>> try:
        ...     safe_load_npy(p)
        ... except UnsafeFileError as err:
        ...     print("pickled object array" in str(err))
        True
    """


#: the only globals a pickled numpy object array may reference
_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol-2 pickles store array bytes as latin-1 text
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that only rebuilds numpy arrays, dtypes and scalars.

    Any other global (a function such as ``os.system`` or ``builtins.eval``, a class) raises
    :class:`UnsafeFileError` before it is looked up, so nothing in the stream can run.

    Example:
        >>> import pickle, io
        >>> blob = pickle.dumps(np.arange(3))
        >>> RestrictedUnpickler(io.BytesIO(blob)).load().tolist()
        [0, 1, 2]
        >>> RestrictedUnpickler(io.BytesIO(pickle.dumps(print))).load()  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gcl.data.safe.UnsafeFileError: refusing to unpickle builtins.print: ...
    """

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise UnsafeFileError(
            f"refusing to unpickle {module}.{name}: only numpy arrays may be stored in a data "
            "file's pickle")


def _check_sha(path: Path, expected_sha256: str | None) -> None:
    if expected_sha256 is None:
        return
    from .storage import sha256_file

    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise UnsafeFileError(
            f"refusing to read {path}: its sha256 {actual} differs from the catalog's "
            f"{expected_sha256}; the file is corrupt or was replaced. Restore the original file.")


def safe_load_npy(path: str | os.PathLike, *, expected_sha256: str | None = None,
                  allow_object: bool = False) -> np.ndarray:
    """Read a ``.npy`` file; object arrays only through :class:`RestrictedUnpickler`.

    Args:
        path: the file.
        expected_sha256: when given, the file is hashed first and refused unless it matches.
        allow_object: permit object arrays (pickled payloads), read with the restricted
            unpickler (default: ``False``: object arrays are refused).

    Returns:
        np.ndarray: the array (for object arrays, the elements as rebuilt numpy arrays).

    Raises:
        FileNotFoundError: when the file does not exist.
        UnsafeFileError: an object array while ``allow_object=False``, a sha256 mismatch, or a
            pickle that references anything but numpy arrays.
        CorruptFileError: a truncated or malformed file (the message names it).

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "a.npy"; np.save(p, np.arange(4))
        >>> safe_load_npy(p).tolist()
        [0, 1, 2, 3]
    """
    path = Path(path)
    _check_sha(path, expected_sha256)
    with open(path, "rb") as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:  # pragma: no cover - numpy writes 1.0/2.0 for these files
                raise ValueError(f"unsupported .npy version {version}")
        except (ValueError, OSError, EOFError) as err:
            raise CorruptFileError(f"{path} is not a valid .npy file: {err}") from err
        if not dtype.hasobject:
            try:
                return np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as err:
                raise CorruptFileError(f"{path} is corrupt or truncated: {err}") from err
        if not allow_object:
            raise UnsafeFileError(
                f"refusing to read {path}: it holds a pickled object array; read it with "
                "allow_object=True (restricted to numpy arrays) and an expected sha256")
        try:
            arr = RestrictedUnpickler(io.BytesIO(fh.read())).load()
        except UnsafeFileError as err:
            raise UnsafeFileError(f"{path}: {err}") from None
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
                IndexError) as err:
            raise CorruptFileError(f"{path} is corrupt or truncated: {err}") from err
    if not isinstance(arr, np.ndarray) or arr.shape != tuple(shape):
        raise CorruptFileError(f"{path}: the pickled payload is not an array of shape {shape}")
    for item in arr.reshape(-1):
        if not isinstance(item, (np.ndarray, np.generic, int, float)):
            raise UnsafeFileError(f"{path}: object array holds a {type(item).__name__}")
    return arr


def safe_load_sparse(path: str | os.PathLike, *, expected_sha256: str | None = None):
    """Read a ``scipy.sparse.save_npz`` file (never unpickles), as a CSR matrix.

    Args:
        path: the ``.npz`` file.
        expected_sha256: when given, the file is refused unless its sha256 matches.

    Returns:
        scipy.sparse.csr_matrix: the matrix.

    Raises:
        CorruptFileError: a truncated or malformed file (the message names it).

    Example:
        >>> import tempfile, scipy.sparse as sp
        >>> p = Path(tempfile.mkdtemp()) / "m.npz"; sp.save_npz(p, sp.eye(3, format="csr"))
        >>> safe_load_sparse(p).nnz
        3
    """
    import scipy.sparse as sp

    path = Path(path)
    _check_sha(path, expected_sha256)
    try:
        return sp.load_npz(path).tocsr()
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as err:
        raise CorruptFileError(f"{path} is not a valid scipy sparse .npz file: {err}") from err


def safe_loadtxt(path: str | os.PathLike, *, expected_sha256: str | None = None) -> np.ndarray:
    """Read a whitespace-separated integer edge list (``xy.txt``) as an ``[E, 2]`` int64 array.

    Args:
        path: the text file.
        expected_sha256: when given, the file is refused unless its sha256 matches.

    Returns:
        np.ndarray: ``[E, 2]`` int64.

    Raises:
        CorruptFileError: when the file is not a two-column integer table.

    Example:
        >>> import tempfile
        >>> p = Path(tempfile.mkdtemp()) / "pa.txt"; _ = p.write_text("0 1\\n1 2\\n")
        >>> safe_loadtxt(p).tolist()
        [[0, 1], [1, 2]]
    """
    path = Path(path)
    _check_sha(path, expected_sha256)
    try:
        arr = np.loadtxt(path, dtype=np.int64, ndmin=2)
    except ValueError as err:
        raise CorruptFileError(f"{path} is not an integer edge list: {err}") from err
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise CorruptFileError(f"{path}: expected two columns, got shape {arr.shape}")
    return arr
