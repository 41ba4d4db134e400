"""Per-step code that would break or wait on a GPU, shown on the CPU.

Two probes stand in for a GPU here:

* tensors on the ``meta`` device carry shapes and devices but no values, so code that creates a
  tensor without ``device=`` fails with a device mismatch, and code that reads a value back to
  the host (``.item()``, ``float()``, ``bool()``, a data-dependent size) fails outright;
* :class:`HostReads` counts the aten calls that make a CUDA stream wait for the host (a value
  read back, or an output whose size depends on the data), on ordinary CPU tensors.
"""

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch_geometric.data import Data

aten = torch.ops.aten

#: aten calls after which the host waits for the device on CUDA.
_READS = {aten._local_scalar_dense, aten.nonzero, aten.masked_select, aten._unique2,
          aten.unique_dim, aten.unique_consecutive, aten.bincount, aten.equal, aten.is_nonzero}


class HostReads(TorchDispatchMode):
    """Records the calls that read a device value back to the host (see :data:`_READS`;
    indexing with a boolean mask and ``repeat_interleave`` without ``output_size`` count too)."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        if (packet in _READS
                or (packet is aten.index and any(isinstance(i, torch.Tensor)
                                                 and i.dtype == torch.bool for i in args[1]
                                                 if i is not None))
                or (packet is aten.repeat_interleave and kwargs.get("output_size") is None
                    and isinstance(args[0], torch.Tensor) and len(args) < 3)):
            self.calls.append(str(func))
        return func(*args, **kwargs)


def _graph(n=40, e=160, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    return Data(x=torch.rand(n, 70, generator=g), edge_index=ei,
                edge_weight=torch.rand(e, generator=g), num_nodes=n)


@pytest.mark.parametrize("make", ["drop_edge", "adaptive", "communal"])
def test_an_edge_dropping_view_reads_the_device_once(make):
    """Dropping edges sizes its result from the random mask: one read per view, shared by the
    edges and every per-edge attribute (it was one per tensor, plus one discarded indexing)."""
    from gcl.augment import AdaptiveEdgeDropping, CommunalEdgeDropping, DropEdge

    data = _graph()
    aug = {"drop_edge": lambda: DropEdge(0.3, seed=0),
           "adaptive": lambda: AdaptiveEdgeDropping(0.3, seed=0),
           "communal": lambda: CommunalEdgeDropping(0.3, method="louvain", seed=0)}[make]()
    if hasattr(aug, "setup"):
        aug.setup(data)
    aug(data)  # first call: caches
    with HostReads() as reads:
        view = aug(data)
    assert len(reads.calls) == 1, reads.calls
    assert view.edge_weight.numel() == view.edge_index.size(1) < data.edge_index.size(1)


def test_edge_mask_keeps_edges_and_attributes_in_order():
    from gcl.augment import apply_edge_mask

    data = _graph(n=10, e=30)
    keep = torch.rand(30, generator=torch.Generator().manual_seed(1)) > 0.5
    out = apply_edge_mask(data.clone(), keep)
    assert torch.equal(out.edge_index, data.edge_index[:, keep])
    assert torch.equal(out.edge_weight, data.edge_weight[keep])


@pytest.mark.parametrize("block_size", [0, 16])
@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_infonce_step_needs_no_host_value(block_size, precision):
    """The loss's forward and backward run on meta tensors: nothing is created on the CPU and
    nothing is read back, on the dense and the blockwise path, at every precision."""
    from gcl.objectives import info_nce

    h1 = torch.randn(50, 8, device="meta", requires_grad=True)
    h2 = torch.randn(50, 8, device="meta", requires_grad=True)
    loss = info_nce(h1, h2, 0.5, block_size=block_size, precision=precision)
    loss.backward()
    assert loss.device.type == "meta" and h1.grad.device.type == "meta"


def test_team_up_step_needs_no_host_value():
    """Team-up hands the blockwise loss a bound of its bias spread read once from the host
    strengths; without it the loss must read the bias (one host read per step)."""
    from gcl.objectives import Step, TeamUp, info_nce

    h1 = torch.randn(60, 8, device="meta", requires_grad=True)
    h2 = torch.randn(60, 8, device="meta", requires_grad=True)
    loss_fn = TeamUp(tau=0.5, gamma_max=1.0, t0=0, node_strength=torch.rand(60), block_size=16)
    z = (h1, h2)
    loss_fn(h1, h2, Step(epoch=50, data=None, views=(None, None), z=z, h=z)).backward()
    assert h1.grad.device.type == "meta"
    bias = torch.rand(60)
    a, b = torch.randn(60, 8), torch.randn(60, 8)
    with HostReads() as reads:
        info_nce(a, b, 0.5, col_bias=bias, block_size=16, bias_spread=1.0)
    assert reads.calls == []
    with HostReads() as reads:
        info_nce(a, b, 0.5, col_bias=bias, block_size=16)
    assert len(reads.calls) == 1


def test_sparse_first_layer_product_only_on_the_cpu():
    """The first GCN layer counts the input's non-zeros to choose a sparse product: a read per
    step, so only on the CPU, where that product was measured faster."""
    from gcl.encoders import GCNEncoder

    enc = GCNEncoder(80, 8)
    x = (torch.rand(30, 80) < 0.02).float()
    with HostReads() as reads:
        cpu_out = enc.convs[0].lin(x)
    assert len(reads.calls) == 1  # the count on the CPU
    meta_out = enc.to("meta").convs[0].lin(x.to("meta"))
    assert meta_out.shape == cpu_out.shape and meta_out.device.type == "meta"


def test_pair_dot_uses_the_gather_off_the_cpu():
    from gcl.objectives.pamc import pair_dot

    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(6, 4, generator=g), torch.randn(5, 4, generator=g)
    row, col = torch.tensor([0, 0, 2, 5]), torch.tensor([1, 4, 0, 3])
    expected = (a[row] * b[col]).sum(-1)
    torch.testing.assert_close(pair_dot(a, b, row, col), expected)
    out = pair_dot(a.to("meta"), b.to("meta"), row.to("meta"), col.to("meta"))
    assert out.shape == expected.shape and out.device.type == "meta"


def test_pot_prelu_slope_stays_on_the_device():
    """POT's relaxation takes a PReLU weight as a tensor: the same bounds as its value given as
    a number, without reading it back."""
    from gcl.objectives.pot import _activation_slope, relaxation

    g = torch.Generator().manual_seed(3)
    lo = torch.randn(20, 6, generator=g)
    hi = lo + torch.rand(20, 6, generator=g)
    slope = torch.nn.PReLU(init=0.25)
    encoder = torch.nn.Module()
    encoder.activation = slope
    with HostReads() as reads:
        s_t, b_t = relaxation(lo, hi, _activation_slope(encoder))
    assert reads.calls == []
    s_f, b_f = relaxation(lo, hi, 0.25)
    assert torch.equal(s_t, s_f) and torch.equal(b_t, b_f)
