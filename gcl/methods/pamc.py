"""PamC (Kulatilleke et al., 2022): deep graph clustering with meta-node block contrast.

The model is graph-free: an MLP encoder ``d-500-500-2000-10`` (the encoder half of SDCN's
autoencoder) with a DEC clustering head (Student-t soft assignment ``Q`` to ``K`` learnable
centroids). The graph enters only the loss, through the influence target
``S = sum_{t<=r} Â^t`` of the positive term (see :mod:`gcl.objectives.pamc`):

.. code-block:: text

    L = beta * KL(P || Q) + alpha * L_PamC(z, S, argmax Q)

Training (the reference's ``train_scgc_trimPOS_CCSP``): the autoencoder is pretrained (MSE, Adam
1e-3, batch 256, 30 epochs) unless weights are given; the centroids are initialised by k-means
(``n_init=20``) on the pretrained embeddings; then each full-batch epoch computes ``Q``, the
target ``P`` (refreshed every epoch, used as a constant), the hard clusters ``argmax Q``, and
takes one Adam step on the encoder and the centroids.

Evaluation: the clusters are ``argmax Q``. By default the scores are those of the final model
(no labels used to pick anything). ``report_max_over_epochs: true`` adds the reference's
protocol under ``<metric>@max-over-epochs``: each metric's maximum over the per-epoch evaluations,
which uses the labels to select the epoch (and may take each metric from a different epoch).

The node-pair baseline (SCGC*, dense ``N x N`` negatives) is the same model with
``negatives: node_pair``; it is registered as ``pamc-nodepair`` with its own hyperparameters.
"""

from __future__ import annotations

import hashlib
import time
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._files import load_tensor_file, path_in, read_cache
from .._utils import atomic_target, check_choice, check_positive, resolve_device
from ..objectives.pamc import (
    NEGATIVES,
    influence_matrix,
    pamc_loss,
    student_t_assignment,
    target_distribution,
)
from ..pipeline import History, peak_memory_mb
from .base import CONFIG_DIR, Method, register

__all__ = ["ClusteringAE", "PamCTrainer", "pretrain_autoencoder", "build_pamc", "fit_pamc",
           "evaluate_pamc"]

_LAYER_NAMES = ("enc_1", "enc_2", "enc_3", "z_layer", "dec_1", "dec_2", "dec_3", "x_bar_layer")


class ClusteringAE(nn.Module):
    """SDCN's autoencoder ``d-500-500-2000-z`` / ``z-2000-500-500-d`` with DEC centroids.

    Layer names follow SDCN's ``AE`` (``enc_1 .. z_layer``, ``dec_1 .. x_bar_layer``), so the
    state dict of an SDCN-pretrained ``data/<name>.pkl`` loads directly. Only the encoder and the
    centroids are used after pretraining. A sparse input (COO or CSR) uses a sparse first-layer
    product (same result, fewer operations on bag-of-words features).

    Args:
        in_channels: ``d``.
        num_clusters: ``K``.
        hidden: the encoder's hidden sizes (default: ``(500, 500, 2000)``).
        z_dim: embedding size (default: 10).

    Example:
        >>> model = ClusteringAE(20, num_clusters=3, hidden=(8, 8, 16), z_dim=4)
        >>> z, q = model(torch.rand(5, 20))
        >>> z.shape, q.shape
        (torch.Size([5, 4]), torch.Size([5, 3]))
    """

    def __init__(self, in_channels: int, num_clusters: int, hidden=(500, 500, 2000),
                 z_dim: int = 10) -> None:
        super().__init__()
        h1, h2, h3 = (int(h) for h in hidden)
        self.enc_1, self.enc_2 = nn.Linear(in_channels, h1), nn.Linear(h1, h2)
        self.enc_3, self.z_layer = nn.Linear(h2, h3), nn.Linear(h3, z_dim)
        self.dec_1, self.dec_2 = nn.Linear(z_dim, h3), nn.Linear(h3, h2)
        self.dec_3, self.x_bar_layer = nn.Linear(h2, h1), nn.Linear(h1, in_channels)
        self.centroids = nn.Parameter(torch.zeros(num_clusters, z_dim))
        nn.init.xavier_normal_(self.centroids)

    def encode(self, x: Tensor) -> Tensor:
        """The embedding ``z`` (ReLU after the first three layers, linear output)."""
        if x.layout == torch.sparse_csr:
            h = x @ self.enc_1.weight.t() + self.enc_1.bias
        elif x.is_sparse:
            h = torch.sparse.mm(x, self.enc_1.weight.t()) + self.enc_1.bias
        else:
            h = self.enc_1(x)
        h = F.relu(h)
        h = F.relu(self.enc_2(h))
        h = F.relu(self.enc_3(h))
        return self.z_layer(h)

    def decode(self, z: Tensor) -> Tensor:
        """The reconstruction ``x_bar`` (pretraining only)."""
        h = F.relu(self.dec_1(z))
        h = F.relu(self.dec_2(h))
        h = F.relu(self.dec_3(h))
        return self.x_bar_layer(h)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self.encode(x)
        return z, student_t_assignment(z, self.centroids)

    def autoencoder_state(self) -> dict:
        """The AE weights (no centroids), keyed as in SDCN's ``.pkl`` files."""
        return {k: v for k, v in self.state_dict().items() if k.split(".")[0] in _LAYER_NAMES}


def pretrain_autoencoder(model: ClusteringAE, x: Tensor, *, epochs: int = 30,
                         batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """SDCN's AE pretraining: MSE reconstruction, Adam, shuffled mini-batches.

    Args:
        model: the model whose encoder and decoder are trained (in place).
        x: dense features ``[N, d]``.
        epochs: passes over the data (default: 30).
        batch_size: rows per step (default: 256).
        lr: Adam learning rate (default: 1e-3).
        seed: seed of the initialisation and the shuffling (default: 0).

    Returns:
        list[float]: the mean reconstruction loss of each epoch.

    Example:
        >>> model = ClusteringAE(6, 2, hidden=(4, 4, 4), z_dim=2)
        >>> losses = pretrain_autoencoder(model, torch.rand(20, 6), epochs=2, batch_size=8)
        >>> len(losses)
        2
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # a seeded initialisation, independent of the global RNG
        for name in _LAYER_NAMES:
            layer = getattr(model, name)
            bound = 1.0 / layer.in_features ** 0.5
            layer.weight.copy_(torch.rand(layer.weight.shape, generator=gen) * 2 * bound - bound)
            layer.bias.copy_(torch.rand(layer.bias.shape, generator=gen) * 2 * bound - bound)
    params = [p for n, p in model.named_parameters() if n.split(".")[0] in _LAYER_NAMES]
    opt = torch.optim.Adam(params, lr=lr)
    n = x.size(0)
    losses = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=gen).to(x.device)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = x[order[start:start + batch_size]]
            loss = F.mse_loss(model.decode(model.encode(batch)), batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.size(0)
        losses.append(total / n)
    return losses


def _to_csr(x: Tensor) -> Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return x.to_sparse_csr()


def _fingerprint(x: Tensor) -> str:
    digest = hashlib.sha1()
    digest.update(str(tuple(x.shape)).encode())
    digest.update(x.detach().cpu().double().sum(0).numpy().tobytes())
    return digest.hexdigest()[:16]


class PamCTrainer:
    """Train and evaluate PamC (or its node-pair baseline) on one graph.

    Args:
        in_channels: feature dimension.
        num_clusters: ``K`` (the number of classes).
        alpha: weight of the contrastive loss (default: 2).
        beta: weight of the KL clustering loss (default: 2.5).
        order: ``r`` of the influence target (default: 3).
        temperature: ``T`` in ``exp(cos / T)``; the reference's ``--tau`` is ``1 / T``
            (default: 2.0, i.e. ``tau = 0.5``).
        lr: Adam learning rate (default: 1e-3).
        negatives: ``"meta_node"`` (PamC) or ``"node_pair"`` (SCGC*) (default: ``"meta_node"``).
        hidden: encoder hidden sizes (default: ``(500, 500, 2000)``).
        z_dim: embedding size (default: 10).
        pretrain_epochs, pretrain_batch_size, pretrain_lr, pretrain_seed: AE pretraining
            (default: 30, 256, 1e-3, 0). Pretraining is seeded by ``pretrain_seed`` alone and
            cached, so the runs of one reproduction share one pretrained AE, like the
            reference's single ``.pkl``.
        pretrained: path of an SDCN AE state dict (``data/<name>.pkl``); skips pretraining.
        kmeans_n_init: k-means restarts for the centroid initialisation (default: 20).
        report_max_over_epochs: also report the per-metric maximum over epochs (default: False).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (default: ``"auto"``).
        seed: seed of k-means (default: 0).

    Example:
        >>> from gcl.data import synthetic
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> trainer = PamCTrainer(12, 3, hidden=(16, 16, 16), z_dim=4, pretrain_epochs=2,
        ...                       device="cpu", kmeans_n_init=2)
        >>> history = trainer.fit(data, epochs=3)
        >>> sorted(trainer.scores())
        ['ari', 'cluster_acc', 'cluster_f1', 'nmi']
    """

    def __init__(self, in_channels: int, num_clusters: int, *, alpha: float = 2.0,
                 beta: float = 2.5, order: int = 3, temperature: float = 2.0, lr: float = 1e-3,
                 negatives: str = "meta_node", hidden=(500, 500, 2000), z_dim: int = 10,
                 pretrain_epochs: int = 30, pretrain_batch_size: int = 256,
                 pretrain_lr: float = 1e-3, pretrain_seed: int = 0, pretrained: str | None = None,
                 kmeans_n_init: int = 20, report_max_over_epochs: bool = False,
                 device: str = "auto", seed: int = 0, progress: bool | None = None) -> None:
        owner = "PamCTrainer"
        self.num_clusters = int(check_positive(num_clusters, "num_clusters", owner, integer=True))
        self.alpha = float(check_positive(alpha, "alpha", owner, allow_zero=True))
        self.beta = float(check_positive(beta, "beta", owner, allow_zero=True))
        self.order = int(check_positive(order, "order", owner, integer=True))
        self.temperature = float(check_positive(temperature, "temperature", owner))
        self.lr = float(check_positive(lr, "lr", owner))
        self.negatives = check_choice(negatives, "negatives", NEGATIVES, owner)
        self.pretrain = {"epochs": int(pretrain_epochs), "batch_size": int(pretrain_batch_size),
                         "lr": float(pretrain_lr), "seed": int(pretrain_seed)}
        self.pretrained = pretrained
        self.kmeans_n_init = int(check_positive(kmeans_n_init, "kmeans_n_init", owner,
                                                integer=True))
        self.report_max = bool(report_max_over_epochs)
        self.device = resolve_device(device)
        self.seed = int(seed)
        self.model = ClusteringAE(in_channels, self.num_clusters, hidden, z_dim).to(self.device)
        self.evals: list[dict] = []
        self.final: dict | None = None

    # -- stages ---------------------------------------------------------------------------
    def _pretrained_state(self, x: Tensor, name: str) -> dict:
        if self.pretrained:
            state = torch.load(self.pretrained, map_location="cpu", weights_only=True)
            return {k: v for k, v in state.items() if k.split(".")[0] in _LAYER_NAMES}
        from ..data import cache_dir

        p = self.pretrain
        dims = [self.model.enc_1.in_features, self.model.enc_1.out_features,
                self.model.enc_2.out_features, self.model.enc_3.out_features,
                self.model.z_layer.out_features]
        key = f"{name}-{_fingerprint(x)}-{'x'.join(map(str, dims))}-e{p['epochs']}" \
              f"-b{p['batch_size']}-lr{p['lr']}-s{p['seed']}"
        path = path_in(cache_dir() / "pamc-pretrain", f"{key}.pt")
        state = read_cache(path, lambda f: load_tensor_file(f, like=self.model.state_dict()),
                           what="PamC pretrained autoencoder")
        if state is not None:
            return state
        pretrain_autoencoder(self.model, x, epochs=p["epochs"], batch_size=p["batch_size"],
                             lr=p["lr"], seed=p["seed"])
        state = {k: v.detach().cpu() for k, v in self.model.autoencoder_state().items()}
        with atomic_target(path) as tmp:
            torch.save(state, tmp)
        return state

    def _evaluate(self, q: Tensor, y: Tensor) -> dict:
        from ..evaluation import clustering_scores

        s = clustering_scores(y.cpu(), q.detach().argmax(1).cpu())
        return {"cluster_acc": s["acc"], "nmi": s["nmi"], "ari": s["ari"], "cluster_f1": s["f1"]}

    def fit(self, data, epochs: int = 200) -> History:
        """Pretrain (or load) the AE, initialise the centroids by k-means, then train.

        Args:
            data: a graph with ``x``, ``edge_index`` and (for the per-epoch scores) ``y``.
            epochs: training epochs (default: 200).

        Returns:
            History: per-epoch loss parts and times; ``evals`` holds the per-epoch scores
            (``epoch`` 0 is the k-means initialisation, ``epoch`` e the model after e steps).
        """
        from sklearn.cluster import KMeans

        check_positive(epochs, "epochs", "PamCTrainer.fit", integer=True)
        dev = self.device
        x_dense = data.x.float().to(dev)
        y = getattr(data, "y", None)
        state = self._pretrained_state(x_dense, str(getattr(data, "name", "graph")))
        self.model.load_state_dict(state, strict=False)
        density = float((x_dense != 0).float().mean())
        # CSR: on the CPU its product is several times cheaper than COO's (sdcn-cite: ~4x)
        x = _to_csr(x_dense) if density < 0.1 and dev.type == "cpu" else x_dense
        target = influence_matrix(data.edge_index.to(dev), data.num_nodes, self.order)

        with torch.no_grad():
            z0 = self.model.encode(x).cpu().numpy()
        km = KMeans(n_clusters=self.num_clusters, n_init=self.kmeans_n_init,
                    random_state=self.seed).fit(z0)
        with torch.no_grad():
            self.model.centroids.copy_(torch.as_tensor(km.cluster_centers_, dtype=torch.float32))
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
        history = History(meta={"device": str(dev), "nnz_target": int(target._nnz())})
        self.evals = []
        t_start = time.perf_counter()
        for epoch in range(epochs):
            t0 = time.perf_counter()
            self.model.train()
            z, q = self.model(x)
            if y is not None:  # scores of the current model, before this epoch's step
                self.evals.append({"epoch": epoch, **self._evaluate(q, y)})
            p = target_distribution(q)
            kl = F.kl_div(q.log(), p, reduction="batchmean")
            contrast = pamc_loss(z, target, q.detach().argmax(1), num_classes=self.num_clusters,
                                 temperature=self.temperature, negatives=self.negatives)
            loss = self.beta * kl + self.alpha * contrast
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.epochs.append({"epoch": epoch + 1, "loss": float(loss.detach()),
                                   "kl": float(kl.detach()), "contrast": float(contrast.detach()),
                                   "time_s": time.perf_counter() - t0})
        self.model.eval()
        with torch.no_grad():
            _, q = self.model(x)
        self.assignment = q.argmax(1).cpu()
        if y is not None:
            self.final = self._evaluate(q, y)
            self.evals.append({"epoch": epochs, **self.final})
        history.evals = list(self.evals)
        history.meta.update(train_s=time.perf_counter() - t_start, peak_mem_mb=peak_memory_mb(dev))
        self._x = x
        return history

    def scores(self) -> dict:
        """The final model's scores; with ``report_max_over_epochs`` also
        ``<metric>@max-over-epochs`` (the reference's label-selected maxima over the per-epoch
        evaluations before each step).

        Returns:
            dict: metric name -> float.
        """
        if self.final is None:
            raise ValueError("no scores: call fit(data) on a graph with labels y first")
        out = dict(self.final)
        if self.report_max:
            per_epoch = self.evals[:-1] or self.evals
            for key in self.final:
                out[f"{key}@max-over-epochs"] = max(e[key] for e in per_epoch)
        return out

    @torch.no_grad()
    def embed(self, data) -> Tensor:
        """The embeddings ``z`` of ``data.x`` (graph-free inference)."""
        self.model.eval()
        return self.model.encode(data.x.float().to(self.device)).cpu()

    @torch.no_grad()
    def predict(self, data) -> Tensor:
        """Cluster ids ``argmax Q`` of the nodes of ``data`` (graph-free inference)."""
        self.model.eval()
        return self.model(data.x.float().to(self.device))[1].argmax(1).cpu()


_TRAINER_KEYS = ("alpha", "beta", "order", "temperature", "lr", "negatives", "hidden", "z_dim",
                 "pretrain_epochs", "pretrain_batch_size", "pretrain_lr", "pretrain_seed",
                 "pretrained", "kmeans_n_init", "report_max_over_epochs")


def build_pamc(config: dict, data) -> PamCTrainer:
    """Build a :class:`PamCTrainer` from a configuration (see ``configs/pamc.yaml``).

    The k-means seed is taken from torch's initial seed (the runner seeds each run first); keys
    that are not trainer arguments (``epochs``, evaluation settings) and ``None`` values are
    ignored.

    Args:
        config: a configuration from :func:`gcl.methods.load_config`; ``num_clusters`` sets
            ``K`` (``None`` or missing: the number of classes, ``max(data.y) + 1``) and
            ``device`` the device (default: ``"auto"``).
        data: the graph (its feature dimension sizes the encoder; its labels ``y`` give ``K``
            when the configuration does not).

    Returns:
        PamCTrainer: untrained, ready for :func:`fit_pamc`.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> trainer = build_pamc({**load_config("pamc", "synthetic"), "device": "cpu"}, data)
        >>> trainer.num_clusters, trainer.order, trainer.negatives
        (3, 2, 'meta_node')
    """
    num_clusters = config.get("num_clusters") or int(data.y.max()) + 1
    kwargs = {k: config[k] for k in _TRAINER_KEYS if k in config and config[k] is not None}
    if "hidden" in kwargs:
        kwargs["hidden"] = tuple(kwargs["hidden"])
    seed = int(torch.initial_seed() % (2**31))  # the run's seed (the runner seeds first)
    return PamCTrainer(data.num_features, num_clusters, device=config.get("device", "auto"),
                       seed=seed, **kwargs)


def fit_pamc(trainer: PamCTrainer, data, config: dict) -> History:
    """Train for ``config["epochs"]`` epochs (see :meth:`PamCTrainer.fit`).

    Args:
        trainer: the trainer from :func:`build_pamc`.
        data: the graph (``x``, ``edge_index`` and, for the scores, ``y``).
        config: the configuration; only ``epochs`` is read here.

    Returns:
        History: per-epoch ``loss``, ``kl``, ``contrast`` and ``time_s``; ``evals`` holds the
        per-epoch clustering scores when ``data`` has labels.

    Raises:
        KeyError: the configuration has no ``epochs``.
        ValueError: ``epochs`` is not a positive integer.

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> cfg = load_config("pamc", "synthetic", overrides={
        ...     "hidden": [16, 16, 16], "z_dim": 4, "pretrain_epochs": 2, "kmeans_n_init": 2,
        ...     "epochs": 3})
        >>> cfg["device"] = "cpu"
        >>> history = fit_pamc(build_pamc(cfg, data), data, cfg)
        >>> len(history.epochs), sorted(history.epochs[0])
        (3, ['contrast', 'epoch', 'kl', 'loss', 'time_s'])
    """
    return trainer.fit(data, epochs=int(config["epochs"]))


def evaluate_pamc(trainer: PamCTrainer, data, config: dict, seed: int) -> dict:
    """The clustering scores of ``argmax Q`` (see :meth:`PamCTrainer.scores`).

    Args:
        trainer: a trainer after :func:`fit_pamc` on a graph with labels.
        data: the graph (unused: the scores were computed by ``fit``; kept for the ``evaluate``
            signature of registered methods).
        config: the configuration (unused; ``report_max_over_epochs`` acts through the
            trainer).
        seed: the run's seed (unused: the evaluation draws nothing at random).

    Returns:
        dict: ``cluster_acc``, ``nmi``, ``ari`` and ``cluster_f1`` (plus
        ``<metric>@max-over-epochs`` with ``report_max_over_epochs``), each a summary
        ``{"mean", "std", "values"}`` of one value.

    Raises:
        ValueError: the trainer has no scores (not fitted, or fitted without labels).

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.methods import load_config
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> cfg = load_config("pamc", "synthetic", overrides={
        ...     "hidden": [16, 16, 16], "z_dim": 4, "pretrain_epochs": 2, "kmeans_n_init": 2,
        ...     "epochs": 3})
        >>> cfg["device"] = "cpu"
        >>> trainer = build_pamc(cfg, data)
        >>> _ = fit_pamc(trainer, data, cfg)
        >>> sorted(evaluate_pamc(trainer, data, cfg, seed=0))
        ['ari', 'cluster_acc', 'cluster_f1', 'nmi']
    """
    from ..evaluation import summarize

    return {k: summarize([v]) for k, v in trainer.scores().items()}


_DATASETS = ("sdcn-cite", "synthetic")

register(Method(
    name="pamc",
    build=build_pamc,
    config_file=CONFIG_DIR / "pamc.yaml",
    description="PamC: MLP + DEC head, influence-weighted positives, meta-node negatives",
    fit=fit_pamc,
    evaluate=evaluate_pamc,
    datasets=_DATASETS,
))

register(Method(
    name="pamc-nodepair",
    build=build_pamc,
    config_file=CONFIG_DIR / "pamc-nodepair.yaml",
    description="SCGC*: PamC's model with the dense node-pair (Graph-MLP) negatives",
    fit=fit_pamc,
    evaluate=evaluate_pamc,
    datasets=_DATASETS,
))
