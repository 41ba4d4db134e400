"""The one training object: views -> encoder -> head -> objective (+ regularizers)."""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ._utils import (
    atomic_target,
    check_positive,
    resolve_device,
    seed_everything,
    validate_graph,
)
from .augment.base import Identity
from .callbacks import Callback
from .objectives.base import Objective, Regularizer, Step

__all__ = ["Pipeline", "History", "NonFiniteLossError", "peak_memory_mb", "get_rng_state",
           "set_rng_state", "CHECKPOINT_FILE"]

CHECKPOINT_FORMAT = "gcl-pipeline/1"
#: Name of the rolling checkpoint that ``fit(checkpoint_dir=...)`` keeps in its folder.
CHECKPOINT_FILE = "last.pt"


class NonFiniteLossError(RuntimeError):
    """Raised when the loss or a gradient becomes NaN or infinite.

    The pipeline keeps the last good parameters (the step that produced the non-finite value is
    not applied). ``epoch`` is the failing epoch and ``last_finite_loss`` the previous loss.

    Args:
        epoch: the epoch whose loss or gradient was not finite.
        last_finite_loss: the loss of the last good epoch (``None`` at the first epoch).
        what: ``"loss"`` or ``"gradient"`` (default: ``"loss"``).

    Example:
        >>> err = NonFiniteLossError(7, 1.25)
        >>> err.epoch, err.last_finite_loss
        (7, 1.25)
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

    Args:
        device: the training device.

    Returns:
        float: the peak in MiB (NaN where the platform cannot tell).

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


def get_rng_state() -> dict:
    """Every global random state (Python, NumPy, torch CPU and CUDA) as plain values and tensors,
    so that it saves and loads with ``torch.load(weights_only=True)``.

    Returns:
        dict: ``"python"`` (:func:`random.getstate`), ``"torch"`` (the CPU generator's state),
        ``"numpy"`` (the legacy global generator's state, its keys as an int64 tensor) and, when
        CUDA is available, ``"cuda"`` (one state per device).

    Example:
        >>> state = get_rng_state()
        >>> a = torch.rand(3)
        >>> set_rng_state(state)
        >>> torch.equal(a, torch.rand(3))
        True
    """
    import random

    state: dict = {"python": random.getstate(), "torch": torch.get_rng_state()}
    try:
        import numpy as np

        name, keys, pos, has_gauss, cached = np.random.get_state()
        state["numpy"] = {"name": str(name), "keys": torch.from_numpy(keys.astype(np.int64)),
                          "pos": int(pos), "has_gauss": int(has_gauss), "cached": float(cached)}
    except ImportError:  # pragma: no cover - numpy ships with torch_geometric
        pass
    if torch.cuda.is_available():
        state["cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict) -> None:
    """Restore the random states captured by :func:`get_rng_state`.

    The state may have gone through ``torch.save``/``torch.load`` (lists are accepted where
    tuples were saved). The CUDA states are restored only when CUDA is available and the number
    of devices equals the number of saved states; otherwise they are skipped.

    Args:
        state: a dict from :func:`get_rng_state` (``"numpy"`` and ``"cuda"`` are optional).

    Example:
        >>> import io, random
        >>> buf = io.BytesIO()
        >>> torch.save(get_rng_state(), buf); _ = buf.seek(0)
        >>> a = random.random(), torch.rand(2)
        >>> set_rng_state(torch.load(buf, weights_only=True))
        >>> b = random.random(), torch.rand(2)
        >>> a[0] == b[0] and torch.equal(a[1], b[1])
        True
    """
    import random

    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    torch.set_rng_state(state["torch"].cpu())
    if "numpy" in state:
        import numpy as np

        npst = state["numpy"]
        keys = npst["keys"].cpu().numpy().astype(np.uint32)
        np.random.set_state((npst["name"], keys, npst["pos"], npst["has_gauss"], npst["cached"]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def _generator_owners(roots: Sequence, prefix: str = "augment") -> dict[str, object]:
    """Augmentations (and nested ones) that hold their own seeded generators, by path."""
    owners: dict[str, object] = {}
    seen: set[int] = set()

    def walk(obj, path: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(getattr(obj, "_generators", None), dict):
            owners[path] = obj
        for i, child in enumerate(getattr(obj, "augmentations", None) or []):
            walk(child, f"{path}.{i}")

    for i, root in enumerate(roots):
        walk(root, f"{prefix}{i + 1}")
    return owners


def read_checkpoint(path: Path, fmt: str, kind: str) -> dict:
    """Load a checkpoint file with ``weights_only=True`` and check its ``format`` tag.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is corrupt, truncated or not a ``kind`` checkpoint (named).
    """
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - report any corruption with the file name
        detail = " ".join(str(err).split()) or type(err).__name__
        raise ValueError(
            f"could not read checkpoint {path} (corrupt or truncated?): {detail}. Delete it "
            "to start over, or restore it from a backup"
        ) from err
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a {kind} checkpoint ({fmt})")
    return payload


def check_checkpoint_meta(path: Path, payload: dict, meta: dict) -> None:
    """Refuse a checkpoint whose ``meta`` differs from this run's on a key both have."""
    saved = payload.get("meta") or {}
    differ = sorted(k for k in meta if k in saved and saved[k] != meta[k])
    if differ:
        shown = "; ".join(f"{k}: {saved[k]!r} there, {meta[k]!r} here" for k in differ)
        raise ValueError(
            f"checkpoint {path} belongs to another run ({shown}); "
            "use the same settings to resume, or another checkpoint folder"
        )


def _atomic_torch_save(payload, path: Path) -> None:
    """``torch.save`` to a temporary file in the same folder, fsync it, then rename over ``path``."""
    with atomic_target(path, durable=True) as tmp:
        torch.save(payload, tmp)


@dataclass
class History:
    """What :meth:`Pipeline.fit` recorded.

    Attributes:
        epochs: one dict per epoch with ``epoch``, ``loss``, ``time_s`` and any logged loss parts.
        evals: one dict per periodic evaluation (``epoch`` plus the scores).
        meta: run-level facts (``train_s``, ``epoch_s_median``, ``peak_mem_mb``, ``device``, ...).

    Example:
        >>> h = History(epochs=[{"epoch": 1, "loss": 2.0}, {"epoch": 2, "loss": 1.5}])
        >>> h.losses
        [2.0, 1.5]
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

    @classmethod
    def from_dict(cls, d: dict | None) -> History:
        """The inverse of :meth:`to_dict` (missing parts are empty)."""
        d = d or {}
        return cls(list(d.get("epochs", [])), list(d.get("evals", [])), dict(d.get("meta", {})))

    def note_resume(self, epoch: int) -> None:
        """Record in ``meta["resumes"]`` that training was picked up from a checkpoint at
        ``epoch``, with the training time spent before (``meta["train_s"]``)."""
        self.meta.setdefault("resumes", []).append(
            {"epoch": epoch, "train_s": self.meta.get("train_s", 0.0)})


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
        scheduler: optional callable ``optimizer -> torch.optim.lr_scheduler.LRScheduler``; the
            scheduler steps once per epoch and is saved in checkpoints (default: none).
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
                 scheduler: Callable | None = None,
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
        if scheduler is not None and not callable(scheduler):
            raise ValueError(
                f"scheduler must be a callable optimizer -> LRScheduler (e.g. lambda opt: "
                f"torch.optim.lr_scheduler.StepLR(opt, 100)), got {scheduler!r}"
            )
        self._scheduler_spec = scheduler
        self.scheduler = None
        self._checkpointing: dict = {"checkpoint_dir": None, "checkpoint_every": None,
                                     "resume": False}
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

    def _ensure_optimizer(self) -> None:
        if self.optimizer is None:
            self.optimizer = self.build_optimizer()
        if self.scheduler is None and self._scheduler_spec is not None:
            self.scheduler = self._scheduler_spec(self.optimizer)

    def configure_checkpoints(self, checkpoint_dir: str | os.PathLike | None,
                              checkpoint_every: int | None = None,
                              resume: bool = False) -> Pipeline:
        """Defaults for the checkpoint arguments of :meth:`fit` (used by ``gcl train``, so that
        a method's own ``fit`` function gets checkpoints without passing them through).

        Returns:
            Pipeline: ``self``.

        Example:
            >>> import tempfile
            >>> from gcl.encoders import GCNEncoder
            >>> from gcl.objectives import InfoNCE
            >>> pipe = Pipeline(GCNEncoder(4, 8), InfoNCE(), device="cpu")
            >>> _ = pipe.configure_checkpoints(tempfile.mkdtemp(), checkpoint_every=10)
        """
        if checkpoint_every is not None:
            check_positive(checkpoint_every, "checkpoint_every", "Pipeline", integer=True)
        self._checkpointing = {"checkpoint_dir": checkpoint_dir,
                               "checkpoint_every": checkpoint_every, "resume": bool(resume)}
        return self

    def augmentations(self) -> list:
        """The two view augmentations (the same object twice when one was given)."""
        return [self.augment1] if self.augment1 is self.augment2 else [self.augment1, self.augment2]

    # -- training ---------------------------------------------------------------------------
    def prepare(self, data, move: bool = True):
        """Validate ``data``, move it to the device (unless ``move=False``) and call every part's
        ``setup`` once."""
        validate_graph(data)
        self._check_feature_dtype(data)
        if move:
            data = data.to(self.device)
        for part in [*self.augmentations(), self.objective, *self.regularizers]:
            setup = getattr(part, "setup", None)
            if callable(setup):
                setup(data)
        return data

    def _check_feature_dtype(self, data) -> None:
        x = getattr(data, "x", None)
        param = next((p for p in self.encoder.parameters() if p.is_floating_point()), None)
        if x is not None and param is not None and x.dtype != param.dtype:
            raise ValueError(
                f"data.x has dtype {x.dtype} but the encoder's parameters are {param.dtype}; "
                f"convert the features (data.x = data.x.to({param.dtype})) or the model"
            )

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
            progress: bool | None = None, loader: Iterable | None = None, *,
            checkpoint_dir: str | os.PathLike | None = None,
            checkpoint_every: int | None = None, resume: bool | None = None) -> History:
        """Train for ``epochs`` more epochs on ``data`` and return the history.

        Calling ``fit`` again continues training (epochs keep counting up).

        With ``checkpoint_dir``, the full training state (model, optimiser, scheduler, every
        random state including the augmentations' own generators, epoch and history) is written
        atomically to ``checkpoint_dir/last.pt`` every ``checkpoint_every`` epochs and when
        training ends. With ``resume=True`` an existing checkpoint there is loaded first and
        training continues exactly where it stopped: ``epochs`` then counts from the start of
        the interrupted run, so the same call finishes it. Callback state (early-stopping
        counters) and a ``loader``'s own sampling state are not checkpointed.

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
            checkpoint_dir: folder of the rolling checkpoint (default: the one set with
                :meth:`configure_checkpoints`, else no checkpoints).
            checkpoint_every: checkpoint period in epochs (default: 10).
            resume: continue from the checkpoint in ``checkpoint_dir`` when there is one
                (default: ``False``; an existing checkpoint without ``resume`` is an error, so
                that a finished or interrupted run is never overwritten by accident).

        Returns:
            History: per-epoch losses and timings, periodic evaluations and run facts.

        Raises:
            NonFiniteLossError: when the loss or a gradient becomes NaN/inf (the last good
                parameters are kept).
            ValueError: for a checkpoint that cannot be read or does not fit this pipeline.
        """
        check_positive(epochs, "epochs", "Pipeline.fit", integer=True)
        defaults = self._checkpointing
        if checkpoint_dir is None:
            checkpoint_dir = defaults["checkpoint_dir"]
        if checkpoint_every is None:
            checkpoint_every = defaults["checkpoint_every"] or 10
        check_positive(checkpoint_every, "checkpoint_every", "Pipeline.fit", integer=True)
        if resume is None:
            resume = defaults["resume"]
        callbacks = list(callbacks)
        if self.seed is not None and self.epoch == 0:
            seed_everything(self.seed)
        data = self.prepare(data, move=loader is None)
        self._ensure_optimizer()
        target = self.epoch + epochs
        ckpt = None
        if checkpoint_dir is not None:
            ckpt = Path(checkpoint_dir) / CHECKPOINT_FILE
            if ckpt.exists():
                if not resume:
                    raise ValueError(
                        f"checkpoint {ckpt} already exists: pass resume=True (gcl train --resume) "
                        "to continue that run, or choose an empty checkpoint folder"
                    )
                payload = self._load(ckpt, load_optimizer=True, restore_rng=True,
                                     check_meta=True)
                self.history.note_resume(self.epoch)
                if payload.get("stopped") or self.epoch >= target:
                    return self.history
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
        prior_train_s = self.history.meta.get("train_s", 0.0)
        stop = False
        try:
            for _ in range(target - self.epoch):
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
                if self.scheduler is not None:
                    self.scheduler.step()
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
                if ckpt is not None and not stop and epoch % checkpoint_every == 0 \
                        and epoch < target:
                    # the training time so far travels with the checkpoint (kept on resume)
                    self.history.meta["train_s"] = prior_train_s + time.perf_counter() - start
                    self.save(ckpt)
                if stop:
                    break
        finally:
            if bar is not None:
                bar.close()
            times = [e["time_s"] for e in self.history.epochs]
            self.history.meta.update(
                train_s=prior_train_s + time.perf_counter() - start,
                epoch_s_median=statistics.median(times) if times else None,
                peak_mem_mb=peak_memory_mb(self.device),
                device=str(self.device),
                epochs=self.epoch,
            )
        for cb in callbacks:
            cb.on_fit_end(self, self.history)
        if ckpt is not None:
            self.save(ckpt, stopped=stop)
        return self.history

    # -- inference --------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, data) -> Tensor:
        """Encoder output on the clean graph, in eval mode and without augmentation.

        Returns:
            Tensor: ``[N, d]`` embeddings on the pipeline's device (call ``.cpu()`` to move them).
        """
        validate_graph(data)
        self._check_feature_dtype(data)
        was_training = self.training
        self.eval()
        try:
            return self.encode(data.to(self.device)).detach()
        finally:
            self.train(was_training)

    # -- persistence ------------------------------------------------------------------------
    def _generator_states(self) -> dict:
        states = {}
        for path, owner in _generator_owners([self.augment1, self.augment2]).items():
            states[path] = {dev: gen.get_state() for dev, gen in owner._generators.items()}
        return states

    def _set_generator_states(self, states: dict) -> None:
        for path, owner in _generator_owners([self.augment1, self.augment2]).items():
            saved = states.get(path, {})
            gens = {}
            for dev, state in saved.items():
                gen = torch.Generator(device=torch.device(dev))
                gen.set_state(state.cpu())
                gens[dev] = gen
            owner._generators = gens

    def save(self, path: str | os.PathLike, *, stopped: bool = False) -> Path:
        """Save the full training state atomically (temporary file in the same folder, fsync,
        rename), in a form that loads with ``torch.load(weights_only=True)``.

        The file holds the model, optimiser and scheduler states, every random state (Python,
        NumPy, torch CPU and CUDA, and the augmentations' own generators), the epoch, the
        history and ``meta``.

        Args:
            path: the file to write (its folder is created).
            stopped: record that training was stopped by a callback (resuming does not go on).

        Returns:
            Path: the written file.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": CHECKPOINT_FORMAT,
            "model": self.model_state_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "epoch": self.epoch,
            "stopped": bool(stopped),
            "history": self.history.to_dict(),
            "meta": self.meta,
            "rng": get_rng_state(),
            "generators": self._generator_states(),
        }
        _atomic_torch_save(payload, path)
        return path

    def load(self, path: str | os.PathLike, *, load_optimizer: bool = True,
             restore_rng: bool = False) -> Pipeline:
        """Load a file written by :meth:`save` into this (identically built) pipeline.

        Loading uses ``weights_only=True``, so a checkpoint cannot execute code.

        Args:
            path: the checkpoint file.
            load_optimizer: also load the optimiser and scheduler states (default: ``True``).
            restore_rng: also restore every random state, as resuming training does
                (default: ``False``, leave the random streams alone).

        Returns:
            Pipeline: ``self``.

        Raises:
            FileNotFoundError: when ``path`` does not exist.
            ValueError: when it is corrupt, truncated, not a gcl checkpoint, or was written by a
                differently built pipeline; the message names the file.
        """
        self._load(path, load_optimizer=load_optimizer, restore_rng=restore_rng)
        return self

    def _load(self, path: str | os.PathLike, *, load_optimizer: bool, restore_rng: bool,
              check_meta: bool = False) -> dict:
        path = Path(path)
        payload = read_checkpoint(path, CHECKPOINT_FORMAT, "gcl pipeline")
        if check_meta:
            check_checkpoint_meta(path, payload, self.meta)
        try:
            self.load_model_state_dict(payload["model"])
            if load_optimizer and payload.get("optimizer") is not None:
                self._ensure_optimizer()
                self.optimizer.load_state_dict(payload["optimizer"])
                if payload.get("scheduler") is not None:
                    if self.scheduler is None:
                        raise ValueError("it holds a scheduler state but this pipeline has no "
                                         "scheduler")
                    self.scheduler.load_state_dict(payload["scheduler"])
        except (RuntimeError, ValueError, KeyError) as err:
            detail = " ".join(str(err).split())
            raise ValueError(
                f"checkpoint {path} does not fit this pipeline (was it written with another "
                f"configuration?): {detail}"
            ) from err
        if restore_rng:
            if "rng" in payload:
                set_rng_state(payload["rng"])
            self._set_generator_states(payload.get("generators") or {})
        self.epoch = int(payload.get("epoch", 0))
        self.history = History.from_dict(payload.get("history"))
        self.meta.update(payload.get("meta") or {})
        return payload

    def extra_repr(self) -> str:
        return (f"augment=({self.augment1!r}, {self.augment2!r}), lr={self.lr}, "
                f"weight_decay={self.weight_decay}, device={self.device}")

