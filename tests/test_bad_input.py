"""Bad input across the public API: every call must raise ValueError/TypeError naming the argument.

Each case is ``(case id, argument name, call)``. A call passes when it raises ``ValueError`` or
``TypeError`` (``FileNotFoundError`` for a missing file) whose message contains the argument's name as
a word; :func:`classify` sorts outcomes into ``silent`` (no error: a wrong result returned),
``unclear`` (another exception type: raw torch/numpy errors, ``AssertionError``, ``ZeroDivisionError``...,
or a message that does not name the argument) and ``clear``. ``EDGE_CASES`` are unusual but valid calls
(empty batches, ``sample(0)``, dtype round trips) that must work. Run this file as a script for the
counts (``-v`` lists every call, ``--json PATH`` writes the counts and verdicts)::

    python tests/test_bad_input.py
"""

from __future__ import annotations

import math
import re
import sys

import numpy as np
import pytest
import torch

NAN, INF = float("nan"), float("inf")
F64 = torch.float64


def _g(seed=0):
    return torch.Generator().manual_seed(seed)


def _cloud(n=5, dim=3, dtype=F64, nan=False):
    x = torch.randn(n, dim, generator=_g(), dtype=dtype)
    if nan:
        x[1, 0] = NAN
    return x


def _egnn(dtype=F64, **kw):
    from equigen.nn import EGNN

    return EGNN(3, 8, 2, num_layers=1, dtype=dtype, **kw)


def _graph_call(model, radius, width, *, bad_pos=None, bad_x=None, dtype=F64):
    """``model(x, pos, edge_index)`` on a 5-atom cloud; ``bad_pos`` / ``bad_x``: ``(index, value)`` to plant."""
    from equigen.geometry import radius_graph

    pos = _cloud(dtype=dtype)
    ei = radius_graph(pos, radius)
    x = torch.randn(5, width, generator=_g(1), dtype=dtype)
    for tensor, bad in ((pos, bad_pos), (x, bad_x)):
        if bad is not None:
            tensor[bad[0]] = bad[1]
    return model(x, pos, ei)


def _egnn_call(nan_pos=False, nan_h=False, dtype=F64, model_dtype=F64):
    return _graph_call(_egnn(model_dtype), 10.0, 3, bad_pos=((0, 0), NAN) if nan_pos else None,
                       bad_x=((0, 0), INF) if nan_h else None, dtype=dtype)


def _tp(dtype=F64):
    from equigen.nn import TensorProductConv

    return TensorProductConv("2x0e", "2x0e+1o", cutoff=3.0, dtype=dtype)


def _tp_call(nan_pos=False, nan_x=False, dtype=F64, model_dtype=F64):
    return _graph_call(_tp(model_dtype), 3.0, 2, bad_pos=((0, 1), NAN) if nan_pos else None,
                       bad_x=((2, 1), NAN) if nan_x else None, dtype=dtype)


def _spectral(dtype=F64, **kw):
    from equigen.nn import SpectralConv

    return SpectralConv(2, 3, 4, ndim=1, dtype=dtype, **kw)


def _vae(dtype=F64):
    from equigen.generative import VAE

    return VAE(3, 2, hidden=8, layers=1, dtype=dtype)


def _gan(dtype=F64, **kw):
    from equigen.generative import GAN

    return GAN(3, 2, hidden=8, layers=1, dtype=dtype, **kw)


def _data(n=16, dtype=F64):
    return torch.randn(n, 3, generator=_g(), dtype=dtype)


def _pd(**kw):
    from equigen.generative.equivariant_diffusion import PointDiffusion

    kw.setdefault("denoiser", "mlp")
    return PointDiffusion(3, 2, num_steps=10, hidden=8, dtype=F64, **kw)


def _configs(n=4):
    x = torch.randn(n, 3, 2, generator=_g(), dtype=F64)
    return x - x.mean(1, keepdim=True)


def _diffusion_loss(nan=False):
    from equigen.generative.diffusion import Diffusion

    d = Diffusion("linear", num_steps=10)
    x = torch.randn(4, 3, dtype=F64)
    if nan:
        x[0, 0] = NAN
    return d.training_loss(lambda x_t, t, c: torch.zeros_like(x_t), x, generator=_g())


def _ho():
    from equigen.dynamics import HarmonicOscillator

    return HarmonicOscillator()


def _integrate(q=None, p=None, **kw):
    from equigen.dynamics import integrate

    q = torch.ones(3, dtype=F64) if q is None else q
    p = torch.zeros(3, dtype=F64) if p is None else p
    args = {"dt": 0.1, "steps": 5}
    args.update(kw)
    return integrate(_ho(), q, p, args.pop("dt"), args.pop("steps"), **args)


def _linear_rollout(steps):
    from equigen.dynamics import LinearDynamics

    m = LinearDynamics(2, 3)
    return m.rollout(torch.zeros(2, 3, dtype=F64), torch.zeros(2, 3, dtype=F64), steps)


def _fourier(**kw):
    from equigen.nn import FourierOperator, IsotropicPolynomial

    return FourierOperator(IsotropicPolynomial(1, dtype=F64), ndim=1, dt=0.1, **kw)


def _field(b=2, c=2, n=16, dtype=F64, nan=False):
    x = torch.randn(b, c, n, generator=_g(), dtype=dtype)
    if nan:
        x[0, 0, 0] = NAN
    return x


def _trainer(**kw):
    from equigen.train import Trainer

    return Trainer(torch.nn.Linear(2, 1, dtype=F64), lambda m, b: m(b).pow(2).mean(), progress=False,
                   distributed=False, **kw)


def _potts():
    from equigen.data.potts import PottsModel

    return PottsModel.planted(length=12, q=3, bond=(1, 8), num_contacts=1, min_contact_separation=3, generator=_g())


def _cfg(name, **kw):
    import equigen.experiments as ex

    return ex.get(name).Config(**kw)


def _run_cfg(**kw):
    from equigen.experiments.base import Experiment, ExperimentConfig

    class Null(Experiment):
        name = "null"

        def execute(self, config, *, seed, out_dir, result):
            result.metrics["ok"] = 1

    import tempfile

    return Null().run(ExperimentConfig(**kw), out_dir=tempfile.mkdtemp())


# --- own data: files written once per process (equigen.io readers, equigen train / compare)
_FILES: dict = {}


def _tmp():
    import tempfile

    if "dir" not in _FILES:
        _FILES["dir"] = tempfile.mkdtemp(prefix="equigen-bad-input-")
    return _FILES["dir"]


def _xyz(nan=None):
    """An extxyz file of 3 H2O-like structures with energies and forces; ``nan`` in "pos", "energy", "forces"."""
    key = f"xyz-{nan}"
    if key not in _FILES:
        import ase
        import ase.io
        from ase.calculators.singlepoint import SinglePointCalculator

        frames = []
        for k in range(3):
            atoms = ase.Atoms("OH2", positions=np.array([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]])
                              + 0.01 * k)
            energy, forces = -1.0 - 0.1 * k, np.full((3, 3), 0.1 * k)
            if nan == "pos" and k == 1:
                atoms.positions[0, 0] = NAN
            if nan == "energy" and k == 2:
                energy = NAN
            if nan == "forces" and k == 0:
                forces[1, 1] = NAN
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
            frames.append(atoms)
        path = f"{_tmp()}/{key}.extxyz"
        ase.io.write(path, frames)
        _FILES[key] = path
    return _FILES[key]


def _npz(nan=False):
    key = f"npz-{nan}"
    if key not in _FILES:
        x = np.random.default_rng(0).normal(size=(6, 1, 8, 8))
        if nan:
            x[2, 0, 3, 3] = NAN
        path = f"{_tmp()}/{key}.npz"
        np.savez(path, x=x, y=2 * x)
        _FILES[key] = path
    return _FILES[key]


def _yaml(text):
    import hashlib

    path = f"{_tmp()}/cfg-{hashlib.sha1(text.encode()).hexdigest()[:10]}.yaml"
    with open(path, "w") as fh:
        fh.write(text)
    return path


_TINY = "model:\n  width: 4\n  modes: 2\n  num_layers: 1\n"


def _train_fno(train_yaml):
    from equigen.experiments.own_data import train

    return train(_npz(), "fno", config=_yaml(_TINY + "train:\n" + train_yaml), out_dir=f"{_tmp()}/out",
                 progress=False)


def _cli(*argv):
    """``equigen`` on the command line: exit code 2 with a message is the CLI's clear refusal (re-raised here
    as ValueError for the classification); exit code 0 is a silent acceptance."""
    import contextlib
    import io

    from equigen.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(list(argv))
    if rc == 2:
        raise ValueError(err.getvalue())
    if rc:
        raise RuntimeError(f"exit code {rc}: {err.getvalue()}")
    return rc


def _potential(**kw):
    from equigen.nn import Potential

    kw.setdefault("cutoff", 3.0)
    return Potential([1, 8], hidden=4, num_layers=1, num_radial=2, dtype=F64, **kw)


def _water(dtype=F64, nan=False, z_dtype=torch.long):
    from torch_geometric.data import Data

    pos = torch.tensor([[0.0, 0.0, 0.0], [0.96, 0.0, 0.0], [-0.24, 0.93, 0.0]], dtype=dtype)
    if nan:
        pos[1, 1] = NAN
    return Data(z=torch.tensor([8, 1, 1], dtype=z_dtype), pos=pos,
                energy=torch.tensor([NAN if nan == "energy" else -1.0], dtype=dtype))


def _fno(**kw):
    from equigen.nn import FNO

    args = {"width": 4, "modes": 2, "num_layers": 1, "ndim": 2, "dtype": F64}
    args.update(kw)
    return FNO(1, 1, **args)


# ------------------------------------------------------------------------------------------------
# the cases: (id, argument named in the message, call)
# ------------------------------------------------------------------------------------------------

CASES: list[tuple[str, str, object]] = []


def case(id_, arg):
    def deco(fn):
        CASES.append((id_, arg, fn))
        return fn
    return deco


def add(id_, arg, fn):
    CASES.append((id_, arg, fn))


# --- groups
from equigen import groups as G  # noqa: E402

add("groups.rotation_in_plane.equal_axes", "j", lambda: G.rotation_in_plane(3, 1, 1, 0.3))
add("groups.rotation_in_plane.axis_out_of_range", "j", lambda: G.rotation_in_plane(3, 0, 3, 0.3))
add("groups.rotation_in_plane.negative_axis", "i", lambda: G.rotation_in_plane(3, -1, 2, 0.3))
add("groups.rotation_in_plane.n_zero", "n", lambda: G.rotation_in_plane(0, 0, 1, 0.3))
add("groups.rotation_in_plane.nan_angle", "angle", lambda: G.rotation_in_plane(3, 0, 1, NAN))
add("groups.rotation_in_plane.inf_angle", "angle", lambda: G.rotation_in_plane(3, 0, 1, INF))
add("groups.rotation_in_plane.float_n", "n", lambda: G.rotation_in_plane(3.0, 0, 1, 0.3))
add("groups.haar_orthogonal.n_zero", "n", lambda: G.haar_orthogonal(0, proper=True))
add("groups.haar_orthogonal.n_float", "n", lambda: G.haar_orthogonal(2.5, proper=True))
add("groups.SO.dim_zero", "dim", lambda: G.SO(0))
add("groups.E.rotations_typo", "rotations", lambda: G.EuclideanGroup(3, rotations="proprer"))
add("groups.EuclideanGroup.nan_translation_scale", "translation_scale",
    lambda: G.EuclideanGroup(3, translations=True, translation_scale=NAN))
add("groups.Dilations.nan", "min_scale", lambda: G.Dilations(NAN, 2.0))
add("groups.Dilations.order", "min_scale", lambda: G.Dilations(3.0, 2.0))
add("groups.Permutations.negative", "num_nodes", lambda: G.Permutations(-3))
add("groups.GridShifts.ndim_zero", "ndim", lambda: G.GridShifts(0))
add("groups.act.bad_kind", "kind", lambda: G.SO3().sample(generator=_g()).act(torch.zeros(4, 3), "vektors"))
add("groups.act.not_tensor", "x", lambda: G.SO3().sample(generator=_g()).act([[1.0, 2.0, 3.0]], "vectors"))

# --- geometry
from equigen import geometry as geo  # noqa: E402

add("geometry.radius_graph.nan_pos", "pos", lambda: geo.radius_graph(_cloud(nan=True), 1.0))
add("geometry.radius_graph.cutoff_nan", "cutoff", lambda: geo.radius_graph(_cloud(), NAN))
add("geometry.radius_graph.cutoff_negative", "cutoff", lambda: geo.radius_graph(_cloud(), -1.0))
add("geometry.radius_graph.cutoff_bool", "cutoff", lambda: geo.radius_graph(_cloud(), True))
add("geometry.radius_graph.max_neighbors_zero", "max_neighbors", lambda: geo.radius_graph(_cloud(), 1.0,
                                                                                         max_neighbors=0))
add("geometry.radius_graph.batch_float", "batch", lambda: geo.radius_graph(_cloud(), 1.0, batch=torch.zeros(5)))
add("geometry.radius_graph.box_negative", "box", lambda: geo.radius_graph(_cloud(), 1.0, box=[-1.0, 3.0, 3.0]))
add("geometry.radius_graph.pos_1d", "pos", lambda: geo.radius_graph(torch.zeros(5), 1.0))
add("geometry.radius_graph.pos_int", "pos", lambda: geo.radius_graph(torch.zeros(5, 3, dtype=torch.long), 1.0))
add("geometry.edge_vectors.bad_index", "edge_index",
    lambda: geo.edge_vectors(_cloud(), torch.tensor([[0, 9], [1, 2]])))
add("geometry.edge_vectors.float_index", "edge_index",
    lambda: geo.edge_vectors(_cloud(), torch.tensor([[0.0, 1.0], [1.0, 2.0]])))
add("geometry.bessel_basis.num_basis_zero", "num_basis", lambda: geo.bessel_basis(torch.rand(4), 1.0, 0))
add("geometry.bessel_basis.cutoff_inf", "cutoff", lambda: geo.bessel_basis(torch.rand(4), INF))
add("geometry.polynomial_cutoff.p_small", "p", lambda: geo.polynomial_cutoff(torch.rand(4), 1.0, p=1))
add("geometry.BesselBasis.cutoff_zero", "cutoff", lambda: geo.BesselBasis(0.0))
add("geometry.safe_norm.not_tensor", "vec", lambda: geo.safe_norm([1.0, 2.0]))

# --- nn: EGNN
add("nn.EGNN.nan_pos", "pos", lambda: _egnn_call(nan_pos=True))
add("nn.EGNN.inf_h", "h", lambda: _egnn_call(nan_h=True))
add("nn.EGNN.dtype_mismatch", "pos", lambda: _egnn_call(dtype=torch.float32, model_dtype=F64))
add("nn.EGNN.pos_h_dtype_mismatch", "pos",
    lambda: _egnn()(torch.zeros(5, 3, dtype=F64), _cloud(dtype=torch.float32), torch.zeros(2, 0, dtype=torch.long)))
add("nn.EGNN.in_features_zero", "in_features", lambda: __import__("equigen.nn", fromlist=["EGNN"]).EGNN(0, 8, 2))
add("nn.EGNN.num_layers_negative", "num_layers",
    lambda: __import__("equigen.nn", fromlist=["EGNN"]).EGNN(3, 8, 2, num_layers=-1))
add("nn.EGNN.coords_range_nan", "coords_range", lambda: _egnn(coords_range=NAN))
add("nn.EGNN.norm_constant_negative", "norm_constant", lambda: _egnn(norm_constant=-1.0))
add("nn.EGNN.message_norm_zero", "message_norm", lambda: _egnn(message_norm=0.0))
add("nn.EGNN.num_radial_no_cutoff", "cutoff", lambda: _egnn(num_radial=4))
add("nn.EGNN.edge_index_float", "edge_index",
    lambda: _egnn()(torch.zeros(5, 3, dtype=F64), _cloud(), torch.zeros(2, 3)))
add("nn.EGNN.h_wrong_width", "h", lambda: _egnn()(torch.zeros(5, 4, dtype=F64), _cloud(),
                                                  torch.zeros(2, 0, dtype=torch.long)))
add("nn.EGNNLayer.hidden_zero", "hidden_features",
    lambda: __import__("equigen.nn", fromlist=["EGNNLayer"]).EGNNLayer(3, 0))
# --- nn: tensor products and readouts
add("nn.TensorProductConv.nan_pos", "pos", lambda: _tp_call(nan_pos=True))
add("nn.TensorProductConv.nan_x", "x", lambda: _tp_call(nan_x=True))
add("nn.TensorProductConv.dtype_mismatch", "pos", lambda: _tp_call(dtype=torch.float32, model_dtype=F64))
add("nn.TensorProductConv.cutoff_nan", "cutoff",
    lambda: __import__("equigen.nn", fromlist=["TensorProductConv"]).TensorProductConv("0e", "0e", cutoff=NAN))
add("nn.TensorProductConv.num_neighbors_zero", "num_neighbors",
    lambda: __import__("equigen.nn", fromlist=["TensorProductConv"]).TensorProductConv("0e", "0e",
                                                                                       num_neighbors=0.0))
add("nn.TensorProductConv.num_radial_zero", "num_radial",
    lambda: __import__("equigen.nn", fromlist=["TensorProductConv"]).TensorProductConv("0e", "0e", num_radial=0))
add("nn.TensorProductConv.bad_irreps", "irreps_in",
    lambda: __import__("equigen.nn", fromlist=["TensorProductConv"]).TensorProductConv("2x0q", "0e"))
add("nn.TensorProductConv.pos_2d", "pos", lambda: _tp()(torch.zeros(5, 2, dtype=F64), _cloud(dim=2),
                                                        torch.zeros(2, 0, dtype=torch.long)))
add("nn.EnergyReadout.nan_h", "h",
    lambda: __import__("equigen.nn", fromlist=["EnergyReadout"]).EnergyReadout(3, dtype=F64)(
        torch.full((4, 3), NAN, dtype=F64)))
add("nn.EnergyReadout.dtype_mismatch", "h",
    lambda: __import__("equigen.nn", fromlist=["EnergyReadout"]).EnergyReadout(3, dtype=F64)(torch.zeros(4, 3)))
add("nn.EnergyReadout.in_features_zero", "in_features",
    lambda: __import__("equigen.nn", fromlist=["EnergyReadout"]).EnergyReadout(0))
add("nn.EnergyReadout.num_graphs_negative", "num_graphs",
    lambda: __import__("equigen.nn", fromlist=["EnergyReadout"]).EnergyReadout(3, dtype=F64)(
        torch.zeros(4, 3, dtype=F64), num_graphs=-1))
add("nn.conservative_forces.pos_no_grad", "pos",
    lambda: __import__("equigen.nn", fromlist=["conservative_forces"]).conservative_forces(
        torch.zeros((), dtype=F64, requires_grad=True), torch.zeros(3, 3, dtype=F64)))
add("nn.FlatMLP.num_nodes_zero", "num_nodes",
    lambda: __import__("equigen.nn", fromlist=["FlatMLP"]).FlatMLP(0, 3, 8, 1))
add("nn.RawMessagePassing.nan_pos", "pos",
    lambda: __import__("equigen.nn", fromlist=["RawMessagePassing"]).RawMessagePassing(3, 8, 2, 1, dtype=F64)(
        torch.zeros(5, 3, dtype=F64), _cloud(nan=True), torch.zeros(2, 0, dtype=torch.long)))
# --- nn: spectral
add("nn.SpectralConv.nan_x", "x", lambda: _spectral()(_field(nan=True)))
add("nn.SpectralConv.dtype_mismatch", "x", lambda: _spectral()(_field(dtype=torch.float32)))
add("nn.SpectralConv.modes_negative", "modes",
    lambda: __import__("equigen.nn", fromlist=["SpectralConv"]).SpectralConv(2, 3, -2, ndim=1))
add("nn.SpectralConv.transform_typo", "transform", lambda: _spectral(transform="fftw"))
add("nn.SpectralConv.length_nan", "length", lambda: _spectral(length=NAN))
add("nn.SpectralConv.in_channels_zero", "in_channels",
    lambda: __import__("equigen.nn", fromlist=["SpectralConv"]).SpectralConv(0, 3, 4, ndim=1))
add("nn.SpectralConv.wrong_channels", "x", lambda: _spectral()(_field(c=5)))
add("nn.SpectralConv.too_small_grid", "x", lambda: _spectral()(_field(n=4)))
add("nn.SpectralConv.int_input", "x", lambda: _spectral()(torch.zeros(2, 2, 16, dtype=torch.long)))
add("nn.SineConv.nan_x", "x", lambda: __import__("equigen.nn.sine", fromlist=["SineConv"]).SineConv(
    1, 1, 3, ndim=1, dtype=F64)(torch.full((1, 1, 9), NAN, dtype=F64)))
add("nn.SineConv.modes_zero", "modes",
    lambda: __import__("equigen.nn.sine", fromlist=["SineConv"]).SineConv(1, 1, 0, ndim=1))
add("nn.FourierOperator.rollout_negative", "steps", lambda: _fourier().rollout(torch.zeros(2, 8, dtype=F64), -1))
add("nn.FourierOperator.rollout_float", "steps", lambda: _fourier().rollout(torch.zeros(2, 8, dtype=F64), 2.5))
add("nn.FourierOperator.step_nan_u", "u", lambda: _fourier().step(torch.full((2, 8), NAN, dtype=F64)))
add("nn.FourierOperator.dt_nan", "dt", lambda: _fourier().step(torch.zeros(2, 8, dtype=F64), dt=NAN))
add("nn.FourierOperator.method_typo", "method", lambda: _fourier(method="exakt"))
add("nn.FourierOperator.fit_nan", "u0", lambda: __import__("equigen.nn", fromlist=["FourierOperator"])
    .FourierOperator.fit(torch.full((4, 8), NAN, dtype=F64), torch.zeros(4, 8, dtype=F64), 0.1, 2 * math.pi,
                         ndim=1))
add("nn.FourierOperator.train_gradient_lr", "lr",
    lambda: _fourier().train_gradient(torch.zeros(4, 8, dtype=F64), torch.zeros(4, 8, dtype=F64), lr=-1.0,
                                      optimizer="adam", steps=1))
add("nn.IsotropicPolynomial.degree_negative", "degree",
    lambda: __import__("equigen.nn", fromlist=["IsotropicPolynomial"]).IsotropicPolynomial(-1))
add("nn.MLPOperator.fit_lr_negative", "lr", lambda: __import__("equigen.nn.baselines", fromlist=["MLPOperator"])
    .MLPOperator.fit(torch.zeros(4, 8, dtype=F64), torch.zeros(4, 8, dtype=F64), hidden=4, steps=1, lr=-1.0))
add("nn.MLPOperator.fit_nan", "u0", lambda: __import__("equigen.nn.baselines", fromlist=["MLPOperator"])
    .MLPOperator.fit(torch.full((4, 8), NAN, dtype=F64), torch.zeros(4, 8, dtype=F64), hidden=4, steps=1))
add("nn.DenseLinearMap.fit_nan", "u0", lambda: __import__("equigen.nn.baselines", fromlist=["DenseLinearMap"])
    .DenseLinearMap.fit(torch.full((4, 8), NAN, dtype=F64), torch.zeros(4, 8, dtype=F64)))
add("nn.DenseLinearMap.step_negative", "steps", lambda: __import__("equigen.nn.baselines", fromlist=[
    "DenseLinearMap"]).DenseLinearMap.fit(torch.randn(12, 8, dtype=F64), torch.randn(12, 8, dtype=F64))
    .step(torch.zeros(1, 8, dtype=F64), -2))

# --- dynamics
add("dynamics.integrate.nan_q0", "q0", lambda: _integrate(q=torch.full((3,), NAN, dtype=F64)))
add("dynamics.integrate.inf_p0", "p0", lambda: _integrate(p=torch.full((3,), INF, dtype=F64)))
add("dynamics.integrate.steps_negative", "steps", lambda: _integrate(steps=-1))
add("dynamics.integrate.steps_float", "steps", lambda: _integrate(steps=2.0))
add("dynamics.integrate.dt_nan", "dt", lambda: _integrate(dt=NAN))
add("dynamics.integrate.dt_zero", "dt", lambda: _integrate(dt=0.0))
add("dynamics.integrate.method_typo", "method", lambda: _integrate(method="leepfrog"))
add("dynamics.integrate.save_every_zero", "save_every", lambda: _integrate(save_every=0))
add("dynamics.integrate.shape_mismatch", "p0", lambda: _integrate(p=torch.zeros(4, dtype=F64)))
add("dynamics.integrate.dtype_mismatch", "p0", lambda: _integrate(p=torch.zeros(3, dtype=torch.float32)))
add("dynamics.step.nan_q", "q", lambda: __import__("equigen.dynamics", fromlist=["step"]).step(
    _ho(), torch.full((3,), NAN, dtype=F64), torch.zeros(3, dtype=F64), 0.1))
add("dynamics.stepper.dt_inf", "dt", lambda: __import__("equigen.dynamics", fromlist=["stepper"]).stepper(_ho(), INF))
add("dynamics.HarmonicOscillator.mass_nan", "mass",
    lambda: __import__("equigen.dynamics", fromlist=["HarmonicOscillator"]).HarmonicOscillator(mass=NAN))
add("dynamics.Pendulum.length_negative", "length",
    lambda: __import__("equigen.dynamics", fromlist=["Pendulum"]).Pendulum(length=-1.0))
add("dynamics.Kepler.k_zero", "k", lambda: __import__("equigen.dynamics", fromlist=["Kepler"]).Kepler(0.0))
add("dynamics.Kepler.initial_state_e", "eccentricity",
    lambda: __import__("equigen.dynamics", fromlist=["Kepler"]).Kepler.initial_state(1.5))
add("dynamics.NBodyGravity.masses_nan", "masses",
    lambda: __import__("equigen.dynamics", fromlist=["NBodyGravity"]).NBodyGravity([1.0, NAN]))
add("dynamics.NBodyGravity.G_negative", "G",
    lambda: __import__("equigen.dynamics", fromlist=["NBodyGravity"]).NBodyGravity([1.0, 1.0], G=-1.0))
add("dynamics.NBodyGravity.softening_nan", "softening",
    lambda: __import__("equigen.dynamics", fromlist=["NBodyGravity"]).NBodyGravity([1.0, 1.0], softening=NAN))
add("dynamics.NBodyGravity.block_rows_zero", "block_rows",
    lambda: __import__("equigen.dynamics", fromlist=["NBodyGravity"]).NBodyGravity([1.0, 1.0], block_rows=0))
add("dynamics.LinearDynamics.rollout_negative", "steps", lambda: _linear_rollout(-1))
add("dynamics.LinearDynamics.rollout_float", "steps", lambda: _linear_rollout(1.5))
add("dynamics.LinearDynamics.num_bodies_zero", "num_bodies",
    lambda: __import__("equigen.dynamics", fromlist=["LinearDynamics"]).LinearDynamics(0, 3))
add("dynamics.LinearDynamics.fit_nan", "q", lambda: __import__("equigen.dynamics", fromlist=["LinearDynamics"])
    .LinearDynamics(1, 2).fit(torch.full((4, 1, 2), NAN, dtype=F64), torch.zeros(4, 1, 2, dtype=F64)))
add("dynamics.LinearDynamics.fit_ridge_negative", "ridge",
    lambda: __import__("equigen.dynamics", fromlist=["LinearDynamics"]).LinearDynamics(1, 2).fit(
        torch.randn(4, 1, 2, dtype=F64), torch.randn(4, 1, 2, dtype=F64), ridge=-1.0))
add("dynamics.HamiltonianNet.hidden_zero", "hidden",
    lambda: __import__("equigen.dynamics", fromlist=["HamiltonianNet"]).HamiltonianNet(2, 3, hidden=0))
add("dynamics.PairPotentialNet.masses_negative", "masses",
    lambda: __import__("equigen.dynamics", fromlist=["PairPotentialNet"]).PairPotentialNet([1.0, -1.0]))
add("dynamics.PairPotentialNet.nan_q", "q",
    lambda: __import__("equigen.dynamics", fromlist=["PairPotentialNet"]).PairPotentialNet(
        [1.0, 1.0], dtype=F64)(torch.full((2, 3), NAN, dtype=F64)))
add("dynamics.train_one_step.lr_negative", "lr", lambda: __import__("equigen.dynamics", fromlist=["train_one_step"])
    .train_one_step(__import__("equigen.dynamics", fromlist=["PairPotentialNet"]).PairPotentialNet([1.0, 1.0],
                                                                                                   dtype=F64),
                    *(torch.randn(4, 2, 3, dtype=F64) for _ in range(4)), 0.01, steps=1, lr=-1.0))
add("dynamics.train_one_step.dt_nan", "dt", lambda: __import__("equigen.dynamics", fromlist=["train_one_step"])
    .train_one_step(__import__("equigen.dynamics", fromlist=["PairPotentialNet"]).PairPotentialNet([1.0, 1.0],
                                                                                                   dtype=F64),
                    *(torch.randn(4, 2, 3, dtype=F64) for _ in range(4)), NAN, steps=1))
add("dynamics.linear_momentum.not_tensor", "p",
    lambda: __import__("equigen.dynamics", fromlist=["linear_momentum"]).linear_momentum([[1.0, 2.0]]))
add("dynamics.centre_of_mass.masses_shape", "masses",
    lambda: __import__("equigen.dynamics", fromlist=["centre_of_mass"]).centre_of_mass(
        torch.zeros(3, 2, dtype=F64), torch.ones(4, dtype=F64)))
add("dynamics.get_method.unknown", "method",
    lambda: __import__("equigen.dynamics", fromlist=["get_method"]).get_method("rk5"))

# --- generative
add("generative.VAE.sample_negative", "num_samples", lambda: _vae().sample(-1))
add("generative.VAE.sample_float", "num_samples", lambda: _vae().sample(2.5))
add("generative.VAE.sample_old_and_new_name", "num_samples", lambda: _vae().sample(2, n=2))
add("generative.VAE.fit_nan", "data", lambda: _vae().fit(torch.full((8, 3), NAN, dtype=F64), steps=1))
add("generative.VAE.fit_lr_negative", "lr", lambda: _vae().fit(_data(), steps=1, lr=-1e-3))
add("generative.VAE.fit_lr_nan", "lr", lambda: _vae().fit(_data(), steps=1, lr=NAN))
add("generative.VAE.fit_lr_zero", "lr", lambda: _vae().fit(_data(), steps=1, lr=0.0))
add("generative.VAE.fit_steps_negative", "steps", lambda: _vae().fit(_data(), steps=-5))
add("generative.VAE.fit_batch_size_zero", "batch_size", lambda: _vae().fit(_data(), steps=1, batch_size=0))
add("generative.VAE.fit_wrong_shape", "data", lambda: _vae().fit(torch.zeros(8, 4, dtype=F64), steps=1))
add("generative.VAE.data_dim_zero", "data_dim", lambda: __import__("equigen.generative", fromlist=["VAE"]).VAE(0))
add("generative.VAE.sigma_nan", "sigma", lambda: __import__("equigen.generative", fromlist=["VAE"]).VAE(3, sigma=NAN))
add("generative.VAE.beta_inf", "beta", lambda: __import__("equigen.generative", fromlist=["VAE"]).VAE(3, beta=INF))
add("generative.VAE.hidden_zero", "hidden", lambda: __import__("equigen.generative", fromlist=["VAE"]).VAE(3,
                                                                                                          hidden=0))
add("generative.VAE.training_loss_nan", "x", lambda: _vae().training_loss(torch.full((4, 3), NAN, dtype=F64)))
add("generative.VAE.training_loss_dtype", "x", lambda: _vae().training_loss(torch.zeros(4, 3)))
add("generative.VAE.encode_dtype", "x", lambda: _vae().encode(torch.zeros(4, 3)))
add("generative.VAE.decode_wrong_width", "z", lambda: _vae().decode(torch.zeros(4, 5, dtype=F64)))
add("generative.VAE.cond", "cond", lambda: _vae().sample(2, cond=torch.zeros(2, 1)))
add("generative.GAN.fit_batch_size_zero", "batch_size", lambda: _gan().fit(_data(), steps=1, batch_size=0))
add("generative.GAN.fit_batch_size_negative", "batch_size", lambda: _gan().fit(_data(), steps=1, batch_size=-4))
add("generative.GAN.fit_lr_negative", "lr", lambda: _gan().fit(_data(), steps=1, lr=-1e-3))
add("generative.GAN.fit_critic_lr_nan", "critic_lr", lambda: _gan().fit(_data(), steps=1, critic_lr=NAN))
add("generative.GAN.fit_critic_steps_zero", "critic_steps", lambda: _gan().fit(_data(), steps=1, critic_steps=0))
add("generative.GAN.fit_ema_decay", "ema_decay", lambda: _gan().fit(_data(), steps=1, ema_decay=1.5))
add("generative.GAN.fit_log_every_zero", "log_every", lambda: _gan().fit(_data(), steps=1, log_every=0))
add("generative.GAN.fit_time_limit_negative", "time_limit_s", lambda: _gan().fit(_data(), steps=1,
                                                                                 time_limit_s=-1.0))
add("generative.GAN.fit_nan", "data", lambda: _gan().fit(torch.full((8, 3), NAN, dtype=F64), steps=1))
add("generative.GAN.sample_negative", "num_samples", lambda: _gan().sample(-3))
add("generative.GAN.objective_typo", "objective", lambda: _gan(objective="wgan"))
add("generative.GAN.penalty_nan", "penalty", lambda: _gan(penalty=NAN))
add("generative.GAN.forward_dtype", "z", lambda: _gan()(torch.zeros(4, 2)))
add("generative.PointDiffusion.nll_probes_zero", "probes", lambda: _pd().nll(_configs(), steps=2, probes=0))
add("generative.PointDiffusion.nll_steps_zero", "steps", lambda: _pd().nll(_configs(), steps=0))
add("generative.PointDiffusion.nll_nan", "x", lambda: _pd().nll(torch.full((2, 3, 2), NAN, dtype=F64), steps=2))
add("generative.PointDiffusion.sample_negative", "num_samples", lambda: _pd().sample(-1))
add("generative.PointDiffusion.sample_steps_zero", "steps", lambda: _pd().sample(2, steps=0))
add("generative.PointDiffusion.sampler_typo", "sampler", lambda: _pd().sample(2, sampler="ddpn"))
add("generative.PointDiffusion.num_steps_zero", "num_steps", lambda: _pd(num_steps=0) if False else
    __import__("equigen.generative.equivariant_diffusion", fromlist=["PointDiffusion"]).PointDiffusion(
        3, 2, denoiser="mlp", num_steps=0))
add("generative.PointDiffusion.denoiser_typo", "denoiser", lambda: _pd(denoiser="egn"))
add("generative.PointDiffusion.fit_lr_negative", "lr", lambda: _pd().fit(_configs(), steps=1, lr=-1.0))
add("generative.PointDiffusion.training_loss_nan", "x0",
    lambda: _pd().training_loss(torch.full((2, 3, 2), NAN, dtype=F64)))
add("generative.Diffusion.training_loss_nan", "x0", lambda: _diffusion_loss(nan=True))
add("generative.Diffusion.objective_typo", "objective",
    lambda: __import__("equigen.generative.diffusion", fromlist=["Diffusion"]).Diffusion(objective="score"))
add("generative.Diffusion.num_steps_negative", "num_steps",
    lambda: __import__("equigen.generative.diffusion", fromlist=["Diffusion"]).Diffusion(num_steps=-5))
add("generative.Diffusion.q_sample_t_range", "t",
    lambda: __import__("equigen.generative.diffusion", fromlist=["Diffusion"]).Diffusion(num_steps=10).q_sample(
        torch.zeros(2, 3), 10, torch.zeros(2, 3)))
add("generative.Diffusion.ddim_eta_negative", "eta",
    lambda: __import__("equigen.generative.diffusion", fromlist=["Diffusion"]).Diffusion(num_steps=10).sample_ddim(
        lambda x, t, c: torch.zeros_like(x), (2, 3), steps=2, eta=-1.0))
add("generative.Diffusion.ddpm_variance_typo", "variance",
    lambda: __import__("equigen.generative.diffusion", fromlist=["Diffusion"]).Diffusion(num_steps=10).sample_ddpm(
        lambda x, t, c: torch.zeros_like(x), (2, 3), variance="post"))
add("generative.NoiseSchedule.linear_beta_end", "beta_end",
    lambda: __import__("equigen.generative.diffusion", fromlist=["NoiseSchedule"]).NoiseSchedule.linear(
        10, 1e-4, 1.5))
add("generative.NoiseSchedule.cosine_s_nan", "s",
    lambda: __import__("equigen.generative.diffusion", fromlist=["NoiseSchedule"]).NoiseSchedule.cosine(10, s=NAN))
add("generative.spaced_timesteps.steps_zero", "steps",
    lambda: __import__("equigen.generative.diffusion", fromlist=["spaced_timesteps"]).spaced_timesteps(10, 0))
add("generative.timestep_embedding.dim_zero", "dim",
    lambda: __import__("equigen.generative.diffusion", fromlist=["timestep_embedding"]).timestep_embedding(
        torch.zeros(3, dtype=torch.long), 0, 10))
add("generative.FieldDenoiser.width_zero", "width",
    lambda: __import__("equigen.generative.field_diffusion", fromlist=["FieldDenoiser"]).FieldDenoiser(width=0))
add("generative.FieldDenoiser.conv_typo", "conv",
    lambda: __import__("equigen.generative.field_diffusion", fromlist=["FieldDenoiser"]).FieldDenoiser(conv="four"))
add("generative.FieldDenoiser.nan_x_t", "x_t",
    lambda: __import__("equigen.generative.field_diffusion", fromlist=["FieldDenoiser"]).FieldDenoiser(
        width=4, modes=2, depth=1, ndim=1, dtype=F64)(torch.full((1, 1, 8), NAN, dtype=F64),
                                                      torch.zeros(1, dtype=torch.long), torch.zeros(1, 1, 8,
                                                                                                    dtype=F64)))
add("generative.jacobi_sweeps.sweeps_negative", "sweeps",
    lambda: __import__("equigen.generative.field_diffusion", fromlist=["jacobi_sweeps"]).jacobi_sweeps(
        torch.zeros(1, 8, 8, dtype=F64), torch.zeros(1, 8, 8, dtype=F64), "periodic", -1))
add("generative.jacobi_sweeps.omega_nan", "omega",
    lambda: __import__("equigen.generative.field_diffusion", fromlist=["jacobi_sweeps"]).jacobi_sweeps(
        torch.zeros(1, 8, 8, dtype=F64), torch.zeros(1, 8, 8, dtype=F64), "periodic", 1, omega=NAN))
add("generative.AutoregressiveTransformer.sample_negative", "num_samples",
    lambda: __import__("equigen.generative.sequence", fromlist=["AutoregressiveTransformer"])
    .AutoregressiveTransformer(6, "AB", width=8, depth=1, heads=2).sample(-1))
add("generative.AutoregressiveTransformer.temperature_zero", "temperature",
    lambda: __import__("equigen.generative.sequence", fromlist=["AutoregressiveTransformer"])
    .AutoregressiveTransformer(6, "AB", width=8, depth=1, heads=2).sample(2, temperature=0.0))
add("generative.AutoregressiveTransformer.cond", "cond",
    lambda: __import__("equigen.generative.sequence", fromlist=["AutoregressiveTransformer"])
    .AutoregressiveTransformer(6, "AB", width=8, depth=1, heads=2).sample(2, cond=torch.zeros(2, 1)))
add("generative.MaskedTransformer.fit_float_data", "data",
    lambda: __import__("equigen.generative.sequence", fromlist=["MaskedTransformer"])
    .MaskedTransformer(6, "AB", width=8, depth=1, heads=2).fit(torch.zeros(4, 6), steps=1))
add("generative.MaskedTransformer.steps_zero", "steps",
    lambda: __import__("equigen.generative.sequence", fromlist=["MaskedTransformer"])
    .MaskedTransformer(6, "AB", width=8, depth=1, heads=2).sample(2, steps=0))
add("generative.MaskedTransformer.schedule_typo", "schedule",
    lambda: __import__("equigen.generative.sequence", fromlist=["MaskedTransformer"])
    .MaskedTransformer(6, "AB", width=8, depth=1, heads=2).sample(2, schedule="cosin"))
add("generative.SequenceTransformer.heads_divides", "heads",
    lambda: __import__("equigen.generative.sequence", fromlist=["MaskedTransformer"])
    .MaskedTransformer(6, "AB", width=8, depth=1, heads=3))
add("generative.SequenceTransformer.dropout", "dropout",
    lambda: __import__("equigen.generative.sequence", fromlist=["MaskedTransformer"])
    .MaskedTransformer(6, "AB", width=8, depth=1, heads=2, dropout=1.5))
add("generative.GenerativeModel.fit_lr_inf", "lr", lambda: _vae().fit(_data(), steps=1, lr=INF))

# --- data
from equigen import data as D  # noqa: E402

add("data.lorenz_attractor.sigma_nan", "sigma", lambda: D.lorenz_attractor(10, sigma=NAN, trajectories=2,
                                                                          transient=0.1))
add("data.lorenz_attractor.rho_inf", "rho", lambda: D.lorenz_attractor(10, rho=INF, trajectories=2, transient=0.1))
add("data.lorenz_attractor.dt_negative", "dt", lambda: D.lorenz_attractor(10, dt=-0.01, trajectories=2,
                                                                         transient=0.1))
add("data.lorenz_attractor.num_samples_zero", "num_samples", lambda: D.lorenz_attractor(0))
add("data.lorenz_attractor.sample_every_nan", "sample_every",
    lambda: D.lorenz_attractor(10, sample_every=NAN, trajectories=2, transient=0.1))
add("data.lorenz_dataset.num_train_zero", "num_train", lambda: D.lorenz_dataset(0))
add("data.lorenz_dataset.num_test_negative", "num_test", lambda: D.lorenz_dataset(10, -1))
add("data.lorenz_vector_field.beta_nan", "beta", lambda: D.lorenz_vector_field(beta=NAN))
add("data.integrate.nan_y0", "y0", lambda: D.integrate(D.lorenz_vector_field(), np.full((2, 3), NAN), 0.1))
add("data.integrate.t_negative", "t", lambda: D.integrate(D.lorenz_vector_field(), np.ones((2, 3)), -1.0))
add("data.integrate.y0_1d", "y0", lambda: D.integrate(D.lorenz_vector_field(), np.ones(3), 0.1))
add("data.rk4_step.nan_y", "y", lambda: D.rk4_step(D.lorenz_vector_field(), np.full((1, 3), NAN), 0.01))
add("data.rk4_step.dt_nan", "dt", lambda: D.rk4_step(D.lorenz_vector_field(), np.ones((1, 3)), NAN))
add("data.integrate_reference.nan_y0", "y0",
    lambda: D.integrate_reference(D.lorenz_vector_field(), np.full(3, NAN), 0.1))
add("data.sample_attractor.trajectories_zero", "trajectories",
    lambda: D.sample_attractor(D.lorenz_vector_field(), 10, lambda r, b: np.ones((b, 3)), trajectories=0))
add("data.lj_energy.nan_pos", "pos", lambda: D.lj_energy(torch.full((1, 3, 3), NAN, dtype=F64)))
add("data.lj_energy.epsilon_nan", "epsilon", lambda: D.lj_energy(torch.randn(1, 3, 3, dtype=F64), epsilon=NAN))
add("data.lj_forces.sigma_negative", "sigma", lambda: D.lj_forces(torch.randn(1, 3, 3, dtype=F64), sigma=-1.0))
add("data.sample_lj_cluster.temperature_nan", "temperature",
    lambda: D.sample_lj_cluster(2, 4, temperature=NAN, num_chains=2, burn_in_sweeps=1, thin_sweeps=1))
add("data.sample_lj_cluster.num_samples_zero", "num_samples", lambda: D.sample_lj_cluster(0, 4))
add("data.sample_lj_cluster.step_negative", "step",
    lambda: D.sample_lj_cluster(2, 4, step=-0.1, num_chains=2, burn_in_sweeps=1, thin_sweeps=1))
add("data.sample_lj_cluster.wall_radius_inf", "wall_radius",
    lambda: D.sample_lj_cluster(2, 4, wall_radius=INF, num_chains=2, burn_in_sweeps=1, thin_sweeps=1))
from equigen.data import heat as H  # noqa: E402

add("data.heat_exact.nan_u0", "u0", lambda: H.heat_exact(torch.full((1, 8), NAN, dtype=F64), 0.1, 1.0))
add("data.heat_exact.D_nan", "D", lambda: H.heat_exact(torch.zeros(1, 8, dtype=F64), 0.1, NAN))
add("data.heat_exact.t_negative", "t", lambda: H.heat_exact(torch.zeros(1, 8, dtype=F64), -0.1, 1.0))
add("data.heat_finite_difference.nan_u0", "u0",
    lambda: H.heat_finite_difference(torch.full((1, 8), NAN, dtype=F64), 0.1, 1.0))
add("data.random_smooth_fields.num_samples_negative", "num_samples", lambda: H.random_smooth_fields(-1, 8))
add("data.random_smooth_fields.scale_nan", "scale", lambda: H.random_smooth_fields(2, 8, scale=NAN))
add("data.add_noise.level_negative", "level", lambda: H.add_noise(torch.zeros(1, 8, dtype=F64), -0.1))
add("data.add_noise.level_nan", "level", lambda: H.add_noise(torch.zeros(1, 8, dtype=F64), NAN))
add("data.heat_pairs.dt_nan", "dt", lambda: H.heat_pairs(2, 8, D=1.0, dt=NAN))
add("data.heat_pairs.source_typo", "source", lambda: H.heat_pairs(2, 8, D=1.0, dt=0.1, source="exakt"))
add("data.squared_wavenumbers.length_zero", "length", lambda: H.squared_wavenumbers(8, 0.0))
from equigen.data import poisson as P  # noqa: E402

add("data.poisson.solve_periodic.nan_rho", "rho", lambda: P.solve_periodic(torch.full((1, 8, 8), NAN, dtype=F64),
                                                                           mean="subtract"))
add("data.poisson.solve_dirichlet.nan_rho", "rho", lambda: P.solve_dirichlet(torch.full((1, 9, 9), NAN,
                                                                                         dtype=F64)))
add("data.poisson.solve.boundary_typo", "boundary", lambda: P.solve(torch.zeros(1, 8, 8, dtype=F64), "periodik"))
add("data.poisson.solve_periodic.length_nan", "length",
    lambda: P.solve_periodic(torch.zeros(1, 8, 8, dtype=F64), NAN))
add("data.poisson.laplacian.nan_phi", "phi", lambda: P.laplacian(torch.full((1, 8, 8), NAN, dtype=F64), "periodic"))
add("data.poisson.gaussian_random_field.num_samples_negative", "num_samples",
    lambda: P.gaussian_random_field(-1, 8, "periodic"))
add("data.poisson.gaussian_random_field.alpha_nan", "alpha",
    lambda: P.gaussian_random_field(2, 8, "periodic", alpha=NAN))
add("data.poisson.random_blobs.width", "width", lambda: P.random_blobs(2, 8, "periodic", width=(0.2, 0.1)))
add("data.poisson.poisson_pairs.size_one", "size", lambda: P.poisson_pairs(2, 1))
add("data.poisson.grid_coordinates.size_zero", "size", lambda: P.grid_coordinates(0, "periodic"))
from equigen.data import potts as PT  # noqa: E402

add("data.potts.planted.q_one", "q", lambda: PT.PottsModel.planted(length=12, q=1))
add("data.potts.planted.beta_nan", "beta", lambda: PT.PottsModel.planted(
    length=12, q=3, beta=NAN, bond=None, num_contacts=1, min_contact_separation=3))
add("data.potts.planted.length_zero", "length", lambda: PT.PottsModel.planted(length=0, q=3, bond=None))
add("data.potts.sample_mcmc.num_samples_negative", "num_samples", lambda: PT.sample_mcmc(_potts(), -1))
add("data.potts.sample_mcmc.method_typo", "method", lambda: PT.sample_mcmc(_potts(), 2, method="gibs"))
add("data.potts.sample_mcmc.sweeps_zero", "sweeps", lambda: PT.sample_mcmc(_potts(), 2, sweeps=0))
add("data.potts.energy.out_of_range", "seqs", lambda: _potts().energy(torch.full((1, 12), 7, dtype=torch.long)))
add("data.potts.encode.bad_letter", "sequences", lambda: _potts().encode(["Z" * 12]))
add("data.potts.single_site_frequencies.q_zero", "q",
    lambda: PT.single_site_frequencies(torch.zeros(2, 4, dtype=torch.long), 0))
from equigen.data import particles as PA  # noqa: E402

add("data.particles.DW4.temperature_nan", "temperature", lambda: PA.DW4(NAN))
add("data.particles.LJ13.temperature_negative", "temperature", lambda: PA.LJ13(-1.0))
add("data.particles.energy.nan_x", "x", lambda: PA.DW4().energy(torch.full((2, 4, 2), NAN, dtype=F64)))
add("data.particles.energy.wrong_shape", "x", lambda: PA.DW4().energy(torch.zeros(2, 5, 2, dtype=F64)))
add("data.particles.sample_reference.chains_zero", "chains", lambda: PA.sample_reference(PA.DW4(), 4, chains=0))
add("data.particles.sample_reference.target_acceptance", "target_acceptance",
    lambda: PA.sample_reference(PA.DW4(), 4, chains=2, burn_in=1, target_acceptance=1.5))
add("data.particles.remove_com.not_tensor", "x", lambda: PA.remove_com([[1.0, 2.0]]))
add("data.particles.integrated_autocorrelation_time.nan", "series",
    lambda: PA.integrated_autocorrelation_time(np.full(100, NAN)))

# --- metrics
from equigen import metrics as M  # noqa: E402

add("metrics.sliced_wasserstein.p_inf", "p", lambda: M.sliced_wasserstein(_data(), _data(), p=INF))
add("metrics.sliced_wasserstein.p_nan", "p", lambda: M.sliced_wasserstein(_data(), _data(), p=NAN))
add("metrics.sliced_wasserstein.p_half", "p", lambda: M.sliced_wasserstein(_data(), _data(), p=0.5))
add("metrics.sliced_wasserstein.p_bool", "p", lambda: M.sliced_wasserstein(_data(), _data(), p=True))
add("metrics.sliced_wasserstein.nan_x", "x", lambda: M.sliced_wasserstein(torch.full((4, 3), NAN), _data()))
add("metrics.sliced_wasserstein.projections_zero", "projections",
    lambda: M.sliced_wasserstein(_data(), _data(), projections=0))
add("metrics.sliced_wasserstein.dim_mismatch", "y", lambda: M.sliced_wasserstein(_data(), torch.zeros(4, 2)))
add("metrics.sliced_wasserstein.empty_x", "x", lambda: M.sliced_wasserstein(torch.zeros(0, 3), _data()))
add("metrics.mmd_rbf.nan_y", "y", lambda: M.mmd_rbf(_data(), torch.full((4, 3), NAN)))
add("metrics.mmd_rbf.bandwidth_negative", "bandwidth", lambda: M.mmd_rbf(_data(), _data(), bandwidth=-1.0))
add("metrics.mmd_rbf.max_points_zero", "max_points", lambda: M.mmd_rbf(_data(), _data(), max_points=0))
add("metrics.correlation_dimension.nan_points", "points",
    lambda: M.correlation_dimension(np.full((200, 3), NAN)))
add("metrics.correlation_dimension.r_order", "r_min",
    lambda: M.correlation_dimension(np.random.default_rng(0).normal(size=(200, 3)), 1.0, 0.1))
add("metrics.correlation_sum.radii_negative", "radii",
    lambda: M.correlation_sum(np.random.default_rng(0).normal(size=(50, 3)), [-1.0, 0.5]))
add("metrics.aligned_rmsd.shape_mismatch", "b", lambda: M.aligned_rmsd(np.zeros((3, 3)), np.zeros((4, 3))))
add("metrics.aligned_rmsd.nan", "a", lambda: M.aligned_rmsd(np.full((3, 3), NAN), np.zeros((3, 3))))
add("metrics.nearest_aligned_rmsd.candidates_zero", "candidates",
    lambda: M.nearest_aligned_rmsd(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), candidates=0))

# --- train
add("train.Trainer.lr_negative", "lr", lambda: _trainer(lr=-1e-3))
add("train.Trainer.lr_zero", "lr", lambda: _trainer(lr=0.0))
add("train.Trainer.lr_nan", "lr", lambda: _trainer(lr=NAN))
add("train.Trainer.lr_string", "lr", lambda: _trainer(lr="1e-3"))
add("train.Trainer.weight_decay_negative", "weight_decay", lambda: _trainer(weight_decay=-0.1))
add("train.Trainer.warmup_negative", "warmup_steps", lambda: _trainer(warmup_steps=-1))
add("train.Trainer.device_cuda_on_cpu", "device",
    lambda: _trainer(device="cuda") if not torch.cuda.is_available() else _trainer(device="cuda:99"))
add("train.Trainer.device_garbage", "device", lambda: _trainer(device="gpu0"))
add("train.Trainer.ema_decay", "ema_decay", lambda: _trainer(ema_decay=1.5))
add("train.Trainer.max_consecutive_skips", "max_consecutive_skips", lambda: _trainer(max_consecutive_skips=0))
add("train.Trainer.clip_nan", "clip_grad_norm", lambda: _trainer(clip_grad_norm=NAN))
add("train.Trainer.fit_steps_negative", "steps", lambda: _trainer().fit(torch.zeros(8, 2, dtype=F64), steps=-1))
add("train.Trainer.fit_batch_size_zero", "batch_size",
    lambda: _trainer().fit(torch.zeros(8, 2, dtype=F64), steps=1, batch_size=0))
add("nn.EGNN.device_cuda_on_cpu", "device", lambda: _egnn(device="cuda" if not torch.cuda.is_available()
                                                            else "cuda:99"))
add("nn.FNO.device_cuda_on_cpu", "device", lambda: _fno(device="cuda" if not torch.cuda.is_available() else "cuda:99"))
add("nn.Potential.device_garbage", "device", lambda: _potential(device="gpu0"))
add("train.load_model.device_cuda_on_cpu", "device", lambda: __import__("equigen.train", fromlist=["load_model"])
    .load_model(__import__("equigen.train", fromlist=["save_model"]).save_model(
        _vae(), f"{_tmp()}/vae-dev.pt"), device="cuda" if not torch.cuda.is_available() else "cuda:99"))
add("train.EMA.decay", "decay", lambda: __import__("equigen.train", fromlist=["EMA"]).EMA(torch.nn.Linear(2, 2), -0.5))
add("train.Batches.batch_size_zero", "batch_size",
    lambda: __import__("equigen.train", fromlist=["Batches"]).Batches(torch.zeros(8, 2), 0))

# --- experiments: configs
add("experiments.config.time_budget_negative", "time_budget_s", lambda: _run_cfg(time_budget_s=-1.0))
add("experiments.config.threads_zero", "threads", lambda: _run_cfg(threads=-2))
add("experiments.config.device_cuda_on_cpu", "device",
    lambda: _run_cfg(device="cuda") if not torch.cuda.is_available() else _run_cfg(device="cuda:99"))
add("experiments.lorenz.num_train_negative", "num_train", lambda: _cfg("lorenz", num_train=-5))
add("experiments.lorenz.vae_steps_float", "vae_steps", lambda: _cfg("lorenz", vae_steps=2.5))
add("experiments.poisson.lr_nan", "lr", lambda: _cfg("poisson", lr=NAN) if hasattr(_cfg("poisson"), "lr")
    else _cfg("poisson", time_budget_s=NAN))
add("experiments.equivariant_generation.lr_negative", "lr", lambda: _cfg("equivariant-generation", lr=-1.0))
add("experiments.equivariant_generation.lr_entry_negative", "lr",
    lambda: _cfg("equivariant-generation", lr={"egnn": -1e-2, "mlp": 2e-3, "mlp_aug": 5e-3}))
add("experiments.equivariant_generation.batch_size_zero", "batch_size",
    lambda: _cfg("equivariant-generation", batch_size=0))
add("experiments.nbody.time_budget_nan", "time_budget_s", lambda: _cfg("nbody-conservation", time_budget_s=NAN))
add("experiments.fick.dt_negative", "dt", lambda: _cfg("fick", dt=-0.2))
add("experiments.data_efficiency.steps_negative", "steps", lambda: _cfg("data-efficiency", steps=-1))

# --- own data: readers, Potential, FNO, equigen train / compare
from equigen import io as IO  # noqa: E402

add("io.read_structures.nan_pos", "pos", lambda: IO.read_structures(_xyz("pos")))
add("io.read_structures.nan_energy", "energy", lambda: IO.read_structures(_xyz("energy")))
add("io.read_structures.nan_forces", "forces", lambda: IO.read_structures(_xyz("forces")))
add("io.read_structures.dtype_int", "dtype", lambda: IO.read_structures(_xyz(), dtype=torch.long))
add("io.read_structures.dtype_string", "dtype", lambda: IO.read_structures(_xyz(), dtype="float64"))
add("io.read_structures.energy_key_missing", "energy", lambda: IO.read_structures(_xyz(), energy_key="E_dft"))
add("io.read_structures.missing_file", "data file", lambda: IO.read_structures(f"{_tmp()}/none.extxyz"))
add("io.read_fields.nan_x", "x", lambda: IO.read_fields(_npz(nan=True)))
add("io.read_fields.dtype_int", "dtype", lambda: IO.read_fields(_npz(), dtype=torch.int64))
add("io.read_fields.not_npz", "npz", lambda: IO.read_fields(_xyz()))
add("io.atoms_to_data.dtype_bool", "dtype",
    lambda: IO.atoms_to_data(__import__("ase").Atoms("H2", positions=[[0, 0, 0], [0.7, 0, 0]]), dtype=torch.bool))
add("nn.Potential.species_zero", "species", lambda: __import__("equigen.nn", fromlist=["Potential"]).Potential([0]))
add("nn.Potential.species_float", "species",
    lambda: __import__("equigen.nn", fromlist=["Potential"]).Potential([29.5]))
add("nn.Potential.species_string", "species", lambda: __import__("equigen.nn", fromlist=["Potential"]).Potential("Cu"))
add("nn.Potential.backbone_typo", "backbone", lambda: _potential(backbone="egn"))
add("nn.Potential.cutoff_nan", "cutoff", lambda: _potential(cutoff=NAN))
add("nn.Potential.cutoff_negative_distance_mlp", "cutoff", lambda: _potential(backbone="distance-mlp", cutoff=-1.0))
add("nn.Potential.hidden_zero", "hidden", lambda: _potential(hidden=0) if False else
    __import__("equigen.nn", fromlist=["Potential"]).Potential([1], hidden=0))
add("nn.Potential.num_layers_float", "num_layers",
    lambda: __import__("equigen.nn", fromlist=["Potential"]).Potential([1], num_layers=2.5))
add("nn.Potential.num_atoms_zero", "num_atoms", lambda: _potential(backbone="flat-mlp", num_atoms=0))
add("nn.Potential.flat_mlp_no_num_atoms", "num_atoms", lambda: _potential(backbone="flat-mlp"))
add("nn.Potential.forward_nan_pos", "pos", lambda: _potential()(_water(nan=True)))
add("nn.Potential.forward_dtype", "pos", lambda: _potential()(_water(dtype=torch.float32)))
add("nn.Potential.forward_z_float", "z", lambda: _potential()(_water(z_dtype=F64)))
add("nn.Potential.forward_unknown_species", "species",
    lambda: __import__("equigen.nn", fromlist=["Potential"]).Potential([1], hidden=4, num_layers=1, num_radial=2,
                                                                        dtype=F64)(_water()))
add("nn.Potential.forward_not_data", "data", lambda: _potential()(torch.zeros(3, 3, dtype=F64)))
add("nn.Potential.stress_without_cell", "stress", lambda: _potential()(_water(), stress=True))
add("nn.Potential.fit_normalization_nan_energy", "energy", lambda: _potential().fit_normalization(
    __import__("torch_geometric.data", fromlist=["Batch"]).Batch.from_data_list([_water(nan="energy")])))
add("nn.FNO.in_channels_zero", "in_channels", lambda: __import__("equigen.nn", fromlist=["FNO"]).FNO(0, 1))
add("nn.FNO.width_float", "width", lambda: _fno(width=2.5))
add("nn.FNO.act_typo", "act", lambda: _fno(act="gelu2"))
add("nn.FNO.modes_negative", "modes", lambda: _fno(modes=-1))
add("nn.FNO.proj_hidden_zero", "proj_hidden", lambda: _fno(proj_hidden=0))
add("nn.FNO.forward_nan", "x", lambda: _fno()(torch.full((1, 1, 8, 8), NAN, dtype=F64)))
add("nn.FNO.forward_dtype", "x", lambda: _fno()(torch.zeros(1, 1, 8, 8)))
add("nn.FNO.forward_channels", "x", lambda: _fno()(torch.zeros(1, 3, 8, 8, dtype=F64)))
add("nn.FNO.forward_grid_too_small", "x", lambda: _fno(modes=4)(torch.zeros(1, 1, 6, 6, dtype=F64)))
add("nn.FNO.from_config_unknown", "widht",
    lambda: __import__("equigen.nn", fromlist=["FNO"]).FNO.from_config({"widht": 4}, in_channels=1, out_channels=1))
add("own_data.train.lr_negative", "lr", lambda: _train_fno("  lr: -0.001\n"))
add("own_data.train.lr_nan", "lr", lambda: _train_fno("  lr: .nan\n"))
add("own_data.train.steps_float", "steps", lambda: _train_fno("  steps: 2.5\n"))
add("own_data.train.steps_zero", "steps", lambda: _train_fno("  steps: 0\n"))
add("own_data.train.batch_size_zero", "batch_size", lambda: _train_fno("  batch_size: 0\n"))
add("own_data.train.test_fraction_one", "test_fraction", lambda: _train_fno("  test_fraction: 1.0\n"))
add("own_data.train.schedule_typo", "schedule", lambda: _train_fno("  schedule: cosin\n"))
add("own_data.train.dtype_int", "dtype", lambda: _train_fno("  dtype: int64\n"))
add("own_data.train.threads_zero", "threads", lambda: _train_fno("  threads: 0\n"))
add("own_data.train.weight_decay_negative", "weight_decay", lambda: _train_fno("  weight_decay: -1\n"))
add("own_data.train.clip_string", "clip_grad_norm", lambda: _train_fno("  clip_grad_norm: big\n"))
add("own_data.train.force_weight_inf", "force_weight", lambda: _train_fno("  force_weight: .inf\n"))
add("own_data.train.augment_string", "augment", lambda: _train_fno("  augment: sometimes\n"))
add("own_data.train.unknown_key", "stepz", lambda: _train_fno("  stepz: 3\n"))
add("own_data.train.model_key_unknown", "widht", lambda: __import__(
    "equigen.experiments.own_data", fromlist=["train"]).train(_npz(), "fno", config=_yaml("model:\n  widht: 4\n"),
                                                              out_dir=f"{_tmp()}/out", progress=False))
add("own_data.train.model_typo", "model", lambda: __import__("equigen.experiments.own_data", fromlist=["train"])
    .train(_npz(), "fn0", out_dir=f"{_tmp()}/out", progress=False))
add("own_data.train.fno_on_atoms", "model", lambda: __import__("equigen.experiments.own_data", fromlist=["train"])
    .train(_xyz(), "fno", out_dir=f"{_tmp()}/out", progress=False))
add("own_data.compare.one_model", "models", lambda: __import__("equigen.experiments.own_data", fromlist=["compare"])
    .compare(_xyz(), models=["egnn"], out_dir=f"{_tmp()}/cmp"))
add("own_data.compare.lr_negative", "lr", lambda: __import__("equigen.experiments.own_data", fromlist=["compare"])
    .compare(_xyz(), config=_yaml("train:\n  lr: -1.0\n"), out_dir=f"{_tmp()}/cmp"))
add("own_data.compare.nan_energy", "energy", lambda: __import__("equigen.experiments.own_data",
                                                                fromlist=["compare"])
    .compare(_xyz("energy"), out_dir=f"{_tmp()}/cmp"))
add("cli.train.lr_negative", "lr", lambda: _cli("train", "--data", _npz(), "--model", "fno", "--config",
                                                _yaml(_TINY + "train:\n  lr: -1\n"), "--out", f"{_tmp()}/cli",
                                                "--no-progress"))
add("cli.train.batch_size_string", "batch_size",
    lambda: _cli("train", "--data", _npz(), "--model", "fno", "--config", _yaml(_TINY + "train:\n  batch_size: "
                                                                                 "many\n"),
                 "--out", f"{_tmp()}/cli", "--no-progress"))
add("cli.train.nan_fields", "x", lambda: _cli("train", "--data", _npz(nan=True), "--model", "fno", "--config",
                                              _yaml(_TINY + "train:\n  steps: 1\n"), "--out", f"{_tmp()}/cli",
                                              "--no-progress"))
add("cli.train.bad_section", "trian", lambda: _cli("train", "--data", _npz(), "--model", "fno", "--config",
                                                   _yaml("trian:\n  steps: 1\n"), "--out", f"{_tmp()}/cli",
                                                   "--no-progress"))
add("cli.compare.steps_negative", "steps", lambda: _cli("compare", "--data", _xyz(), "--config",
                                                        _yaml("train:\n  steps: -5\n"), "--out", f"{_tmp()}/cli",
                                                        "--no-progress"))
add("cli.compare.unknown_model", "models", lambda: _cli("compare", "--data", _xyz(), "--models", "egnn,mlp",
                                                        "--out", f"{_tmp()}/cli", "--no-progress"))


# ------------------------------------------------------------------------------------------------
# valid edge cases: each must run and return the right thing (a crash or a wrong result counts
# against it as "unclear" or "silent")
# ------------------------------------------------------------------------------------------------

def _vae_roundtrip_keeps_dtype():
    import tempfile

    from equigen.train import load_model, save_model

    vae = _vae(F64)
    back = load_model(save_model(vae, f"{tempfile.mkdtemp()}/vae.pt", config=vae.config))
    return back.log_sigma.dtype == F64 and next(back.parameters()).dtype == F64


def _vae_roundtrip_double_keeps_dtype():
    import tempfile

    from equigen.generative import VAE
    from equigen.train import load_model, save_model

    vae = VAE(3, 2, hidden=8, layers=1).double()
    back = load_model(save_model(vae, f"{tempfile.mkdtemp()}/vae.pt", config=vae.config))
    return all(t.dtype == F64 for t in back.state_dict().values())


def _empty_graph(model_fn):
    out = model_fn()
    return all(o.shape[0] == 0 for o in (out if isinstance(out, tuple) else (out,)))


def _egnn_empty():
    return _egnn()(torch.zeros(0, 3, dtype=F64), torch.zeros(0, 3, dtype=F64), torch.zeros(2, 0, dtype=torch.long))


def _egnn_single(dtype):
    h, pos = _egnn(dtype)(torch.ones(1, 3, dtype=dtype), torch.ones(1, 3, dtype=dtype),
                          torch.zeros(2, 0, dtype=torch.long))
    return h.shape == (1, 2) and h.dtype == dtype and bool(torch.isfinite(h).all())


def _tp_empty():
    return _tp()(torch.zeros(0, 2, dtype=F64), torch.zeros(0, 3, dtype=F64), torch.zeros(2, 0, dtype=torch.long))


def _spectral_empty(dtype):
    out = _spectral(dtype)(torch.zeros(0, 2, 16, dtype=dtype))
    return out.shape == (0, 3, 16) and out.dtype == dtype


def _pd_sample_zero(sampler):
    x = _pd().sample(0, sampler=sampler, steps=2)
    return x.shape == (0, 3, 2) and x.dtype == F64


def _spectral_modes_zero():
    x = _field()
    out = _spectral(modes=0)(x) if False else __import__("equigen.nn", fromlist=["SpectralConv"]).SpectralConv(
        2, 3, 0, ndim=1, dtype=F64)(x)
    return out.shape == (2, 3, 16) and bool(torch.allclose(out, out[..., :1].expand_as(out)))


EDGE_CASES: list[tuple[str, object]] = [
    ("nn.SpectralConv.modes_zero_keeps_the_mean", _spectral_modes_zero),
    ("train.save_load.vae_float64_keeps_dtype", _vae_roundtrip_keeps_dtype),
    ("train.save_load.vae_double_keeps_dtype", _vae_roundtrip_double_keeps_dtype),
    ("nn.EGNN.empty_graph", lambda: _empty_graph(_egnn_empty)),
    ("nn.EGNN.single_node_float64", lambda: _egnn_single(F64)),
    ("nn.EGNN.single_node_float32", lambda: _egnn_single(torch.float32)),
    ("nn.TensorProductConv.empty_graph", lambda: _empty_graph(_tp_empty)),
    ("nn.SpectralConv.empty_batch_float64", lambda: _spectral_empty(F64)),
    ("nn.SpectralConv.empty_batch_float32", lambda: _spectral_empty(torch.float32)),
    ("generative.PointDiffusion.sample_zero_ddpm", lambda: _pd_sample_zero("ddpm")),
    ("generative.PointDiffusion.sample_zero_ddim", lambda: _pd_sample_zero("ddim")),
    ("generative.VAE.sample_zero", lambda: _vae().sample(0).shape == (0, 3)),
    ("generative.GAN.sample_zero", lambda: _gan().sample(0).shape == (0, 3)),
    ("geometry.radius_graph.empty", lambda: geo.radius_graph(torch.zeros(0, 3), 1.0).shape == (2, 0)),
    ("dynamics.LinearDynamics.rollout_zero_steps", lambda: _linear_rollout(0)[0].shape == (1, 2, 3)),
    ("groups.rotation_in_plane.orthogonal", lambda: torch.allclose(
        (lambda r: r @ r.T)(G.rotation_in_plane(4, 3, 1, 0.7)), torch.eye(4, dtype=F64))),
]


def classify_edge(fn) -> tuple[str, str]:
    """``("clear", ...)`` when the valid call works, ``"silent"`` for a wrong result, ``"unclear"`` for a crash."""
    try:
        ok = fn()
    except Exception as exc:  # noqa: BLE001
        return "unclear", f"{type(exc).__name__}: {str(exc)[:160]}"
    return ("clear", "works") if ok else ("silent", "wrong result")


@pytest.mark.parametrize("fn", [c[1] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES])
def test_valid_edge_case_works(fn):
    verdict, detail = classify_edge(fn)
    assert verdict == "clear", detail


# ------------------------------------------------------------------------------------------------

def classify(arg: str, fn) -> tuple[str, str]:
    """``("silent" | "unclear" | "clear", detail)`` for one bad call."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()
    except (ValueError, TypeError, FileNotFoundError) as exc:  # FileNotFoundError: only for a missing file
        msg = str(exc)
        if re.search(rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])", msg):
            return "clear", f"{type(exc).__name__}: {msg[:160]}"
        return "unclear", f"{type(exc).__name__} not naming {arg!r}: {msg[:160]}"
    except Exception as exc:  # noqa: BLE001 - classification of any failure
        return "unclear", f"{type(exc).__name__}: {str(exc)[:160]}"
    return "silent", "no error"


@pytest.mark.parametrize("arg, fn", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_refused_clearly(arg, fn):
    verdict, detail = classify(arg, fn)
    assert verdict == "clear", detail


def test_there_are_enough_cases():
    assert len(CASES) >= 150 and len({c[0] for c in CASES}) == len(CASES)


def main() -> int:
    import json

    torch.set_num_threads(1)
    counts = {"silent": 0, "unclear": 0, "clear": 0}
    verdicts = {}
    for id_, arg, fn in CASES:
        verdict, detail = classify(arg, fn)
        counts[verdict] += 1
        verdicts[id_] = [verdict, detail]
        if verdict != "clear" or "-v" in sys.argv:
            print(f"{verdict:8s} {id_}: {detail}")
    print(f"{len(CASES)} bad calls: silent {counts['silent']}, unclear {counts['unclear']}, clear {counts['clear']}")
    edge = {"silent": 0, "unclear": 0, "clear": 0}
    for id_, fn in EDGE_CASES:
        verdict, detail = classify_edge(fn)
        edge[verdict] += 1
        if verdict != "clear" or "-v" in sys.argv:
            print(f"{verdict:8s} {id_}: {detail}")
    print(f"{len(EDGE_CASES)} valid edge cases: wrong result {edge['silent']}, crash {edge['unclear']}, "
          f"work {edge['clear']}")
    if "--json" in sys.argv:
        with open(sys.argv[sys.argv.index("--json") + 1], "w") as fh:
            json.dump({"bad_calls": len(CASES), **counts, "edge_cases": len(EDGE_CASES),
                       "edge": edge, "verdicts": verdicts}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
