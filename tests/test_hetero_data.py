"""MetaPathGraph loaders (MEOW/HeCo layouts), DBLP derived matrices, HeteroData builder, safe
loading of pickled files."""

from __future__ import annotations

import pickle
import shutil

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from gcl.data import from_hetero_data, load, load_hetero
from gcl.data.hetero import dblp_derived
from gcl.data.safe import CorruptFileError, UnsafeFileError, safe_load_npy, safe_load_sparse


class _Evil:
    """Unpickling this would write a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def _plant(path, marker):
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([_Evil(marker)], dtype=object), fh, protocol=2)


def test_malicious_pickle_is_refused(tmp_path):
    bad, marker = tmp_path / "nei_a.npy", tmp_path / "marker"
    _plant(bad, marker)
    with pytest.raises(UnsafeFileError):
        safe_load_npy(bad)  # object arrays are refused by default
    from gcl.data.storage import sha256_file

    # even with a matching sha256 the restricted unpickler refuses the exec global
    with pytest.raises(UnsafeFileError, match=r"refusing to unpickle .*exec"):
        safe_load_npy(bad, allow_object=True, expected_sha256=sha256_file(bad))
    # with the catalog's sha256 the file is refused before it is read
    with pytest.raises(UnsafeFileError, match="sha256"):
        safe_load_npy(bad, allow_object=True, expected_sha256="0" * 64)
    assert not marker.exists()
    # a legitimate ragged object array still loads
    good = tmp_path / "good.npy"
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = np.array([1, 2]), np.array([3])
    np.save(good, arr, allow_pickle=True)
    out = safe_load_npy(good, allow_object=True)
    assert [a.tolist() for a in out] == [[1, 2], [3]]


def test_planted_pickle_in_heco_folder_is_refused(tmp_path, data_root, require_dataset):
    require_dataset("heco-acm")
    folder = data_root / "hetero" / "heco" / "acm"
    root = tmp_path / "root"
    dst = root / "hetero" / "heco" / "acm"
    shutil.copytree(folder, dst)
    marker = tmp_path / "marker"
    _plant(dst / "nei_a.npy", marker)
    with pytest.raises(ValueError, match="nei_a.npy"):
        load_hetero("heco-acm", root)
    with pytest.raises(UnsafeFileError):
        load_hetero("heco-acm", root, verify=False)  # sha256 is checked again before unpickling
    assert not marker.exists()


def test_corrupt_files_name_the_file(tmp_path):
    npz = tmp_path / "pap.npz"
    sp.save_npz(npz, sp.eye(5, format="csr"))
    npz.write_bytes(npz.read_bytes()[:40])
    with pytest.raises(CorruptFileError, match="pap.npz"):
        safe_load_sparse(npz)
    npy = tmp_path / "labels.npy"
    np.save(npy, np.arange(100))
    npy.write_bytes(npy.read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="labels.npy"):
        safe_load_npy(npy)


def test_acm_meow_layout(require_dataset):
    require_dataset("acm")
    g = load("acm")
    assert g.num_nodes == 4019 and g.metapaths == ["pap", "psp"] and g.num_classes == 3
    assert g.y.bincount().tolist() == [1993, 965, 1061]
    assert {t: tuple(x.shape) for t, x in g.x_dict.items()} == {
        "p": (4019, 1902), "a": (7167, 1902), "s": (60, 60)}
    assert [a._nnz() for a in g.adjs] == [57853, 4338213]
    pap = g.adjs[0].coalesce().values()
    assert pap.min() == 1 and pap.max() == 21  # path counts are kept
    assert [(t, inc.shape[1], inc._nnz()) for ctx in g.contexts for t, inc in ctx] == [
        ("a", 7167, 13407), ("s", 60, 4019)]
    for size in (20, 40, 60):
        train, val, test = g.splits[size]
        assert len(train) == 3 * size and len(val) == 1000 and len(test) == 1000


def test_imdb_labels_are_zero_based(require_dataset):
    require_dataset("imdb")
    g = load_hetero("imdb")
    assert g.y.bincount().tolist() == [1112, 1594, 1569]
    assert [a._nnz() for a in g.adjs] == [81360, 16498, 319435]
    assert g.x.shape == (4275, 5927)


def _edges(rng, n_src, n_dst, m):
    return np.unique(np.stack([rng.integers(0, n_src, m), rng.integers(0, n_dst, m)], 1), axis=0)


def test_dblp_derived_equal_edge_list_products(tmp_path):
    rng = np.random.default_rng(0)
    pa = _edges(rng, 30, 12, 60)
    pc = np.stack([np.arange(30), rng.integers(0, 4, 30)], 1)
    pt = _edges(rng, 30, 9, 80)
    pa[:12, 1] = np.arange(12)  # every author has a paper
    for name, arr in (("pa.txt", pa), ("pc.txt", pc), ("pt.txt", pt)):
        np.savetxt(tmp_path / name, arr, fmt="%d")
    out = dblp_derived(tmp_path, cache=tmp_path / "cache")
    PA = np.zeros((30, 12))
    PA[pa[:, 0], pa[:, 1]] = 1
    PC = np.zeros((30, 4))
    PC[pc[:, 0], pc[:, 1]] = 1
    PT = np.zeros((30, 9))
    PT[pt[:, 0], pt[:, 1]] = 1
    AP = PA.T
    np.testing.assert_array_equal(out["apcpa"].toarray(), AP @ PC @ (AP @ PC).T)
    np.testing.assert_array_equal(out["aptpa"].toarray(), AP @ PT @ (AP @ PT).T)
    np.testing.assert_array_equal(out["nei_apcp"].toarray(), (AP @ PC @ PC.T > 0).astype(float))
    np.testing.assert_array_equal(out["nei_aptp"].toarray(), (AP @ PT @ PT.T > 0).astype(float))


def test_heterodata_builder_matches_products():
    from torch_geometric.data import HeteroData

    rng = np.random.default_rng(1)
    d = HeteroData()
    d["author"].x = torch.randn(7, 5)
    d["author"].y = torch.arange(7) % 2
    d["paper"].x = torch.randn(10, 3)
    d["conf"].num_nodes = 3
    ap = _edges(rng, 7, 10, 20)
    pc = np.stack([np.arange(10), rng.integers(0, 3, 10)], 1)
    d["author", "writes", "paper"].edge_index = torch.from_numpy(ap.T)
    d["paper", "in", "conf"].edge_index = torch.from_numpy(pc.T)
    g = from_hetero_data(d, [("author", "paper", "author"),
                             ("author", "paper", "conf", "paper", "author")])
    AP = np.zeros((7, 10))
    AP[ap[:, 0], ap[:, 1]] = 1
    PC = np.zeros((10, 3))
    PC[pc[:, 0], pc[:, 1]] = 1
    np.testing.assert_array_equal(g.adjs[0].to_dense().numpy(), AP @ AP.T)
    np.testing.assert_array_equal(g.adjs[1].to_dense().numpy(), AP @ PC @ PC.T @ AP.T)
    types = [[t for t, _ in c] for c in g.contexts]
    assert types == [["paper"], ["paper", "conf", "paper"]]
    np.testing.assert_array_equal(g.contexts[1][2][1].to_dense().numpy(),
                                  (AP @ PC @ PC.T > 0).astype(np.float32))
    assert g.x_dict["conf"].shape == (3, 3) and g.y.tolist() == (torch.arange(7) % 2).tolist()
    with pytest.raises(ValueError, match="start and end"):
        from_hetero_data(d, [("paper", "author", "author")], target="author")


def test_dblp_derived_cache_survives_a_concurrent_writer(tmp_path, monkeypatch):
    """Two runs deriving the same cache entries at once must not take each other's temporary
    files: here a second derivation runs in the middle of the first one's first write."""
    from gcl.data.storage import sha256_file

    for name, text in (("pa.txt", "0 0\n1 0\n1 1\n"), ("pc.txt", "0 0\n1 0\n"),
                       ("pt.txt", "0 0\n1 1\n")):
        (tmp_path / name).write_text(text)
    shas = {n: sha256_file(tmp_path / n) for n in ("pa.txt", "pc.txt", "pt.txt")}
    save, nested = sp.save_npz, []

    def save_then_let_the_other_run_write(file, matrix, *args, **kwargs):
        save(file, matrix, *args, **kwargs)
        if not nested:
            nested.append("running")
            nested.append(dblp_derived(tmp_path, cache=tmp_path / "cache", shas=shas))

    monkeypatch.setattr(sp, "save_npz", save_then_let_the_other_run_write)
    out = dblp_derived(tmp_path, cache=tmp_path / "cache", shas=shas)
    monkeypatch.undo()
    assert len(nested) == 2 and out["apcpa"].toarray().tolist() == [[4.0, 2.0], [2.0, 1.0]]
    cached = dblp_derived(tmp_path, cache=tmp_path / "cache", shas=shas)
    for name, matrix in out.items():
        np.testing.assert_array_equal(cached[name].toarray(), matrix.toarray())
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        f"{n}-{'-'.join(shas[f][:8] for f in ('pa.txt', 'pc.txt', 'pt.txt'))}.npz"
        for n in ("apcpa", "aptpa", "nei_apcp", "nei_aptp"))  # no temporary file left


def _reference_row_normalise(raw: sp.spmatrix) -> np.ndarray:
    """MEOW's and HeCo's ``preprocess_features``: each row times 1/rowsum, empty rows kept 0."""
    rowsum = np.asarray(raw.sum(1), dtype=np.float64).ravel()
    with np.errstate(divide="ignore"):
        inv = np.power(rowsum, -1.0)
    inv[np.isinf(inv)] = 0.0
    return np.asarray(sp.diags(inv) @ raw.toarray())


@pytest.mark.parametrize("name", ["dblp", "heco-dblp"])
def test_dblp_author_features_are_row_normalised(name, require_dataset, monkeypatch):
    """DBLP's author bag-of-words (row sums 7, 22, 63, ...) is row-normalised on loading, as the
    reference loaders do; ``raw_features=True`` keeps the counts."""
    import gcl.data.hetero as hetero

    root = require_dataset(name)
    n, n_p = 4057, 14328

    def empty_derived(folder, **_):  # the derived matrices do not matter here and take ~40 s
        return {"apcpa": sp.csr_matrix((n, n)), "aptpa": sp.csr_matrix((n, n)),
                "nei_apcp": sp.csr_matrix((n, n_p)), "nei_aptp": sp.csr_matrix((n, n_p))}

    monkeypatch.setattr(hetero, "dblp_derived", empty_derived)
    folder = root / "hetero" / ("heco" if name.startswith("heco") else "meow") / "dblp"
    raw = safe_load_sparse(folder / "a_feat.npz")
    g = load_hetero(name)
    x = g.x_dict["a"].to_dense().double().numpy()
    sums = x.sum(1)
    assert x.shape == (n, 334)
    np.testing.assert_allclose(sums[np.asarray(raw.sum(1)).ravel() > 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(x, _reference_row_normalise(raw), atol=1e-7)
    kept = load_hetero(name, raw_features=True).x_dict["a"].to_dense().double().numpy()
    np.testing.assert_array_equal(kept, raw.toarray())
    assert kept.sum(1)[:4].tolist() == [7.0, 22.0, 7.0, 63.0]
    if name == "dblp":  # the paper features were row-normalised already, and stay so
        np.testing.assert_allclose(g.x_dict["p"].to_dense().sum(1).numpy(), 1.0, atol=1e-5)
