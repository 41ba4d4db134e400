"""Random splits and the split-string syntax."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gcl.data.splits import SplitSpec, index_to_mask, parse_split, random_split


def test_random_split_sizes_and_partition():
    train, val, test = random_split(1000, 0.1, 0.1, seed=0)
    assert train.dtype == val.dtype == test.dtype == torch.bool
    assert train.shape == (1000,)
    assert (int(train.sum()), int(val.sum()), int(test.sum())) == (100, 100, 800)
    total = train.long() + val.long() + test.long()
    assert bool((total == 1).all())


def test_random_split_one_one_ninety_eight():
    train, val, test = random_split(2000, 0.01, 0.01, seed=3)
    assert (int(train.sum()), int(val.sum()), int(test.sum())) == (20, 20, 1960)


def test_random_split_seeding():
    a = random_split(500, seed=7)
    b = random_split(500, seed=7)
    c = random_split(500, seed=8)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


def test_random_split_does_not_touch_global_rng():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    random_split(100, seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_multi_split_shape_and_prefix_property():
    train, val, test = random_split(300, 0.1, 0.2, num_splits=4, seed=1)
    assert train.shape == val.shape == test.shape == (300, 4)
    assert train.sum(0).tolist() == [30] * 4
    assert val.sum(0).tolist() == [60] * 4
    assert bool(((train.long() + val.long() + test.long()) == 1).all())
    single = random_split(300, 0.1, 0.2, seed=1)
    assert torch.equal(train[:, 0], single[0]) and torch.equal(test[:, 0], single[2])
    assert not torch.equal(train[:, 0], train[:, 1])


@pytest.mark.parametrize("kwargs, match", [
    ({"train_ratio": 0.0}, "train_ratio must be > 0"),
    ({"train_ratio": -0.1}, "train_ratio"),
    ({"train_ratio": 1.0}, "train_ratio"),
    ({"val_ratio": 1.2}, "val_ratio"),
    ({"train_ratio": 0.6, "val_ratio": 0.4}, "must be < 1"),
    ({"train_ratio": float("nan")}, "finite"),
    ({"train_ratio": "0.1"}, "train_ratio"),
    ({"num_splits": 0}, "num_splits"),
    ({"seed": -1}, "seed"),
])
def test_random_split_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        random_split(100, **kwargs)


def test_random_split_rejects_empty_train_or_test():
    with pytest.raises(ValueError, match="empty training set"):
        random_split(10, 0.01, 0.1)
    with pytest.raises(ValueError, match="no node for testing"):
        random_split(3, 0.5, 0.45)
    with pytest.raises(ValueError, match="num_nodes"):
        random_split(0)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(5, 400), tr=st.floats(0.05, 0.6), va=st.floats(0.0, 0.3),
       s=st.integers(1, 3), seed=st.integers(0, 2**31 - 1))
def test_random_split_property(n, tr, va, s, seed):
    try:
        train, val, test = random_split(n, tr, va, num_splits=s, seed=seed)
    except ValueError:
        # only legitimate refusals: a split that would leave a set empty
        assert round(tr * n) == 0 or round(tr * n) + round(va * n) >= n or tr + va >= 1
        return
    cover = train.long() + val.long() + test.long()
    assert bool((cover == 1).all())
    assert bool((train.reshape(n, -1).sum(0) == round(tr * n)).all())


@pytest.mark.parametrize("text, expected", [
    ("public", SplitSpec("public")),
    ("Full", SplitSpec("full")),
    ("ogb", SplitSpec("ogb")),
    ("random", SplitSpec("random", 0.1, 0.1)),
    ("random:0.01:0.01", SplitSpec("random", 0.01, 0.01)),
    ("random-0.01-0.01", SplitSpec("random", 0.01, 0.01)),
    ("random:1:1", SplitSpec("random", 0.01, 0.01)),
    ("random:1:1:98", SplitSpec("random", 0.01, 0.01)),
    ("random:0.2:0.1:0.7", SplitSpec("random", 0.2, 0.1)),
    ("random:10:10", SplitSpec("random", 0.1, 0.1)),
])
def test_parse_split(text, expected):
    assert parse_split(text) == expected


@pytest.mark.parametrize("text", ["publik", "random:0.1", "random:a:b", "random:0.5:0.5",
                                  "random:10:10:10", "random:0:0.1", 3])
def test_parse_split_rejects(text):
    with pytest.raises(ValueError):
        parse_split(text)


def test_split_names_round_trip():
    spec = parse_split("random:0.01:0.01")
    assert spec.name == "random-0.01-0.01"
    assert parse_split(spec.name) == spec
    assert SplitSpec("public").name == "public"


def test_index_to_mask():
    assert index_to_mask(torch.tensor([[3], [1]]), 5).tolist() == [False, True, False, True, False]
