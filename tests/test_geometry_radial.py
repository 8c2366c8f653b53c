import math

import pytest
import torch

from equigen.geometry import BesselBasis, bessel_basis, polynomial_cutoff, radius_graph, safe_norm


def test_polynomial_cutoff_values_and_smoothness():
    r = torch.tensor([0.0, 5.0, 6.0], dtype=torch.float64)
    torch.testing.assert_close(polynomial_cutoff(r, 5.0), torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64))
    x = torch.tensor([5.0 - 1e-4], dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(polynomial_cutoff(x, 5.0).sum(), x, create_graph=True)
    (g2,) = torch.autograd.grad(g.sum(), x)
    assert abs(float(g)) < 1e-7 and abs(float(g2)) < 1e-3  # value, slope and curvature vanish at the cutoff


def test_bessel_basis_finite_at_zero_and_zero_beyond_cutoff():
    r = torch.tensor([0.0, 1e-12, 1.0, 3.0, 3.5], dtype=torch.float64, requires_grad=True)
    b = bessel_basis(r, 3.0, num_basis=5)
    assert b.shape == (5, 5)
    k = torch.arange(1, 6, dtype=torch.float64) * math.pi / 3.0
    torch.testing.assert_close(b[0], math.sqrt(2 / 3.0) * k)
    torch.testing.assert_close(b[1], b[0])
    assert torch.all(b[3:] == 0)
    b.sum().backward()
    assert torch.isfinite(r.grad).all()
    assert torch.equal(BesselBasis(3.0, 5)(r), b)


def test_safe_norm_gradient_at_zero():
    v = torch.zeros(2, 3, requires_grad=True)
    safe_norm(v).sum().backward()
    assert torch.equal(v.grad, torch.zeros(2, 3))


@pytest.mark.parametrize("bad", [-1.0, 0.0, float("nan"), "3"])
def test_bad_cutoffs(bad):
    with pytest.raises(ValueError, match="cutoff"):
        bessel_basis(torch.ones(3), bad)
    with pytest.raises(ValueError, match="cutoff"):
        radius_graph(torch.zeros(3, 3), bad)
