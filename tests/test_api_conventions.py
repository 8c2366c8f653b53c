"""The package-wide API convention (docs/conventions.md): names, deprecated keywords, the generative protocol."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings

import pytest
import torch

import equigen
from equigen.core.deprecation import renamed_kwargs
from equigen.core.dtypes import learning_dtype, physics_dtype


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- the shared helper
@renamed_kwargs(n="num_samples", iters="steps")
def _draw(num_samples, *, steps=1, scale=1.0):
    return num_samples * steps * scale


def test_renamed_keyword_warns_and_forwards():
    with pytest.warns(DeprecationWarning, match=r"'n' is deprecated.*use num_samples="):
        assert _draw(n=3) == 3
    with pytest.warns(DeprecationWarning, match="use steps="):
        assert _draw(2, iters=4) == 8


def test_new_names_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _draw(3, steps=2, scale=0.5) == 3.0
        assert _draw(num_samples=3) == 3


@pytest.mark.parametrize("call", [lambda: _draw(3, n=3), lambda: _draw(num_samples=3, n=3),
                                  lambda: _draw(1, steps=2, iters=2)])
def test_old_and_new_together_are_refused(call):
    with pytest.raises(TypeError, match="got both .* pass only"):
        call()


def test_signature_shows_only_new_names():
    assert list(inspect.signature(_draw).parameters) == ["num_samples", "steps", "scale"]


def test_helper_refuses_a_new_name_the_function_lacks():
    with pytest.raises(ValueError, match="no parameter 'count'"):
        renamed_kwargs(n="count")(lambda num_samples: num_samples)
    with pytest.raises(ValueError, match="another identifier"):
        renamed_kwargs(n="n")


def test_dtype_defaults():
    assert physics_dtype() is torch.float64 and physics_dtype(torch.float32) is torch.float32
    assert learning_dtype() is torch.get_default_dtype() and learning_dtype(torch.float64) is torch.float64


# --------------------------------------------------------------------------- every renamed keyword
def _vae():
    from equigen.generative import VAE

    torch.manual_seed(0)
    return VAE(3, 2, hidden=8, layers=1)


def _gan_fit(**kw):
    from equigen.generative import GAN

    torch.manual_seed(0)
    m = GAN(3, 2, hidden=8, layers=1)
    m.fit(torch.randn(32, 3, generator=gen(1)), steps=2, batch_size=8, log_every=1, **kw)
    return m.sample(4, generator=gen(2))


def _gan_sample(**kw):
    from equigen.generative import GAN

    torch.manual_seed(0)
    return GAN(3, 2, hidden=8, layers=1).sample(generator=gen(14), **kw)


def _pd():
    from equigen.generative.equivariant_diffusion import PointDiffusion

    torch.manual_seed(0)
    return PointDiffusion(3, 2, num_steps=10, hidden=8, num_layers=1)


def _pairs():
    g = gen(3)
    q = torch.randn(8, 3, 2, generator=g, dtype=torch.float64)
    p = torch.randn(8, 3, 2, generator=g, dtype=torch.float64)
    return q, p, q + 0.1 * p, p


def _train_one_step(**kw):
    from equigen.dynamics import PairPotentialNet, train_one_step

    m = PairPotentialNet(torch.ones(3, dtype=torch.float64), hidden=4, generator=gen(4)).double()
    return torch.tensor(train_one_step(m, *_pairs(), 0.1, batch_size=4, seed=1, **kw))


def _mlp_operator(**kw):
    from equigen.nn.baselines import MLPOperator

    u0 = torch.randn(6, 8, generator=gen(5), dtype=torch.float64)
    return torch.cat([p.flatten() for p in MLPOperator.fit(u0, u0.roll(1, -1), hidden=4, generator=gen(6),
                                                          **kw).parameters()])


def _data(name):
    return getattr(importlib.import_module("equigen.data"), name)


def _heat(name):
    return getattr(importlib.import_module("equigen.data.heat"), name)


def _poisson(name):
    return getattr(importlib.import_module("equigen.data.poisson"), name)


def _wilson(**kw):
    from equigen.generative.constraints import wilson_interval

    return torch.tensor(wilson_interval(3, **kw))


_LORENZ = {"trajectories": 2, "transient": 0.5}
# (name, function of keyword arguments, old keyword, new keyword, value, other keyword arguments)
RENAMES = [
    ("VAE.sample", lambda **kw: _vae().sample(generator=gen(7), **kw), "n", "num_samples", 4, {}),
    ("GAN.sample", lambda **kw: _gan_sample(**kw), "n", "num_samples", 3, {}),
    ("GAN.fit", _gan_fit, "n_critic", "critic_steps", 2, {}),
    ("PointDiffusion.sample", lambda **kw: _pd().sample(generator=gen(8), steps=3, **kw), "n", "num_samples", 2, {}),
    ("wilson_interval", _wilson, "n", "trials", 10, {}),
    ("random_smooth_fields", lambda **kw: _heat("random_smooth_fields")(sizes=8, generator=gen(9), **kw),
     "count", "num_samples", 2, {}),
    ("heat_pairs", lambda **kw: torch.stack(_heat("heat_pairs")(sizes=8, D=0.1, dt=0.1, generator=gen(10), **kw)),
     "count", "num_samples", 2, {}),
    ("gaussian_random_field", lambda **kw: _poisson("gaussian_random_field")(size=8, boundary="periodic",
                                                                             generator=gen(11), **kw),
     "count", "num_samples", 2, {}),
    ("random_blobs", lambda **kw: _poisson("random_blobs")(size=8, boundary="dirichlet", generator=gen(12), **kw),
     "count", "num_samples", 2, {}),
    ("poisson_pairs", lambda **kw: torch.stack(_poisson("poisson_pairs")(size=8, generator=gen(13), **kw)),
     "count", "num_samples", 2, {}),
    ("lorenz_attractor", lambda **kw: torch.as_tensor(_data("lorenz_attractor")(seed=1, **_LORENZ, **kw)),
     "n", "num_samples", 6, {}),
    ("sample_attractor", lambda **kw: torch.as_tensor(_data("sample_attractor")(
        _data("lorenz_vector_field")(), y0_sampler=lambda rng, b: rng.normal(size=(b, 3)) + 10, seed=2, **_LORENZ,
        **kw)), "n", "num_samples", 6, {}),
    ("lorenz_dataset.train", lambda **kw: _data("lorenz_dataset")(num_test=2, seed=3, **_LORENZ, **kw).train,
     "n_train", "num_train", 6, {}),
    ("lorenz_dataset.test", lambda **kw: _data("lorenz_dataset")(4, seed=3, **_LORENZ, **kw).test,
     "n_test", "num_test", 3, {}),
    ("train_one_step", _train_one_step, "iterations", "steps", 3, {}),
    ("MLPOperator.fit", _mlp_operator, "epochs", "steps", 3, {}),
]
@pytest.mark.parametrize("name, fn, old, new, value, extra", RENAMES, ids=[r[0] for r in RENAMES])
def test_old_keyword_gives_the_same_result_with_a_warning(name, fn, old, new, value, extra):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        expected = fn(**{new: value}, **extra)
    with pytest.warns(DeprecationWarning, match=rf"'{old}' is deprecated.*use {new}="):
        got = fn(**{old: value}, **extra)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)  # bit-identical
    with pytest.raises(TypeError, match=f"got both '{old}'.*'{new}'"):
        fn(**{old: value, new: value}, **extra)


def test_check_n_is_a_deprecated_alias():
    from equigen.generative.base import check_n, check_num_samples

    with pytest.warns(DeprecationWarning, match="check_num_samples"):
        assert check_n(3) == check_num_samples(3) == 3


# --------------------------------------------------------------------------- names across the package
FORBIDDEN = {"n", "n_samples", "num", "count", "iterations", "epochs", "n_epochs", "n_iter", "rng", "gen",
             "n_critic", "n_train", "n_test"}
PACKAGES = ("equigen.generative", "equigen.data", "equigen.dynamics", "equigen.nn", "equigen.metrics")
MODULES = ("equigen.geometry", "equigen.io")


def _modules():
    names = list(MODULES)
    for pkg in PACKAGES:
        mod = importlib.import_module(pkg)
        names.append(pkg)
        names += [m.name for m in pkgutil.walk_packages(mod.__path__, pkg + ".")]
    out = []
    for name in names:
        try:
            out.append(importlib.import_module(name))
        except ImportError as exc:  # an optional dependency (ase for equigen.io)
            if "equigen" in str(exc):
                raise
    return out


def _public_callables():
    seen = set()
    for mod in _modules():
        for name, obj in vars(mod).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                continue
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if attr.startswith("_") and attr != "__init__":
                        continue
                    fn = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
                    if inspect.isfunction(fn) and (obj, attr) not in seen:
                        seen.add((obj, attr))
                        yield f"{mod.__name__}.{name}.{attr}", fn
            elif inspect.isfunction(obj):
                yield f"{mod.__name__}.{name}", obj


def test_no_public_parameter_uses_a_retired_name():
    bad = []
    for qualname, fn in _public_callables():
        if qualname == "equigen.generative.base.check_n":  # the deprecated alias itself
            continue
        params = inspect.signature(fn).parameters
        bad += [f"{qualname}({p})" for p in params if p in FORBIDDEN]
    assert not bad, f"use num_samples / steps / generator (docs/conventions.md): {bad}"


def test_no_public_dtype_default_is_hard_coded():
    bad = []
    for qualname, fn in _public_callables():
        p = inspect.signature(fn).parameters.get("dtype")
        if p is not None and p.default is not inspect.Parameter.empty and p.default is not None:
            bad.append(f"{qualname}(dtype={p.default})")
    assert not bad, f"dtype=None, resolved by equigen.core.dtypes: {bad}"


# --------------------------------------------------------------------------- the generative protocol
def _generative_classes():
    from equigen.generative.base import GenerativeModel

    for m in pkgutil.walk_packages(importlib.import_module("equigen.generative").__path__, "equigen.generative."):
        importlib.import_module(m.name)
    out, todo = [], [GenerativeModel]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("equigen.generative"):
                out.append(sub)
    return sorted(set(out), key=lambda c: c.__qualname__)


ABSTRACT = {"SequenceTransformer"}


def _factories():
    from equigen.generative import GAN, VAE
    from equigen.generative.equivariant_diffusion import PointDiffusion
    from equigen.generative.sequence import AutoregressiveTransformer, MaskedTransformer

    floats = torch.randn(16, 3, generator=gen(20))
    seqs = torch.randint(0, 4, (16, 6), generator=gen(21))
    return {
        VAE: (lambda: VAE(3, 2, hidden=8, layers=1), floats),
        GAN: (lambda: GAN(3, 2, hidden=8, layers=1), floats),
        PointDiffusion: (lambda: PointDiffusion(4, 2, num_steps=10, hidden=8, num_layers=1),
                         torch.randn(16, 4, 2, generator=gen(22))),
        AutoregressiveTransformer: (lambda: AutoregressiveTransformer(6, "ACDE", width=8, depth=1, heads=2), seqs),
        MaskedTransformer: (lambda: MaskedTransformer(6, "ACDE", width=8, depth=1, heads=2), seqs),
    }


def test_every_generative_model_is_covered():
    concrete = {c for c in _generative_classes() if c.__name__ not in ABSTRACT}
    assert {c.__name__ for c in _generative_classes()} >= {"VAE", "GAN", "PointDiffusion",
                                                          "AutoregressiveTransformer", "MaskedTransformer"}
    missing = concrete - set(_factories())
    assert not missing, f"add a small factory for {sorted(c.__name__ for c in missing)}"


def _samples(out):
    return out.seqs if hasattr(out, "seqs") else out


@pytest.mark.parametrize("cls", list(_factories()), ids=lambda c: c.__name__)
def test_generative_model_follows_the_protocol(cls):
    make, data = _factories()[cls]
    sig = inspect.signature(cls.sample)
    params = list(sig.parameters.values())
    assert params[1].name == "num_samples" and params[1].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    for name in ("generator", "cond"):
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY and sig.parameters[name].default is None
    fit_params = inspect.signature(cls.fit).parameters
    assert "steps" in fit_params or any(q.kind is inspect.Parameter.VAR_KEYWORD for q in fit_params.values())
    if "training_loss" in vars(cls) or cls.fit is equigen.generative.GenerativeModel.fit:
        loss_sig = inspect.signature(cls.training_loss).parameters["generator"]
        assert loss_sig.kind is inspect.Parameter.KEYWORD_ONLY and loss_sig.default is None
    torch.manual_seed(0)
    model = make()
    assert isinstance(model, equigen.generative.GenerativeModel)
    summary = model.fit(data, steps=2, batch_size=8)
    assert isinstance(summary, dict)
    a = _samples(model.sample(3, generator=gen(23)))
    b = _samples(model.sample(num_samples=3, generator=gen(23)))
    assert isinstance(a, torch.Tensor) and tuple(a.shape) == (3, *model.event_shape)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="cond"):
        model.sample(3, generator=gen(23), cond=torch.zeros(3, 1))


@pytest.mark.parametrize("name", ["AutoregressiveTransformer", "MaskedTransformer"])
def test_sequence_fit_is_the_trainer_run(name):
    from equigen.generative import sequence
    from equigen.train import Trainer

    seqs = torch.randint(0, 4, (24, 6), generator=gen(24))
    cls = getattr(sequence, name)
    torch.manual_seed(0)
    a = cls(6, "ACDE", width=8, depth=1, heads=2)
    a.fit(seqs, steps=3, batch_size=8, lr=3e-3, seed=5)
    torch.manual_seed(0)
    b = cls(6, "ACDE", width=8, depth=1, heads=2)
    Trainer(b, lr=3e-3, seed=5, progress=False).fit(seqs, steps=3, batch_size=8)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_sequence_fit_refuses_float_data():
    from equigen.generative.sequence import MaskedTransformer

    with pytest.raises(TypeError, match="data must hold integer letter indices"):
        MaskedTransformer(6, "ACDE", width=8, depth=1, heads=2).fit(torch.zeros(4, 6), steps=1)
