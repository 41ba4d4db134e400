"""The ``precision`` option of the InfoNCE similarity products (fp32 exact, TF32, bf16).

The references round the operands independently of the library (TF32 through ``math.frexp``,
bf16 through torch's own conversion), multiply in float64 and evaluate the loss from its
definition, so that the dense and the blockwise path are each checked against what the
precision means, not against one another.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from gcl.objectives import InfoNCE, TeamUp, info_nce
from gcl.objectives.precision import _cuda_tf32, round_tf32, similarity


def _tf32_reference(x: float) -> float:
    """``x`` rounded to 11 significant bits, to nearest with ties away from zero."""
    if x == 0.0:
        return 0.0
    m, e = math.frexp(x)  # x = m 2^e, 0.5 <= |m| < 1
    scaled = abs(m) * 2**11
    rounded = math.floor(scaled + 0.5)
    return math.copysign(rounded / 2**11 * 2.0**e, x)


def test_round_tf32_matches_a_reference_rounding():
    g = torch.Generator().manual_seed(0)
    x = torch.cat([torch.randn(2000, generator=g) * 10 ** torch.randint(-6, 6, (2000,),
                                                                          generator=g),
                   torch.tensor([1 + 2**-11, 1 + 3 * 2**-11, -(1 + 2**-11), 0.0, -0.0,
                                 2**-126, 3.0e38])])
    got = round_tf32(x)
    expected = torch.tensor([_tf32_reference(float(v)) for v in x], dtype=torch.float32)
    assert torch.equal(got, expected)
    assert torch.equal(round_tf32(got), got)  # TF32 numbers are fixed points
    assert (got != x).any()


def _round(x: torch.Tensor, precision: str) -> torch.Tensor:
    if precision == "tf32":
        return torch.tensor([_tf32_reference(float(v)) for v in x.flatten()],
                            dtype=torch.float64).view_as(x)
    return x.to(torch.bfloat16).double()


def _reference_loss(h1, h2, tau, precision, bias=None):
    """Symmetric InfoNCE with intra-view negatives from rounded operands, in float64: the
    products' operands ``z/√τ`` (formed in float32, as the loss does) rounded to ``precision``
    and, for bf16, the products' results rounded to bfloat16."""
    z1, z2 = F.normalize(h1, dim=1), F.normalize(h2, dim=1)

    def sims(a, b):
        out = _round(a * tau**-0.5, precision) @ _round(b * tau**-0.5, precision).t()
        return out.to(torch.bfloat16).double() if precision == "bf16" else out

    n = z1.size(0)
    b = torch.zeros(n, dtype=torch.float64) if bias is None else bias.double()
    pos = (z1.double() * z2.double()).sum(1) / tau + b
    eye = torch.eye(n, dtype=torch.bool)
    raw12 = sims(z1, z2)
    s12, s11, s22 = raw12 + b, sims(z1, z1) + b, sims(z2, z2) + b
    lse1 = torch.logsumexp(torch.cat([s12, s11.masked_fill(eye, -math.inf)], 1), 1)
    s21 = raw12.t() + b  # view-2 anchors read S12 = (z1/τ) z2ᵀ by columns
    lse2 = torch.logsumexp(torch.cat([s21, s22.masked_fill(eye, -math.inf)], 1), 1)
    return float((0.5 * ((lse1 - pos) + (lse2 - pos))).mean())


@pytest.mark.parametrize("precision,rtol", [("tf32", 2e-6), ("bf16", 2e-4)])
@pytest.mark.parametrize("block_size", [0, 7])
@pytest.mark.parametrize("bias", [False, True])
def test_lowered_precision_matches_its_reference(precision, rtol, block_size, bias):
    g = torch.Generator().manual_seed(1)
    h1, h2 = torch.randn(30, 16, generator=g), torch.randn(30, 16, generator=g)
    b = torch.rand(30, generator=g) if bias else None
    ref = _reference_loss(h1, h2, 0.3, precision, b)
    got = float(info_nce(h1, h2, 0.3, col_bias=b, block_size=block_size, precision=precision))
    fp32 = float(info_nce(h1, h2, 0.3, col_bias=b, block_size=block_size))
    assert got == pytest.approx(ref, rel=rtol)
    # the lowered precision is really used: fp32 lies farther from the reference
    assert abs(fp32 - ref) > 3 * abs(got - ref)


@pytest.mark.parametrize("precision,rtol", [("tf32", 3e-3), ("bf16", 3e-2)])
def test_lowered_precision_gradients_agree_across_paths(precision, rtol):
    """Dense and blockwise gradients at one precision agree to that precision's rounding,
    and differ from the exact fp32 gradients by about as much."""
    g = torch.Generator().manual_seed(2)
    h1 = torch.randn(40, 16, generator=g, requires_grad=True)
    h2 = torch.randn(40, 16, generator=g, requires_grad=True)
    grads = {}
    for key, bs, p in [("dense", 0, precision), ("block", 9, precision), ("fp32", 0, "fp32")]:
        loss = info_nce(h1, h2, 0.4, block_size=bs, precision=p)
        grads[key] = torch.autograd.grad(loss, (h1, h2))
    for x, y, z in zip(grads["dense"], grads["block"], grads["fp32"]):
        scale = float(z.abs().max())
        assert float((x - y).abs().max()) <= rtol * scale
        assert 1e-7 * scale < float((x - z).abs().max()) <= rtol * scale


def test_similarity_backward_products_use_the_precision():
    g = torch.Generator().manual_seed(3)
    a = torch.randn(6, 5, generator=g, requires_grad=True)
    b = torch.randn(7, 5, generator=g, requires_grad=True)
    up = torch.randn(6, 7, generator=g)
    similarity(a, b, "tf32").backward(up)
    expected_a = _round(up, "tf32") @ _round(b.detach(), "tf32")
    expected_b = _round(up, "tf32").t() @ _round(a.detach(), "tf32")
    torch.testing.assert_close(a.grad.double(), expected_a, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(b.grad.double(), expected_b, rtol=1e-6, atol=1e-6)


def test_precision_validation():
    h = torch.randn(5, 3)
    with pytest.raises(ValueError, match="precision must be one of"):
        info_nce(h, h, precision="fp16")
    with pytest.raises(ValueError, match="float32 embeddings"):
        info_nce(h.double(), h.double(), precision="bf16")
    with pytest.raises(ValueError, match="precision"):
        InfoNCE(precision="half")
    assert "precision='bf16'" in repr(InfoNCE(precision="bf16"))
    assert "precision" not in repr(InfoNCE())


def test_cuda_tf32_context_restores_the_flag():
    flags = torch.backends.cuda.matmul
    before = flags.allow_tf32
    with _cuda_tf32():
        assert flags.allow_tf32
    assert flags.allow_tf32 == before


def test_team_up_passes_a_bias_bound_and_the_precision(monkeypatch):
    import gcl.objectives.blockwise as bw

    seen = []
    real = bw._Plan.__init__

    def spy(self, u1, bias, tau, intra, symmetric, block, precision, bias_spread, world=None):
        seen.append((bias_spread, precision, None if bias is None
                     else float(bias.max() - bias.min())))
        real(self, u1, bias, tau, intra, symmetric, block, precision, bias_spread, world)

    monkeypatch.setattr(bw._Plan, "__init__", spy)
    from gcl.objectives import Step

    strength = torch.rand(50, generator=torch.Generator().manual_seed(4))
    loss_fn = TeamUp(tau=0.5, gamma_max=2.0, t0=0, ramp=1.0, node_strength=strength,
                     block_size=16, precision="bf16")
    h = torch.randn(50, 8)
    z = (h, h)
    for epoch in (1, 5):
        loss_fn(h, h + 0.1, Step(epoch=epoch, data=None, views=(None, None), z=z, h=z))
    spread = float(strength.max() - strength.min())
    # γ = 1 at epoch 1 and γ_max = 2 from epoch 2 on; the bias is γ s / τ
    for (bound, precision, actual), gamma in zip(seen, (1.0, 2.0)):
        assert precision == "bf16"
        assert bound == pytest.approx(gamma / 0.5 * spread) == pytest.approx(actual, rel=1e-5)


@pytest.mark.parametrize("method", ["grace", "gca", "csgcl"])
def test_recipes_take_the_precision_key(method):
    from gcl.data import synthetic
    from gcl.methods import get_method, load_config

    data = synthetic(num_nodes=30, num_features=5, num_classes=2, seed=0)
    cfg = load_config(method, "synthetic", overrides={"precision": "bf16"})
    assert get_method(method).build({**cfg, "device": "cpu"}, data).objective.precision == "bf16"
    cfg = load_config(method, "synthetic")
    assert get_method(method).build({**cfg, "device": "cpu"}, data).objective.precision == "fp32"


def test_emulated_bf16_products_equal_the_native_ones():
    """Off CUDA bf16 is emulated (rounded operands, fp32 product, rounded result): the same
    numbers as torch's own bfloat16 product, up to the order of the accumulation."""
    from gcl.objectives.precision import Products

    g = torch.Generator().manual_seed(5)
    a, b = torch.randn(64, 48, generator=g), torch.randn(48, 80, generator=g)
    p = Products("bf16", torch.device("cpu"))
    emulated = p.mm(p.operand(a), p.operand(b))
    native = torch.mm(a.bfloat16(), b.bfloat16()).float()
    differ = emulated != native
    assert emulated.dtype == torch.float32 and torch.equal(emulated, emulated.bfloat16().float())
    assert differ.float().mean() < 0.01  # a tie broken the other way here and there
    ulp = native.abs() * 2**-7
    assert bool(((emulated - native).abs() <= ulp + 1e-30)[differ].all())


@pytest.mark.slow
def test_precision_accuracy_script_writes_a_table(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "precision_accuracy.py"
    env = {**os.environ, "GCL_BENCH_RESULTS": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(script), "--datasets", "synthetic", "--seeds", "1",
                           "--precisions", "fp32", "bf16", "--epochs", "synthetic=2"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads((tmp_path / "precision_accuracy.json").read_text())
    cols = record["columns"]
    assert [r[cols.index("precision")] for r in record["rows"]] == ["fp32", "bf16"]
    assert all(0 < r[cols.index("accuracy %")] <= 100 for r in record["rows"])
    assert record["rows"][0][cols.index("Δ vs fp32 (paired)")] is None
    assert record["rows"][1][cols.index("Δ vs fp32 (paired)")] is not None
    assert any("2 of the configured" in n for n in record["notes"])
