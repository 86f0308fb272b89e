"""Fixtures for the whole suite."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Every test on one torch thread (tiny models train faster so on 2 shared cores); restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
