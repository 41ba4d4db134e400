"""Bad input to the one training loop: loaders, half precision on the CPU and checkpoints whose
fields were changed (third table, after ``tests/test_validation.py`` and
``tests/test_validation_api.py``). Each input is listed with the message it gets."""

import pytest
import torch

from gcl import EarlyStopping
from gcl.data import NeighborSampler, synthetic
from gcl.methods import grace

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DATA = synthetic(num_nodes=40, num_features=8, num_classes=3, seed=0)
OTHER = synthetic(num_nodes=30, num_features=8, num_classes=3, seed=1)


def pipeline():
    return grace(8, hidden=8, proj_hidden=8, device="cpu", progress=False, seed=0)


def half(dtype):
    pipe = pipeline().to(dtype)
    data = DATA.clone()
    data.x = data.x.to(dtype)
    return pipe.fit(data, epochs=1)


LOOP_INPUTS = [
    ("loader of numbers", lambda: pipeline().fit(DATA, epochs=1, loader=[1, 2]),
     r"the loader yielded a int, not a graph: a loader gives sampled subgraphs"),
    ("loader over another graph", lambda: pipeline().fit(
        DATA, epochs=1, loader=NeighborSampler(OTHER, [3], batch_size=8, seed=0)),
     r"the loader samples another graph \(30 nodes, \d+ edges\) than the one given to fit "
     r"\(40 nodes"),
    ("float16 model on the CPU", lambda: half(torch.float16),
     r"parameters are torch.float16 on the CPU, .* train in float32 on the CPU"),
    ("bfloat16 model on the CPU", lambda: half(torch.bfloat16),
     r"parameters are torch.bfloat16 on the CPU"),
]


@pytest.mark.parametrize("thunk,fragment", [c[1:] for c in LOOP_INPUTS],
                         ids=[c[0] for c in LOOP_INPUTS])
def test_loop_input_is_refused_in_one_line(thunk, fragment):
    with pytest.raises(ValueError, match=fragment):
        thunk()


def test_a_loader_over_an_equal_copy_of_the_graph_is_accepted():
    history = pipeline().fit(DATA, epochs=1, loader=NeighborSampler(DATA.clone(), [3],
                                                                    batch_size=20, seed=0))
    assert history.epochs[-1]["batches"] == 2.0


def _rng_without(key):
    def change(rng):
        return {k: v for k, v in rng.items() if k != key}
    return change


# field -> new value (or a function of the saved value), and the message fragment
TAMPERED = [
    ("epoch", -3, r"field 'epoch' is -3, not a number of epochs"),
    ("epoch", "2", r"field 'epoch' is '2', not a number of epochs"),
    ("epoch", 10**9, r"field 'epoch' is 1000000000 but the history holds 2 epochs"),
    ("stopped", "no", r"field 'stopped' is not true or false"),
    ("model", [1], r"field 'model' is not a state dict"),
    ("optimizer", 3, r"field 'optimizer' is not a state dict"),
    ("optimizer", {"state": {}}, r"field 'optimizer' lacks the 'state' and 'param_groups'"),
    ("history", 5, r"field 'history' is a int, not a dict"),
    ("history", {"epochs": 3}, r"field 'history' has 'epochs' that is not a list of dicts"),
    ("history", lambda h: {**h, "meta": [1]}, r"field 'history' has 'meta' that is not a dict"),
    ("meta", [1], r"field 'meta' is a list, not a dict"),
    ("rng", "a", r"field 'rng' is a str, not a dict of random states"),
    ("rng", _rng_without("python"), r"field 'rng' has no valid Python random state"),
    ("rng", lambda r: {**r, "torch": torch.zeros(3)}, r"field 'rng' has no valid torch random"),
    ("rng", lambda r: {**r, "numpy": {"name": 1}}, r"field 'rng' has an invalid NumPy random"),
    ("generators", {"augment1": 3}, r"field 'generators' is not a dict of generator states"),
    ("callbacks", 7, r"field 'callbacks' is a int, not a list"),
    ("callbacks", [{"type": 3}], r"field 'callbacks' holds an entry that is not"),
    ("callbacks", [{"type": "EarlyStopping", "state": {"best": "x"}}],
     r"the saved state of EarlyStopping does not fit it"),
]


@pytest.mark.parametrize("field,value,fragment", TAMPERED,
                         ids=[f"{f}-{i}" for i, (f, _, _) in enumerate(TAMPERED)])
def test_tampered_checkpoint_field_is_refused_naming_the_file_and_field(
        tmp_path, field, value, fragment):
    pipeline().fit(DATA, epochs=2, checkpoint_dir=tmp_path, checkpoint_every=1,
                   callbacks=[EarlyStopping(patience=50)])
    path = tmp_path / "last.pt"
    payload = torch.load(path, weights_only=True)
    payload[field] = value(payload[field]) if callable(value) else value
    torch.save(payload, path)
    with pytest.raises(ValueError, match=fragment) as info:
        pipeline().fit(DATA, epochs=4, checkpoint_dir=tmp_path, resume=True,
                       callbacks=[EarlyStopping(patience=50)])
    assert str(path) in str(info.value) and len(str(info.value)) < 600
