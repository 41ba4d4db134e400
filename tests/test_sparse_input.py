"""The GCN encoder's sparse first-layer product for bag-of-words features."""

import torch


def test_sparse_input_first_layer_equals_dense():
    from gcl.encoders import gcn as gcn_module

    torch.manual_seed(0)
    n, f = 60, 200
    x = (torch.rand(n, f, dtype=torch.float64) < 0.02).double() * torch.rand(n, f, dtype=torch.float64)
    assert 0 < int(torch.count_nonzero(x)) <= gcn_module.SPARSE_INPUT_DENSITY * x.numel()
    ei = torch.randint(0, n, (2, 300))
    enc = gcn_module.GCNEncoder(f, 8, activation="prelu").double()
    called = []
    orig = torch.sparse.mm
    try:
        torch.sparse.mm = lambda *a: called.append(1) or orig(*a)
        out_sparse = enc(x, ei)
    finally:
        torch.sparse.mm = orig
    assert called, "the sparse path was not taken"
    out_sparse.square().sum().backward()
    g_sparse = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    xd = x.clone().requires_grad_(True)  # a gradient for x forces the dense product
    out_dense = enc(xd, ei)
    out_dense.square().sum().backward()
    torch.testing.assert_close(out_sparse, out_dense, rtol=1e-10, atol=1e-12)
    for a, p in zip(g_sparse, enc.parameters()):
        torch.testing.assert_close(a, p.grad, rtol=1e-10, atol=1e-12)
    # dense features keep the dense product, and the state dict keys are PyG's
    assert "convs.0.lin.weight" in enc.state_dict()
