"""Faults: nothing hangs, nothing stays broken.

A cache that cannot be read (truncated by a killed write, of another format or shape) is
rebuilt once with a warning naming it; a full disk gives one error naming the folder and the
space needed; killed writes leave no temporary files behind for good; huge configuration
values are refused quickly with a short message; merging large records is linear.
"""

import errno
import os
import subprocess
import sys
import time
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import gcl._files as files
from gcl._files import CacheRebuildWarning, DiskFullError, atomic_target
from gcl.data import dataset_entry, load
from gcl.data.pyg_build import expected_files
from gcl.results import make_record, merge_records, write_json


@pytest.fixture
def fake_ogb(tmp_path, monkeypatch, no_network):
    from gcl.data.fake_ogb import make_fake_ogb

    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    make_fake_ogb(tmp_path / "root" / "ogb", "ogbn-arxiv", num_nodes=50, num_features=4,
                  num_classes=3)
    first = load("ogbn-arxiv", tmp_path / "root")
    (mirror,) = (tmp_path / "cache" / "ogbn-arxiv").iterdir()
    (cache,) = (mirror / "graph").iterdir()
    return tmp_path / "root", mirror, cache, first


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])


@pytest.mark.parametrize("damage", [truncate, lambda p: p.write_bytes(b""),
                                    lambda p: torch.save({"data": [1, 2]}, p),
                                    lambda p: torch.save({"data": {"x": torch.ones(3)},
                                                          "fixed": {}}, p)],
                         ids=["truncated", "empty", "not tensors", "no edges"])
def test_unreadable_graph_cache_is_rebuilt_once_with_a_warning(fake_ogb, damage):
    root, mirror, cache, first = fake_ogb
    damage(cache)
    with pytest.warns(CacheRebuildWarning, match=rf"processed graph of 'ogbn-arxiv' cache "
                                                 rf"{cache} cannot be read"):
        again = load("ogbn-arxiv", root)
    assert torch.equal(again.x, first.x) and torch.equal(again.edge_index, first.edge_index)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuildWarning)
        load("ogbn-arxiv", root)


def test_half_written_pyg_processed_file_does_not_break_loading(fake_ogb):
    root, mirror, cache, first = fake_ogb
    cache.unlink()
    processed = mirror / "ogbn_arxiv" / "processed"
    processed.mkdir(parents=True, exist_ok=True)
    (processed / "geometric_data_processed.pt").write_bytes(b"PK\x03\x04 half a zip")
    assert torch.equal(load("ogbn-arxiv", root).x, first.x)


def test_full_disk_while_processing_is_one_error_and_leaves_nothing(fake_ogb, monkeypatch):
    root, mirror, cache, first = fake_ogb
    cache.unlink()
    real_save = torch.save

    def failing_save(obj, f, *a, **k):  # what torch's zip writer raises on a full disk
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64")

    monkeypatch.setattr(torch, "save", failing_save)
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(free=0))
    raw = sum(p.stat().st_size for p, _, _ in expected_files(
        dataset_entry("ogbn-arxiv"), mirror / "ogbn_arxiv"))
    with pytest.raises(DiskFullError) as info:
        load("ogbn-arxiv", root)
    message = str(info.value)
    assert f"no space left on the disk of {mirror / 'ogbn_arxiv' / 'processed'} (0 B free; " \
           f"about {files.format_bytes(2 * raw)} more are needed)" in message
    assert not (mirror / "ogbn_arxiv" / "processed").exists() and not cache.exists()
    monkeypatch.setattr(torch, "save", real_save)
    monkeypatch.undo()
    assert torch.equal(load("ogbn-arxiv", root).x, first.x)


def test_full_disk_in_atomic_write_names_folder_and_size(tmp_path, monkeypatch):
    monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(free=10))
    with pytest.raises(DiskFullError, match=rf"disk of {tmp_path} \(10 B free; about 2.0 KiB"):
        with atomic_target(tmp_path / "a.npz", size_hint=2048) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp))
    assert os.listdir(tmp_path) == []
    with pytest.raises(RuntimeError, match="unrelated"):  # other failures stay what they are
        monkeypatch.setattr(files.shutil, "disk_usage", lambda p: SimpleNamespace(free=1 << 40))
        with atomic_target(tmp_path / "a.npz"):
            raise RuntimeError("unrelated")


def test_stale_temporary_files_are_cleaned_on_the_next_write(tmp_path):
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(proc.stdout)  # a process that has ended
    host = files._HOST
    killed = tmp_path / f".r.json.{host}-{dead}-k1ll3d.tmp.json"
    old_style = tmp_path / ".r.json.ab12cd34.tmp.json"
    live = tmp_path / f".r.json.{host}-{os.getpid()}-l1v3.tmp.json"  # a writer at work
    young = tmp_path / ".r.json.ef56gh78.tmp.json"
    other = tmp_path / f".other.json.{host}-{dead}-x.tmp.json"
    for path in (killed, old_style, live, young, other):
        path.write_text("half")
    os.utime(old_style, (time.time() - 2 * files.STALE_AGE_S,) * 2)
    write_json({"a": 1}, tmp_path / "r.json")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([live.name, young.name, other.name, "r.json"])


@pytest.mark.parametrize("damage", ["truncated", "object array", "wrong shape"])
def test_unreadable_metapath2vec_cache_is_named_and_rebuilt(tmp_path, toy_m2v, damage):
    first = toy_m2v(tmp_path)
    (path,) = tmp_path.glob("toy-*.npz")
    if damage == "truncated":
        truncate(path)
    else:
        bad = {"path_pap": np.zeros((6, 5))} if damage == "wrong shape" else \
            {"path_pap": np.array([np.zeros(2)] * 6 + [None], dtype=object)}
        with open(path, "wb") as fh:
            np.savez(fh, type_a=np.zeros((2, 2)), **bad)
    with pytest.warns(CacheRebuildWarning, match=f"metapath2vec embedding cache {path}"):
        again = toy_m2v(tmp_path)
    assert torch.equal(again.x_paths[0], first.x_paths[0])


@pytest.mark.parametrize("damage", ["truncated", "wrong shape"])
def test_unreadable_pamc_pretrain_cache_is_named_and_rebuilt(tmp_path, pamc_pretrain, damage):
    state = pamc_pretrain
    first = state()
    (path,) = (tmp_path / "pamc-pretrain").iterdir()
    if damage == "truncated":
        truncate(path)
    else:
        torch.save({k: torch.zeros(7, 7) for k in first}, path)
    with pytest.warns(CacheRebuildWarning, match=f"PamC pretrained autoencoder cache {path}"):
        again = state()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_small_yaml_bombs_fail_fast_with_a_short_message(tmp_path):
    from gcl.methods import load_config

    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 600
    start = time.perf_counter()
    with pytest.raises(ValueError) as info:
        load_config("grace", "cora", path)
    assert time.perf_counter() - start < 5 and len(str(info.value)) < 300


def test_merging_large_records_with_overlapping_seeds_is_linear():
    def big(seeds):
        runs = [{"seed": s, "metrics": {"accuracy": 0.5}, "train_s": 1.0} for s in seeds]
        return make_record(method="grace", dataset="cora", config={}, seeds=list(seeds),
                           metrics={}, timing={"train_s": 1.0}, device="cpu", runs=runs,
                           command="gcl train")

    n = 40_000  # the old quadratic check took minutes here
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"seeds overlap: \[20000, 20001.*and 19990 more"):
        merge_records([big(range(n)), big(range(n // 2, n + n // 2))])
    merged = merge_records([big(range(n)), big(range(n, 2 * n))])
    assert merged["seeds"] == list(range(2 * n))
    assert time.perf_counter() - start < 20
