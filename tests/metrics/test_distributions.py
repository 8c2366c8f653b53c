import pytest
import torch

from equigen.metrics import mmd_rbf, sliced_wasserstein


def test_sliced_wasserstein_shift():
    """For a pure shift v, SW_2^2 = E_theta (theta.v)^2 = |v|^2 / d."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2000, 3, generator=g, dtype=torch.float64)
    v = torch.tensor([0.3, -0.4, 1.2], dtype=torch.float64)
    sw = sliced_wasserstein(x, x + v, projections=2000, generator=torch.Generator().manual_seed(1))
    assert sw == pytest.approx(float(v.norm()) / 3 ** 0.5, rel=0.03)
    assert sliced_wasserstein(x, x, generator=torch.Generator().manual_seed(1)) == 0.0


def test_mmd_zero_for_same_distribution_and_positive_otherwise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(1500, 3, generator=g), torch.randn(1500, 3, generator=g)
    assert abs(mmd_rbf(a, b)) < 3e-3
    assert mmd_rbf(a, b + 0.5) > 0.03


@pytest.mark.parametrize("fn", [sliced_wasserstein, mmd_rbf])
def test_bad_input(fn):
    with pytest.raises(ValueError, match="same dimension"):
        fn(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="NaN"):
        fn(torch.full((5, 3), float("nan")), torch.zeros(5, 3))
    with pytest.raises(TypeError, match="x must be"):
        fn([[0.0]], torch.zeros(5, 1))
