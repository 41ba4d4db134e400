"""Figures from result records: training curves and a 2-D t-SNE of the embeddings.

``gcl plot RESULT.json`` and ``gcl train --plot DIR`` write PNG files with matplotlib's ``Agg``
backend (no display needed). matplotlib and scikit-learn are imported only when a figure is
drawn.

Example:
    >>> import tempfile, pathlib, torch
    >>> record = {"method": "grace", "dataset": "synthetic",
    ...           "runs": [{"seed": 0, "loss": [3.0, 2.5, 2.2], "evals": []}]}
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> plot_training(record, out / "loss.png").name
    'loss.png'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ._files import excerpt, path_in, safe_name
from ._utils import check_positive

__all__ = ["plot_training", "plot_tsne", "plot_record", "tsne_2d", "read_embeddings_file"]

#: Points drawn in a t-SNE figure at most (a seeded subsample above this).
TSNE_MAX_POINTS = 5000


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def read_embeddings_file(path: str | os.PathLike) -> dict:
    """Read an embeddings file written by ``gcl train --save-emb`` (nothing in it can run).

    Args:
        path: the file.

    Returns:
        dict: ``embeddings`` (``[N, d]`` floats), optionally ``y`` (``[N]``), the masks and
        ``seed``.

    Raises:
        ValueError: the file is not such an embeddings file (naming it and what is wrong).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "e.pt"
        >>> torch.save({"embeddings": torch.ones(3, 2), "seed": 0}, p)
        >>> read_embeddings_file(p)["embeddings"].shape
        torch.Size([3, 2])
    """
    path = Path(path)
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a pickle refused by weights_only, a truncated or foreign file
        raise ValueError(f"{path} is not an embeddings file written by gcl train --save-emb "
                         f"({type(err).__name__}: {excerpt(err, 120, text=True)})") from None
    if not isinstance(saved, dict):
        raise ValueError(f"{path} holds a {type(saved).__name__}, not the mapping gcl train "
                         "--save-emb writes")
    z = saved.get("embeddings")
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or not z.is_floating_point():
        shape = list(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"{path}: 'embeddings' must be a [N, d] float tensor, got {shape}")
    y = saved.get("y")
    if y is not None and (not isinstance(y, torch.Tensor) or y.dim() != 1
                          or y.numel() != z.size(0) or y.is_floating_point()):
        shape = list(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"{path}: 'y' must be [N = {z.size(0)}] integer labels, got {shape}")
    return saved


def _title(record: dict) -> str:
    # the record's text, sanitised: no mathtext ("$"), control characters or huge titles
    return f"{safe_name(record.get('method', '?')).upper()} on {safe_name(record.get('dataset', '?'))}"


def plot_training(record: dict, path: str | os.PathLike) -> Path:
    """Plot every run's training loss over epochs, and the periodic evaluation scores when the
    record has them (``runs[i]["evals"]``), into one PNG.

    Args:
        record: a result record (see :mod:`gcl.results`) whose runs carry ``loss`` lists.
        path: the PNG file to write (folders are created).

    Returns:
        Path: the written file.

    Raises:
        ValueError: when no run of the record has a loss history.

    Example:
        >>> import tempfile, pathlib
        >>> rec = {"runs": [{"seed": 0, "loss": [2.0, 1.5, 1.2],
        ...                  "evals": [{"epoch": 3, "accuracy": 0.7}]}]}
        >>> plot_training(rec, pathlib.Path(tempfile.mkdtemp()) / "t.png").suffix
        '.png'
    """
    runs = [r for r in record.get("runs", []) if isinstance(r, dict) and r.get("loss")]
    for r in runs:
        loss = r["loss"]
        if not isinstance(loss, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in loss):
            first = next((v for v in loss if not isinstance(v, (int, float))
                          or isinstance(v, bool)), loss) if isinstance(loss, list) else loss
            raise ValueError(f"the loss history of the run with seed {r.get('seed', '?')} must be "
                             f"a list of numbers, got {excerpt(first)}; the record is damaged: "
                             "re-run the training")
    if not runs:
        raise ValueError(
            "the result record has no per-run loss history ('runs[i].loss'); records written by "
            "`gcl train` carry it — re-run the training to get one"
        )
    evals = [r for r in runs if r.get("evals")]
    plt = _pyplot()
    ncols = 2 if evals else 1
    fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), squeeze=False)
    ax = axes[0][0]
    for r in runs:
        loss = r["loss"]
        ax.plot(range(1, len(loss) + 1), loss, label=f"seed {r.get('seed', '?')}", linewidth=1.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.set_title(f"{_title(record)}: training loss")
    ax.grid(alpha=0.3)
    if len(runs) > 1:
        ax.legend(fontsize=8)
    if evals:
        ax = axes[0][1]
        for r in evals:
            names = [k for k in r["evals"][0] if k != "epoch"
                     and isinstance(r["evals"][0][k], (int, float))]
            epochs = [e["epoch"] for e in r["evals"]]
            for name in names:
                ax.plot(epochs, [e.get(name, float("nan")) for e in r["evals"]], marker="o",
                        markersize=3, label=f"{name} (seed {r.get('seed', '?')})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("score")
        ax.set_title("periodic evaluation")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def tsne_2d(z: Any, *, seed: int = 0, perplexity: float = 30.0, max_points: int | None = 5000,
            max_iter: int = 1000, threads: int | None = 1):
    """Project embeddings to 2-D with scikit-learn's t-SNE (PCA initialisation, seeded).

    Args:
        z: ``[N, d]`` embeddings (tensor or array).
        seed: random state of t-SNE and of the subsample (default: 0).
        perplexity: t-SNE perplexity, lowered automatically for tiny inputs (default: 30).
        max_points: subsample to this many points when ``N`` is larger (default: 5000;
            ``None`` keeps all).
        max_iter: t-SNE optimisation steps, at least 250 (default: 1000).
        threads: native threads for t-SNE (default: 1 — a few thousand points take seconds on
            one thread, and more threads beside torch's own pool oversubscribe small machines;
            ``None`` leaves the libraries' defaults).

    Returns:
        tuple: ``(xy, index)`` — the ``[M, 2]`` numpy coordinates and the indices of the
        ``M`` points kept.

    Example:
        >>> import torch
        >>> xy, idx = tsne_2d(torch.randn(40, 8), seed=0, max_iter=250)
        >>> xy.shape, len(idx)
        ((40, 2), 40)
    """
    import numpy as np
    from sklearn.manifold import TSNE

    z = z.detach().cpu().float().numpy() if isinstance(z, torch.Tensor) else np.asarray(z, "f4")
    if z.ndim != 2 or z.shape[0] < 3:
        raise ValueError(f"t-SNE needs embeddings of shape [N >= 3, d], got {tuple(z.shape)}")
    index = np.arange(z.shape[0])
    if max_points is not None and z.shape[0] > max_points:
        index = np.sort(np.random.default_rng(seed).choice(z.shape[0], max_points, replace=False))
        z = z[index]
    perplexity = min(float(perplexity), (z.shape[0] - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                learning_rate="auto", max_iter=int(max_iter))
    if threads is None:
        return tsne.fit_transform(z), index
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=int(threads)):
        return tsne.fit_transform(z), index


def plot_tsne(z: Any, labels: Any, path: str | os.PathLike, *, title: str = "t-SNE of embeddings",
              seed: int = 0, max_points: int | None = 5000, max_iter: int = 1000) -> Path:
    """Draw a 2-D t-SNE of ``z`` with one colour per label and save it as a PNG.

    Args:
        z: ``[N, d]`` embeddings.
        labels: ``[N]`` integer labels (``None`` draws every point in one colour).
        path: the PNG file to write (folders are created).
        title: figure title (default: ``"t-SNE of embeddings"``).
        seed: t-SNE random state (default: 0).
        max_points: subsample above this many points (default: 5000).
        max_iter: t-SNE optimisation steps (default: 1000).

    Returns:
        Path: the written file.

    Example:
        >>> import tempfile, pathlib, torch
        >>> z, y = torch.randn(30, 4), torch.arange(30) % 3
        >>> plot_tsne(z, y, pathlib.Path(tempfile.mkdtemp()) / "tsne.png", max_iter=250).name
        'tsne.png'
    """
    import numpy as np

    xy, index = tsne_2d(z, seed=seed, max_points=max_points, max_iter=max_iter)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 6))
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=4)
    else:
        y = labels.cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
        y = y[index]
        classes = np.unique(y)
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            sel = y == c
            ax.scatter(xy[sel, 0], xy[sel, 1], s=4, color=cmap(i % cmap.N), label=str(c))
        if len(classes) <= 20:
            ax.legend(title="label", fontsize=7, markerscale=3, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_record(record: dict | str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                embeddings: str | os.PathLike | None = None, seed: int = 0,
                max_points: int | None = None) -> list[Path]:
    """Write the figures of a result record: ``<stem>-training.png`` (loss and periodic scores)
    and, when embeddings are available, ``<stem>-tsne.png``.

    Embeddings come from ``embeddings`` (a file written by ``gcl train --save-emb``), else from
    the record's ``embeddings`` field (set when the run saved them).

    Args:
        record: a result record or the path of its JSON file.
        out_dir: folder for the PNGs (default: the record's folder, or ``.``).
        embeddings: an embeddings file to use instead of the record's (default: ``None``).
        seed: t-SNE random state (default: 0).
        max_points: t-SNE subsample size (default: :data:`TSNE_MAX_POINTS`, 5000).

    Returns:
        list[Path]: the written files.

    Example:
        >>> import tempfile, pathlib
        >>> rec = {"method": "grace", "dataset": "synthetic",
        ...        "runs": [{"seed": 0, "loss": [2.0, 1.5], "evals": []}]}
        >>> [p.name for p in plot_record(rec, tempfile.mkdtemp())]
        ['grace-synthetic-training.png']
    """
    from .results import read_result

    if max_points is not None:
        check_positive(max_points, "max_points", "plot_record", integer=True)
    base = Path(".")
    if not isinstance(record, dict):
        path = Path(record)
        record = read_result(path)
        base = path.parent
    out = Path(out_dir) if out_dir is not None else base
    # file names from the record's fields: sanitised, and kept inside the output folder
    stem = f"{safe_name(record.get('method', 'result'))}-{safe_name(record.get('dataset', 'data'))}"
    written = [plot_training(record, path_in(out, f"{stem}-training.png"))]
    emb = embeddings if embeddings is not None else record.get("embeddings")
    if emb is not None:
        emb_path = Path(emb)
        if not emb_path.is_absolute() and not emb_path.is_file():
            emb_path = base / emb_path
        if not emb_path.is_file():
            raise FileNotFoundError(
                f"embeddings file {emb} not found; pass --emb FILE (written by `gcl train "
                "--save-emb FILE`) or re-run the training with --plot"
            )
        saved = read_embeddings_file(emb_path)
        title = f"{_title(record)}: t-SNE of embeddings (seed {saved.get('seed', '?')})"
        written.append(plot_tsne(saved["embeddings"], saved.get("y"),
                                 path_in(out, f"{stem}-tsne.png"),
                                 title=title, seed=seed,
                                 max_points=max_points or TSNE_MAX_POINTS))
    return written
