"""OGB loading on fake folders in OGB's layout (the real files are not in the mirror)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch_geometric.utils import is_undirected

from gcl.data import DatasetNotFoundError, load, make_fake_ogb

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name, split_dir, sizes", [
    ("ogbn-arxiv", "time", (107, 35, 58)),
    ("ogbn-products", "sales_ranking", (16, 3, 181)),
])
def test_fake_ogb_loads_twice(tmp_path, monkeypatch, no_network, name, split_dir, sizes):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    folder = make_fake_ogb(tmp_path / "root" / "ogb", name, num_nodes=200, num_features=16,
                           num_classes=5)
    assert folder == tmp_path / "root" / "ogb" / name.replace("-", "_")
    assert (folder / "split" / split_dir / "train.csv.gz").is_file()
    before = sorted(str(p) for p in (tmp_path / "root").rglob("*"))

    first = load(name, tmp_path / "root")
    assert not list((tmp_path / "cache").rglob("geometric_data_processed.pt"))  # not kept
    processed = list((tmp_path / "cache").rglob("graph/*.pt"))  # gcl's tensors-only copy
    assert len(processed) == 1
    mtime = processed[0].stat().st_mtime_ns
    second = load(name, tmp_path / "root")  # torch.load of gcl's copy (weights_only)
    assert processed[0].stat().st_mtime_ns == mtime  # not processed again

    for data in (first, second):
        assert data.name == name and data.split_name == "ogb"
        assert data.num_nodes == 200
        assert data.x.shape == (200, 16) and data.x.dtype == torch.float32
        assert data.y.shape == (200,) and data.y.dtype == torch.long
        assert set(data.y.unique().tolist()) == set(range(5))
        assert is_undirected(data.edge_index, num_nodes=200)
        assert tuple(int(data[k].sum()) for k in ("train_mask", "val_mask", "test_mask")) == sizes
        cover = data.train_mask.long() + data.val_mask.long() + data.test_mask.long()
        assert bool((cover == 1).all())
    assert torch.equal(first.edge_index, second.edge_index)
    assert torch.equal(first.x, second.x)
    assert sorted(str(p) for p in (tmp_path / "root").rglob("*")) == before


def test_arxiv_directed_and_time_split(tmp_path, monkeypatch):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    make_fake_ogb(tmp_path / "ogb", "ogbn-arxiv", num_nodes=120, avg_degree=4, seed=3)
    directed = load("arxiv", tmp_path, to_undirected=False)
    undirected = load("ogbn_arxiv", tmp_path)
    assert directed.edge_index.size(1) == 240  # 120 * 4 / 2 citations, one direction each
    assert not is_undirected(directed.edge_index, num_nodes=120)
    assert undirected.edge_index.size(1) == 480
    years = directed.node_year.view(-1)
    assert bool((years[directed.train_mask] < 2018).all())
    assert bool((years[directed.val_mask] == 2018).all())
    assert bool((years[directed.test_mask] == 2019).all())
    rnd = load("ogbn-arxiv", tmp_path, split="random", split_seed=2)
    assert rnd.split_name == "random-0.1-0.1" and int(rnd.train_mask.sum()) == 12


def test_fake_ogb_reads_with_ogb_directly(tmp_path):
    """The folder is what ogb itself reads (no gcl in between), labels line up with edges."""
    folder = make_fake_ogb(tmp_path, "ogbn-products", num_nodes=80, num_classes=4, seed=1)
    from gcl.data.pyg_build import _import_ogb_offline

    cls = _import_ogb_offline()
    ds = cls("ogbn-products", root=str(tmp_path))
    split = ds.get_idx_split()
    assert ds[0].num_nodes == 80 and ds.num_classes == 47  # ogb's metadata, not the fake's
    assert sum(v.numel() for v in split.values()) == 80
    assert (folder / "processed").is_dir()  # ogb writes next to raw: gcl.load never does this


def test_make_fake_ogb_is_deterministic(tmp_path):
    a = make_fake_ogb(tmp_path / "a", "ogbn-arxiv", seed=5)
    b = make_fake_ogb(tmp_path / "b", "ogbn-arxiv", seed=5)
    c = make_fake_ogb(tmp_path / "c", "ogbn-arxiv", seed=6)
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert Path("RELEASE_v1.txt") in files and Path("raw/node_year.csv.gz") in files
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "raw/edge.csv.gz").read_bytes() != (c / "raw/edge.csv.gz").read_bytes()


def test_make_fake_ogb_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="supports"):
        make_fake_ogb(tmp_path, "ogbn-mag")
    with pytest.raises(ValueError, match="num_nodes"):
        make_fake_ogb(tmp_path, num_nodes=2)
    with pytest.raises(ValueError, match="avg_degree"):
        make_fake_ogb(tmp_path, "ogbn-products", num_nodes=10, num_classes=2, avg_degree=20)


def test_fake_ogb_features_carry_signal(tmp_path, monkeypatch):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    make_fake_ogb(tmp_path / "ogb", "ogbn-arxiv", num_nodes=400, num_classes=4, seed=0)
    data = load("ogbn-arxiv", tmp_path)
    centroids = torch.stack([data.x[data.train_mask & (data.y == c)].mean(0) for c in range(4)])
    pred = torch.cdist(data.x[data.test_mask], centroids).argmin(1)
    assert (pred == data.y[data.test_mask]).float().mean().item() > 0.5  # chance: 0.25


def test_missing_ogb_folder_explains_layout(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load("ogbn-products", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "ogb" / "ogbn_products" / "raw" / "edge.csv.gz") in message
    assert "products.zip" in message and "split/sales_ranking/train.csv.gz" in message


def test_ogb_pyg_folder_name_is_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    folder = make_fake_ogb(tmp_path / "ogb", "ogbn-arxiv", num_nodes=60)
    folder.rename(folder.with_name("ogbn_arxiv_pyg"))
    (folder.with_name("ogbn_arxiv_pyg") / "RELEASE_v1.txt").unlink()  # gcl supplies it
    assert load("ogbn-arxiv", tmp_path).num_nodes == 60


def test_import_gcl_data_stays_light():
    code = ("import sys, gcl, gcl.data; gcl.data.synthetic(num_nodes=20, num_classes=2); "
            "heavy = [m for m in ('ogb', 'sklearn', 'scipy', 'yaml', 'outdated') "
            "if m in sys.modules]; print(','.join(heavy))")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_ogb_import_makes_no_network_call(tmp_path):
    """ogb's import-time version check (a thread asking PyPI) is disabled by the loader.

    ``ogb/version.py`` calls ``outdated.check_outdated`` in a thread at import; in this venv it
    happens to fail early (no ``pkg_resources``), elsewhere it asks pypi.org. A spy stands in
    for it: the loader must swap it out while ogb is imported, and restore it afterwards.
    """
    code = f"""
import socket, threading
attempts = []
def refuse(self, *args, **kwargs):
    attempts.append(args)
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
import outdated
checks = []
def spy(*args, **kwargs):
    checks.append(args)
    raise OSError("the online version check ran")
spy.__name__ = "spy"
outdated.check_outdated = spy
import gcl.data as d
d.make_fake_ogb({str(tmp_path / "ogb")!r}, "ogbn-arxiv", num_nodes=40)
data = d.load("ogbn-arxiv", {str(tmp_path)!r})
for t in threading.enumerate():
    if t is not threading.main_thread() and not t.daemon:
        t.join(timeout=30)
assert outdated.check_outdated is spy, "outdated was left patched"
print("attempts", len(attempts), len(checks), data.num_nodes)
"""
    env = dict(os.environ, PYTHONPATH=str(REPO), GCL_CACHE=str(tmp_path / "cache"))
    env.pop("OUTDATED_IGNORE", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-3:] == ["0", "0", "40"], out.stdout
