"""The MEOW/AdaMEOW encoder: type projections, meta-path contexts, a shared GCN, attention.

Sparse throughout: meta-path adjacencies and context incidences are torch sparse tensors and all
aggregation is ``torch.sparse.mm``.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from .._utils import check_choice

__all__ = ["MEOWEncoder", "SharedGCN", "SemanticAttention", "sparse_linear", "context_mean",
           "spmm"]

#: ``MEOWEncoder(init=...)`` choices: HeCo-style xavier or the reference code's PyTorch default.
INITS = ("xavier", "reference")


class _PairedSpMM(torch.autograd.Function):
    """``A @ X`` for a constant sparse ``A`` whose transpose is stored: the backward pass is
    ``Aᵀ @ grad`` with no per-step transposition, conversion or sort of ``A``."""

    @staticmethod
    def forward(ctx, a, a_t, x):
        ctx.a_t = a_t
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, None, torch.sparse.mm(ctx.a_t, grad)


def _sparse_t_mm(a: Tensor, g: Tensor) -> Tensor:
    """``Aᵀ @ g`` for a CPU sparse ``A`` (CSR or COO), read transposed in place by scipy.

    torch would build a transposed copy of ``A`` for this product (for CSR a COO conversion with
    int64 indices, for COO a sorted copy); scipy reads the CSR arrays as a CSC matrix and the
    COO arrays with rows and columns swapped, so the only allocation is the output.
    """
    import numpy as np
    import scipy.sparse as sp

    g = g.detach().contiguous()
    if a.layout == torch.sparse_csr:
        m = sp.csr_matrix((a.values().numpy(), a.col_indices().numpy(),
                           a.crow_indices().numpy()), shape=tuple(a.shape), copy=False).T
    else:  # coo_array keeps the int64 indices (coo_matrix would cast them to int32: a copy)
        idx = a._indices().numpy()
        m = sp.coo_array((a._values().numpy(), (idx[1], idx[0])),
                         shape=(a.shape[1], a.shape[0]), copy=False)
    return torch.from_numpy(np.ascontiguousarray(m @ g.numpy())).to(g.dtype)


class _ConstSparseMM(torch.autograd.Function):
    """``A @ X`` for a constant CPU sparse ``A`` (CSR or COO): the backward pass is
    ``Aᵀ @ grad`` by :func:`_sparse_t_mm` (no transpose stored or built)."""

    @staticmethod
    def forward(ctx, a, x):
        ctx.a = a
        return torch.sparse.mm(a, x)

    @staticmethod
    def backward(ctx, grad):
        return None, _sparse_t_mm(ctx.a, grad)


def _const_sparse_cpu(a: Tensor, x: Tensor) -> bool:
    return (a.layout in (torch.sparse_csr, torch.sparse_coo) and a.device.type == "cpu"
            and a.dim() == 2 and a.dense_dim() == 0 and not a.requires_grad and x.requires_grad)


def spmm(adj, x: Tensor) -> Tensor:
    """Sparse (or dense) matrix times dense ``x``.

    Args:
        adj: a sparse tensor (a constant CPU CSR or COO matrix takes the transposed product of
            the backward pass from its own arrays, see :func:`_sparse_t_mm`), a pair ``(A, Aᵀ)`` of
            sparse tensors (constant ``A``; the backward pass uses the stored transpose), a
            dense tensor, or a list of these (their mean times ``x``, without building the mean
            matrix).
        x: ``[M, d]`` dense.

    Returns:
        Tensor: ``[N, d]``.

    Example:
        >>> a = torch.tensor([[0., 2.], [1., 0.]])
        >>> x = torch.ones(2, 1, requires_grad=True)
        >>> spmm((a.to_sparse_csr(), a.t().to_sparse_csr()), x).sum().backward()
        >>> x.grad.view(-1).tolist()
        [1.0, 2.0]
    """
    if isinstance(adj, list):  # the mean of several adjacencies, never materialised
        return sum(spmm(a, x) for a in adj) / len(adj)
    if isinstance(adj, tuple):
        return _PairedSpMM.apply(adj[0], adj[1], x)
    if adj.layout == torch.strided:
        return adj @ x
    if _const_sparse_cpu(adj, x):
        return _ConstSparseMM.apply(adj, x)
    return torch.sparse.mm(adj, x)


def sparse_linear(x: Tensor, layer: nn.Linear) -> Tensor:
    """``layer(x)`` for a dense or sparse ``x`` (sparse: ``x @ Wᵀ + b`` via ``torch.sparse.mm``;
    on the CPU the weight gradient ``xᵀ @ grad`` reads ``x`` in place, see :func:`_sparse_t_mm`).

    Args:
        x: input features ``[N, in_features]``: dense, sparse COO or sparse CSR.
        layer: the linear layer (its bias may be ``None``).

    Returns:
        Tensor: dense ``[N, out_features]``.

    Example:
        >>> lin = nn.Linear(3, 2)
        >>> x = torch.eye(3)
        >>> torch.allclose(sparse_linear(x.to_sparse(), lin), lin(x))
        True
    """
    if x.is_sparse or x.layout == torch.sparse_csr:
        w = layer.weight.t()
        out = _ConstSparseMM.apply(x, w) if _const_sparse_cpu(x, w) else torch.sparse.mm(x, w)
        return out + layer.bias if layer.bias is not None else out
    return layer(x)


def context_mean(incidence: Tensor, h: Tensor, inv_count: Tensor | None = None) -> Tensor:
    """Mean of ``h`` over each row's context set (row count clamped to at least 1).

    Args:
        incidence: binary ``[N, M]`` target×context-type incidence: sparse COO or CSR (or
            dense), or a pair ``(incidence, its transpose)``, see :func:`spmm`.
        h: ``[M, d]`` projected context-type features.
        inv_count: optional precomputed ``1 / max(row count, 1)`` as ``[N, 1]``.

    Returns:
        Tensor: ``[N, d]``.

    Example:
        >>> inc = torch.tensor([[1., 1.], [0., 0.]])
        >>> context_mean(inc.to_sparse(), torch.tensor([[1.], [3.]])).tolist()
        [[2.0], [0.0]]
        >>> context_mean(inc.to_sparse_csr(), torch.tensor([[1.], [3.]])).tolist()
        [[2.0], [0.0]]
    """
    if inv_count is None:
        a = incidence[0] if isinstance(incidence, tuple) else incidence
        count = spmm(a, h.new_ones(a.shape[1], 1)).clamp(min=1)
        inv_count = 1.0 / count
    return spmm(incidence, h) * inv_count


class SharedGCN(nn.Module):
    """MEOW's shared 2-layer GCN: ``PReLU(A·Dropout(X W1))``, ``A·Dropout(H W2)``, then a
    LayerNorm over the whole ``N×d`` matrix (one mean and variance, no affine).

    Args:
        dim: input/hidden/output width.
        dropout: dropout rate.

    Example:
        >>> gcn = SharedGCN(4, 0.0)
        >>> a = torch.eye(3).to_sparse()
        >>> z = gcn(torch.randn(3, 4), a)
        >>> z.shape, round(float(z.mean()), 4) == 0.0
        (torch.Size([3, 4]), True)
    """

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        bound = 1.0 / math.sqrt(dim)
        self.w1 = nn.Parameter(torch.empty(dim, dim).uniform_(-bound, bound))
        self.w2 = nn.Parameter(torch.empty(dim, dim).uniform_(-bound, bound))
        self.act = nn.PReLU()
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        h = self.act(spmm(adj, self.dropout(x @ self.w1)))
        z = spmm(adj, self.dropout(h @ self.w2))
        return F.layer_norm(z, z.shape)


class SemanticAttention(nn.Module):
    """HAN-style semantic attention: ``score_k = a · mean_i tanh(W z_i^k + b)``, softmax over k.

    Args:
        dim: embedding width.
        dropout: dropout on the attention vector ``a``.

    Example:
        >>> att = SemanticAttention(4, 0.0)
        >>> zs = [torch.randn(5, 4), torch.randn(5, 4)]
        >>> out, beta = att(zs)
        >>> out.shape, round(float(beta.sum()), 5)
        (torch.Size([5, 4]), 1.0)
    """

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        self.att = nn.Parameter(torch.empty(1, dim))
        nn.init.xavier_normal_(self.fc.weight, gain=1.414)
        nn.init.xavier_normal_(self.att, gain=1.414)
        self.dropout = nn.Dropout(dropout)

    def forward(self, zs: list[Tensor]) -> tuple[Tensor, Tensor]:
        a = self.dropout(self.att)
        scores = torch.stack([(a * torch.tanh(self.fc(z)).mean(0, keepdim=True)).sum()
                              for z in zs])
        beta = torch.softmax(scores, 0)
        out = sum(b * z for b, z in zip(beta, zs))
        return out, beta


class MEOWEncoder(nn.Module):
    """The MEOW/AdaMEOW encoder and its shared projection head.

    ``forward(inputs)`` takes the prepared tensors of a meta-path graph (a dict, see
    :func:`gcl.methods.meow.prepare_inputs`): ``x`` (features per type), ``x_masked`` (masked
    target features), ``contexts`` (per meta-path, ``(type, incidence, inv_count)`` triples),
    ``adjs`` and ``adjs_masked`` (normalised sparse adjacencies per meta-path) and ``coarse``
    (their mean). It returns ``(z_coarse, z, u, v)``: the coarse-view GCN output, the fused
    fine-view embedding (the output embedding), and the head's L2-normalised projections.

    With ``path_dims`` (MEOW's AMiner inputs: one target feature matrix per meta-path) the
    inputs carry ``x_paths`` and ``x_masked_paths`` instead of the target's ``x`` and
    ``x_masked``: meta-path ``p`` projects its own matrix with its own layer, and the coarse
    view reads the mean of those projections.

    Args:
        in_dims: input width per node type.
        target: the target node type.
        context_types: per meta-path, the node type of each context position.
        hidden: width of everything (default: 64).
        proj_dim: output width of the projection head (default: ``hidden``).
        dropout: the one dropout rate (default: 0.2).
        masked_dropout: apply dropout to the masked target projection too (ACM: yes; DBLP's
            reference code skips it) (default: ``True``).
        shared_context_dropout: the clean and the masked view of a meta-path add the same
            dropped-out context term (one dropout mask, as the reference code does for DBLP);
            ``False`` (default) draws a mask of its own for each view, as the reference code
            does for ACM, IMDB and AMiner (it evaluates ``dropout(agg(context))`` once per view).
        path_dims: input width of each meta-path's target feature matrix, or ``None`` (one
            target matrix, the default).
        init: ``"xavier"`` (default): the type projections, context maps and head start from
            ``xavier_normal`` with gain 1.414 (HeCo's encoder, the convention of the attention
            layer); ``"reference"``: PyTorch's default ``nn.Linear`` initialisation for those
            layers, as the MEOW/AdaMEOW reference code leaves them (the spec does not say). The
            GCN and the attention are initialised the same way under both.
        checkpoint: keep only the inputs and outputs of each stage (projections, context
            terms, each GCN view, attention, head) while gradients are recorded and recompute
            the stage's activations in the backward pass (``torch.utils.checkpoint``, random
            state replayed, so the same dropout masks, values and gradients); less memory for
            one more forward pass (default: ``True``).

    Example:
        >>> enc = MEOWEncoder({"p": 3, "a": 2}, "p", [["a"]], hidden=4)
        >>> inc = torch.tensor([[1., 0], [1, 1], [0, 1]]).to_sparse()
        >>> eye = torch.eye(3).to_sparse()
        >>> inputs = {"x": {"p": torch.eye(3), "a": torch.eye(2)}, "x_masked": torch.eye(3),
        ...           "contexts": [[("a", inc, None)]], "adjs": [eye], "adjs_masked": [eye],
        ...           "coarse": eye}
        >>> zc, z, u, v = enc(inputs)
        >>> z.shape, round(float(u.norm(dim=1)[0]), 4)
        (torch.Size([3, 4]), 1.0)
    """

    def __init__(self, in_dims: dict, target: str, context_types: list, *, hidden: int = 64,
                 proj_dim: int | None = None, dropout: float = 0.2, masked_dropout: bool = True,
                 shared_context_dropout: bool = False, path_dims: list | None = None,
                 init: str = "xavier", checkpoint: bool = True):
        super().__init__()
        init = check_choice(init, "init", INITS, "MEOWEncoder")
        self.checkpoint = bool(checkpoint)
        self.target = target
        self.context_types = [list(c) for c in context_types]
        if path_dims is not None and len(path_dims) != len(self.context_types):
            raise ValueError(f"MEOWEncoder: {len(path_dims)} path_dims for "
                             f"{len(self.context_types)} meta-paths")
        types = {t for c in self.context_types for t in c}
        if path_dims is None:
            types.add(target)
        self.proj = nn.ModuleDict({t: nn.Linear(int(in_dims[t]), hidden) for t in sorted(types)})
        self.path_proj = None if path_dims is None else nn.ModuleList(
            [nn.Linear(int(d), hidden) for d in path_dims])
        # The random draws keep this order (seeded runs stay as they were recorded).
        xavier = partial(nn.init.xavier_normal_, gain=1.414) if init == "xavier" else None
        for lin in [*self.proj.values(), *(self.path_proj or [])] if xavier else []:
            xavier(lin.weight)
        self.ctx = nn.ModuleList([
            nn.ModuleList([nn.Linear(hidden, hidden, bias=False) for _ in c])
            for c in self.context_types])
        for lin in (lin for group in self.ctx for lin in group) if xavier else []:
            xavier(lin.weight)
        self.gcn = SharedGCN(hidden, dropout)
        self.attention = SemanticAttention(hidden, dropout)
        self.head = nn.Linear(hidden, proj_dim or hidden)
        if xavier:
            xavier(self.head.weight)
        self.dropout = nn.Dropout(dropout)
        self.masked_dropout = bool(masked_dropout)
        self.shared_context_dropout = bool(shared_context_dropout)

    @classmethod
    def for_graph(cls, graph, **kwargs) -> MEOWEncoder:
        """An encoder sized for a :class:`gcl.data.MetaPathGraph`: its types' feature widths,
        its target, the context types of each meta-path and, when it has per-path target
        features, their widths; ``kwargs`` as in the constructor.

        Example:
            >>> from gcl.data import synthetic_metapath_graph
            >>> enc = MEOWEncoder.for_graph(synthetic_metapath_graph(num_nodes=20), hidden=8)
            >>> enc.target, enc.context_types
            ('p', [['a'], ['s']])
        """
        paths = getattr(graph, "x_paths", None)
        return cls({t: int(v.shape[1]) for t, v in graph.x_dict.items()}, graph.target,
                   [[t for t, _ in c] for c in graph.contexts],
                   path_dims=None if paths is None else [int(x.shape[1]) for x in paths],
                   **kwargs)

    def project(self, t, x: Tensor, *, dropout: bool = True) -> Tensor:
        """``ELU(Dropout(W_t x + b))`` for node type ``t`` (or, an ``int``, for the target
        features of that meta-path, with ``path_dims``)."""
        h = sparse_linear(x, self.path_proj[t] if isinstance(t, int) else self.proj[t])
        return F.elu(self.dropout(h) if dropout else h)

    def _run(self, fn, *args):
        """``fn(*args)``, as a checkpointed stage when ``checkpoint`` is on and gradients are
        recorded."""
        if self.checkpoint and torch.is_grad_enabled():
            return checkpoint(fn, *args, use_reentrant=False)
        return fn(*args)

    def _context_terms(self, p: int, triples, h: dict) -> Tensor:
        """The mapped context means of meta-path ``p``, one per position: ``[Q, N, hidden]``."""
        return torch.stack([self.ctx[p][q](context_mean(inc, h[t], inv))
                            for q, (t, inc, inv) in enumerate(triples)])

    def _context(self, terms: Tensor) -> Tensor:
        """The context term of one view: the sum of the dropped-out terms (a fresh mask per
        call in training mode)."""
        ctx = 0
        for term in terms:
            ctx = ctx + self.dropout(term)
        return ctx

    def _view(self, base: Tensor, ctx: Tensor, adj) -> Tensor:
        return F.normalize(self.gcn(F.elu(base + ctx), adj), dim=1)

    def _head(self, z: Tensor) -> Tensor:
        return F.normalize(torch.tanh(self.head(z)), dim=1)

    def _attend(self, *zs: Tensor):
        return self.attention(list(zs))

    def forward(self, inputs: dict):
        x = inputs["x"]
        h = {t: self._run(self.project, t, x[t]) for t in self.proj}
        masked_proj = partial(self.project, dropout=self.masked_dropout)
        n_paths = len(inputs["contexts"])
        if self.path_proj is not None:
            h_paths = [self._run(self.project, p, xp) for p, xp in enumerate(inputs["x_paths"])]
            h_masks = [self._run(masked_proj, p, xm)
                       for p, xm in enumerate(inputs["x_masked_paths"])]
            h_coarse = torch.stack(h_paths).mean(0)
        else:
            h_coarse = h[self.target]
            h_paths = [h_coarse] * n_paths
            h_masks = [self._run(masked_proj, self.target, inputs["x_masked"])] * n_paths
        z_coarse = self._run(self.gcn, h_coarse, inputs["coarse"])
        clean, masked = [], []
        for p, triples in enumerate(inputs["contexts"]):
            terms = self._run(self._context_terms, p, triples, h)
            ctx = self._run(self._context, terms)
            clean.append(self._run(self._view, h_paths[p], ctx, inputs["adjs"][p]))
            if not self.shared_context_dropout:
                ctx = self._run(self._context, terms)
            masked.append(self._run(self._view, h_masks[p], ctx, inputs["adjs_masked"][p]))
        z, beta = self._run(self._attend, *clean, *masked)
        self.last_beta = beta.detach()
        u = self._run(self._head, z_coarse)
        v = self._run(self._head, z)
        return z_coarse, z, u, v
