"""The one training object: views -> encoder -> head -> objective (+ regularizers)."""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ._utils import check_positive, resolve_device, seed_everything, validate_graph
from .augment.base import Identity
from .callbacks import Callback
from .objectives.base import Objective, Regularizer, Step

__all__ = ["Pipeline", "History", "NonFiniteLossError", "peak_memory_mb"]

CHECKPOINT_FORMAT = "gcl-pipeline/1"


class NonFiniteLossError(RuntimeError):
    """Raised when the loss or a gradient becomes NaN or infinite.

    The pipeline keeps the last good parameters (the step that produced the non-finite value is
    not applied). ``epoch`` is the failing epoch and ``last_finite_loss`` the previous loss.
    """

    def __init__(self, epoch: int, last_finite_loss: float | None, what: str = "loss") -> None:
        self.epoch = epoch
        self.last_finite_loss = last_finite_loss
        last = "none (first epoch)" if last_finite_loss is None else f"{last_finite_loss:.6g}"
        super().__init__(
            f"the {what} became NaN or infinite at epoch {epoch}; last finite loss: {last}. "
            "Training stopped and the parameters of the last good step were kept. Try a smaller "
            "learning rate, a larger temperature, or check the input features for extreme values."
        )


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory in MiB: CUDA's peak allocation on a GPU, the process's peak RSS on the CPU.

    Example:
        >>> peak_memory_mb(torch.device("cpu")) > 0
        True
    """
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss_kb / 1024 if sys.platform != "darwin" else rss_kb / 2**20
    except ImportError:  # pragma: no cover - Windows
        return float("nan")


@dataclass
class History:
    """What :meth:`Pipeline.fit` recorded.

    Attributes:
        epochs: one dict per epoch with ``epoch``, ``loss``, ``time_s`` and any logged loss parts.
        evals: one dict per periodic evaluation (``epoch`` plus the scores).
        meta: run-level facts (``train_s``, ``epoch_s_median``, ``peak_mem_mb``, ``device``, ...).
    """

    epochs: list[dict] = field(default_factory=list)
    evals: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    @property
    def losses(self) -> list[float]:
        """The loss of every epoch, in order."""
        return [e["loss"] for e in self.epochs]

    def to_dict(self) -> dict:
        """A JSON-serialisable copy."""
        return {"epochs": list(self.epochs), "evals": list(self.evals), "meta": dict(self.meta)}


def _as_pair(augment) -> tuple[Callable, Callable]:
    if augment is None:
        return Identity(), Identity()
    if isinstance(augment, (list, tuple)):
        if len(augment) != 2:
            raise ValueError(
                f"augment must be one augmentation or a pair (view 1, view 2), got {len(augment)}"
            )
        a1, a2 = augment
    else:
        a1 = a2 = augment
    for a in (a1, a2):
        if not callable(a):
            raise ValueError(f"augmentations must be callables Data -> Data, got {a!r}")
    return a1, a2


class Pipeline(nn.Module):
    """Train an encoder with a contrastive objective on two augmented views of a graph.

    Each epoch draws two views, encodes them, projects them with the head, computes the
    objective (plus any regularizers, combined through :meth:`Regularizer.combine`) and takes one
    full-batch optimiser step. :meth:`embed` returns the encoder's output on the clean graph in
    eval mode.

    Args:
        encoder: ``nn.Module`` with ``forward(x, edge_index, edge_weight=None) -> [N, d]``.
        objective: an :class:`~gcl.objectives.Objective` (``forward(h1, h2, step)``).
        augment: one augmentation used for both views, or a pair ``(view1, view2)``
            (default: no augmentation).
        head: projection head applied before the objective (default: none).
        regularizers: extra :class:`~gcl.objectives.Regularizer` terms (default: none).
        lr: learning rate of Adam (default: 1e-3).
        weight_decay: weight decay of Adam (default: 0).
        optimizer: ``"adam"`` or a callable ``params -> torch.optim.Optimizer`` (default: Adam).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` ... (default: ``"auto"``).
        seed: seed everything at the start of :meth:`fit` (default: ``None``, leave RNGs alone).
        progress: show a tqdm bar; ``None`` shows it only when stderr is a terminal.
        meta: free-form facts saved with checkpoints (the CLI stores the method and config).

    Example:
        >>> from gcl import Pipeline
        >>> from gcl.augment import Compose, DropEdge, MaskFeature
        >>> from gcl.encoders import GCNEncoder, ProjectionHead
        >>> from gcl.objectives import InfoNCE
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_features=8, num_classes=3, seed=0)
        >>> pipe = Pipeline(GCNEncoder(8, 16), InfoNCE(tau=0.5),
        ...                 augment=Compose([DropEdge(0.2), MaskFeature(0.2)]),
        ...                 head=ProjectionHead(16, 16), lr=0.01, device="cpu", progress=False)
        >>> history = pipe.fit(data, epochs=5)
        >>> pipe.embed(data).shape
        torch.Size([60, 16])
    """

    def __init__(self, encoder: nn.Module, objective: Objective, augment=None,
                 head: nn.Module | None = None, regularizers: Sequence[Regularizer] = (), *,
                 lr: float = 1e-3, weight_decay: float = 0.0, optimizer: str | Callable = "adam",
                 device: str | torch.device = "auto", seed: int | None = None,
                 progress: bool | None = None, meta: dict | None = None) -> None:
        super().__init__()
        if not isinstance(encoder, nn.Module):
            raise ValueError(f"encoder must be a torch.nn.Module, got {type(encoder).__name__}")
        if not isinstance(objective, nn.Module):
            raise ValueError(
                f"objective must be an nn.Module (e.g. gcl.objectives.InfoNCE), got "
                f"{type(objective).__name__}"
            )
        self.encoder = encoder
        self.head = head if head is not None else nn.Identity()
        self.objective = objective
        regularizers = list(regularizers)
        for r in regularizers:
            if not isinstance(r, Regularizer):
                raise ValueError(f"regularizers must be gcl.objectives.Regularizer, got {r!r}")
        self.regularizers = nn.ModuleList(regularizers)
        self.augment1, self.augment2 = _as_pair(augment)
        self.lr = float(check_positive(lr, "lr", "Pipeline"))
        self.weight_decay = float(check_positive(weight_decay, "weight_decay", "Pipeline",
                                                 allow_zero=True))
        self._optimizer_spec = optimizer
        self.optimizer: torch.optim.Optimizer | None = None
        self.device = resolve_device(device)
        self.seed = seed
        self.progress = progress
        self.meta = dict(meta or {})
        self.history = History()
        self.epoch = 0  # epochs completed so far (fit continues from here)
        self.to(self.device)

    # -- state ------------------------------------------------------------------------------
    def model_state_dict(self) -> dict:
        """The trainable state (encoder, head, objective, regularizers)."""
        return self.state_dict()

    def load_model_state_dict(self, state: dict) -> None:
        """Load a state produced by :meth:`model_state_dict`."""
        self.load_state_dict(state)

    def build_optimizer(self) -> torch.optim.Optimizer:
        """Create the optimiser over every trainable parameter (called by the first :meth:`fit`)."""
        params = [p for p in self.parameters() if p.requires_grad]
        if callable(self._optimizer_spec):
            return self._optimizer_spec(params)
        if self._optimizer_spec != "adam":
            raise ValueError(f"optimizer must be 'adam' or a callable, got {self._optimizer_spec!r}")
        return torch.optim.Adam(params, lr=self.lr, weight_decay=self.weight_decay)

    def augmentations(self) -> list:
        """The two view augmentations (the same object twice when one was given)."""
        return [self.augment1] if self.augment1 is self.augment2 else [self.augment1, self.augment2]

    # -- training ---------------------------------------------------------------------------
    def prepare(self, data, move: bool = True):
        """Validate ``data``, move it to the device (unless ``move=False``) and call every part's
        ``setup`` once."""
        validate_graph(data)
        if move:
            data = data.to(self.device)
        for part in [*self.augmentations(), self.objective, *self.regularizers]:
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        return data

    def encode(self, data) -> Tensor:
        """Run the encoder on a graph (clean or augmented)."""
        return self.encoder(data.x, data.edge_index, getattr(data, "edge_weight", None))

    def compute_loss(self, data, epoch: int) -> tuple[Tensor, Step]:
        """One step's loss: draw two views, encode, project and apply the objective and the
        regularizers. Subclasses override this for other training schemes."""
        v1, v2 = self.augment1(data), self.augment2(data)
        z1, z2 = self.encode(v1), self.encode(v2)
        nodes = None
        seeds = getattr(data, "batch_size", None)
        if isinstance(seeds, int):  # a sampled subgraph: the loss is on its seed nodes
            z1, z2 = z1[:seeds], z2[:seeds]
            nodes = data.n_id[:seeds] if getattr(data, "n_id", None) is not None else None
        h1, h2 = self.head(z1), self.head(z2)
        step = Step(epoch=epoch, data=data, views=(v1, v2), z=(z1, z2), h=(h1, h2),
                    encoder=self.encoder, nodes=nodes)
        loss = self.objective(h1, h2, step=step)
        if self.regularizers:
            step.log("objective", loss)
            for reg in self.regularizers:
                value = reg(step)
                step.log(type(reg).__name__.lower(), value)
                loss = reg.combine(loss, value)
        return loss, step

    def _optimizer_step(self, data, epoch: int, last_finite: float | None) -> tuple[float, Step]:
        """One optimiser step on ``data`` (the whole graph or one sampled batch)."""
        self.optimizer.zero_grad(set_to_none=True)
        loss, step = self.compute_loss(data, epoch)
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise NonFiniteLossError(epoch, last_finite, "loss")
        loss.backward()
        if not self._grads_finite():
            self.optimizer.zero_grad(set_to_none=True)
            raise NonFiniteLossError(epoch, last_finite, "gradient")
        self.optimizer.step()
        return loss_value, step

    def _grads_finite(self) -> bool:
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        if not grads:
            return True
        return bool(torch.stack([torch.isfinite(g).all() for g in grads]).all())

    def _show_progress(self, progress: bool | None) -> bool:
        if progress is None:
            progress = self.progress
        if progress is None:
            progress = sys.stderr.isatty()
        return bool(progress)

    def fit(self, data, epochs: int = 100, callbacks: Iterable[Callback] = (),
            progress: bool | None = None, loader: Iterable | None = None) -> History:
        """Train for ``epochs`` more epochs on ``data`` and return the history.

        Calling ``fit`` again continues training (epochs keep counting up).

        Args:
            data: a PyG ``Data`` with ``x`` and ``edge_index``.
            epochs: number of epochs to run: full-batch steps, or passes over ``loader``.
            loader: mini-batch training: an iterable of sampled subgraphs (e.g.
                :class:`gcl.data.NeighborSampler` over ``data``), each with ``batch_size`` seed
                nodes first. Every batch is one optimiser step on the loss of its seed nodes,
                whose negatives are the other seeds of the batch (a uniform sample of the
                graph's nodes when the loader shuffles). ``data`` stays where it is; batches
                move to the device one at a time. The epoch's loss is the mean over batches.
            callbacks: :class:`~gcl.callbacks.Callback` objects (periodic evaluation, early
                stopping...).
            progress: show a progress bar (default: the pipeline's ``progress`` setting).

        Returns:
            History: per-epoch losses and timings, periodic evaluations and run facts.

        Raises:
            NonFiniteLossError: when the loss or a gradient becomes NaN/inf (the last good
                parameters are kept).
        """
        check_positive(epochs, "epochs", "Pipeline.fit", integer=True)
        callbacks = list(callbacks)
        if self.seed is not None and self.epoch == 0:
            seed_everything(self.seed)
        data = self.prepare(data, move=loader is None)
        if self.optimizer is None:
            self.optimizer = self.build_optimizer()
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        for cb in callbacks:
            cb.on_fit_start(self, data)

        bar = None
        if self._show_progress(progress):
            from tqdm.auto import tqdm

            bar = tqdm(total=epochs, desc="train", unit="epoch", leave=False)
        last_finite = self.history.epochs[-1]["loss"] if self.history.epochs else None
        start = time.perf_counter()
        try:
            for _ in range(epochs):
                epoch = self.epoch + 1
                t0 = time.perf_counter()
                self.train()
                if loader is None:
                    loss_value, step = self._optimizer_step(data, epoch, last_finite)
                else:
                    batch_losses = []
                    for batch in loader:
                        value, step = self._optimizer_step(batch.to(self.device), epoch,
                                                           last_finite)
                        batch_losses.append(value)
                    if not batch_losses:
                        raise ValueError("the loader yielded no batches")
                    loss_value = sum(batch_losses) / len(batch_losses)
                    step.logs["batches"] = float(len(batch_losses))
                if self.device.type == "cuda":
                    torch.cuda.synchronize(self.device)
                self.epoch = epoch
                last_finite = loss_value
                logs = {"epoch": epoch, "loss": loss_value, "time_s": time.perf_counter() - t0,
                        **step.logs}
                self.history.epochs.append(logs)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.4f}", refresh=False)
                stop = False
                for cb in callbacks:
                    stop = bool(cb.on_epoch_end(self, epoch, logs)) or stop
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
            times = [e["time_s"] for e in self.history.epochs]
            self.history.meta.update(
                train_s=self.history.meta.get("train_s", 0.0) + time.perf_counter() - start,
                epoch_s_median=statistics.median(times) if times else None,
                peak_mem_mb=peak_memory_mb(self.device),
                device=str(self.device),
                epochs=self.epoch,
            )
        for cb in callbacks:
            cb.on_fit_end(self, self.history)
        return self.history

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, data) -> Tensor:
        """Encoder output on the clean graph, in eval mode and without augmentation.

        Returns:
            Tensor: ``[N, d]`` embeddings on the pipeline's device (call ``.cpu()`` to move them).
        """
        validate_graph(data)
        was_training = self.training
        self.eval()
        try:
            return self.encode(data.to(self.device)).detach()
        finally:
            self.train(was_training)

    # -- persistence ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Save the model, optimiser state, history and ``meta`` atomically (temporary file,
        then rename), in a form that loads with ``torch.load(weights_only=True)``.

        Returns:
            Path: the written file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": self.model_state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "epoch": self.epoch,
            "history": self.history.to_dict(),
            "meta": self.meta,
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            torch.save(payload, tmp)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return path

    def load(self, path: str | os.PathLike, *, load_optimizer: bool = True) -> Pipeline:
        """Load a file written by :meth:`save` into this (identically built) pipeline.

        Loading uses ``weights_only=True``, so a checkpoint cannot execute code.

        Returns:
            Pipeline: ``self``.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}")
        try:
            payload = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as err:  # noqa: BLE001 - report any corruption with the file name
            raise ValueError(f"could not read checkpoint {path}: {err}") from err
        if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a gcl pipeline checkpoint ({CHECKPOINT_FORMAT})")
        self.load_model_state_dict(payload["model"])
        if load_optimizer and payload.get("optimizer") is not None:
            if self.optimizer is None:
                self.optimizer = self.build_optimizer()
            self.optimizer.load_state_dict(payload["optimizer"])
        self.epoch = int(payload.get("epoch", 0))
        hist = payload.get("history") or {}
        self.history = History(list(hist.get("epochs", [])), list(hist.get("evals", [])),
                               dict(hist.get("meta", {})))
        self.meta.update(payload.get("meta") or {})
        return self

    def extra_repr(self) -> str:
        return (f"augment=({self.augment1!r}, {self.augment2!r}), lr={self.lr}, "
                f"weight_decay={self.weight_decay}, device={self.device}")

