import pytest
import torch


@pytest.fixture
def binary_x() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.bernoulli(torch.full((6, 4), 0.5), generator=g)
