"""A pickle planted in any file gcl (or PyG/OGB on gcl's behalf) reads never runs.

Each test plants a pickle whose ``__reduce__`` writes a marker file into a file gcl reads: raw
files, PyG's and OGB's processed caches, every cache gcl writes (the graph cache, the
verification stamp, the mirror stamp, DBLP-derived matrices, metapath2vec embeddings, PamC
pretraining), checkpoints, embeddings files, configuration and result files. The load either
works (the file is ignored or rebuilt) or fails with a clear error; the marker never appears.
"""

import os
import pickle
import shutil
import warnings

import numpy as np
import pytest
import torch

from gcl._files import CacheRebuildWarning
from gcl.data import load


class Planted:
    """Unpickling this writes ``marker``: proof that the file's code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "MARKER"
    pickle.loads(pickle.dumps(Planted(path)))  # the payload works when unpickled ...
    assert path.exists()
    path.unlink()
    yield path
    assert not path.exists(), "a planted pickle ran"  # ... and no test below lets it run


def plant_torch(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(Planted(marker), path)  # loads only with weights_only=False


def plant_npz(path, marker):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:  # np.load(allow_pickle=True) would run it
        np.savez(fh, data=np.array([Planted(marker)], dtype=object))


def plant_raw(path, marker):
    """Same size and modification time as the file it replaces."""
    st = path.stat()
    blob = pickle.dumps(Planted(marker), protocol=2)
    assert len(blob) <= st.st_size
    path.unlink()
    path.write_bytes(blob + b"\0" * (st.st_size - len(blob)))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


@pytest.fixture
def cora(require_dataset, tmp_path, monkeypatch):
    """A private copy of Cora and a private cache, loaded once."""
    root = tmp_path / "root"
    shutil.copytree(require_dataset("cora") / "planetoid" / "Cora", root / "planetoid" / "Cora")
    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    load("cora", root)
    (mirror,) = (tmp_path / "cache" / "cora").iterdir()
    return root, mirror


def test_raw_planetoid_file_replaced_with_the_same_size_and_mtime(cora, marker):
    root, mirror = cora
    plant_raw(root / "planetoid/Cora/raw/ind.cora.x", marker)
    assert load("cora", root).num_nodes == 2708  # gcl's own cache: the raw file is not read
    shutil.rmtree(mirror / "graph")  # now the raw files must be read: hashed first, every time
    with pytest.raises(ValueError, match=r"integrity check failed for .*ind.cora.x"):
        load("cora", root)


@pytest.mark.parametrize("name", ["data.pt", "pre_transform.pt", "pre_filter.pt"])
@pytest.mark.parametrize("with_gcl_cache", [True, False])
def test_pyg_processed_files_are_never_opened(cora, marker, name, with_gcl_cache):
    root, mirror = cora
    if not with_gcl_cache:
        shutil.rmtree(mirror / "graph")
    plant_torch(mirror / "Cora" / "processed" / name, marker)
    assert load("cora", root).num_nodes == 2708
    assert not (mirror / "Cora" / "processed").exists()


def test_gcl_graph_cache_is_rebuilt(cora, marker):
    root, mirror = cora
    (cache,) = (mirror / "graph").iterdir()
    plant_torch(cache, marker)
    with pytest.warns(CacheRebuildWarning, match=f"{cache}"):
        assert load("cora", root).num_nodes == 2708
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuildWarning)
        load("cora", root)  # rebuilt once: read quietly afterwards


def test_json_stamps_are_only_parsed(cora, marker, tmp_path):
    root, mirror = cora
    for stamp in (tmp_path / "cache" / "verified.json", mirror / ".gcl-source.json"):
        stamp.write_bytes(pickle.dumps(Planted(marker)))
    assert load("cora", root).num_nodes == 2708


def test_ogb_processed_file_and_split_dict(tmp_path, monkeypatch, marker, no_network):
    from gcl.data.fake_ogb import make_fake_ogb

    monkeypatch.setenv("GCL_CACHE", str(tmp_path / "cache"))
    make_fake_ogb(tmp_path / "root" / "ogb", "ogbn-arxiv", num_nodes=50, num_features=4,
                  num_classes=3)
    load("ogbn-arxiv", tmp_path / "root")
    (mirror,) = (tmp_path / "cache" / "ogbn-arxiv").iterdir()
    shutil.rmtree(mirror / "graph")
    plant_torch(mirror / "ogbn_arxiv" / "processed" / "geometric_data_processed.pt", marker)
    plant_torch(mirror / "ogbn_arxiv" / "split" / "time" / "split_dict.pt", marker)
    assert load("ogbn-arxiv", tmp_path / "root").num_nodes == 50


def test_dblp_derived_cache(tmp_path, marker):
    from gcl.data.hetero import dblp_derived

    for name, text in (("pa.txt", "0 0\n1 0\n1 1\n"), ("pc.txt", "0 0\n1 0\n"),
                       ("pt.txt", "0 0\n1 1\n")):
        (tmp_path / name).write_text(text)
    shas = {"pa.txt": "a" * 64, "pc.txt": "b" * 64, "pt.txt": "c" * 64}
    first = dblp_derived(tmp_path, cache=tmp_path / "cache", shas=None)
    from gcl.data import storage

    shas = {n: storage.sha256_file(tmp_path / n) for n in shas}
    dblp_derived(tmp_path, cache=tmp_path / "cache", shas=shas)
    for path in (tmp_path / "cache").iterdir():
        plant_npz(path, marker)
    with pytest.warns(CacheRebuildWarning):
        again = dblp_derived(tmp_path, cache=tmp_path / "cache", shas=shas)
    assert (again["apcpa"] != first["apcpa"]).nnz == 0


def test_metapath2vec_cache(tmp_path, marker, toy_m2v):
    first = toy_m2v(tmp_path)
    (path,) = tmp_path.glob("toy-*.npz")
    plant_npz(path, marker)
    with pytest.warns(CacheRebuildWarning, match=str(path)):
        again = toy_m2v(tmp_path)
    assert torch.equal(again.x_paths[0], first.x_paths[0])  # seeded: rebuilt identically


def test_pamc_pretrain_cache(tmp_path, marker, pamc_pretrain):
    first = pamc_pretrain()
    (path,) = (tmp_path / "pamc-pretrain").iterdir()
    plant_torch(path, marker)
    with pytest.warns(CacheRebuildWarning, match=str(path)):
        again = pamc_pretrain()
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_checkpoint_and_resume(tmp_path, marker):
    from gcl import Pipeline
    from gcl.encoders import GCNEncoder
    from gcl.methods import run
    from gcl.objectives import InfoNCE

    plant_torch(tmp_path / "model.pt", marker)
    with pytest.raises(ValueError, match="model.pt"):
        Pipeline(GCNEncoder(4, 8), InfoNCE(), device="cpu").load(tmp_path / "model.pt")
    plant_torch(tmp_path / "ck" / "seed-0" / "last.pt", marker)
    with pytest.raises(ValueError, match="last.pt"):
        run("grace", "synthetic", overrides={"epochs": 2, "hidden": 8, "proj_hidden": 8},
            device="cpu", log=None, checkpoint_dir=tmp_path / "ck", resume=True)


def test_files_given_to_the_gcl_command(tmp_path, marker, capsys):
    from gcl.cli import main
    from gcl.results import make_record, write_json

    rec = write_json(make_record(method="grace", dataset="cora", config={}, seeds=[0],
                                 metrics={}, timing={}, device="cpu", command="gcl",
                                 runs=[{"seed": 0, "metrics": {}, "loss": [1.0, 0.5]}]),
                     tmp_path / "r.json")
    plant_torch(tmp_path / "emb.pt", marker)
    assert main(["plot", str(rec), "--emb", str(tmp_path / "emb.pt")]) == 2
    assert "is not an embeddings file" in capsys.readouterr().err
    (tmp_path / "bad.json").write_bytes(pickle.dumps(Planted(marker)))
    assert main(["plot", str(tmp_path / "bad.json")]) == 2
    (tmp_path / "c.yaml").write_text(f"tau: !!python/object/apply:exec [\"open('{marker}', "
                                     "'w')\"]\n")
    assert main(["train", "--method", "grace", "--dataset", "synthetic",
                 "--config", str(tmp_path / "c.yaml"), "--out", str(tmp_path / "o.json")]) == 2


def test_numpy_data_files(tmp_path, marker):
    from gcl.data import storage
    from gcl.data.safe import UnsafeFileError, safe_load_npy

    path = tmp_path / "nei_a.npy"
    np.save(path, np.array([Planted(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(UnsafeFileError, match="refusing to read"):
        safe_load_npy(path)  # labels.npy, splits, features: no object arrays at all
    with pytest.raises(UnsafeFileError, match="refusing to unpickle builtins.exec"):
        # HeCo neighbour lists: even with a matching sha256, only numpy arrays are rebuilt
        safe_load_npy(path, allow_object=True, expected_sha256=storage.sha256_file(path))
