"""Cora's raw files ship inside the package: used without a data root, hashed before every use."""

import hashlib
import os
import shutil

import pytest
import torch

import gcl
import gcl.data.embedded as embedded
import gcl.data.loaders as loaders
from gcl.cli import main
from gcl.data import dataset_entry, dataset_status
from gcl.data.safe import UnsafeFileError
from gcl.methods import load_config
from gcl.results import read_result


def test_the_shipped_files_match_the_catalog_and_carry_their_licence():
    entry = dataset_entry("cora")
    base = embedded.EMBEDDED_ROOT / entry["embedded"]["folder"]
    for f in entry["files"]:
        blob = (base / f["path"]).read_bytes()
        assert hashlib.sha256(blob).hexdigest() == f["sha256"] and len(blob) == f["size"]
    licence = " ".join((embedded.EMBEDDED_ROOT / entry["embedded"]["license_file"]).read_text()
                       .split())
    assert "The MIT License (MIT)" in licence and "Copyright (c) 2016 Zhilin Yang" in licence
    assert "Revisiting Semi-Supervised Learning with Graph Embeddings" in licence


def test_cora_loads_without_a_data_root_and_equals_the_mirror_copy(tmp_path, data_root):
    shipped = gcl.data.load("cora", root=tmp_path)
    assert (shipped.num_nodes, shipped.num_edges, shipped.num_features) == (2708, 10556, 1433)
    assert [int(shipped[k].sum()) for k in ("train_mask", "val_mask", "test_mask")] == [
        140, 500, 1000]
    mirror = gcl.data.load("cora", root=data_root)
    for key in ("x", "edge_index", "y", "train_mask", "test_mask"):
        assert torch.equal(shipped[key], mirror[key]), key
    row = next(r for r in dataset_status(tmp_path) if r["name"] == "cora")
    assert row["available"] and row["source"] == "embedded"


def test_a_replaced_file_is_refused_before_any_reader_opens_it(tmp_path, monkeypatch):
    copy = tmp_path / "embedded"
    shutil.copytree(embedded.EMBEDDED_ROOT, copy)
    monkeypatch.setattr(embedded, "EMBEDDED_ROOT", copy)
    root = tmp_path / "empty-root"
    assert gcl.data.load("cora", root=root).num_nodes == 2708  # verified once
    target = copy / "planetoid" / "Cora" / "raw" / "ind.cora.x"
    stat = target.stat()
    blob = bytearray(target.read_bytes())
    blob[100] ^= 0xFF  # same size, same modification time
    target.chmod(0o644)
    target.write_bytes(bytes(blob))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    def never(*args, **kwargs):
        raise AssertionError("PyG's reader was reached with an unverified file")

    monkeypatch.setattr(loaders, "build_graph", never)
    with pytest.raises(UnsafeFileError, match=r"refusing to read .*ind\.cora\.x: its sha256"):
        gcl.data.load("cora", root=root)


def test_demo_trains_grace_on_the_shipped_cora(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    reader = load_config.__globals__["_read_yaml"]

    def shrunk(path):  # a short run: the demo's own configuration is Cora's, 200 epochs
        content = reader(path)
        if path.name == "grace.yaml":
            content["datasets"]["cora"].update(epochs=2, hidden=8, proj_hidden=8)
            content["defaults"].update(probe_epochs=20, clustering=False)
        return content

    monkeypatch.setitem(load_config.__globals__, "_read_yaml", shrunk)
    assert main(["demo", "--data-root", str(tmp_path / "none"), "--device", "cpu",
                 "--out", str(tmp_path / "demo.json")]) == 0
    captured = capsys.readouterr()
    assert "gcl demo: GRACE on Cora (the copy shipped with gcl), seeds [0]" in captured.err
    record = read_result(tmp_path / "demo.json")
    assert record["dataset"] == "cora" and record["config"]["epochs"] == 2
    assert "accuracy" in captured.out
