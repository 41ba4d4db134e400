"""gcl.data.load on the offline mirror: counts, splits, errors, integrity, read-only root."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest
import torch
from torch_geometric.utils import is_undirected

import gcl.data.storage as storage
from gcl.data import DatasetNotFoundError, cache_dir, dataset_status, load, resolve_root
from gcl.data.catalog import dataset_entry, download_folder
from gcl.data.storage import prepare_mirror, sha256_file, verify_files


def _check_common(data, name, n, e, f, c):
    assert data.name == name
    assert data.num_nodes == n and data.edge_index.shape == (2, e)
    assert data.x.shape == (n, f) and data.x.dtype == torch.float32
    assert data.y.shape == (n,) and data.y.dtype == torch.long
    assert int(data.y.max()) + 1 == c and int(data.y.min()) == 0
    assert data.edge_index.dtype == torch.long
    assert is_undirected(data.edge_index, num_nodes=n)
    for key in ("train_mask", "val_mask", "test_mask"):
        assert data[key].dtype == torch.bool and data[key].size(0) == n


def _sizes(data):
    return tuple(int(data[k].sum()) for k in ("train_mask", "val_mask", "test_mask"))


# -- counts on the mirror ---------------------------------------------------------------------


@pytest.mark.parametrize("name, n, e, f, c, public", [
    ("cora", 2708, 10556, 1433, 7, (140, 500, 1000)),
    ("citeseer", 3327, 9104, 3703, 6, (120, 500, 1000)),
])
def test_planetoid_counts_and_public_split(require_dataset, no_network, name, n, e, f, c,
                                           public):
    data = load(name, require_dataset(name))
    _check_common(data, name, n, e, f, c)
    assert data.split_name == "public" and _sizes(data) == public
    stats = dataset_entry(name)["stats"]
    assert (stats["num_nodes"], stats["num_edges"]) == (n, e)


@pytest.mark.slow
@pytest.mark.parametrize("name, n, e, f, c", [
    ("amazon-photo", 7650, 238162, 745, 8),
    ("amazon-computers", 13752, 491722, 767, 10),
    ("coauthor-cs", 18333, 163788, 6805, 15),
])
def test_npz_counts_and_random_split(require_dataset, no_network, name, n, e, f, c):
    data = load(name, require_dataset(name))
    _check_common(data, name, n, e, f, c)
    assert data.split_name == "random-0.1-0.1"
    tr, va = round(0.1 * n), round(0.1 * n)
    assert _sizes(data) == (tr, va, n - tr - va)


def test_aliases_load_the_same_graph(require_dataset):
    root = require_dataset("cora")
    a, b = load("Cora", root), load("planetoid-cora", root)
    assert a.name == b.name == "cora" and torch.equal(a.edge_index, b.edge_index)


def test_planetoid_full_and_random_splits(require_dataset):
    root = require_dataset("cora")
    full = load("cora", root, split="full")
    assert full.split_name == "full" and _sizes(full) == (2708 - 1500, 500, 1000)
    rnd = load("cora", root, split="random:1:1")
    assert rnd.split_name == "random-0.01-0.01" and _sizes(rnd) == (27, 27, 2654)


def test_random_split_seeding_and_columns(require_dataset):
    root = require_dataset("amazon-photo")
    a = load("amazon-photo", root, split_seed=0)
    b = load("amazon_photo", root, split_seed=0)
    c = load("photo", root, split_seed=1)
    assert torch.equal(a.train_mask, b.train_mask) and torch.equal(a.test_mask, b.test_mask)
    assert not torch.equal(a.train_mask, c.train_mask)
    multi = load("amazon-photo", root, split="random:0.01:0.01", num_splits=3, split_seed=0)
    assert multi.train_mask.shape == (7650, 3)
    assert multi.train_mask.sum(0).tolist() == [76, 76, 76]
    assert multi.split_name == "random-0.01-0.01"


def test_fixed_split_ignores_num_splits_with_warning(require_dataset):
    with pytest.warns(UserWarning, match="num_splits=3 is ignored"):
        data = load("cora", require_dataset("cora"), num_splits=3)
    assert data.train_mask.shape == (2708,)


def test_unsupported_split_and_kwargs(require_dataset):
    root = require_dataset("cora")
    with pytest.raises(ValueError, match="no 'public' split"):
        load("amazon-photo", root, split="public")
    with pytest.raises(TypeError, match="synthetic only"):
        load("cora", root, num_nodes=10)
    with pytest.raises(ValueError, match="split_seed"):
        load("cora", root, split_seed=-1)


def test_normalize_features_rows_sum_to_one(require_dataset):
    data = load("cora", require_dataset("cora"), normalize_features=True)
    sums = data.x.sum(1)
    nonzero = sums > 0
    assert torch.allclose(sums[nonzero], torch.ones(int(nonzero.sum())), atol=1e-5)
    raw = load("cora", require_dataset("cora"))
    assert float(raw.x.max()) == 1.0 and float(raw.x.sum(1).max()) > 1


# -- missing data ---------------------------------------------------------------------------------


def test_pubmed_is_incomplete_in_the_mirror(data_root, no_network):
    with pytest.raises(DatasetNotFoundError) as info:
        load("pubmed", data_root)
    err = info.value
    assert isinstance(err, FileNotFoundError)
    message = str(err)
    assert "ind.pubmed.allx" in message
    assert str(data_root / "planetoid" / "PubMed" / "raw" / "ind.pubmed.allx") in message
    assert str(data_root) in message and "download=True" in message and "GCL_DATA" in message
    assert "github.com/kimiyoung/planetoid" in message
    assert err.dataset == "pubmed" and err.root == data_root.absolute()
    assert any(p.name == "ind.pubmed.allx" for p in err.missing)
    if (data_root / "partial" / "planetoid" / "PubMed").is_dir():
        assert "partial copy" in message and "lacks raw/ind.pubmed.allx" in message


def test_wikics_missing(tmp_path, no_network):
    with pytest.raises(DatasetNotFoundError) as info:
        load("wikics", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "wikics" / "raw" / "data.json") in message
    assert "pmernyei/wiki-cs-dataset" in message
    assert str(cache_dir()) in message  # where download=True would put it


def test_missing_physics_names_the_npz(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ms_academic_phy.npz"):
        load("coauthor-physics", tmp_path)


def test_unknown_name():
    with pytest.raises(ValueError, match="unknown dataset 'coraa'.*Did you mean 'cora'"):
        load("coraa")


# -- the raw root is never written; integrity ----------------------------------------------------


def _copy_dataset(data_root: Path, dest_root: Path, folder: str) -> Path:
    shutil.copytree(data_root / folder, dest_root / folder)
    return dest_root


def _listing(root: Path) -> list[tuple]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            p = Path(dirpath) / name
            st = p.lstat()
            out.append((str(p.relative_to(root)), st.st_size, st.st_mtime_ns, st.st_mode))
    return sorted(out)


def _make_read_only(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            os.chmod(Path(dirpath) / name, stat.S_IRUSR | stat.S_IRGRP)
        os.chmod(dirpath, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)


def _make_writable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o644)


def test_loading_leaves_the_raw_root_untouched(require_dataset, tmp_path, monkeypatch):
    root = _copy_dataset(require_dataset("cora"), tmp_path / "root", "planetoid/Cora")
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    _make_read_only(root)
    try:
        before = _listing(root)
        first = load("cora", root)
        second = load("cora", root)  # from the processed cache
        assert _listing(root) == before
    finally:
        _make_writable(root)
    assert torch.equal(first.edge_index, second.edge_index)
    # gcl keeps its own tensors-only copy; PyG's pickled processed/ folder is not kept
    cached = list((tmp_path / "cache").rglob("graph/*.pt"))
    assert len(cached) == 1 and str(cached[0]).startswith(str(tmp_path / "cache" / "cora"))
    assert not list((tmp_path / "cache").rglob("processed"))
    assert not list(root.rglob("processed")) and not list(root.rglob("graph"))
    links = list((tmp_path / "cache").rglob("ind.cora.x"))
    assert links and links[0].resolve() == (root / "planetoid/Cora/raw/ind.cora.x").resolve()


def test_tampered_file_is_detected(require_dataset, tmp_path):
    root = _copy_dataset(require_dataset("cora"), tmp_path / "root", "planetoid/Cora")
    victim = root / "planetoid/Cora/raw/ind.cora.graph"
    blob = bytearray(victim.read_bytes())
    blob[100] ^= 0xFF  # same size, different content
    victim.write_bytes(bytes(blob))
    expected = next(f["sha256"] for f in dataset_entry("cora")["files"]
                    if f["path"] == "raw/ind.cora.graph")
    with pytest.raises(ValueError) as info:
        load("cora", root)
    message = str(info.value)
    assert str(victim) in message and expected in message and sha256_file(victim) in message
    victim.write_bytes(b"short")  # a different size is reported as well
    with pytest.raises(ValueError, match="expected 59847 bytes, found 5"):
        load("cora", root)


def test_verification_is_remembered(require_dataset, monkeypatch):
    root = require_dataset("citeseer")
    load("citeseer", root)  # verified (maybe by an earlier test)
    calls = []
    real = storage.sha256_file
    monkeypatch.setattr(storage, "sha256_file", lambda p, *a: calls.append(p) or real(p, *a))
    load("citeseer", root)
    assert calls == []
    stamp = storage._read_json(cache_dir() / "verified.json")
    key = str((root / "planetoid/CiteSeer/raw/ind.citeseer.x").resolve())
    assert stamp[key]["sha256"].startswith("d20de191")


def test_verify_files_reports_missing_and_rehashes_changed_files(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"abc")
    good = sha256_file(f)
    verify_files([(f, good, 3)], dataset="demo")
    f.write_bytes(b"abd")
    os.utime(f, ns=(1, 1))  # new mtime: the stamp no longer applies
    with pytest.raises(ValueError, match="integrity check failed"):
        verify_files([(f, good, 3)], dataset="demo")
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        verify_files([(tmp_path / "nope", None, None)], dataset="demo")


# -- cache mirrors ---------------------------------------------------------------------------------


def test_prepare_mirror_refreshes_processed_when_sources_change(tmp_path):
    src = tmp_path / "src.txt"
    src.write_text("one")
    mirror = tmp_path / "mirror"
    prepare_mirror(mirror, [(src, "D/raw/src.txt")], processed_dirs=["D/processed"])
    (mirror / "D/processed").mkdir()
    (mirror / "D/processed/data.pt").write_text("stale?")
    prepare_mirror(mirror, [(src, "D/raw/src.txt")], processed_dirs=["D/processed"])
    assert (mirror / "D/processed/data.pt").exists()  # unchanged source: cache kept
    src.write_text("two!")
    prepare_mirror(mirror, [(src, "D/raw/src.txt")], processed_dirs=["D/processed"])
    assert not (mirror / "D/processed").exists()
    assert (mirror / "D/raw/src.txt").read_text() == "two!"


def test_prepare_mirror_copies_when_symlinks_fail(tmp_path, monkeypatch):
    src = tmp_path / "src.txt"
    src.write_text("data")

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    mirror = prepare_mirror(tmp_path / "m", [(src, "raw/src.txt")])
    dst = mirror / "raw/src.txt"
    assert not dst.is_symlink() and dst.read_text() == "data"


def test_load_works_without_symlinks(require_dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not permitted")

    monkeypatch.setattr(os, "symlink", no_symlinks)
    data = load("cora", require_dataset("cora"))
    assert data.num_nodes == 2708
    copied = next((tmp_path / "cache").rglob("ind.cora.x"))
    assert not copied.is_symlink()


def test_previous_download_in_cache_is_used(require_dataset, tmp_path, monkeypatch, no_network):
    # CiteSeer: Cora ships with gcl, which comes before the cache
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    target = download_folder("citeseer") / "CiteSeer" / "raw"
    shutil.copytree(require_dataset("citeseer") / "planetoid/CiteSeer/raw", target)
    empty = tmp_path / "empty-root"
    rows = {r["name"]: r for r in dataset_status(empty)}
    assert rows["citeseer"]["available"] and rows["citeseer"]["source"] == "cache"
    assert load("citeseer", empty).num_nodes == 3327


def test_download_goes_to_the_cache(require_dataset, tmp_path, monkeypatch):
    """download=True runs PyG's own download() into the cache (simulated: no network)."""
    from torch_geometric.datasets import Planetoid

    source = require_dataset("citeseer") / "planetoid/CiteSeer/raw"
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))

    def fake_download(self):
        for name in self.raw_file_names:
            shutil.copy(source / name, Path(self.raw_dir) / name)

    monkeypatch.setattr(Planetoid, "download", fake_download)
    empty = tmp_path / "empty-root"
    with pytest.raises(DatasetNotFoundError):
        load("citeseer", empty)
    data = load("citeseer", empty, download=True)
    assert data.num_nodes == 3327
    assert (download_folder("citeseer") / "CiteSeer/raw/ind.citeseer.x").is_file()
    assert not empty.exists()


# -- roots and cache -------------------------------------------------------------------------------


def test_resolve_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("GCL_DATA", str(tmp_path / "env"))
    assert resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_root() == tmp_path / "env"
    monkeypatch.delenv("GCL_DATA")
    import gcl

    assert resolve_root() == Path(gcl.__file__).resolve().parents[1] / "datasets"


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "c"))
    assert cache_dir() == tmp_path / "c"
    monkeypatch.delenv("GCL_CACHE")
    assert cache_dir() == Path("~/.cache/gcl").expanduser()


def test_env_root_is_used_by_load(require_dataset, monkeypatch):
    monkeypatch.setenv("GCL_DATA", str(require_dataset("cora")))
    assert load("cora").num_nodes == 2708


# -- WikiCS through a tiny file in its format (the real one is not in the mirror) ----------------


def _write_fake_wikics(root: Path, n: int = 30, splits: int = 20) -> None:
    import json

    gen = torch.Generator().manual_seed(0)
    feats = (torch.randn(n, 5, generator=gen)).tolist()  # dense and signed, like WikiCS
    labels = [i % 3 for i in range(n)]
    links = [[(i + 1) % n, (i + 7) % n] for i in range(n)]
    train = [[(i + s) % 5 == 0 for i in range(n)] for s in range(splits)]
    val = [[(i + s) % 5 == 1 for i in range(n)] for s in range(splits)]
    test = [i % 5 >= 2 for i in range(n)]
    raw = root / "wikics" / "raw"
    raw.mkdir(parents=True)
    (raw / "data.json").write_text(json.dumps({
        "features": feats, "labels": labels, "links": links, "train_masks": train,
        "val_masks": val, "stopping_masks": val, "test_mask": test}))


def test_wikics_public_splits_and_signed_features(tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    _write_fake_wikics(tmp_path / "root")
    data = load("wiki-cs", tmp_path / "root")
    assert data.name == "wikics" and data.split_name == "public"
    assert data.train_mask.shape == (30, 20) and data.val_mask.shape == (30, 20)
    assert data.test_mask.shape == (30,)  # one test set shared by the 20 splits
    assert is_undirected(data.edge_index, num_nodes=30) and data.edge_index.size(1) == 120
    assert bool((data.x < 0).any())
    normed = load("wikics", tmp_path / "root", normalize_features=True)
    assert bool((torch.sign(normed.x) == torch.sign(data.x)).all())  # legacy: no shift
    directed = load("wikics", tmp_path / "root", to_undirected=False)
    assert directed.edge_index.size(1) == 60
    rnd = load("wikics", tmp_path / "root", split="random", num_splits=2)
    assert rnd.train_mask.shape == (30, 2) and "stopping_mask" not in rnd
