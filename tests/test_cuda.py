"""Device parity: every layer, sampler, model and the Trainer on a CUDA device.

Skipped without CUDA. ``EQUIGEN_TEST_DEVICE=cpu`` runs the same checks on the CPU (a self-test of
this file). Each check builds the object on the CPU, moves it to the device, and compares: the
device result must match the CPU one (float64 to 1e-10, float32 to 1e-4, relative to the larger of
the result's magnitude and 1) and keep the declared symmetry under the testing kit.
"""

import copy
import os

import pytest
import torch

from equigen.testing import assert_equivariant
from tests.test_symmetry_sweep import DECLARING

DEVICE = os.environ.get("EQUIGEN_TEST_DEVICE", "cuda")
pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device"),
]
RTOL = {torch.float64: 1e-10, torch.float32: 1e-4}


def to_device(obj, device):
    """A copy of ``obj`` on ``device``: tensors, modules, containers, and functions whose closure holds them."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, torch.nn.Module):
        return copy.deepcopy(obj).to(device)
    if isinstance(obj, (tuple, list)):
        return type(obj)(to_device(o, device) for o in obj)
    closure = getattr(obj, "__closure__", None)
    if closure:
        import types

        cells = tuple(types.CellType(to_device(c.cell_contents, device)) for c in closure)
        return types.FunctionType(obj.__code__, obj.__globals__, obj.__name__, obj.__defaults__, cells)
    return obj


def assert_close(actual, expected, dtype):
    """Agreement of (nested) tensor outputs: max error <= RTOL * max(max |CPU result|, 1)."""
    if isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected):
            assert_close(a, e, dtype)
        return
    if hasattr(expected, "seqs"):  # sequence SampleOutput
        return assert_close(actual.seqs, expected.seqs, dtype)
    assert actual.device.type == torch.device(DEVICE).type, f"output left on {actual.device}"
    actual, expected = actual.detach().cpu(), expected.detach()
    if not expected.is_floating_point():
        assert torch.equal(actual, expected)
        return
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    err = float((actual - expected).abs().max()) if expected.numel() else 0.0
    assert err <= RTOL[dtype] * max(scale, 1.0), f"device vs CPU: max error {err:.3g} at scale {scale:.3g}"


# ---------------------------------------------------------------- every declared symmetry, on the device



@pytest.mark.parametrize("name", sorted(DECLARING))
def test_declared_symmetry_on_device_matches_cpu(name, dtype):
    cls = DECLARING[name]
    fn, inputs = cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
    if not isinstance(inputs, tuple):
        inputs = (inputs,)
    expected = fn(*inputs)
    fn_d, inputs_d = to_device(fn, DEVICE), to_device(inputs, DEVICE)
    assert_close(fn_d(*inputs_d), expected, dtype)
    sym = cls.symmetry
    assert_equivariant(fn_d, inputs_d, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=2)


def test_radius_graph_keeps_the_device():
    from equigen.geometry import radius_graph

    pos = torch.randn(50, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    edges = radius_graph(pos.to(DEVICE), 1.5)
    assert edges.device.type == torch.device(DEVICE).type
    assert torch.equal(edges.cpu(), radius_graph(pos, 1.5))


# ---------------------------------------------------------------- gradients through the layers

def test_force_field_gradients_on_device(dtype):
    from equigen.nn.readout import ForceField

    fn, inputs = ForceField.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(1))
    model_d = to_device(fn, DEVICE)
    energy, forces = model_d(*to_device(inputs, DEVICE))
    (energy.sum() + forces.pow(2).sum()).backward()
    energy_c, forces_c = fn(*inputs)
    (energy_c.sum() + forces_c.pow(2).sum()).backward()
    pairs = [(p_d.grad, p_c.grad) for p_d, p_c in zip(model_d.parameters(), fn.parameters())]
    assert all((g_d is None) == (g_c is None) for g_d, g_c in pairs)
    assert sum(g_c is not None for _, g_c in pairs) >= 4
    for g_d, g_c in pairs:
        if g_c is not None:
            assert_close(g_d, g_c, dtype)


# ---------------------------------------------------------------- diffusion samplers, CPU generator

@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_field_sampler_on_device_matches_cpu(sampler):
    from equigen.generative.diffusion import Diffusion
    from equigen.generative.field_diffusion import FieldDenoiser, FourierBandLimit

    dtype = torch.float64
    net = FieldDenoiser(1, 1, width=8, modes=(3, 4), depth=2, time_dim=8, num_steps=50,
                        generator=torch.Generator().manual_seed(0), dtype=dtype)
    diffusion = Diffusion("cosine", num_steps=50, objective="v", project=FourierBandLimit(4))
    rho = torch.randn(3, 1, 9, 8, generator=torch.Generator().manual_seed(1), dtype=dtype)

    def run(model, cond, device):
        gen = torch.Generator().manual_seed(5)
        fn = diffusion.sample_ddpm if sampler == "ddpm" else diffusion.sample_ddim
        return fn(model, cond.shape, cond, steps=10, generator=gen, dtype=dtype, device=device)

    assert_close(run(to_device(net, DEVICE), rho.to(DEVICE), DEVICE), run(net, rho, "cpu"), dtype)


def test_diffusion_training_loss_on_device_matches_cpu():
    from equigen.generative.diffusion import Diffusion
    from equigen.generative.field_diffusion import FieldDenoiser

    net = FieldDenoiser(1, 1, width=8, modes=4, depth=2, time_dim=8, num_steps=50,
                        generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    diffusion = Diffusion("linear", num_steps=50, objective="eps")
    phi, rho = torch.randn(2, 4, 1, 16, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    loss_c = diffusion.training_loss(net, phi, rho, generator=torch.Generator().manual_seed(3))
    loss_d = diffusion.training_loss(to_device(net, DEVICE), phi.to(DEVICE), rho.to(DEVICE),
                                     generator=torch.Generator().manual_seed(3))
    assert_close(loss_d, loss_c, torch.float64)


# ---------------------------------------------------------------- generative models: fit and sample

def _fit_and_sample(model, data, sample_kwargs=None):
    model = model.to(DEVICE)
    out = model.fit(data.to(DEVICE), steps=5, batch_size=16, seed=0)
    assert out["loss"] is None or torch.isfinite(torch.as_tensor(out["loss"]))
    x = model.sample(8, generator=torch.Generator().manual_seed(0), **(sample_kwargs or {}))
    assert x.device.type == torch.device(DEVICE).type and torch.isfinite(x).all()
    return x


def test_vae_and_gan_fit_and_sample_on_device():
    from equigen.generative.gan import GAN
    from equigen.generative.vae import VAE

    data = torch.randn(64, 3, generator=torch.Generator().manual_seed(0))
    _fit_and_sample(VAE(3, 2, hidden=16, layers=2), data)
    gan = GAN(3, 3, hidden=16, layers=2).to(DEVICE)
    gan.fit(data.to(DEVICE), steps=5, batch_size=16, seed=0)
    x = gan.sample(8, generator=torch.Generator().manual_seed(0))
    assert x.device.type == torch.device(DEVICE).type and torch.isfinite(x).all()


@pytest.mark.parametrize("denoiser", ["egnn", "mlp"])
def test_point_diffusion_fit_sample_nll_on_device(denoiser):
    from equigen.generative.equivariant_diffusion import PointDiffusion

    torch.manual_seed(0)
    model = PointDiffusion(4, 3, denoiser=denoiser, hidden=16, num_layers=2, num_steps=50)
    data = torch.randn(32, 4, 3, generator=torch.Generator().manual_seed(0))
    data = data - data.mean(1, keepdim=True)
    x = _fit_and_sample(model, data, {"steps": 10})
    assert float(x.mean(1).abs().max()) < 1e-5
    nll = model.nll(data[:4].to(DEVICE), steps=10, generator=torch.Generator().manual_seed(1))
    assert nll.shape == (4,) and torch.isfinite(nll).all()


def test_sequence_models_train_and_sample_on_device():
    from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer
    from equigen.train import Trainer

    seqs = torch.randint(0, 4, (64, 6), generator=torch.Generator().manual_seed(0))
    for cls in (AutoregressiveTransformer, MaskedTransformer):
        torch.manual_seed(0)
        model = cls(6, "ACGT", width=16, depth=1, heads=2)
        Trainer(model, device=DEVICE, progress=False, distributed=False).fit(seqs, steps=3, batch_size=16)
        assert next(model.parameters()).device.type == torch.device(DEVICE).type
        out = model.sample(5, fixed={0: 1}, generator=torch.Generator().manual_seed(0))
        assert out.seqs.shape == (5, 6) and bool((out.seqs[:, 0] == 1).all())
        assert out.seqs.device.type == torch.device(DEVICE).type


# ---------------------------------------------------------------- dynamics

def test_nbody_rollout_on_device_matches_cpu():
    from equigen.dynamics import integrate
    from equigen.dynamics.systems import NBodyGravity

    g = torch.Generator().manual_seed(0)
    masses = torch.rand(6, generator=g, dtype=torch.float64) + 0.5
    q = 2 * torch.randn(3, 6, 3, generator=g, dtype=torch.float64)
    p = 0.3 * torch.randn(3, 6, 3, generator=g, dtype=torch.float64)
    # 10 steps: N-body motion is chaotic, so rounding differences between the devices' kernels (1e-16)
    # grow with time (to 1e-8 relative after 100 steps on an H200); 10 steps keep them below 1e-10
    for method in ("leapfrog", "yoshida4", "implicit_midpoint"):
        out_c = integrate(NBodyGravity(masses, softening=0.05), q, p, 0.01, 10, method)
        out_d = integrate(NBodyGravity(masses.to(DEVICE), softening=0.05), q.to(DEVICE), p.to(DEVICE), 0.01, 10,
                          method)
        assert_close(out_d, out_c, torch.float64)


# ---------------------------------------------------------------- the training loop

def _loss(model, batch):
    x, y = batch
    return (model(x) - y).pow(2).mean()


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=g)
    return x, x @ torch.randn(4, 2, generator=g)


def test_trainer_resumes_on_device_and_checkpoint_loads_on_cpu(tmp_path):
    from equigen.train import Trainer, latest_checkpoint, load_checkpoint

    data = _problem()

    def run(out_dir, steps):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 2)
        trainer = Trainer(model, _loss, device=DEVICE, out_dir=out_dir, checkpoint_every=5, ema_decay=0.9,
                          progress=False, distributed=False, seed=3)
        trainer.fit(data, steps=steps, batch_size=8)
        return model

    straight = run(tmp_path / "a", 20)
    run(tmp_path / "b", 10)
    resumed = run(tmp_path / "b", 20)
    for p, q in zip(straight.parameters(), resumed.parameters()):
        assert p.device.type == torch.device(DEVICE).type
        assert torch.equal(p, q)
    # a checkpoint written on the device opens in a CPU-only session and restores the same weights
    state = load_checkpoint(latest_checkpoint(tmp_path / "b" / "checkpoints"))
    on_cpu = torch.nn.Linear(4, 2)
    on_cpu.load_state_dict(state["model"])
    for p, q in zip(on_cpu.parameters(), resumed.parameters()):
        assert torch.equal(p, q.cpu())


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_trainer_mixed_precision_on_device(amp):
    from equigen.train import Trainer

    if amp == "fp16" and torch.device(DEVICE).type != "cuda":
        pytest.skip("fp16 autocast with a gradient scaler is CUDA only")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 32), torch.nn.SiLU(), torch.nn.Linear(32, 2))
    trainer = Trainer(model, _loss, device=DEVICE, amp=amp, lr=1e-2, progress=False, distributed=False)
    with torch.no_grad():
        first = float(_loss(model.to(DEVICE), tuple(t.to(DEVICE) for t in _problem())))
    trainer.fit(_problem(), steps=60, batch_size=16)
    with torch.no_grad():
        last = float(_loss(model, tuple(t.to(DEVICE) for t in _problem())))
    assert last < 0.5 * first and all(p.dtype == torch.float32 for p in model.parameters())


# ---------------------------------------------------------------- compiled core layers (Triton on CUDA)

@pytest.mark.slow
@pytest.mark.parametrize("name", ["EGNN", "TensorProductConv", "SpectralConv"])
def test_core_layer_compiles_on_device(name):
    import equigen.nn
    from equigen.train import compile_strict

    dtype = torch.float32
    fn, inputs = getattr(equigen.nn, name).symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
    expected = fn(*inputs)
    fn_d, inputs_d = to_device(fn, DEVICE), to_device(inputs, DEVICE)
    torch._dynamo.reset()
    compiled = compile_strict(fn_d)
    assert_close(compiled(*inputs_d), expected, dtype)
    sym = getattr(equigen.nn, name).symmetry
    assert_equivariant(compiled, inputs_d, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=2)
