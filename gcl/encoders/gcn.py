"""GCN encoder and projection head of GRACE, GCA, CSGCL and POT."""

from __future__ import annotations

import warnings
import weakref

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from torch_geometric.nn.dense.linear import Linear

from .._utils import check_choice, check_positive

__all__ = ["ACTIVATIONS", "make_activation", "propagation_matrix", "GCNEncoder", "ProjectionHead",
           "MLP"]

ACTIVATIONS = ("relu", "prelu", "rrelu", "elu")


class _RReLUEval(nn.Module):
    """RReLU as the reference code uses it: ``F.rrelu`` with its default ``training=False``, i.e. a
    deterministic leaky ReLU with slope ``(lower + upper) / 2 = (1/8 + 1/3) / 2``."""

    def forward(self, x: Tensor) -> Tensor:
        return F.rrelu(x, training=False)


def make_activation(name: str) -> nn.Module:
    """Build an activation module by name: ``relu``, ``prelu`` (one shared slope, initialised at
    0.25), ``rrelu`` (deterministic, evaluation-mode slope) or ``elu``.

    Args:
        name: one of :data:`ACTIVATIONS`.

    Returns:
        nn.Module: the activation.

    Raises:
        ValueError: for an unknown name.

    Example:
        >>> make_activation("prelu")
        PReLU(num_parameters=1)
    """
    name = check_choice(name, "activation", ACTIVATIONS)
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU()
    if name == "rrelu":
        return _RReLUEval()
    return nn.ELU()


#: Input features with at most this fraction of non-zeros go through a sparse product in the
#: first layer (bag-of-words features: Cora 1.3 %, CiteSeer 0.9 %).
SPARSE_INPUT_DENSITY = 0.05


# torch marks CSR tensors as beta and says so on first use; the product used here is stable
warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")


class _SparseInputLinear(Linear):
    """The first GCN layer's ``x W^T`` as a sparse product when ``x`` is mostly zeros.

    Same parameters, initialisation and state-dict keys as PyG's ``Linear``; the result equals
    the dense product up to float rounding. Only used on the CPU (where it was measured faster;
    elsewhere counting the non-zeros would read a value back from the device at every step)
    and when no gradient is needed for ``x``.
    """

    def forward(self, x: Tensor) -> Tensor:
        if (x.device.type == "cpu" and not x.requires_grad and x.dim() == 2
                and x.layout == torch.strided and x.size(1) >= 64 and x.is_floating_point()):
            sparse = _sparse_input(x)
            if sparse is not None:
                out = torch.sparse.mm(sparse, self.weight.t())
                return out if self.bias is None else out + self.bias
        return super().forward(x)


#: The last input converted by :func:`_sparse_input` (a weak reference, its version counter
#: and its CSR form): encoders that read one feature matrix several times in a step (MVGRL's
#: two views and their corrupted copies) convert it once.
_LAST_SPARSE: tuple = (None, -1, None)


def _sparse_input(x: Tensor) -> Tensor | None:
    """``x`` as a CSR tensor when at most :data:`SPARSE_INPUT_DENSITY` of it is non-zero, else
    ``None``; the last answer is reused while ``x`` is the same, unchanged tensor."""
    global _LAST_SPARSE
    ref, version, csr = _LAST_SPARSE
    if ref is not None and ref() is x and version == x._version:
        return csr
    nnz = int(torch.count_nonzero(x))
    csr = x.to_sparse_csr() if nnz <= SPARSE_INPUT_DENSITY * x.numel() else None
    _LAST_SPARSE = (weakref.ref(x), x._version, csr)
    return csr


def propagation_matrix(edge_index: Tensor, edge_weight: Tensor | None, num_nodes: int,
                       dtype: torch.dtype = torch.float32) -> Tensor:
    """GCN's normalised propagation matrix ``D^-1/2 (A + I) D^-1/2`` as a sparse CSR tensor.

    Row ``i`` holds the weights with which node ``i`` sums its in-neighbours (``edge_index[0]``
    sends to ``edge_index[1]``, as in PyG), self-loops added where missing, duplicate edges
    summed: ``propagation_matrix(ei, w, n) @ x`` is what ``GCNConv``'s message passing
    computes for the transformed features ``x``.

    Args:
        edge_index: ``[2, E]`` edges.
        edge_weight: ``[E]`` weights or ``None`` (all ones).
        num_nodes: ``N``.
        dtype: value type (default: ``float32``).

    Returns:
        ``[N, N]`` sparse CSR tensor.

    Example:
        >>> adj = propagation_matrix(torch.tensor([[0, 1], [1, 0]]), None, 2)
        >>> adj.to_dense()
        tensor([[0.5000, 0.5000],
                [0.5000, 0.5000]])
    """
    index, weight = gcn_norm(edge_index, edge_weight, num_nodes, improved=False,
                             add_self_loops=True, dtype=dtype)
    adj = torch.sparse_coo_tensor(torch.stack([index[1], index[0]]), weight,
                                  (num_nodes, num_nodes), check_invariants=False).coalesce()
    return adj.to_sparse_csr()


class GCNEncoder(nn.Module):
    """A stack of ``GCNConv`` layers with the activation after every layer, output included.

    With two layers (the default) the sizes are ``in_channels -> 2*hidden -> hidden`` as in GRACE;
    with ``k`` layers the inner ones are ``2*hidden -> 2*hidden``. A ``prelu`` activation is one
    module with a single slope shared by all layers (as in the reference code), so it is trained
    and weight-decayed with the rest. Convolutions use ``cached=False`` because every training step
    sees a new augmented view. Sparse input features (at most 5 % non-zeros, as bag-of-words
    features) enter the first layer through a sparse product, several times faster on the CPU
    than the dense one and equal to it up to float rounding. Message passing is one sparse
    matrix product per layer with the normalised adjacency (:func:`propagation_matrix`, built
    once per forward and shared by the layers) instead of PyG's gather/scatter over the edges:
    the same sums up to float rounding, with no ``[E, d]`` message tensors (set
    ``sparse_propagation = False`` for the ``GCNConv`` path; it is also used when the edge
    weights need a gradient).

    Args:
        in_channels: input feature dimension.
        hidden_channels: output dimension ``h`` (the first layer has ``2h``).
        activation: ``relu``, ``prelu``, ``rrelu`` or ``elu`` (default: ``prelu``).
        num_layers: number of GCN layers, at least 1 (default: 2).

    Shapes:
        ``forward(x [N, in], edge_index [2, E], edge_weight [E] | None) -> [N, hidden]``.

    Example:
        >>> enc = GCNEncoder(16, 8, activation="relu")
        >>> x, ei = torch.randn(4, 16), torch.tensor([[0, 1, 2], [1, 2, 3]])
        >>> enc(x, ei).shape
        torch.Size([4, 8])
    """

    def __init__(self, in_channels: int, hidden_channels: int, activation: str = "prelu",
                 num_layers: int = 2) -> None:
        super().__init__()
        check_positive(in_channels, "in_channels", "GCNEncoder", integer=True)
        check_positive(hidden_channels, "hidden_channels", "GCNEncoder", integer=True)
        check_positive(num_layers, "num_layers", "GCNEncoder", integer=True)
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.num_layers = num_layers
        self.activation_name = check_choice(activation, "activation", ACTIVATIONS, "GCNEncoder")
        if num_layers == 1:
            dims = [in_channels, hidden_channels]
        else:
            dims = [in_channels] + [2 * hidden_channels] * (num_layers - 1) + [hidden_channels]
        self.convs = nn.ModuleList(
            GCNConv(dims[i], dims[i + 1], cached=False) for i in range(num_layers)
        )
        # same object, parameters and RNG draws as before: only the forward changes
        self.convs[0].lin.__class__ = _SparseInputLinear
        self.activation = make_activation(self.activation_name)
        self.sparse_propagation = True

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.size(1) != self.in_channels:
            raise ValueError(
                f"GCNEncoder expects x of shape [N, {self.in_channels}], got {list(x.shape)}"
            )
        if not self.sparse_propagation or (edge_weight is not None and edge_weight.requires_grad
                                           and torch.is_grad_enabled()):
            for conv in self.convs:
                x = self.activation(conv(x, edge_index, edge_weight))
            return x
        adj = propagation_matrix(edge_index, edge_weight, x.size(0), dtype=x.dtype)
        for conv in self.convs:
            out = torch.sparse.mm(adj, conv.lin(x))
            x = self.activation(out if conv.bias is None else out + conv.bias)
        return x

    @torch.no_grad()
    def inference(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None, *,
                  batch_size: int = 1024) -> Tensor:
        """The forward pass one layer at a time, ``batch_size`` target nodes at once (each with
        all its incoming edges): the eval-mode output of ``forward`` with one block's products
        alive at a time (see :meth:`gcl.encoders.GNNEncoder.inference`).

        Returns:
            Tensor: ``[N, hidden_channels]``.
        """
        from .gnn import GNNEncoder, target_blocks

        check_positive(batch_size, "batch_size", "inference", integer=True)
        n = x.size(0)
        ei, w = gcn_norm(edge_index, edge_weight, n, add_self_loops=True, dtype=x.dtype)
        blocks = list(target_blocks(ei, n, batch_size))
        for conv in self.convs:
            h = conv.lin(x)
            x = torch.cat([self.activation(GNNEncoder._aggregate(
                h, torch.stack([ei[0, p], ei[1, p] - s]), w[p], e - s) + conv.bias)
                for s, e, p in blocks])
        return x

    def reset_parameters(self) -> None:
        """Re-initialise every layer (and the PReLU slope)."""
        for conv in self.convs:
            conv.reset_parameters()
        if isinstance(self.activation, nn.PReLU):
            nn.init.constant_(self.activation.weight, 0.25)

    def extra_repr(self) -> str:
        return f"layers={self.num_layers}, activation={self.activation_name}"


class ProjectionHead(nn.Module):
    """GRACE's projection head: ``Linear(in, hidden) -> ELU -> Linear(hidden, out)``.

    Used only inside the loss; evaluation uses the encoder output.

    Args:
        in_channels: input dimension (the encoder's output).
        hidden_channels: hidden dimension.
        out_channels: output dimension (default: ``in_channels``, as GRACE).

    Example:
        >>> head = ProjectionHead(8, 16)
        >>> head(torch.randn(5, 8)).shape
        torch.Size([5, 8])
    """

    def __init__(self, in_channels: int, hidden_channels: int,
                 out_channels: int | None = None) -> None:
        super().__init__()
        check_positive(in_channels, "in_channels", "ProjectionHead", integer=True)
        check_positive(hidden_channels, "hidden_channels", "ProjectionHead", integer=True)
        out_channels = in_channels if out_channels is None else out_channels
        self.fc1 = nn.Linear(in_channels, hidden_channels)
        self.fc2 = nn.Linear(hidden_channels, out_channels)

    def forward(self, z: Tensor) -> Tensor:
        return self.fc2(F.elu(self.fc1(z)))


class MLP(nn.Module):
    """A plain multi-layer perceptron ``dims[0] -> ... -> dims[-1]`` with an activation between
    layers (none after the last). Accepts and ignores graph arguments so it can stand in for an
    encoder in a :class:`gcl.Pipeline`.

    Args:
        dims: layer sizes, at least two.
        activation: activation between layers (default: ``relu``).
        batch_norm: ``BatchNorm1d`` before each inner activation (CCA-SSG's MLP encoder)
            (default: ``False``).

    Example:
        >>> MLP([4, 8, 2])(torch.randn(3, 4)).shape
        torch.Size([3, 2])
    """

    def __init__(self, dims: list[int], activation: str = "relu",
                 batch_norm: bool = False) -> None:
        super().__init__()
        if len(dims) < 2:
            raise ValueError(f"MLP needs at least two sizes (input and output), got {dims}")
        for d in dims:
            check_positive(d, "dims", "MLP", integer=True)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.activation = make_activation(activation)
        self.norms = nn.ModuleList(nn.BatchNorm1d(d) for d in dims[1:-1]) if batch_norm else None

    def forward(self, x: Tensor, edge_index: Tensor | None = None,
                edge_weight: Tensor | None = None) -> Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                if self.norms is not None:
                    x = self.norms[i](x)
                x = self.activation(x)
        return x

