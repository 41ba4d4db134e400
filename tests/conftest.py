"""Shared pytest fixtures.

* every test runs with ``GCL_CACHE`` pointing at a session temporary folder, so nothing is
  written to ``~/.cache`` or to a data root;
* ``data_root`` is the offline dataset mirror (``$GCL_DATA``, else ``../shared/datasets`` beside
  the repository), or the test is skipped with the reason;
* ``no_network`` makes any socket connection fail loudly.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def _gcl_cache(tmp_path_factory):
    """Point ``GCL_CACHE`` at a session temporary folder for the whole run."""
    path = tmp_path_factory.mktemp("gcl-cache")
    patch = pytest.MonkeyPatch()
    patch.setenv("GCL_CACHE", str(path))
    yield path
    patch.undo()


def _mirror_root() -> tuple[Path | None, str]:
    env = os.environ.get("GCL_DATA")
    if env:
        path = Path(env).expanduser()
        return (path, "") if path.is_dir() else (None, f"GCL_DATA={env} is not a folder")
    path = REPO.parent / "shared" / "datasets"
    if path.is_dir():
        return path, ""
    return None, f"no data root: set GCL_DATA, or provide {path} (the offline mirror)"


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real-data root; skips the test when there is none."""
    path, reason = _mirror_root()
    if path is None:
        pytest.skip(reason)
    return path


@pytest.fixture
def require_dataset(data_root):
    """``require_dataset("cora")`` skips the test unless the dataset's files are at the root."""

    def check(name: str) -> Path:
        from gcl.data.catalog import dataset_entry, locate_files

        folder, missing = locate_files(dataset_entry(name), data_root)
        if folder is None:
            pytest.skip(f"{name} is not under {data_root} (missing {missing[0]})")
        return data_root

    return check


@pytest.fixture
def no_network(monkeypatch):
    """Fail any attempt to open a network connection during the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"test tried to open a network connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.fixture
def cpu_seconds():
    """Time a call in CPU seconds of this process on one torch thread: ``cpu_seconds(f, *a)``
    returns ``(f(*a), seconds)``.

    Wall time counts other processes' load; the CPU time of several torch threads counts their
    spin-waiting when the cores are oversubscribed (a Cora-sized probe measured 13 CPU s alone
    and 114 CPU s on two threads beside two training runs). One thread measures the work only.
    """
    def run(fn, *args, **kwargs):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            start = time.process_time()
            out = fn(*args, **kwargs)
            return out, time.process_time() - start
        finally:
            torch.set_num_threads(threads)

    return run


@pytest.fixture
def toy_m2v():
    """A 6-paper, 2-author meta-path graph and ``m2v(cache)``: its metapath2vec features with
    tiny settings, cached under ``cache`` (as ``toy-<key>.npz``)."""
    import numpy as np
    import scipy.sparse as sp

    from gcl.data.hetero import MetaPathGraph, scipy_to_torch
    from gcl.data.metapath2vec import metapath2vec_features

    pa = sp.csr_matrix(np.kron(np.eye(2), np.ones((3, 1))))
    graph = MetaPathGraph("toy", "p", {"p": torch.eye(6), "a": torch.eye(2)}, ["pap"],
                          [scipy_to_torch(pa @ pa.T)], [[("a", scipy_to_torch(pa))]])
    return lambda cache: metapath2vec_features(graph, cache=cache, dim=2, walks_per_node=1,
                                               walk_length=3, context_size=2)


@pytest.fixture
def pamc_pretrain(tmp_path, monkeypatch):
    """``pamc_pretrain()``: the pretrained PamC autoencoder state of a tiny input, cached under
    ``tmp_path/pamc-pretrain`` (``GCL_CACHE`` is ``tmp_path``)."""
    from gcl.methods.pamc import pamc

    monkeypatch.setenv("GCL_CACHE", str(tmp_path))
    x = torch.rand(12, 4, generator=torch.Generator().manual_seed(0))

    def state():
        module = pamc(4, 2, hidden=(4, 4, 4), z_dim=2, pretrain_epochs=1, device="cpu")
        return module._pretrained_state(x, "toy")

    return state


@pytest.fixture
def one_torch_thread():
    """Run the test on one torch thread (tiny graphs: more threads only add overhead)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
