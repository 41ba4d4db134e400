"""Loading heterogeneous graphs in the MEOW and HeCo layouts as :class:`MetaPathGraph` (every
file checked against the catalog's sha256 and node counts, DBLP's missing meta-path files
derived from its edge lists and cached)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from .._files import path_in, read_cache
from .._utils import atomic_target
from .hetero import MetaPathGraph, scipy_to_torch
from .safe import CorruptFileError, safe_load_npy, safe_load_sparse, safe_loadtxt

__all__ = ["HETERO_LAYOUTS", "load_hetero", "dblp_derived"]


# -- layouts -----------------------------------------------------------------------------------------

#: per dataset: target type, feature sources per type, meta-paths with their context incidences,
#: whether labels are 1-based; feature sources: ("npz", file) (bag-of-words counts, row-normalised
#: on loading as the MEOW and HeCo loaders do, unless ``raw_features``), ("npy", file) (dense,
#: read as stored), ("onehot", count)
HETERO_LAYOUTS = {
    "acm": {
        "target": "p",
        "features": {"p": ("npz", "p_feat.npz"), "a": ("npz", "a_feat.npz"),
                     "s": ("onehot", 60)},
        "metapaths": {"pap": [("a", "nei_a")], "psp": [("s", "nei_s")]},
    },
    "dblp": {
        "target": "a",
        "features": {"a": ("npz", "a_feat.npz"), "p": ("npz", "p_feat.npz"),
                     "t": ("npy", "t_feat.npz"), "c": ("onehot", 20)},
        "metapaths": {"apa": [("p", "nei_ap")],
                      "apcpa": [("p", "nei_ap"), ("c", "nei_apc"), ("p", "nei_apcp")],
                      "aptpa": [("p", "nei_ap"), ("t", "nei_apt"), ("p", "nei_aptp")]},
    },
    "aminer": {
        "target": "p",
        "features": {"p": ("onehot", 6564), "a": ("onehot", 13329), "r": ("onehot", 35890)},
        "metapaths": {"pap": [("a", "nei_a")], "prp": [("r", "nei_r")]},
    },
    "imdb": {
        "target": "m",
        "features": {"m": ("npz", "m_feat.npz"), "a": ("onehot", 5432),
                     "d": ("onehot", 2083), "k": ("onehot", 7313)},
        "metapaths": {"mam": [("a", "nei_a")], "mdm": [("d", "nei_d")], "mkm": [("k", "nei_k")]},
        "labels_one_based": True,
    },
}


def _row_normalize(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    s = np.asarray(m.sum(1)).ravel()
    inv = np.divide(1.0, s, out=np.zeros_like(s), where=s != 0)
    return sp.csr_matrix(sp.diags(inv) @ m)


def _sparse_features(m: sp.spmatrix) -> Tensor:
    return scipy_to_torch(m)


def _onehot(n: int) -> Tensor:
    idx = torch.arange(n)
    return torch.sparse_coo_tensor(torch.stack([idx, idx]), torch.ones(n), (n, n),
                                   check_invariants=False).coalesce()


def _files_by_path(entry: dict | None) -> dict:
    if not entry:
        return {}
    return {f["path"]: f.get("sha256") for f in entry.get("files", [])}


def _binary(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64, copy=True)
    m.data[:] = 1.0
    m.eliminate_zeros()
    return m


def _incidence(rows: np.ndarray, cols: np.ndarray, shape) -> sp.csr_matrix:
    m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=shape)
    return _binary(m)


def dblp_derived(folder: str | os.PathLike, *, cache: str | os.PathLike | None = None,
                 shas: dict | None = None) -> dict:
    """DBLP's missing MEOW matrices, built sparsely from ``pa.txt``, ``pc.txt`` and ``pt.txt``.

    * ``apcpa`` = (AP·PC)(AP·PC)ᵀ and ``aptpa`` = (AP·PT)(AP·PT)ᵀ, raw path counts;
    * ``nei_apcp`` = 1[AP·PC·CP > 0] and ``nei_aptp`` = 1[AP·PT·TP > 0], binary author→paper
      incidences (binarised like the shipped ``nei_apc``/``nei_apt``).

    Results are cached as ``scipy`` ``.npz`` files under ``cache`` (default:
    ``$GCL_CACHE/hetero/dblp-derived``); the data folder is only read.

    Args:
        folder: the MEOW ``dblp`` folder.
        cache: cache folder (default: see above).
        shas: expected sha256 of the edge lists by file name (checked before reading).

    Returns:
        dict: ``{"apcpa", "aptpa", "nei_apcp", "nei_aptp"}`` -> scipy CSR matrices.

    Example:
        >>> import tempfile
        >>> d = Path(tempfile.mkdtemp())
        >>> _ = (d / "pa.txt").write_text("0 0\\n1 0\\n1 1\\n")
        >>> _ = (d / "pc.txt").write_text("0 0\\n1 0\\n")
        >>> _ = (d / "pt.txt").write_text("0 0\\n1 1\\n")
        >>> out = dblp_derived(d, cache=d / "cache")
        >>> out["apcpa"].toarray().tolist()
        [[4.0, 2.0], [2.0, 1.0]]
    """
    from .storage import cache_dir

    folder = Path(folder)
    shas = shas or {}
    cache = Path(cache) if cache is not None else cache_dir() / "hetero" / "dblp-derived"
    names = ("apcpa", "aptpa", "nei_apcp", "nei_aptp")
    tag = "-".join((shas.get(f) or "x")[:8] for f in ("pa.txt", "pc.txt", "pt.txt"))
    paths = {n: path_in(cache, f"{n}-{tag}.npz") for n in names}
    if shas:
        stored = {n: read_cache(p, safe_load_sparse, what="DBLP derived matrix")
                  for n, p in paths.items()}
        if all(m is not None for m in stored.values()) and _derived_consistent(stored, paths):
            return stored
    pa = safe_loadtxt(folder / "pa.txt", expected_sha256=shas.get("pa.txt"))
    pc = safe_loadtxt(folder / "pc.txt", expected_sha256=shas.get("pc.txt"))
    pt = safe_loadtxt(folder / "pt.txt", expected_sha256=shas.get("pt.txt"))
    n_p = int(max(pa[:, 0].max(), pc[:, 0].max(), pt[:, 0].max())) + 1
    n_a, n_c, n_t = int(pa[:, 1].max()) + 1, int(pc[:, 1].max()) + 1, int(pt[:, 1].max()) + 1
    ap = _incidence(pa[:, 1], pa[:, 0], (n_a, n_p))
    pcm = _incidence(pc[:, 0], pc[:, 1], (n_p, n_c))
    ptm = _incidence(pt[:, 0], pt[:, 1], (n_p, n_t))
    apc = sp.csr_matrix(ap @ pcm)
    apt = sp.csr_matrix(ap @ ptm)
    out = {
        "apcpa": sp.csr_matrix(apc @ apc.T),
        "aptpa": sp.csr_matrix(apt @ apt.T),
        "nei_apcp": _binary(_binary(apc) @ pcm.T),
        "nei_aptp": _binary(_binary(apt) @ ptm.T),
    }
    if shas:
        for n, m in out.items():
            with atomic_target(paths[n]) as tmp:  # a name of its own: runs may derive at once
                sp.save_npz(tmp, m)
    return out


def _derived_consistent(stored: dict, paths: dict) -> bool:
    """Cached DBLP matrices agree on their sizes (else: warn, remove them, rebuild)."""
    k = stored["apcpa"].shape[0]
    ok = (stored["apcpa"].shape == stored["aptpa"].shape == (k, k)
          and stored["nei_apcp"].shape == stored["nei_aptp"].shape
          and stored["nei_apcp"].shape[0] == k)
    if not ok:
        import warnings

        from .._files import CacheRebuildWarning

        warnings.warn(f"the DBLP derived matrix caches {sorted(str(p) for p in paths.values())} "
                      "disagree on their shapes; removing them and rebuilding them from the raw "
                      "data", CacheRebuildWarning, stacklevel=3)
        for p in paths.values():
            p.unlink(missing_ok=True)
    return ok


def _read_matrix(folder: Path, stem: str, shas: dict, derived: dict) -> sp.csr_matrix:
    if stem in derived:
        return derived[stem]
    name = f"{stem}.npz"
    return safe_load_sparse(folder / name, expected_sha256=shas.get(name))


def _read_heco_neighbours(path: Path, n_target: int, n_type: int, sha: str | None):
    if sha is None:
        from .safe import UnsafeFileError

        raise UnsafeFileError(f"refusing to unpickle {path}: the catalog has no sha256 for it")
    arr = safe_load_npy(path, expected_sha256=sha, allow_object=True)
    if len(arr) != n_target:
        raise CorruptFileError(f"{path}: {len(arr)} rows, expected {n_target}")
    rows = np.concatenate([np.full(len(np.atleast_1d(a)), i) for i, a in enumerate(arr)])
    cols = np.concatenate([np.atleast_1d(np.asarray(a, dtype=np.int64)) for a in arr])
    return _incidence(rows, cols, (n_target, n_type))


def load_hetero(name: str, root: str | os.PathLike | None = None, *,
                verify: bool = True, raw_features: bool = False) -> MetaPathGraph:
    """Load a heterogeneous dataset of the mirror as a :class:`MetaPathGraph`.

    Args:
        name: ``"acm"``, ``"dblp"``, ``"aminer"``, ``"imdb"`` (MEOW layout, path counts) or
            ``"heco-acm"``, ``"heco-dblp"``, ``"heco-aminer"`` (HeCo layout, boolean meta-path
            matrices; ``nei_*.npy`` read with the restricted unpickler after a sha256 check).
        root: the data root (default: ``$GCL_DATA``, else the repository's ``datasets/``).
        verify: check every file's sha256 against the catalog first (default: ``True``).
        raw_features: keep the bag-of-words feature files (``*_feat.npz``: ACM papers and
            authors, DBLP authors and papers, IMDB movies) as stored, word counts, instead of
            dividing each row by its sum as the MEOW and HeCo loaders do (default: ``False``).

    Returns:
        MetaPathGraph: see the module docstring. DBLP (MEOW) gets ``apcpa``/``aptpa`` and
        ``nei_apcp``/``nei_aptp`` from :func:`dblp_derived`; AMiner has HeCo's one-hot inputs
        (the metapath2vec features of the MEOW release are not in the mirror:
        :func:`gcl.data.metapath2vec_features` derives them).

    Raises:
        DatasetNotFoundError: when files are missing.
        ValueError: on a checksum mismatch, a corrupt file (naming it), or an unknown name.

    Example:
        >>> load_hetero("nope")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: unknown dataset 'nope'...
    """
    from .catalog import canonical_name, dataset_entry, locate_files
    from .loaders import _not_found
    from .storage import resolve_root, verify_files

    canonical = canonical_name(name)
    entry = dataset_entry(canonical)
    if entry["kind"] != "hetero":
        raise ValueError(f"dataset '{canonical}' is not heterogeneous; use gcl.data.load")
    layout_name = entry.get("layout", canonical)
    layout = HETERO_LAYOUTS[layout_name]
    heco = entry.get("format") == "heco"
    root_source = "the root argument" if root not in (None, "") else "$GCL_DATA or the default"
    root = resolve_root(root)
    folder, missing = locate_files(entry, root)
    if folder is None:
        raise _not_found(entry, root, missing, root_source)
    shas = _files_by_path(entry)
    if verify:
        verify_files([(folder / f["path"], f.get("sha256"), f.get("size"))
                      for f in entry["files"]], dataset=canonical)

    labels = safe_load_npy(folder / "labels.npy").astype(np.int64).reshape(-1)
    if layout.get("labels_one_based"):
        labels = labels - 1
    n = int((entry.get("stats") or {}).get("num_nodes") or labels.shape[0])
    if labels.shape[0] != n:
        raise CorruptFileError(f"{folder / 'labels.npy'}: {labels.shape[0]} labels, expected one "
                               f"per {layout['target']!r} node ({n}); restore the file")

    x_dict: dict = {}
    for t, src in layout["features"].items():
        if heco and src[0] == "npz" and t != layout["target"] and layout_name == "acm":
            src = ("onehot", None)  # HeCo uses one-hot inputs for ACM authors
        if heco and layout_name == "dblp" and t == "p":
            src = ("onehot", None)
        if src[0] == "npz":
            m = safe_load_sparse(folder / src[1], expected_sha256=None)
            x_dict[t] = _sparse_features(m if raw_features else _row_normalize(m))
        elif src[0] == "npy":
            x_dict[t] = torch.from_numpy(safe_load_npy(folder / src[1])).float()
        else:
            x_dict[t] = None  # one-hot, size fixed below
        if t == layout["target"] and x_dict[t] is not None and x_dict[t].shape[0] != n:
            raise CorruptFileError(f"{folder / src[1]}: {x_dict[t].shape[0]} feature rows, "
                                   f"expected one per {t!r} node ({n}); restore the file")
    derived: dict = {}
    if layout_name == "dblp" and not heco:
        derived = dblp_derived(folder, shas=shas)
    elif layout_name == "dblp" and heco:
        full = dblp_derived(folder, shas=shas)
        derived = {"aptpa": _binary(full["aptpa"]), "nei_apcp": full["nei_apcp"],
                   "nei_aptp": full["nei_aptp"]}

    adjs, contexts = [], []
    for mp, ctx in layout["metapaths"].items():
        m = _read_matrix(folder, mp, shas, derived)
        if m.shape != (n, n):
            where = (f"the {mp} matrix derived from {folder / 'pa.txt'}, pc.txt and pt.txt"
                     if mp in derived else str(folder / (mp + ".npz")))
            raise CorruptFileError(f"{where}: shape {m.shape}, expected {(n, n)} (one row and "
                                   f"column per {layout['target']!r} node); restore the file")
        if heco:
            m = _binary(m)
        adjs.append(scipy_to_torch(m))
        pairs = []
        for t, stem in ctx:
            if heco and f"{stem}.npz" not in shas and stem not in derived:
                inc = _heco_incidence(folder, layout_name, stem, n, shas, derived)
            else:
                inc = _binary(_read_matrix(folder, stem, shas, derived))
            pairs.append((t, scipy_to_torch(inc)))
        contexts.append(pairs)
    for pairs in contexts:
        for t, inc in pairs:
            if x_dict.get(t) is None:
                x_dict[t] = _onehot(int(inc.shape[1]))
    if x_dict.get(layout["target"]) is None:
        x_dict[layout["target"]] = _onehot(n)
    for t in list(x_dict):
        if x_dict[t] is None:
            raise CorruptFileError(f"{canonical}: cannot size the one-hot features of type {t!r}")

    splits = {}
    for size in (20, 40, 60):
        splits[size] = tuple(_read_split(folder / f"{part}_{size}.npy", n)
                             for part in ("train", "val", "test"))
    info = {"format": "heco" if heco else "meow", "folder": str(folder),
            "derived": sorted(derived),
            "inputs": {t: ("npz-raw" if src[0] == "npz" and raw_features else src[0])
                       for t, src in layout["features"].items()}}
    return MetaPathGraph(canonical, layout["target"], x_dict, list(layout["metapaths"]), adjs,
                         contexts, torch.from_numpy(labels), splits, info)


def _read_split(path: Path, n: int) -> Tensor:
    idx = safe_load_npy(path).astype(np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise CorruptFileError(f"{path}: node index {int(idx.max() if idx.max() >= n else idx.min())}"
                               f" outside [0, {n - 1}]; restore the file")
    return torch.from_numpy(idx)


def _heco_incidence(folder: Path, layout_name: str, stem: str, n: int, shas: dict,
                    derived: dict) -> sp.csr_matrix:
    """HeCo layouts keep one neighbour list per context type (``nei_a.npy``, ``nei_p.npy``)."""
    if layout_name == "dblp":
        # HeCo DBLP: nei_p.npy (author -> papers); the deeper contexts come from the edge lists
        if stem == "nei_ap":
            return _read_heco_neighbours(folder / "nei_p.npy", n, 14328, shas.get("nei_p.npy"))
        pa = safe_loadtxt(folder / "pa.txt", expected_sha256=shas.get("pa.txt"))
        other = "pc.txt" if stem == "nei_apc" else "pt.txt"
        px = safe_loadtxt(folder / other, expected_sha256=shas.get(other))
        n_p = int(pa[:, 0].max()) + 1
        ap = _incidence(pa[:, 1], pa[:, 0], (n, n_p))
        pxm = _incidence(px[:, 0], px[:, 1], (n_p, int(px[:, 1].max()) + 1))
        return _binary(ap @ pxm)
    sizes = {"acm": {"nei_a": 7167, "nei_s": 60}, "aminer": {"nei_a": 13329, "nei_r": 35890}}
    file = f"{stem}.npy"
    return _read_heco_neighbours(folder / file, n, sizes[layout_name][stem], shas.get(file))
