"""Figures: `gcl plot`, `gcl train --plot` and the plotting functions write real, non-blank PNGs."""

import numpy as np
import pytest
import torch

import gcl.plotting
from gcl.cli import main
from gcl.plotting import plot_record, plot_training, plot_tsne, tsne_2d
from gcl.results import read_result

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FAST = ["--set", "probe_epochs=20", "--set", "hidden=8", "--set", "proj_hidden=8",
        "--set", "clustering=false"]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny inputs: one native thread is faster than a pool on a shared, busy CPU."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(before)


def assert_real_png(path):
    import matplotlib.image as mpimg

    assert path.is_file(), f"{path} was not written"
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 100 and pixels.shape[1] > 100
    rgb = pixels[..., :3].reshape(-1, 3)
    assert rgb.var(axis=0).sum() > 0, f"{path} is blank"
    assert len(np.unique(rgb, axis=0)) > 2, f"{path} has a single colour"
    return pixels


def test_plot_training_without_and_with_evals(tmp_path):
    record = {"method": "grace", "dataset": "toy",
              "runs": [{"seed": 0, "loss": [3.0, 2.0, 1.5, 1.4], "evals": []},
                       {"seed": 1, "loss": [3.1, 2.2, 1.6, 1.3], "evals": []}]}
    narrow = assert_real_png(plot_training(record, tmp_path / "a.png"))
    record["runs"][0]["evals"] = [{"epoch": 2, "accuracy": 0.5}, {"epoch": 4, "accuracy": 0.7}]
    wide = assert_real_png(plot_training(record, tmp_path / "b.png"))
    assert wide.shape[1] > narrow.shape[1]  # a second panel for the evaluation scores


def test_plot_training_needs_a_loss_history(tmp_path):
    with pytest.raises(ValueError, match="loss history"):
        plot_training({"runs": [{"seed": 0}]}, tmp_path / "x.png")


def test_tsne_is_seeded_and_separates_clusters(tmp_path):
    g = torch.Generator().manual_seed(0)
    y = torch.arange(90) % 3
    z = 6 * torch.nn.functional.one_hot(y, 3).float() + torch.randn(90, 3, generator=g)
    a, idx = tsne_2d(z, seed=1, max_iter=250)
    b, _ = tsne_2d(z, seed=1, max_iter=250)
    np.testing.assert_allclose(a, b)
    assert a.shape == (90, 2) and len(idx) == 90
    centres = np.stack([a[y.numpy() == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(a[y.numpy() == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(3) for j in range(i + 1, 3)]
    assert min(gaps) > spread
    sub, idx = tsne_2d(z, seed=0, max_points=30, max_iter=250)
    assert sub.shape == (30, 2) and len(set(idx.tolist())) == 30
    assert_real_png(plot_tsne(z, y, tmp_path / "t.png", max_iter=250))
    with pytest.raises(ValueError, match="shape"):
        tsne_2d(torch.randn(2, 3))


def test_train_with_plot_writes_both_figures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gcl.plotting, "TSNE_MAX_POINTS", 150)  # a small t-SNE keeps this fast
    out, plots = tmp_path / "r.json", tmp_path / "plots"
    code = main(["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "4",
                 "--device", "cpu", "--out", str(out), "--plot", str(plots), "--eval-every", "2",
                 "--quiet", "--set", "monitor_probe_epochs=20", *FAST])
    assert code == 0
    record = read_result(out)
    assert [e["epoch"] for e in record["runs"][0]["evals"]] == [2, 4]
    assert {"val_accuracy", "test_accuracy"} <= set(record["runs"][0]["evals"][0])
    emb = plots / "grace-synthetic-embeddings.pt"
    assert emb.is_file() and record["embeddings"] == str(emb.resolve())
    assert_real_png(plots / "grace-synthetic-training.png")
    assert_real_png(plots / "grace-synthetic-tsne.png")
    printed = capsys.readouterr().out
    assert "grace-synthetic-tsne.png" in printed

    # `gcl plot` redraws from the record alone, elsewhere.
    again = tmp_path / "again"
    assert main(["plot", str(out), "--out", str(again), "--tsne-points", "120"]) == 0
    assert sorted(p.name for p in again.iterdir()) == ["grace-synthetic-training.png",
                                                       "grace-synthetic-tsne.png"]
    assert_real_png(again / "grace-synthetic-tsne.png")


def test_plot_command_without_embeddings_and_with_bad_inputs(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["train", "--method", "grace", "--dataset", "synthetic", "--epochs", "2",
                 "--device", "cpu", "--out", str(out), "--quiet", *FAST]) == 0
    assert "embeddings" not in read_result(out)
    written = plot_record(out)
    assert [p.name for p in written] == ["grace-synthetic-training.png"]
    assert written[0].parent == tmp_path
    assert main(["plot", str(out), "--emb", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("{}")
    assert main(["plot", str(tmp_path / "bad.json")]) == 2
