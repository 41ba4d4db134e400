"""Deep clustering: a graph-free autoencoder whose objective holds the cluster centroids.

SDCN-style PamC (Kulatilleke et al., 2022): the encoder half of SDCN's autoencoder
``d-500-500-2000-10`` embeds each node from its features alone; the objective (e.g.
:class:`gcl.objectives.PamCObjective` given the one view twice) holds DEC centroids and sees
the graph only through its influence target. Set-up, once per graph
(:meth:`DeepClusteringModule.setup`): the autoencoder is pretrained (MSE, Adam, shuffled
mini-batches; cached) or loaded from SDCN's weights, and the centroids start from k-means on
the pretrained embeddings.
"""

from __future__ import annotations

import hashlib
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._files import read_cache
from .._paths import path_in
from .._utils import atomic_target, check_positive
from ..objectives.base import Step
from ..training import TrainingModule

__all__ = ["ClusteringAE", "pretrain_autoencoder", "DeepClusteringModule", "to_csr"]

_LAYER_NAMES = ("enc_1", "enc_2", "enc_3", "z_layer", "dec_1", "dec_2", "dec_3", "x_bar_layer")


class ClusteringAE(nn.Module):
    """SDCN's autoencoder ``d-500-500-2000-z`` / ``z-2000-500-500-d``.

    Layer names follow SDCN's ``AE`` (``enc_1 .. z_layer``, ``dec_1 .. x_bar_layer``), so the
    state dict of an SDCN-pretrained ``data/<name>.pkl`` loads directly. Only the encoder is
    used after pretraining. A sparse input (COO or CSR) uses a sparse first-layer product (same
    result, fewer operations on bag-of-words features).

    Args:
        in_channels: ``d``.
        hidden: the encoder's hidden sizes (default: ``(500, 500, 2000)``).
        z_dim: embedding size (default: 10).

    Example:
        >>> model = ClusteringAE(20, hidden=(8, 8, 16), z_dim=4)
        >>> model(torch.rand(5, 20)).shape
        torch.Size([5, 4])
    """

    def __init__(self, in_channels: int, hidden=(500, 500, 2000), z_dim: int = 10) -> None:
        super().__init__()
        h1, h2, h3 = (int(h) for h in hidden)
        self.enc_1, self.enc_2 = nn.Linear(in_channels, h1), nn.Linear(h1, h2)
        self.enc_3, self.z_layer = nn.Linear(h2, h3), nn.Linear(h3, z_dim)
        self.dec_1, self.dec_2 = nn.Linear(z_dim, h3), nn.Linear(h3, h2)
        self.dec_3, self.x_bar_layer = nn.Linear(h2, h1), nn.Linear(h1, in_channels)

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

    def forward(self, x: Tensor) -> Tensor:
        return self.encode(x)

    def autoencoder_state(self) -> dict:
        """The weights, keyed as in SDCN's ``.pkl`` files."""
        return {k: v for k, v in self.state_dict().items() if k.split(".")[0] in _LAYER_NAMES}


def pretrain_autoencoder(model: ClusteringAE, x: Tensor, *, epochs: int = 30,
                         batch_size: int = 256, lr: float = 1e-3, seed: int = 0) -> list[float]:
    """SDCN's AE pretraining: MSE reconstruction, Adam, shuffled mini-batches (a set-up stage,
    before the training loop; seeded by ``seed`` alone).

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
        >>> model = ClusteringAE(6, hidden=(4, 4, 4), z_dim=2)
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
    opt = torch.optim.Adam(model.parameters(), lr=lr)
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


def to_csr(x: Tensor) -> Tensor:
    """A dense matrix as sparse CSR (quietly: torch warns that CSR support is in beta).

    Args:
        x: a dense 2-D tensor.

    Returns:
        Tensor: the same matrix in ``torch.sparse_csr`` layout.

    Example:
        >>> to_csr(torch.eye(3)).layout
        torch.sparse_csr
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return x.to_sparse_csr()


def _fingerprint(x: Tensor) -> str:
    digest = hashlib.sha1()
    digest.update(str(tuple(x.shape)).encode())
    digest.update(x.detach().cpu().double().sum(0).numpy().tobytes())
    return digest.hexdigest()[:16]


def load_autoencoder_state(path, model: ClusteringAE) -> dict:
    """Read an autoencoder state dict (``weights_only``) and check that it holds exactly the
    model's layers with their shapes.

    Raises:
        ValueError: unreadable, not a state dict, or keys/shapes that differ (named, with the
            file), so that training never starts from a silently random autoencoder.
    """
    expected = {k: tuple(v.shape) for k, v in model.autoencoder_state().items()}
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any corruption, named with the file
        raise ValueError(f"could not read the autoencoder weights {path}: "
                         f"{' '.join(str(err).split()) or type(err).__name__}") from err
    if not isinstance(state, dict):
        raise ValueError(f"{path} is not an autoencoder state dict (got {type(state).__name__})")
    state = {k: v for k, v in state.items() if k.split(".")[0] in _LAYER_NAMES}
    missing = sorted(set(expected) - set(state))
    wrong = sorted(k for k in expected if k in state and (
        not isinstance(state[k], Tensor) or tuple(state[k].shape) != expected[k]))
    if missing or wrong:
        raise ValueError(f"{path} does not hold this autoencoder's weights (missing: {missing}; "
                         f"wrong shape: {wrong}); expected the layers {sorted(expected)}")
    return state


class DeepClusteringModule(TrainingModule):
    """A graph-free autoencoder trained with a clustering objective (SDCN-style PamC).

    Args:
        autoencoder: a :class:`ClusteringAE` (its encoder embeds the nodes).
        objective: an objective holding ``centroids`` and ``assign(h) -> Q`` (e.g.
            :class:`gcl.objectives.PamCObjective`); called with the one view twice,
            ``objective(z, z, step)``.
        pretrain_epochs, pretrain_batch_size, pretrain_lr, pretrain_seed: autoencoder
            pretraining (defaults: 30, 256, 1e-3, 0); seeded by ``pretrain_seed`` alone and
            cached under ``$GCL_CACHE/pamc-pretrain``, so the runs of one reproduction share
            one pretrained autoencoder, like the reference's single ``.pkl``.
        pretrained: path of an SDCN autoencoder state dict (``data/<name>.pkl``); skips
            pretraining (default: none).
        kmeans_n_init: k-means restarts of the centroid initialisation (default: 20).
        kmeans_seed: seed of that k-means (default: 0).
        lr, weight_decay, optimizer, scheduler, device, seed, progress, meta: the loop's
            settings (see :class:`gcl.training.TrainingModule`).

    Example:
        >>> from gcl.data import synthetic
        >>> from gcl.objectives import PamCObjective
        >>> data = synthetic(num_nodes=60, num_classes=3, num_features=12, seed=0)
        >>> module = DeepClusteringModule(ClusteringAE(12, hidden=(16, 16, 16), z_dim=4),
        ...                               PamCObjective(3, 4, temperature=2.0, order=2),
        ...                               pretrain_epochs=2, kmeans_n_init=2, device="cpu",
        ...                               progress=False)
        >>> len(module.fit(data, epochs=3).losses), module.predict(data).shape
        (3, torch.Size([60]))
    """

    def __init__(self, autoencoder: ClusteringAE, objective: nn.Module, *,
                 pretrain_epochs: int = 30, pretrain_batch_size: int = 256,
                 pretrain_lr: float = 1e-3, pretrain_seed: int = 0, pretrained: str | None = None,
                 kmeans_n_init: int = 20, kmeans_seed: int = 0, **loop) -> None:
        super().__init__(**loop)
        if not isinstance(autoencoder, ClusteringAE):
            raise ValueError(f"autoencoder must be a gcl.modules.ClusteringAE, got "
                             f"{type(autoencoder).__name__}")
        if not callable(getattr(objective, "assign", None)):
            raise ValueError(f"DeepClusteringModule needs an objective with centroids and "
                             f"assign(h) (e.g. PamCObjective), got {type(objective).__name__}")
        owner = type(self).__name__
        self.autoencoder = autoencoder
        self.objective = objective
        self.pretrain = {
            "epochs": int(check_positive(pretrain_epochs, "pretrain_epochs", owner, integer=True,
                                         allow_zero=True)),
            "batch_size": int(check_positive(pretrain_batch_size, "pretrain_batch_size", owner,
                                             integer=True)),
            "lr": float(check_positive(pretrain_lr, "pretrain_lr", owner)),
            "seed": int(pretrain_seed)}
        self.pretrained = pretrained
        self.kmeans_n_init = int(check_positive(kmeans_n_init, "kmeans_n_init", owner,
                                                integer=True))
        self.kmeans_seed = int(kmeans_seed)
        self._inputs: tuple | None = None  # (graph, model input) of the last graph seen
        self.to(self.device)

    @property
    def encoder(self) -> nn.Module:
        """The autoencoder (its encoder half embeds; there is no graph encoder here)."""
        return self.autoencoder

    # -- set-up -----------------------------------------------------------------------------
    def _input(self, data) -> Tensor:
        """The model's input for ``data``: dense features, or CSR on the CPU when sparse."""
        if self._inputs is not None and self._inputs[0] is data:
            return self._inputs[1]
        x = data.x.float().to(self.device)
        density = float((x != 0).float().mean())
        # CSR: on the CPU its product is several times cheaper than COO's (sdcn-cite: ~4x)
        x_in = to_csr(x) if density < 0.1 and self.device.type == "cpu" else x
        self._inputs = (data, x_in)
        return x_in

    def _pretrained_state(self, x: Tensor, name: str) -> dict:
        if self.pretrained:
            return load_autoencoder_state(self.pretrained, self.autoencoder)
        from ..data import cache_dir

        p, ae = self.pretrain, self.autoencoder
        dims = [ae.enc_1.in_features, ae.enc_1.out_features, ae.enc_2.out_features,
                ae.enc_3.out_features, ae.z_layer.out_features]
        key = f"{name}-{_fingerprint(x)}-{'x'.join(map(str, dims))}-e{p['epochs']}" \
              f"-b{p['batch_size']}-lr{p['lr']}-s{p['seed']}"
        path = path_in(cache_dir() / "pamc-pretrain", f"{key}.pt")
        state = read_cache(path, lambda f: load_autoencoder_state(f, ae),
                           what="PamC pretrained autoencoder")
        if state is not None:
            return state
        pretrain_autoencoder(ae, x, epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"],
                             seed=p["seed"])
        state = {k: v.detach().cpu() for k, v in ae.autoencoder_state().items()}
        with atomic_target(path) as tmp:
            torch.save(state, tmp)
        return state

    def setup(self, data, *, move: bool = True):
        """Pretrain (or load) the autoencoder, prepare the objective on the graph and start the
        centroids from k-means on the pretrained embeddings."""
        from sklearn.cluster import KMeans

        if move:
            data = data.to(self.device)
        x_dense = data.x.float().to(self.device)
        state = self._pretrained_state(x_dense, str(getattr(data, "name", "graph")))
        self.autoencoder.load_state_dict(state)
        x = self._input(data)
        setup = getattr(self.objective, "setup", None)
        if callable(setup):
            setup(data)
        target = getattr(self.objective, "target", None)
        if target is not None:
            self.history.meta["nnz_target"] = int(target._nnz())
        with torch.no_grad():
            z0 = self.autoencoder.encode(x).cpu().numpy()
        km = KMeans(n_clusters=self.objective.num_classes, n_init=self.kmeans_n_init,
                    random_state=self.kmeans_seed).fit(z0)
        with torch.no_grad():
            self.objective.centroids.copy_(torch.as_tensor(km.cluster_centers_,
                                                           dtype=torch.float32))
            self.objective.initialized.fill_(True)
        return data

    # -- the step and inference -------------------------------------------------------------
    def training_step(self, batch, epoch: int) -> Step:
        z = self.autoencoder.encode(self._input(batch))
        step = Step(epoch=epoch, data=batch, views=(batch, batch), z=(z, z), h=(z, z),
                    encoder=self.autoencoder)
        step.loss = self.objective(z, z, step=step)
        return step

    @torch.no_grad()
    def embed(self, data) -> Tensor:
        """The embeddings ``z`` of ``data.x`` (graph-free inference)."""
        was_training = self.training
        self.eval()
        try:
            return self.autoencoder.encode(self._input(data)).detach()
        finally:
            self.train(was_training)

    @torch.no_grad()
    def predict(self, data) -> Tensor:
        """Cluster ids ``argmax Q`` of the nodes of ``data`` (on the CPU)."""
        return self.objective.assign(self.embed(data)).argmax(1).cpu()
