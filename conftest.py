"""Repository-level pytest configuration: names available to the doctests in ``gcl/``."""

import os

import pytest
import torch

os.environ.setdefault("OUTDATED_IGNORE", "1")


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace):
    doctest_namespace["torch"] = torch
    torch.manual_seed(0)
