"""Conditional field diffusion: translation equivariance of the periodic sampler, hard constraints, projections."""

import pytest
import torch

from equigen.data.poisson import boundary_violation, pde_residual, poisson_pairs
from equigen.generative.diffusion import Diffusion
from equigen.generative.field_diffusion import (
    FieldDenoiser,
    FourierBandLimit,
    SineBandLimit,
    SineFieldDenoiser,
    jacobi_sweeps,
    zero_mean,
)
from equigen.groups import GridShifts
from equigen.nn.sine import BoxReflections
from equigen.testing import EquivarianceError, assert_equivariant

STEPS = 6  # a short chain keeps the test fast; every step is the same kind of map


def _sampler(net, diffusion, sampler, shape):
    """The conditional sampler as a function of (rho, x_T, step noises), all fields."""
    def fn(rho, noise, step_noise):
        if sampler == "ddpm":
            return diffusion.sample_ddpm(net, None, rho, steps=STEPS, noise=noise, step_noise=step_noise)
        return diffusion.sample_ddim(net, None, rho, steps=STEPS, noise=noise, step_noise=step_noise, eta=0.5)
    return fn


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
@pytest.mark.parametrize("hard", [False, True])
def test_periodic_conditional_sampler_is_translation_equivariant(dtype, sampler, hard):
    """Shifting rho and the noise (initial and per step) shifts the sampled phi, exactly (the kit checks it)."""
    g = torch.Generator().manual_seed(0)
    net = FieldDenoiser(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8, num_steps=50, generator=g, dtype=dtype)
    diffusion = Diffusion("cosine", num_steps=50, project=FourierBandLimit(4) if hard else None)
    shape = (2, 1, 9, 8)
    rho = torch.randn(shape, generator=g, dtype=dtype)
    noise = torch.randn(shape, generator=g, dtype=dtype)
    steps = torch.randn(STEPS - 1, *shape, generator=g, dtype=dtype)
    reports = assert_equivariant(_sampler(net, diffusion, sampler, shape), (rho, noise, steps), GridShifts(2),
                                 ("field", "field", "field"), ("field",), trials=3)
    assert len(reports) >= 6


def test_unconstrained_twin_breaks_translation_equivariance():
    g = torch.Generator().manual_seed(0)
    net = FieldDenoiser(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8, num_steps=50, positional=True,
                        generator=g, dtype=torch.float64)
    diffusion = Diffusion("cosine", num_steps=50)
    shape = (2, 1, 9, 8)
    args = (torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64),
            torch.randn(STEPS - 1, *shape, generator=g, dtype=torch.float64))
    with pytest.raises(EquivarianceError):
        assert_equivariant(_sampler(net, diffusion, "ddpm", shape), args, GridShifts(2), ("field",) * 3, ("field",))


def test_dirichlet_hard_sampler_zero_boundary_and_reflections():
    g = torch.Generator().manual_seed(1)
    net = SineFieldDenoiser(1, 1, width=8, modes=6, depth=2, time_dim=8, num_steps=50, generator=g,
                            dtype=torch.float64)
    hard = Diffusion("cosine", num_steps=50, project=SineBandLimit(6))
    rho, _ = poisson_pairs(3, 12, "dirichlet", generator=g)
    for x in (hard.sample_ddpm(net, rho.shape, rho, generator=g, dtype=torch.float64),
              hard.sample_ddim(net, rho.shape, rho, steps=10, generator=g, dtype=torch.float64)):
        assert float(boundary_violation(x).max()) == 0.0  # identically 0, not just small
        assert float(x.abs().max()) > 0
    # the soft twin (Fourier blocks, no projection) violates the boundary
    soft_net = FieldDenoiser(1, 1, width=8, modes=4, depth=2, time_dim=8, num_steps=50, generator=g,
                             dtype=torch.float64)
    x = Diffusion("cosine", num_steps=50).sample_ddim(soft_net, rho.shape, rho, steps=10, generator=g,
                                                      dtype=torch.float64)
    assert float(boundary_violation(x).min()) > 1e-3
    # box reflections: the hard sampler commutes with flips of rho and the noises
    shape = (2, 1, 10, 9)
    args = (torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64),
            torch.randn(STEPS - 1, *shape, generator=g, dtype=torch.float64))
    assert_equivariant(_sampler(net, hard, "ddpm", shape), args, BoxReflections(2), ("field",) * 3, ("field",))


def test_periodic_gauge_exact_with_projection():
    g = torch.Generator().manual_seed(2)
    net = FieldDenoiser(1, 1, width=8, modes=4, depth=2, time_dim=8, num_steps=50, generator=g, dtype=torch.float64)
    rho, _ = poisson_pairs(3, 16, "periodic", generator=g)
    x = Diffusion("cosine", num_steps=50, project=zero_mean).sample_ddpm(net, rho.shape, rho, generator=g,
                                                                          dtype=torch.float64)
    assert float(x.mean(dim=(-2, -1)).abs().max()) < 1e-14 * float(x.abs().max())
    y = Diffusion("cosine", num_steps=50).sample_ddpm(net, rho.shape, rho, generator=g, dtype=torch.float64)
    assert float(y.mean(dim=(-2, -1)).abs().max()) > 1e-4


@pytest.mark.parametrize("proj, shape", [(FourierBandLimit(3), (2, 1, 9, 8)), (FourierBandLimit(4), (2, 1, 9, 8)),
                                         (FourierBandLimit(20, zero_mean=True), (2, 1, 9, 8)),
                                         (SineBandLimit(4), (2, 1, 10, 9)), (SineBandLimit(30), (2, 1, 10, 9))])
def test_projections_are_orthogonal_and_idempotent(proj, shape):
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(shape, generator=g, dtype=torch.float64), torch.randn(shape, generator=g, dtype=torch.float64)
    px = proj(x)
    torch.testing.assert_close(proj(px), px, atol=1e-13, rtol=0)
    torch.testing.assert_close((px * y).sum(), (x * proj(y)).sum(), atol=1e-12, rtol=0)
    assert float((px - x).abs().max()) > 1e-6  # each of these removes something


def test_jacobi_sweeps_smooth_the_residual_but_do_not_solve():
    g = torch.Generator().manual_seed(4)
    for boundary in ("periodic", "dirichlet"):
        rho, phi = poisson_pairs(4, 32, boundary, generator=g)
        torch.testing.assert_close(jacobi_sweeps(phi, rho, boundary, 3), phi, atol=1e-14, rtol=0)
        smooth = FourierBandLimit(4, zero_mean=True) if boundary == "periodic" else SineBandLimit(8)
        # an error with a low-frequency part (kept by the smoother) and a high-frequency part (removed)
        noise = torch.randn(phi.shape, generator=g, dtype=phi.dtype) * 1e-3 * float(phi.abs().max())
        low = smooth(noise) * 5
        bad = phi + low + (noise - smooth(noise))
        if boundary == "dirichlet":
            bad = SineBandLimit(30)(bad)
        fixed = jacobi_sweeps(bad, rho, boundary, 5)
        r0, r1 = pde_residual(bad, rho, boundary), pde_residual(fixed, rho, boundary)
        assert bool((r1 < 0.5 * r0).all()), (r0, r1)
        e0 = (bad - phi).flatten(1).norm(dim=1)
        e1 = (fixed - phi).flatten(1).norm(dim=1)
        assert bool((e1 > 0.3 * e0).all())  # the low-frequency error stays: a smoother, not a solver
    with pytest.raises(ValueError, match="sweeps"):
        jacobi_sweeps(phi, rho, "dirichlet", -1)


def test_denoiser_bad_input():
    net = FieldDenoiser(1, 1, width=4, modes=6, depth=1, time_dim=4)
    t = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="too small"):
        net(torch.randn(2, 1, 8, 8), t, torch.randn(2, 1, 8, 8))  # grid smaller than the modes
    with pytest.raises(ValueError, match="cond"):
        net(torch.randn(2, 1, 16, 16), t, torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        net(torch.randn(2, 1, 16, 16), t, torch.full((2, 1, 16, 16), float("nan")))
    with pytest.raises(ValueError, match="x_t"):
        net(torch.randn(2, 2, 16, 16), t, torch.randn(2, 1, 16, 16))
    with pytest.raises(ValueError, match="conv"):
        FieldDenoiser(conv="wavelet")
    sine = SineFieldDenoiser(1, 1, width=4, modes=12, depth=1, time_dim=4)
    with pytest.raises(ValueError, match="too few"):
        sine(torch.randn(2, 1, 10, 10), t, torch.randn(2, 1, 10, 10))


def test_denoiser_dtypes_and_reproducible_init():
    for dtype in (torch.float32, torch.float64):
        a = FieldDenoiser(1, 1, width=4, modes=3, depth=1, time_dim=4, generator=torch.Generator().manual_seed(0),
                          dtype=dtype)
        b = FieldDenoiser(1, 1, width=4, modes=3, depth=1, time_dim=4, generator=torch.Generator().manual_seed(0),
                          dtype=dtype)
        x = torch.randn(2, 1, 8, 8, dtype=dtype)
        t = torch.tensor([1, 2])
        torch.testing.assert_close(a(x, t, x), b(x, t, x), rtol=0, atol=0)
        assert a(x, t, x).dtype == dtype


def test_sine_denoiser_free_boundary_twin():
    """``free_boundary=True``: the same SineConv network plus a pointwise output map; boundary values free,
    still box-reflection equivariant, ``width + channels`` more parameters; only with ``conv='sine'``."""
    g = torch.Generator().manual_seed(3)
    kw = dict(width=6, modes=5, depth=2, time_dim=8, num_steps=50, dtype=torch.float64)
    hard = SineFieldDenoiser(1, 1, generator=torch.Generator().manual_seed(0), **kw)
    soft = SineFieldDenoiser(1, 1, free_boundary=True, generator=torch.Generator().manual_seed(0), **kw)
    assert sum(p.numel() for p in soft.parameters()) == sum(p.numel() for p in hard.parameters()) + 6 + 1
    x, rho = torch.randn(2, 1, 12, 12, generator=g, dtype=torch.float64), torch.randn(2, 1, 12, 12, generator=g,
                                                                                        dtype=torch.float64)
    t = torch.tensor([3, 40])
    assert float(boundary_violation(hard(x, t, rho)[:, 0]).max()) == 0.0
    assert float(boundary_violation(soft(x, t, rho)[:, 0]).min()) > 1e-6
    assert_equivariant(lambda a, b: soft(a, t, b), (x, rho), BoxReflections(2), ("field",) * 2, ("field",))
    for bad in ("yes", 1):
        with pytest.raises(ValueError, match="free_boundary"):
            SineFieldDenoiser(1, 1, free_boundary=bad, **kw)
    with pytest.raises(ValueError, match="free_boundary"):
        FieldDenoiser(1, 1, free_boundary=True, **kw)
