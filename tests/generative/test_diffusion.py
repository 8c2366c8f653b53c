"""Diffusion core: schedules, objectives, samplers (explicit noise, exactness on Gaussians, point sets)."""

import math

import pytest
import torch

from equigen.generative.diffusion import Diffusion, NoiseSchedule, spaced_timesteps, timestep_embedding
from equigen.groups import O3
from equigen.testing import assert_equivariant


@pytest.mark.parametrize("make", [NoiseSchedule.linear, NoiseSchedule.cosine])
@pytest.mark.parametrize("T", [1000, 100, 7])
def test_schedule_properties(make, T):
    s = make(T)
    assert s.num_steps == T and s.betas.dtype == torch.float64
    assert bool(((s.betas > 0) & (s.betas < 1)).all())
    ab = s.alpha_bars
    assert bool((ab[1:] < ab[:-1]).all()), "alpha_bar must decrease strictly"
    assert bool((ab > 0).all()) and float(ab[0]) < 1
    snr = s.snr()
    assert bool((snr[1:] < snr[:-1]).all()), "SNR must decrease strictly"
    torch.testing.assert_close(s.snr(torch.tensor([0, T - 1])), snr[[0, T - 1]])
    if T >= 100:  # the chain ends in (nearly) pure noise and starts nearly clean
        assert float(ab[-1]) < 1e-3
        assert float(ab[0]) > 0.99


def test_schedule_bad_input():
    with pytest.raises(ValueError, match="betas"):
        NoiseSchedule([0.1, 1.2])
    with pytest.raises(ValueError, match="num_steps"):
        NoiseSchedule.cosine(0)
    with pytest.raises(ValueError, match="schedule"):
        Diffusion("quadratic")
    with pytest.raises(ValueError, match="objective"):
        Diffusion(objective="score")
    with pytest.raises(ValueError, match="steps"):
        spaced_timesteps(10, 11)
    assert spaced_timesteps(1000, 20)[0] == 999 and spaced_timesteps(1000, 20)[-1] == 0
    assert len(set(spaced_timesteps(1000, 1000))) == 1000


def test_timestep_embedding_shape():
    e = timestep_embedding(torch.tensor([0, 5, 999]), 16, 1000)
    assert e.shape == (3, 16) and torch.isfinite(e).all()
    assert not torch.allclose(e[1], e[2])


@pytest.mark.parametrize("objective", ["eps", "v", "x0"])
def test_objective_roundtrip(objective):
    g = torch.Generator().manual_seed(0)
    d = Diffusion("linear", num_steps=50, objective=objective)
    x0 = torch.randn(5, 2, 4, 4, generator=g, dtype=torch.float64)
    noise = torch.randn(5, 2, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 3, 17, 48, 49])
    xt = d.q_sample(x0, t, noise)
    x0_hat, eps_hat = d.predict(d.target(x0, noise, t), xt, t)
    torch.testing.assert_close(x0_hat, x0, atol=1e-10, rtol=0)
    torch.testing.assert_close(eps_hat, noise, atol=1e-10, rtol=0)


def test_point_sets_with_batch_vector():
    """Rows of (N, 3) grouped by a batch vector get their own sample's time step."""
    g = torch.Generator().manual_seed(0)
    d = Diffusion("cosine", num_steps=20)
    batch = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
    x0 = torch.randn(9, 3, generator=g, dtype=torch.float64)
    noise = torch.randn(9, 3, generator=g, dtype=torch.float64)
    t = torch.tensor([2, 10, 19])
    xt = d.q_sample(x0, t, noise, batch=batch)
    ab = d.schedule.alpha_bars[t][batch][:, None]
    torch.testing.assert_close(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * noise)
    # training loss and samplers accept the batch vector; a CoM projection keeps every sample centred
    def com_free(x):
        mean = torch.zeros(3, 3, dtype=x.dtype).index_add_(0, batch, x) / torch.bincount(batch)[:, None]
        return x - mean[batch]
    d = Diffusion("cosine", num_steps=20, project=com_free)
    calls = []

    def den(x, tt, cond):
        calls.append(tt.shape)
        return 0.3 * x
    loss = d.training_loss(den, com_free(x0), batch=batch, generator=g)
    assert loss.dim() == 0 and calls[-1] == (3,)
    for sample in (d.sample_ddpm(den, (9, 3), batch=batch, generator=g, dtype=torch.float64),
                   d.sample_ddim(den, (9, 3), batch=batch, steps=5, eta=0.5, generator=g, dtype=torch.float64)):
        torch.testing.assert_close(com_free(sample), sample, atol=1e-12, rtol=0)
        assert float(sample.abs().max()) > 0


def test_point_set_sampler_rotation_equivariance_with_given_noise():
    """An equivariant denoiser and rotated noises give the rotated sample: the kit checks it (O(3))."""
    d = Diffusion("cosine", num_steps=30)

    def den(x, t, cond):  # O(3)-equivariant: radial rescaling per point
        return x * torch.tanh(x.norm(dim=-1, keepdim=True)) * (1 + t[:, None, None] / 30)

    # all noises as one (8 * 10, 3) tensor of vectors: initial x_T (2 samples x 5 points) + 7 step noises
    def ddpm(noises):
        noises = noises.reshape(8, 2, 5, 3)
        return d.sample_ddpm(den, None, noise=noises[0], step_noise=noises[1:], steps=8).reshape(10, 3)

    def ddim(noises):
        noises = noises.reshape(8, 2, 5, 3)
        return d.sample_ddim(den, None, noise=noises[0], step_noise=noises[1:], steps=8, eta=1.0).reshape(10, 3)

    g = torch.Generator().manual_seed(1)
    for dtype in (torch.float64, torch.float32):
        noises = torch.randn(80, 3, generator=g, dtype=torch.float64).to(dtype)
        for fn in (ddpm, ddim):
            assert_equivariant(fn, (noises,), O3(), ("vectors",), ("vectors",))


def test_explicit_noise_equals_generator_noise_and_determinism():
    d = Diffusion("cosine", num_steps=40)

    def den(x, t, cond):
        return torch.sin(x) + cond

    shape = (3, 1, 6, 6)
    cond = torch.randn(shape, generator=torch.Generator().manual_seed(9))
    a = d.sample_ddpm(den, shape, cond, steps=10, generator=torch.Generator().manual_seed(5))
    b = d.sample_ddpm(den, shape, cond, steps=10, generator=torch.Generator().manual_seed(5))
    c = d.sample_ddpm(den, shape, cond, steps=10, generator=torch.Generator().manual_seed(6))
    assert a.shape == shape
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert float((a - c).abs().max()) > 1e-3
    g = torch.Generator().manual_seed(5)
    noise = torch.randn(shape, generator=g)
    steps = torch.stack([torch.randn(shape, generator=g) for _ in range(9)])
    torch.testing.assert_close(d.sample_ddpm(den, None, cond, steps=10, noise=noise, step_noise=steps), a,
                               rtol=0, atol=0)
    torch.testing.assert_close(d.sample_ddpm(den, None, cond, steps=10, noise=noise,
                                             step_noise=lambda i: steps[i]), a, rtol=0, atol=0)
    # DDIM with eta = 0 uses only the initial noise
    e = d.sample_ddim(den, None, cond, steps=10, noise=noise)
    f = d.sample_ddim(den, shape, cond, steps=10, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(e, f, rtol=0, atol=0)


def _gaussian_oracle(d, mu, s):
    """The exact eps-predictor for data ~ N(mu, s^2 I)."""
    def den(x, t, cond):
        ab = d.schedule.alpha_bars[t].to(x.dtype).reshape(-1, *[1] * (x.dim() - 1))
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s**2 + 1 - ab)
    return den


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "ddim-eta1"])
def test_samplers_are_exact_for_gaussian_data(sampler):
    """With the exact denoiser of N(mu, s^2), samples have mean mu and std s (DDIM: also in few steps)."""
    d = Diffusion("linear", num_steps=1000)
    mu, s = 1.5, 0.3
    den = _gaussian_oracle(d, mu, s)
    g = torch.Generator().manual_seed(0)
    n = 20000
    if sampler == "ddpm":
        x = d.sample_ddpm(den, (n, 1), generator=g, dtype=torch.float64)
    elif sampler == "ddim":
        x = d.sample_ddim(den, (n, 1), steps=100, generator=g, dtype=torch.float64)
    else:
        x = d.sample_ddim(den, (n, 1), steps=200, eta=1.0, generator=g, dtype=torch.float64)
    se = s / math.sqrt(n)
    assert abs(float(x.mean()) - mu) < 5 * se + 2e-3
    assert abs(float(x.std()) - s) < 0.02 * s + 5 * se
    # a wrong denoiser (variance s = 0.5) is detected by the same check
    if sampler == "ddim":
        y = d.sample_ddim(_gaussian_oracle(d, mu, 0.5), (n, 1), steps=100, generator=g, dtype=torch.float64)
        assert abs(float(y.std()) - s) > 0.1


@pytest.mark.parametrize("objective", ["eps", "v", "x0"])
def test_training_loss_decreases(objective):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    d = Diffusion("cosine", num_steps=100, objective=objective)
    x = torch.randn(256, 1, generator=g) * 0.2 + torch.where(torch.rand(256, 1, generator=g) < 0.5, -1.0, 1.0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.SiLU(), torch.nn.Linear(64, 64), torch.nn.SiLU(),
                              torch.nn.Linear(64, 1))

    def den(xt, t, cond):
        return net(torch.cat([xt, t[:, None].float() / 100], 1))

    def evaluate():
        with torch.no_grad():
            return float(sum(d.training_loss(den, x, generator=torch.Generator().manual_seed(k)) for k in range(8)))
    before = evaluate()
    opt = torch.optim.Adam(net.parameters(), 3e-3)
    for _ in range(300):
        loss = d.training_loss(den, x, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = evaluate()
    assert after < 0.9 * before, (before, after)


def test_sampler_bad_input():
    d = Diffusion("cosine", num_steps=10)

    def den(x, t, cond):
        return x

    with pytest.raises(ValueError, match="steps"):
        d.sample_ddim(den, (1, 2), steps=20)
    with pytest.raises(ValueError, match="eta"):
        d.sample_ddim(den, (1, 2), eta=-1.0, steps=5)
    with pytest.raises(ValueError, match="shape"):
        d.sample_ddpm(den, (1, 2), noise=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="NaN"):
        d.sample_ddpm(den, None, noise=torch.full((1, 2), float("nan")))
    with pytest.raises(ValueError, match="step_noise"):
        d.sample_ddpm(den, None, noise=torch.zeros(1, 2), step_noise=torch.zeros(3, 1, 2))
    with pytest.raises(ValueError, match="give shape"):
        d.sample_ddpm(den)
    with pytest.raises(ValueError, match="returned shape"):
        d.sample_ddim(lambda x, t, c: x[:, :1], (1, 2), steps=3)
    with pytest.raises(ValueError, match="t must"):
        d.q_sample(torch.zeros(2, 3), torch.tensor([0, 10]), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="batch"):
        d.q_sample(torch.zeros(2, 3), 0, torch.zeros(2, 3), batch=torch.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="project"):
        Diffusion(project=3)


def test_clip_x0_bounds_the_prediction():
    def den(x, t, cond):
        return 100 * x  # a bad eps-predictor: x0 = (x - s1 * 100 x) / sa explodes at large t
    g = torch.Generator().manual_seed(0)
    raw = Diffusion("cosine", num_steps=100).sample_ddim(den, (4, 8), steps=10, generator=g)
    clipped = Diffusion("cosine", num_steps=100, clip_x0=2.0).sample_ddim(den, (4, 8), steps=10,
                                                                          generator=torch.Generator().manual_seed(0))
    assert float(raw.abs().max()) > 10
    assert float(clipped.abs().max()) <= 2.0
    with pytest.raises(ValueError, match="clip_x0"):
        Diffusion(clip_x0=-1.0)
