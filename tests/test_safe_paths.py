"""Every path gcl makes from a name stays inside the folder it is meant for.

A property-style test feeds hostile names (``..``, ``/``, NUL, ``/../../../elsewhere/x``, long
and arbitrary text) to everything that turns a name into a path: result records, plots and
embeddings, caches (downloads, metapath2vec, PamC pretraining) and checkpoints, and asserts
that each resolved path lies under its folder and that nothing appears anywhere else.
"""

import os
import tempfile
from pathlib import Path
from unittest import mock

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gcl._files import path_in, safe_name
from gcl.cli import _default_out, main
from gcl.data.catalog import download_folder

TRICKS = ["..", ".", "/", "//", "/../../../elsewhere/x", "../../x", "a/../../b", "\x00", "~/x",
          "C:\\x\\..\\..", "....//....//", " .. ", "-", "\\..\\..", "%2e%2e%2f", "\u2025",
          "\uff0e\uff0e\uff0f", "a" * 400, ".hidden", "con", "x\ny", "$\\frac{", "$x$"]
HOSTILE = st.one_of(
    st.sampled_from(TRICKS),
    st.text(max_size=300),
    st.lists(st.sampled_from(["..", "/", "a", ".", "\\", "\x00", "-", "~"]), max_size=12)
    .map("".join),
)


def under(path: Path, folder: Path) -> bool:
    path, folder = Path(path).resolve(), Path(folder).resolve()
    return path == folder or folder in path.parents


def files_below(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, fs in os.walk(root) for f in fs}


@settings(max_examples=300, deadline=None)
@given(HOSTILE, HOSTILE)
def test_names_become_one_safe_component_inside_the_folder(a, b):
    folder = Path(tempfile.gettempdir()) / "gcl-path-test"
    for name in (a, b):
        s = safe_name(name)
        assert s and "/" not in s and "\\" not in s and "\x00" not in s and len(s) <= 200
        assert s not in (".", "..") and not s.startswith(".")
        assert under(path_in(folder, name), folder)
    assert under(path_in(folder, a, f"{a}-{b}.json"), folder)
    assert under(_default_out(a, b), Path("runs"))
    assert under(download_folder(a), Path(os.environ["GCL_CACHE"]))
    assert safe_name(a) == safe_name(safe_name(a))  # sanitising is stable


def test_names_that_differ_only_past_the_length_limit_stay_apart():
    a, b = "x" * 300 + "-lr0.1", "x" * 300 + "-lr0.2"
    assert safe_name(a) != safe_name(b) and len(safe_name(a)) == 200


def test_a_symlink_leading_out_of_the_folder_is_refused(tmp_path):
    (tmp_path / "inside").mkdir()
    (tmp_path / "inside" / "r.json").symlink_to(tmp_path / "outside.json")
    with pytest.raises(ValueError, match="outside"):
        path_in(tmp_path / "inside", "r.json")


def _first_two_columns(z, **kwargs):
    """A stand-in for t-SNE (the figures' content does not matter here)."""
    return z[:, :2].numpy(), torch.arange(z.size(0)).numpy()


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(HOSTILE, HOSTILE)
@example("/../../../elsewhere/x", "$\\frac{")
@example("..", "../../x\x00")
def test_plots_and_caches_from_hostile_names_stay_in_their_folders(method, dataset):
    import numpy as np
    import scipy.sparse as sp

    from gcl.data.hetero import MetaPathGraph, scipy_to_torch
    from gcl.data.metapath2vec import metapath2vec_features
    from gcl.methods.pamc import pamc
    from gcl.plotting import plot_record

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        record = {"method": method, "dataset": dataset,
                  "runs": [{"seed": 0, "loss": [2.0, 1.0], "evals": []}]}
        torch.save({"embeddings": torch.randn(6, 2), "y": torch.arange(6) % 2},
                   tmp / "emb.pt")
        with mock.patch("gcl.plotting.tsne_2d", _first_two_columns):
            written = plot_record(record, tmp / "plots", embeddings=tmp / "emb.pt",
                                  max_points=6)
        assert len(written) == 2 and all(under(p, tmp / "plots") for p in written)

        pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))
        graph = MetaPathGraph(dataset, "p", {"p": torch.eye(6), "a": torch.eye(2)}, ["pap"],
                              [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
        metapath2vec_features(graph, cache=tmp / "m2v", dim=2, walks_per_node=1,
                              walk_length=3, context_size=2)
        trainer = pamc(4, 2, hidden=(4, 4, 4), z_dim=2, pretrain_epochs=1, device="cpu")
        old = os.environ["GCL_CACHE"]
        os.environ["GCL_CACHE"] = str(tmp / "cache")
        try:
            trainer._pretrained_state(torch.rand(6, 4), dataset)
        finally:
            os.environ["GCL_CACHE"] = old
        outside = {p for p in files_below(tmp) if not any(
            under(p, tmp / d) for d in ("plots", "m2v", "cache/pamc-pretrain"))}
        assert outside == {tmp / "emb.pt"}
        assert len(files_below(tmp / "m2v")) == 1 and len(files_below(tmp / "cache")) == 1


@pytest.mark.parametrize("dataset", ["/../../../synthetic", "syn/the/tic"])
def test_train_and_reproduce_write_inside_their_folders(tmp_path, monkeypatch, dataset):
    """The dataset name matches ``synthetic`` after normalisation; its raw text must not steer
    the record, the PNGs, the embeddings, the checkpoints or the reproduction record."""
    import gcl.plotting as plotting

    monkeypatch.setattr(plotting, "tsne_2d", _first_two_columns)
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    fast = ["--set", "probe_epochs=2", "--set", "hidden=8", "--set", "proj_hidden=8",
            "--set", "clustering=false", "--device", "cpu"]
    assert main(["train", "--method", "grace", "--dataset", dataset, "--epochs", "2",
                 "--plot", "figs", "--checkpoint-dir", "ck", "--checkpoint-every", "1",
                 "--quiet", *fast]) == 0
    assert main(["reproduce", "--method", "grace", "--dataset", dataset, "--seeds", "1",
                 "--set", "epochs=1", "--label", "../../x/../y", "--results-dir", "res",
                 "--docs", "page.md", *fast]) == 0
    made = files_below(tmp_path)
    assert made and all(under(p, work) for p in made), sorted(made)
    names = {p.relative_to(work).parts[0] for p in made}
    assert names == {"runs", "figs", "ck", "res", "page.md"}
    assert [p.name for p in (work / "figs").iterdir() if p.suffix == ".pt"] == \
        ["grace-synthetic-embeddings.pt"]
    assert {p.name.rsplit("-", 2)[0] for p in (work / "runs").iterdir()} == {"grace-synthetic"}
    (record,) = (work / "res" / "grace").iterdir()  # the label's "../" made harmless
    assert record.name.startswith("x-..-y-synthetic-")
