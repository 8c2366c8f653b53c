"""DW4/LJ13 systems, the reference sampler, and E(n)-equivariant point-set diffusion."""

import itertools
import math

import numpy as np
import pytest
import torch

from equigen.data.particles import (
    DW4,
    LJ13,
    ParticleSystem,
    integrated_autocorrelation_time,
    remove_com,
    sample_reference,
    split_rhat,
)
from equigen.generative.equivariant_diffusion import EGNNDenoiser, PointDiffusion
from equigen.groups import E, Permutations, haar_orthogonal
from equigen.testing import assert_equivariant, assert_invariant


def _energy_by_hand(system: ParticleSystem, x: np.ndarray) -> float:
    total = 0.0
    for i, j in itertools.combinations(range(len(x)), 2):
        d = math.dist(x[i], x[j])
        if system.kind == "double_well":
            total += 0.9 * (d - 4) ** 4 - 4 * (d - 4) ** 2
        else:
            total += d**-12 - 2 * d**-6
    if system.kind == "lennard_jones":
        c = x.mean(axis=0)
        total += 0.5 * sum(float(np.sum((xi - c) ** 2)) for xi in x)
    return total


@pytest.mark.parametrize("system", [DW4(), LJ13()], ids=["DW4", "LJ13"])
def test_energy_matches_hand_computation(system):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(system.num_particles, system.dim)) * 2
    got = float(system.energy(torch.tensor(x)))
    assert got == pytest.approx(_energy_by_hand(system, x), rel=1e-12)


def test_dw4_square_at_the_offset_distance():
    # Four particles on a square of side d0 = 4: sides cost 0, diagonals d = 4 sqrt 2.
    x = torch.tensor([[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]], dtype=torch.float64)
    s = 4 * math.sqrt(2) - 4
    assert float(DW4().energy(x)) == pytest.approx(2 * (0.9 * s**4 - 4 * s**2), rel=1e-14)


@pytest.mark.parametrize("system", [DW4(), LJ13()], ids=["DW4", "LJ13"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_energy_invariant_forces_equivariant(system, dtype):
    x = (torch.randn(system.num_particles, system.dim, generator=torch.Generator().manual_seed(1),
                     dtype=torch.float64) * 1.5).to(dtype)
    group = E(system.dim) * Permutations()
    assert_invariant(system.energy, (x,), group, ("positions",))
    assert_equivariant(system.forces, (x,), group, ("positions",), ("vectors",))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="shape"):
        DW4().energy(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="shape"):
        LJ13().energy(torch.zeros(13, 2))
    with pytest.raises(ValueError, match="NaN"):
        DW4().energy(torch.full((4, 2), float("nan")))
    with pytest.raises(ValueError, match="temperature"):
        DW4(temperature=0.0)
    with pytest.raises(ValueError, match="temperature"):
        LJ13(temperature=-1.0)
    with pytest.raises(TypeError):
        DW4().energy(torch.zeros(4, 2, dtype=torch.long))
    model = PointDiffusion(4, 2, hidden=8, num_layers=1, num_steps=10)
    with pytest.raises(ValueError, match="shape"):
        model.fit(torch.zeros(10, 13, 3), steps=1)
    with pytest.raises(ValueError, match="NaN"):
        model.nll(torch.full((2, 4, 2), float("nan")))


def test_remove_com_is_an_orthogonal_projection():
    x = torch.randn(6, 5, 3, dtype=torch.float64)
    y = torch.randn(6, 5, 3, dtype=torch.float64)
    p = remove_com(x)
    assert torch.allclose(remove_com(p), p, atol=1e-15)
    assert p.mean(dim=-2).abs().max() < 1e-15
    assert float((remove_com(x) * y).sum()) == pytest.approx(float((x * remove_com(y)).sum()), rel=1e-12)


def test_autocorrelation_time_of_ar1_and_rhat():
    rng = np.random.default_rng(0)
    phi, chains, n = 0.8, 16, 20000
    x = np.zeros((chains, n))
    for k in range(1, n):
        x[:, k] = phi * x[:, k - 1] + rng.normal(size=chains)
    tau = integrated_autocorrelation_time(x)
    assert tau == pytest.approx((1 + phi) / (1 - phi), rel=0.1)  # exact value 9
    assert split_rhat(x) < 1.01
    shifted = x + np.arange(chains)[:, None]  # chains that disagree
    assert split_rhat(shifted) > 1.5


def test_reference_sampler_mixes_on_dw4():
    ref = sample_reference(DW4(), 1024, chains=64, burn_in=1500, seed=0)
    diag = ref.diagnostics
    assert ref.pos.shape == (1024, 4, 2)
    assert 0.25 < diag["acceptance"] < 0.6
    assert diag["rhat"] < 1.1 and diag["ess"] > 500
    assert ref.pos.mean(dim=1).abs().max() < 1e-12
    # Independent seed: the mean energy agrees within 5 standard errors.
    other = sample_reference(DW4(), 1024, chains=64, burn_in=1500, seed=1)
    se = math.sqrt(ref.energy.var() / diag["ess"] + other.energy.var() / other.diagnostics["ess"])
    assert abs(float(ref.energy.mean() - other.energy.mean())) < 5 * se


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("dim", [2, 3])
def test_egnn_denoiser_is_equivariant(dtype, dim):
    torch.manual_seed(0)
    net = EGNNDenoiser(dim, num_steps=50, hidden=16, num_layers=2, dtype=dtype)
    t = torch.tensor([7])
    x = torch.randn(5, dim, generator=torch.Generator().manual_seed(2), dtype=torch.float64).to(dtype)
    assert_equivariant(lambda p: net(p[None], t)[0], (x,), E(dim) * Permutations(), ("positions",), ("vectors",))


def _act(x, rot, perm):
    return x[..., perm, :] @ rot.T


def test_sampler_maps_transformed_noise_to_transformed_sample():
    torch.manual_seed(0)
    model = PointDiffusion(4, 2, hidden=16, num_layers=2, num_steps=40, dtype=torch.float64)
    gen = torch.Generator().manual_seed(3)
    noise = torch.randn(3, 4, 2, generator=gen, dtype=torch.float64)
    steps = torch.randn(9, 3, 4, 2, generator=gen, dtype=torch.float64)
    rot = haar_orthogonal(2, proper=False, generator=gen)
    perm = torch.tensor([2, 0, 3, 1])
    base = model.sample(3, sampler="ddpm", steps=10, noise=noise, step_noise=steps)
    moved = model.sample(3, sampler="ddpm", steps=10, noise=_act(noise, rot, perm), step_noise=_act(steps, rot, perm))
    assert (moved - _act(base, rot, perm)).abs().max() < 1e-10 * base.abs().max()
    assert base.mean(dim=1).abs().max() < 1e-12  # zero centre of mass
    ddim = model.sample(3, sampler="ddim", steps=10, noise=noise)
    ddim_moved = model.sample(3, sampler="ddim", steps=10, noise=_act(noise, rot, perm))
    assert (ddim_moved - _act(ddim, rot, perm)).abs().max() < 1e-10 * ddim.abs().max()


class _ExactGaussianDenoiser(torch.nn.Module):
    """The exact eps-predictor when data are standard normal on the CoM-free subspace."""

    def __init__(self, alpha_bars):
        super().__init__()
        self.register_buffer("ab", alpha_bars)
        self.dummy = torch.nn.Parameter(torch.zeros((), dtype=torch.float64))

    def forward(self, x, t, cond=None):
        return (1 - self.ab[t]).sqrt()[:, None, None] * x


def test_nll_is_exact_for_a_gaussian():
    model = PointDiffusion(4, 2, hidden=8, num_layers=1, num_steps=100, objective="eps", dtype=torch.float64)
    model.denoiser = _ExactGaussianDenoiser(model.diffusion.schedule.alpha_bars.double())
    x = remove_com(torch.randn(5, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    dof = 3 * 2
    exact = 0.5 * x.pow(2).sum(dim=(-2, -1)) + 0.5 * dof * math.log(2 * math.pi)
    got = model.nll(x, steps=50, probes=4, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(got, exact, atol=1e-8)
    # Data scaled by 3: the density of 3x is that of x divided by 3^dof.
    model.data_scale.fill_(3.0)
    assert torch.allclose(model.nll(3 * x, steps=50), exact + dof * math.log(3.0), atol=1e-8)


def test_short_training_lowers_the_loss():
    torch.manual_seed(0)
    data = sample_reference(DW4(), 256, chains=32, burn_in=500, seed=0).pos.float()
    model = PointDiffusion(4, 2, hidden=16, num_layers=2, num_steps=100)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(torch.stack([model.training_loss(data, generator=gen) for _ in range(5)]).mean())
    model.fit(data, steps=150, batch_size=64, lr=3e-3)
    with torch.no_grad():
        after = float(torch.stack([model.training_loss(data, generator=gen) for _ in range(5)]).mean())
    assert after < 0.85 * before


@pytest.mark.parametrize("dim", [2, 3])
def test_dense_egnn_equals_the_edge_list_egnn(dim):
    torch.manual_seed(0)
    net = EGNNDenoiser(dim, num_steps=50, hidden=16, num_layers=2, coords_range=3.0, chunk=3, dtype=torch.float64)
    x = torch.randn(4, 6, dim, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    t = torch.tensor([0, 7, 20, 49])
    dense = net(x, t)
    net.dense = False
    assert (dense - net(x, t)).abs().max() < 1e-12 * dense.abs().max()


def test_signal_scale_and_low_noise_training_steps():
    data = remove_com(torch.randn(50, 4, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    rms = float(data.pow(2).sum(-1).mean().sqrt())
    model = PointDiffusion(4, 2, hidden=8, num_layers=1, num_steps=100, signal=3.0, t_power=2.0, dtype=torch.float64)
    model.set_scale(data)
    assert abs(float(model.data_scale) - rms / 3.0) < 1e-12
    seen = []

    def record(x, t, cond):
        seen.append(t)
        return torch.zeros_like(x)

    for k in range(20):
        model.diffusion.training_loss(record, data, generator=torch.Generator().manual_seed(k))
    t = torch.cat(seen).double() / 100
    assert abs(float(t.mean()) - 1 / 3) < 0.03  # E[u^2] = 1/3, against 1/2 for uniform steps
    for bad in ({"signal": 0.0}, {"t_power": -1.0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            PointDiffusion(4, 2, hidden=8, num_layers=1, **bad)
