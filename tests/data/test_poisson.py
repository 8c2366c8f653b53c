"""Poisson solvers (periodic FFT, Dirichlet DST), random sources, metrics, and SineConv."""

import math

import pytest
import scipy.fft
import torch

from equigen.data.poisson import (
    boundary_violation,
    gaussian_random_field,
    grid_coordinates,
    laplacian,
    pde_residual,
    poisson_pairs,
    random_blobs,
    solve,
    solve_dirichlet,
    solve_periodic,
)
from equigen.groups import Element, GridPart, GridReflections, GridShifts
from equigen.nn.sine import BoxReflections, SineConv, dst1, idst1
from equigen.testing import assert_equivariant


@pytest.mark.parametrize("size", [32, 64, 33])
@pytest.mark.parametrize("n", [(1, 0), (2, 3), (5, 1)])
def test_periodic_solver_exact_on_fourier_modes(size, n):
    L = 2.0
    x = grid_coordinates(size, "periodic", L)
    kx, ky = 2 * math.pi * n[0] / L, 2 * math.pi * n[1] / L
    rho = torch.sin(kx * x + 0.3)[:, None] * torch.cos(ky * x - 0.1)[None, :]
    phi = solve_periodic(rho, L)
    exact = -rho / (kx**2 + ky**2)
    torch.testing.assert_close(phi, exact, atol=1e-15 * float(exact.abs().max()) * size, rtol=0)


@pytest.mark.parametrize("size", [32, 64, 17])
@pytest.mark.parametrize("k", [(1, 1), (2, 3), (7, 4)])
def test_dirichlet_solver_exact_on_sine_modes(size, k):
    L = 1.5
    x = grid_coordinates(size, "dirichlet", L)
    rho = torch.sin(math.pi * k[0] * x / L)[:, None] * torch.sin(math.pi * k[1] * x / L)[None, :]
    phi = solve_dirichlet(rho, L)
    exact = -rho / ((math.pi / L) ** 2 * (k[0] ** 2 + k[1] ** 2))
    exact[0], exact[-1], exact[:, 0], exact[:, -1] = 0, 0, 0, 0
    assert float((phi - exact).abs().max()) < 1e-14 * float(exact.abs().max()) * size
    assert float(boundary_violation(phi)) == 0.0


def _five_point(phi, h, periodic):
    if periodic:
        return (torch.roll(phi, 1, -1) + torch.roll(phi, -1, -1) + torch.roll(phi, 1, -2) + torch.roll(phi, -1, -2)
                - 4 * phi) / h**2
    c = phi[..., 1:-1, 1:-1]
    return (phi[..., 2:, 1:-1] + phi[..., :-2, 1:-1] + phi[..., 1:-1, 2:] + phi[..., 1:-1, :-2] - 4 * c) / h**2


@pytest.mark.parametrize("boundary", ["periodic", "dirichlet"])
def test_fd_option_solves_the_five_point_equation(boundary):
    rho, _ = poisson_pairs(3, 24, boundary, source="grf", generator=torch.Generator().manual_seed(1))
    phi = solve(rho, boundary, 1.0, laplacian="fd")
    if boundary == "periodic":
        torch.testing.assert_close(_five_point(phi, 1 / 24, True), rho, atol=1e-11, rtol=0)
    else:
        torch.testing.assert_close(_five_point(phi, 1 / 23, False), rho[..., 1:-1, 1:-1], atol=1e-11, rtol=0)
        assert float(boundary_violation(phi).max()) == 0.0


@pytest.mark.parametrize("boundary", ["periodic", "dirichlet"])
@pytest.mark.parametrize("size", [32, 64])
def test_pairs_residual_metrics_and_laplacian_roundtrip(boundary, size):
    rho, phi = poisson_pairs(4, size, boundary, generator=torch.Generator().manual_seed(0))
    assert rho.shape == phi.shape == (4, 1, size, size) and rho.dtype == torch.float64
    assert float(pde_residual(phi, rho, boundary).max()) < 1e-11
    lap = laplacian(phi, boundary)
    inner = (Ellipsis, slice(1, -1), slice(1, -1)) if boundary == "dirichlet" else (Ellipsis,)
    torch.testing.assert_close(lap[inner], rho[inner], atol=1e-11, rtol=0)
    # a perturbed solution has a clearly non-zero residual: the metric can fail
    bad = phi + 1e-3 * torch.randn(phi.shape, generator=torch.Generator().manual_seed(2), dtype=phi.dtype)
    assert float(pde_residual(bad, rho, boundary).min()) > 1e-3
    if boundary == "dirichlet":
        assert float(boundary_violation(phi).max()) == 0.0
        assert float(boundary_violation(bad).min()) > 0
    else:
        assert float(phi.mean(dim=(-2, -1)).abs().max()) < 1e-15
        assert float(rho.mean(dim=(-2, -1)).abs().max()) < 1e-14


def test_sources_are_reproducible_and_normalised():
    for boundary in ("periodic", "dirichlet"):
        for fn in (gaussian_random_field, random_blobs):
            a = fn(3, 32, boundary, generator=torch.Generator().manual_seed(5))
            b = fn(3, 32, boundary, generator=torch.Generator().manual_seed(5))
            torch.testing.assert_close(a, b, rtol=0, atol=0)
            torch.testing.assert_close(a.pow(2).mean(dim=(-2, -1)), torch.ones(3, dtype=a.dtype))
            if boundary == "periodic":
                assert float(a.mean(dim=(-2, -1)).abs().max()) < 1e-14


def test_periodic_solver_commutes_with_shifts_and_reflections():
    rho, _ = poisson_pairs(2, 16, "periodic", generator=torch.Generator().manual_seed(3))
    assert_equivariant(lambda r: solve_periodic(r), (rho,), GridShifts(2) * GridReflections(2), ("field",),
                       ("field",))


def test_dirichlet_solver_commutes_with_box_reflections():
    rho, _ = poisson_pairs(2, 16, "dirichlet", generator=torch.Generator().manual_seed(3))
    assert_equivariant(lambda r: solve_dirichlet(r), (rho,), BoxReflections(2), ("field",), ("field",))


def test_periodic_mean_error_and_projection():
    rho, _ = poisson_pairs(2, 16, "periodic", generator=torch.Generator().manual_seed(3))
    with pytest.raises(ValueError, match="non-zero mean"):
        solve_periodic(rho + 0.1)
    torch.testing.assert_close(solve_periodic(rho + 0.1, mean="project"), solve_periodic(rho))


@pytest.mark.parametrize("bad, match", [
    (torch.full((8, 8), float("nan"), dtype=torch.float64), "NaN"),
    (torch.zeros(8, dtype=torch.float64), "spatial axes"),
    (torch.zeros(8, 8, dtype=torch.long), "dtype"),
    ([[0.0]], "torch.Tensor"),
])
def test_solver_bad_input(bad, match):
    err = TypeError if isinstance(bad, list) else ValueError
    with pytest.raises(err, match=match):
        solve_periodic(bad)
    with pytest.raises(err, match=match):
        solve_dirichlet(bad)


def test_solver_bad_arguments():
    rho = torch.zeros(8, 8, dtype=torch.float64)
    with pytest.raises(ValueError, match="boundary"):
        solve(rho, "neumann")
    with pytest.raises(ValueError, match="length"):
        solve_periodic(rho, -1.0)
    with pytest.raises(ValueError, match="laplacian"):
        solve_dirichlet(rho, laplacian="fem")
    with pytest.raises(ValueError, match=">= 3"):
        solve_dirichlet(torch.zeros(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="size"):
        poisson_pairs(2, 3, "dirichlet")
    with pytest.raises(ValueError, match="source"):
        poisson_pairs(2, 8, "periodic", source="waves")


# ---------------------------------------------------------------- DST and SineConv
def test_dst1_matches_scipy_and_inverts():
    x = torch.randn(3, 4, 11, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ref = torch.from_numpy(scipy.fft.dst(x.numpy(), type=1, axis=1)) / 2
    torch.testing.assert_close(dst1(x, 1), ref, atol=1e-14, rtol=0)
    torch.testing.assert_close(idst1(dst1(x, -1), -1), x, atol=1e-14, rtol=0)


def test_sineconv_zero_boundary_and_shapes(dtype):
    g = torch.Generator().manual_seed(0)
    layer = SineConv(2, 3, (5, 4), generator=g, dtype=dtype)
    x = torch.randn(4, 2, 20, 15, generator=g, dtype=dtype) * 100
    y = layer(x)
    y.sum().backward()
    y = y.detach()
    assert y.shape == (4, 3, 20, 15) and y.dtype == dtype
    assert float(boundary_violation(y).abs().max()) == 0.0
    assert float(y.abs().max()) > 0
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


def test_sineconv_matches_dense_reference_and_is_resolution_independent():
    g = torch.Generator().manual_seed(1)
    layer = SineConv(1, 1, (3, 2), generator=g, dtype=torch.float64)
    w = layer.weight.detach()[0, 0]
    for size in (12, 25):
        x = grid_coordinates(size, "dirichlet")
        # a band-limited input: the layer's output is the same function on both grids
        f = (torch.sin(math.pi * x)[:, None] * torch.sin(2 * math.pi * x)[None]
             + 0.5 * torch.sin(3 * math.pi * x)[:, None] * torch.sin(math.pi * x)[None]
             + 0.7 * torch.sin(5 * math.pi * x)[:, None] * torch.sin(math.pi * x)[None])  # k=5 dropped
        expected = (w[0, 1] * torch.sin(math.pi * x)[:, None] * torch.sin(2 * math.pi * x)[None]
                    + 0.5 * w[2, 0] * torch.sin(3 * math.pi * x)[:, None] * torch.sin(math.pi * x)[None])
        y = layer(f[None, None])[0, 0]
        torch.testing.assert_close(y, expected, atol=1e-13, rtol=0)


def test_sineconv_reflection_element_is_the_box_flip():
    x = torch.arange(5.0, dtype=torch.float64).reshape(1, 1, 5)
    e = BoxReflections(1).edge_cases()[1]
    torch.testing.assert_close(e.act(x, "field"), x.flip(-1))
    # and SineConv does not commute with shifts (walls): the kit catches it
    layer, (inp,) = SineConv.symmetry_example(dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(AssertionError):
        assert_equivariant(layer, (inp,), None, ("field",), ("field",), element=Element(GridPart([1, 1], [1, 0])))


def test_sineconv_bad_input():
    layer = SineConv(2, 3, 6)
    with pytest.raises(ValueError, match="too few"):
        layer(torch.randn(1, 2, 7, 7))
    with pytest.raises(ValueError, match="channels"):
        layer(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.randn(1, 2, 16, 16, dtype=torch.float64))
    with pytest.raises(ValueError, match=">= 1"):
        SineConv(1, 1, 0)
