"""The learner tests' one fixture: two torch threads each (CI has 2 cores). Their inputs (a tiny config,
synthetic batches and episodes) are in tests/helpers/learner.py."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)
    yield
