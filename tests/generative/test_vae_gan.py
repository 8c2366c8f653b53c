"""VAE and GAN: shapes, dtypes, reproducible sampling, a short training run lowers the loss, bad input."""

import pytest
import torch

from equigen.generative import GAN, VAE, GenerativeModel


def _data(n=512, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    t = torch.rand(n, generator=g, dtype=torch.float64) * 6.28
    x = torch.stack([t.cos(), t.sin(), 0.1 * torch.randn(n, generator=g, dtype=torch.float64)], -1)
    return x.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("make", [lambda d: VAE(3, 2, hidden=16, layers=2, dtype=d),
                                  lambda d: GAN(3, 2, hidden=16, layers=2, dtype=d)], ids=["VAE", "GAN"])
def test_shapes_dtype_and_reproducible_sampling(make, dtype):
    m = make(dtype)
    assert isinstance(m, GenerativeModel)
    x = m.sample(7, generator=torch.Generator().manual_seed(3))
    y = m.sample(7, generator=torch.Generator().manual_seed(3))
    assert x.shape == (7, 3) and x.dtype == dtype and not x.requires_grad
    torch.testing.assert_close(x, y, rtol=0, atol=0)
    assert m.sample(0).shape == (0, 3)


def test_vae_loss_terms_and_sigma():
    vae = VAE(3, 2, hidden=16, layers=2, sigma=0.5)
    assert float(vae.sigma) == pytest.approx(0.5)
    assert not any(p is vae.log_sigma for p in vae.parameters())  # fixed sigma is a buffer
    out = vae.training_loss(_data(64), generator=torch.Generator().manual_seed(0))
    assert set(out) >= {"loss", "nll", "kl", "sigma"} and out["kl"] >= 0
    learn = VAE(3, 2, hidden=16, layers=2)
    assert any(p is learn.log_sigma for p in learn.parameters())
    # samples: decoder mean plus sigma noise
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    mean = vae.sample(2000, generator=g1, noise=False)
    noisy = vae.sample(2000, generator=g2)
    assert 0.45 < float((noisy - mean).std()) < 0.55


def test_vae_fit_lowers_loss():
    torch.manual_seed(0)
    vae = VAE(3, 2, hidden=32, layers=2)
    x = _data()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        before = float(vae.training_loss(x, generator=g)["loss"])
    vae.fit(x, steps=300, batch_size=128, lr=3e-3, seed=0)
    with torch.no_grad():
        after = float(vae.training_loss(x, generator=torch.Generator().manual_seed(0))["loss"])
    assert after < before - 1.0, (before, after)
    assert vae.history and "loss" in vae.history[-1]


@pytest.mark.parametrize("objective", ["wgan-gp", "ns-r1", "ns-sn"])
def test_gan_fit_moves_samples_towards_data(objective):
    """A short run: the samples' mean distance to the data falls (the adversarial losses need not)."""
    torch.manual_seed(0)
    x = _data()
    gan = GAN(3, 2, hidden=32, layers=2, objective=objective)

    def dist():
        s = gan.sample(256, generator=torch.Generator().manual_seed(5), ema=False)
        return float(torch.cdist(s, x).min(dim=1).values.mean())

    before = dist()
    lr = 3e-4 if objective == "wgan-gp" else 1e-3
    out = gan.fit(x, steps=150, batch_size=128, lr=lr, seed=0, ema_decay=0.9)
    after = dist()
    assert out["steps"] > 0 and torch.isfinite(torch.tensor(out["critic_loss"]))
    assert after < 0.6 * before, (before, after)
    assert gan.ema_generator is not None


def test_gan_time_limit_and_callback():
    calls = []
    gan = GAN(3, 3, hidden=8, layers=1)
    out = gan.fit(_data(64), steps=10_000, batch_size=32, time_limit_s=0.3, log_every=5,
                  callback=lambda m, s: calls.append(s))
    assert out["stopped_early"] and out["steps"] < 10_000 and calls


@pytest.mark.parametrize("bad, exc, match", [
    ([[0.0, 1.0, 2.0]] * 4, TypeError, "data must be a torch.Tensor"),
    (torch.zeros(10, 2), ValueError, "shape"),
    (torch.full((10, 3), float("nan")), ValueError, "NaN"),
    (torch.zeros(1, 3), ValueError, "at least 2"),
])
def test_bad_data(bad, exc, match):
    for m in (VAE(3, 2, hidden=8, layers=1), GAN(3, 2, hidden=8, layers=1)):
        with pytest.raises(exc, match=match):
            m.fit(bad, steps=1)


def test_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim"):
        GAN(3, 0)
    with pytest.raises(ValueError, match="objective"):
        GAN(3, 2, objective="minimax")
    with pytest.raises(ValueError, match="sigma"):
        VAE(3, 2, sigma=-1.0)
    with pytest.raises(ValueError, match="num_samples must be"):
        VAE(3, 2).sample(-1)
    with pytest.raises(ValueError, match="cond"):
        GAN(3, 2).sample(3, cond=torch.zeros(3, 1))
