"""SpectralConv and its symbols: equivariance (via the kit), reality, resolution independence, gradients."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from equigen.groups import GridReflections, GridShifts
from equigen.nn import Conserving, Free, IsotropicPolynomial, RealEven, SpectralConv
from equigen.testing import EquivarianceError, assert_equivariant, check_equivariant, equivariance_error
from equigen.testing.strategies import fields

F64, F32 = torch.float64, torch.float32
DECLARING = [SpectralConv, Free, RealEven, Conserving, IsotropicPolynomial]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ declared symmetry (the kit)
@pytest.mark.parametrize("cls", DECLARING, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [F64, F32], ids=str)
def test_declared_symmetry_holds(cls, dtype):
    fn, inputs = cls.symmetry_example(dtype=dtype, generator=gen())
    sym = cls.symmetry
    assert_equivariant(fn, inputs, sym.make_group(), sym.in_kinds, sym.out_kinds, trials=8)


def test_free_symbol_is_not_reflection_symmetric():
    """The reflection claim is not vacuous: a Free symbol breaks it and the kit says so."""
    fn, inputs = Free.symmetry_example(dtype=F64, generator=gen())
    with pytest.raises(EquivarianceError):
        assert_equivariant(fn, inputs, GridReflections(2), "field", "field")
    assert equivariance_error(fn, inputs, GridReflections(2), "field", "field") > 0.1


@pytest.mark.parametrize("sizes,modes", [((1,), 0), ((2,), 1), ((7,), 3), ((8,), 4), ((33,), 5), ((9, 8), (3, 4)),
                                         ((6, 7), (3, 2)), ((5, 4, 6), (2, 2, 3)), ((4, 5, 3), (2, 1, 1))])
@pytest.mark.parametrize("symbol", ["free", "real_even"])
def test_grid_shift_equivariance_exact_float64(sizes, modes, symbol):
    layer = SpectralConv(2, 3, modes, symbol=symbol, ndim=len(sizes), generator=gen(1), dtype=F64)
    x = torch.randn(2, 2, *sizes, generator=gen(2), dtype=F64)
    reports = assert_equivariant(layer, (x,), GridShifts(len(sizes)), "field", "field", trials=8, rtol=1e-13)
    assert max(r.error for r in reports) < 1e-13
    if symbol == "real_even":
        assert_equivariant(layer, (x,), GridShifts(len(sizes)) * GridReflections(len(sizes)), "field", "field",
                           trials=8, rtol=1e-13)


_LAYERS = {}


def _layer_for(x):
    nd = x.dim() - 2
    key = (nd, x.dtype)
    if key not in _LAYERS:
        _LAYERS[key] = SpectralConv(2, 2, 1, symbol="real_even", ndim=nd, generator=gen(nd), dtype=x.dtype)
    return _LAYERS[key](x)


def test_hypothesis_search_finds_no_counterexample():
    """Shifts and reflections on random fields of 1-3 axes, odd and even sizes, both dtypes."""
    for nd in (1, 2, 3):
        check_equivariant(_layer_for, GridShifts(nd) * GridReflections(nd), "field", "field",
                          inputs=fields(ndim=nd, channels=2, batch=2, min_size=2, max_size=9))


# ------------------------------------------------------------------ real in, real out; reference operator
def _reference(x, re, im, modes, hermitian=True):
    """Independent definition: the band-limited map sum_{|n_i|<=m_i} W(n) u_hat(n) e^{i n x}, sampled.

    Loops over every frequency of the full (two-sided) set; the last axis' negative frequencies are
    conj(W(-n)); an even size's Nyquist bin is split between +N/2 and -N/2. Returns the complex output.
    """
    nd = len(modes)
    sizes = x.shape[2:]
    X = torch.fft.fftn(x.to(torch.complex128), dim=tuple(range(2, 2 + nd)))
    W = torch.complex(re.double(), torch.zeros_like(re.double()) if im is None else im.double())
    out = torch.zeros(x.shape[0], W.shape[0], *sizes, dtype=torch.complex128)

    def w_at(n):
        def raw(n):
            idx = tuple(n[i] + modes[i] for i in range(nd - 1)) + (n[-1],)
            return W[(slice(None), slice(None)) + idx]
        neg = tuple(-v for v in n)
        if n[-1] > 0:
            return raw(n)
        if n[-1] < 0:
            return raw(neg).conj()
        return (raw(n) + raw(neg).conj()) / 2 if hermitian else raw(n)

    for n in itertools.product(*[range(-m, m + 1) for m in modes]):
        c = math.prod(0.5 if 2 * abs(v) == N else 1.0 for v, N in zip(n, sizes))
        b = tuple(v % N for v, N in zip(n, sizes))
        out[(slice(None), slice(None)) + b] += c * torch.einsum("oi,bi->bo", w_at(n), X[(slice(None), slice(None)) + b])
    return torch.fft.ifftn(out, dim=tuple(range(2, 2 + nd)))


@pytest.mark.parametrize("n", range(1, 34))
def test_real_in_real_out_all_sizes_1d(n):
    for m in sorted({0, min(1, n // 2), n // 2}):
        layer = SpectralConv(2, 2, m, generator=gen(n), dtype=F64)
        x = torch.randn(3, 2, n, generator=gen(100 + n), dtype=F64)
        ref = _reference(x, layer.symbol.weight_real.detach(), layer.symbol.weight_imag.detach(), (m,))
        y = layer(x).detach()
        assert y.dtype == F64 and y.shape == (3, 2, n)
        scale = ref.abs().max().clamp_min(1e-300)
        assert float(ref.imag.abs().max() / scale) < 1e-13, "the operator is not real"
        assert float((y - ref.real).abs().max() / scale) < 1e-13


@pytest.mark.parametrize("sizes", [(1, 1), (2, 3), (3, 2), (4, 4), (5, 6), (8, 9), (10, 7), (2, 2, 2), (3, 4, 5)])
def test_real_in_real_out_nd(sizes):
    modes = tuple(n // 2 for n in sizes)
    layer = SpectralConv(2, 3, modes, generator=gen(3), dtype=F64)
    x = torch.randn(2, 2, *sizes, generator=gen(4), dtype=F64)
    ref = _reference(x, layer.symbol.weight_real.detach(), layer.symbol.weight_imag.detach(), modes)
    scale = ref.abs().max()
    assert float(ref.imag.abs().max() / scale) < 1e-13
    assert float((layer(x).detach() - ref.real).abs().max() / scale) < 1e-13


# ------------------------------------------------------------------ resolution independence
def _band_limited(sizes, K, channels=2, seed=0):
    """Samples of sum over |n_i| <= K of random coefficients (a real trigonometric polynomial)."""
    g = gen(seed)
    terms = []
    for n in itertools.product(*[range(-K, K + 1)] * len(sizes)):
        terms.append((n, torch.randn(channels, generator=g, dtype=F64), torch.randn(channels, generator=g, dtype=F64)))

    def sample(grid_sizes):
        axes = torch.meshgrid(*[torch.arange(N, dtype=F64) * 2 * math.pi / N for N in grid_sizes], indexing="ij")
        u = torch.zeros(channels, *grid_sizes, dtype=F64)
        for n, a, b in terms:
            phase = sum(v * ax for v, ax in zip(n, axes))
            shape = (-1,) + (1,) * len(sizes)
            u = u + a.reshape(shape) * torch.cos(phase) + b.reshape(shape) * torch.sin(phase)
        return u[None]

    return sample


@pytest.mark.parametrize("symbol", ["free", "real_even"])
@pytest.mark.parametrize("coarse,factor,modes", [((12,), 3, 4), ((9,), 2, 4), ((8, 9), 2, (3, 3)), ((7, 6), 3, (2, 2))])
def test_resolution_independent(symbol, coarse, factor, modes):
    """Same weights on a finer grid: the fine output sampled at the coarse points is the coarse output."""
    layer = SpectralConv(2, 2, modes, symbol=symbol, ndim=len(coarse), generator=gen(5), dtype=F64)
    K = min(n // 2 - (1 - n % 2) for n in coarse)  # strictly below every Nyquist
    sample = _band_limited(coarse, K)
    fine = tuple(n * factor for n in coarse)
    y_coarse = layer(sample(coarse))
    y_fine = layer(sample(fine))
    sub = y_fine[(Ellipsis,) + tuple(slice(None, None, factor) for _ in coarse)]
    assert float((sub - y_coarse).detach().abs().max() / y_coarse.detach().abs().max()) < 1e-12


def test_resolution_independent_at_the_nyquist_mode():
    """cos(m x) sampled at N = 2m (Nyquist bin) maps like cos(m x) on a fine grid (average of +-m weights)."""
    m = 4
    layer = SpectralConv(1, 1, m, generator=gen(6), dtype=F64)
    for N in (2 * m, 6 * m):
        x = torch.cos(m * torch.arange(N, dtype=F64) * 2 * math.pi / N)[None, None]
        y = layer(x)
        if N == 2 * m:
            y_coarse = y
    assert float((y[..., ::3] - y_coarse).detach().abs().max()) < 1e-12


# ------------------------------------------------------------------ conservation, float32, gradients
def test_conserving_output_sums_to_zero():
    for inner in (Free(2, 3, (3, 4), generator=gen(7), dtype=F64), RealEven(2, 3, (3, 4), generator=gen(7), dtype=F64)):
        layer = SpectralConv(2, 3, (3, 4), symbol=Conserving(inner))
        x = torch.randn(4, 2, 9, 8, generator=gen(8), dtype=F64) + 5.0
        y = layer(x)
        assert float(y.detach().sum(dim=(-1, -2)).abs().max() / x.abs().sum(dim=(-1, -2)).max()) < 1e-14
    plain = SpectralConv(2, 3, (3, 4), symbol=RealEven(2, 3, (3, 4), generator=gen(7), dtype=F64))
    assert float(plain(x).detach().sum(dim=(-1, -2)).abs().max()) > 1.0  # the wrapper is what conserves


def test_float32_layer_is_float32_and_equivariant():
    layer = SpectralConv(3, 3, (4, 4), generator=gen(9))
    x = torch.randn(2, 3, 16, 15, generator=gen(10))
    y = layer(x)
    assert y.dtype == F32 and layer.symbol.weight_real.dtype == F32
    assert_equivariant(layer, (x,), GridShifts(2), "field", "field", trials=8)


def test_isotropic_symbol_values():
    s = IsotropicPolynomial(2, init=[0.3, 0.01], dtype=F64)
    re, im = s.evaluate((torch.arange(-2, 3), torch.arange(0, 3)), (2 * math.pi, math.pi))
    k2 = torch.arange(-2, 3, dtype=F64)[:, None] ** 2 + (2 * torch.arange(0, 3, dtype=F64))[None] ** 2
    assert im is None
    torch.testing.assert_close(re[0, 0], -(0.3 * k2 + 0.01 * k2**2))
    assert float(s.D) == 0.3


@pytest.mark.parametrize("symbol", ["free", "real_even", "iso"])
@pytest.mark.parametrize("sizes", [(7,), (6, 5)])
def test_gradcheck(symbol, sizes):
    nd = len(sizes)
    modes = tuple(n // 2 for n in sizes)
    sym = IsotropicPolynomial(2, 2, 2, generator=gen(11), dtype=F64) if symbol == "iso" else symbol
    layer = SpectralConv(2, 2, modes, symbol=sym, ndim=nd, generator=gen(11), dtype=F64)
    x = torch.randn(2, 2, *sizes, generator=gen(12), dtype=F64, requires_grad=True)
    params = tuple(layer.parameters())
    assert torch.autograd.gradcheck(layer, (x,))
    # gradients with respect to the symbol's parameters
    for q in params:
        def g(v, q=q):
            return torch.func.functional_call(layer, {n: (v if p is q else p) for n, p in layer.named_parameters()},
                                              (x.detach(),))
        assert torch.autograd.gradcheck(g, (q.detach().clone().requires_grad_(True),))


# ------------------------------------------------------------------ bad input
def test_bad_inputs_raise_clear_errors():
    layer = SpectralConv(2, 3, 4, dtype=F64)
    with pytest.raises(ValueError, match="too small for modes=4"):
        layer(torch.randn(1, 2, 7, dtype=F64))
    with pytest.raises(ValueError, match="complex"):
        layer(torch.randn(1, 2, 16, dtype=torch.complex128))
    with pytest.raises(ValueError, match="in_channels=2"):
        layer(torch.randn(1, 3, 16, dtype=F64))
    with pytest.raises(ValueError, match="spatial axes"):
        layer(torch.randn(2, 16, dtype=F64))
    with pytest.raises(ValueError, match="dtype"):
        layer(torch.randn(1, 2, 16, dtype=F32))
    with pytest.raises(ValueError, match="length"):
        SpectralConv(2, 3, 4, length=0.0)
    with pytest.raises(ValueError, match="modes"):
        SpectralConv(2, 3, -1)
    with pytest.raises(ValueError, match="modes"):
        SpectralConv(2, 3, (4, 4), ndim=3)
    with pytest.raises(ValueError, match="modes"):
        SpectralConv(2, 3, 4, symbol=RealEven(2, 3, 5))
    with pytest.raises(ValueError, match="in_channels=2"):
        SpectralConv(2, 3, 4, symbol=RealEven(3, 3, 4))
    with pytest.raises(ValueError, match="symbol"):
        SpectralConv(2, 3, 4, symbol="fancy")
    with pytest.raises(TypeError, match="inner"):
        Conserving("free")
    with pytest.raises(ValueError, match="degree"):
        IsotropicPolynomial(0)


@given(st.integers(1, 40), st.integers(0, 25))
def test_size_check_matches_modes(n, m):
    layer = SpectralConv(1, 1, m, dtype=F64)
    x = torch.zeros(1, 1, n, dtype=F64)
    if n >= max(2 * m, 1):
        assert layer(x).shape == x.shape
    else:
        with pytest.raises(ValueError, match="too small"):
            layer(x)


# ------------------------------------------------------------------ the two transforms are one operator
@pytest.mark.parametrize("last_axis_fft,full_axis_fft", [(True, True), (False, False), (True, False), (False, True)])
@pytest.mark.parametrize("sizes,modes", [((1,), 0), ((7,), 3), ((8,), 4), ((33,), 5), ((9, 8), (3, 4)),
                                         ((6, 7), (3, 2)), ((8, 6), (4, 3)), ((5, 4, 6), (2, 2, 3)),
                                         ((4, 5, 3), (2, 1, 1)), ((32, 32), (8, 8))])
@pytest.mark.parametrize("symbol", ["free", "real_even"])
def test_partial_dft_equals_fft_path(monkeypatch, last_axis_fft, full_axis_fft, sizes, modes, symbol):
    """The matrix-product transform (retained modes only) and rfftn/irfftn: same values and gradients."""
    import equigen.core.spectral as spectral

    monkeypatch.setattr(spectral, "_LAST_AXIS_FFT", last_axis_fft)
    monkeypatch.setattr(spectral, "_FULL_AXIS_FFT", full_axis_fft)
    nd = len(sizes)
    a = SpectralConv(2, 3, modes, symbol=symbol, ndim=nd, generator=gen(20), dtype=F64, transform="fft")
    b = SpectralConv(2, 3, modes, symbol=symbol, ndim=nd, dtype=F64, transform="dft")
    b.load_state_dict(a.state_dict())
    x = torch.randn(2, 2, *sizes, generator=gen(21), dtype=F64, requires_grad=True)
    ya, yb = a(x), b(x)
    scale = float(ya.detach().abs().max())
    assert float((ya - yb).detach().abs().max()) < 1e-13 * scale
    v = torch.randn(ya.shape, generator=gen(22), dtype=F64)
    ga = torch.autograd.grad((ya * v).sum(), [x, *a.parameters()])
    gb = torch.autograd.grad((yb * v).sum(), [x, *b.parameters()])
    for p, q in zip(ga, gb):
        assert float((p - q).abs().max()) <= 1e-12 * float(p.abs().max())  # both zero for Im W(0)


def test_dft_path_float32_and_gradcheck():
    layer = SpectralConv(2, 2, (3, 2), generator=gen(23), dtype=F64, transform="dft")
    x = torch.randn(2, 2, 8, 5, generator=gen(24), dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(layer, (x,))
    l32 = SpectralConv(3, 3, (8, 8), generator=gen(25), transform="dft")
    x32 = torch.randn(2, 3, 32, 32, generator=gen(26))
    assert l32(x32).dtype == F32
    assert_equivariant(l32, (x32,), GridShifts(2), "field", "field", trials=8)


def test_weights_are_stored_mode_major():
    """Free/RealEven tables keep their documented (out, in, *S) shape but mode-major memory (no copies)."""
    s = Free(3, 4, (4, 4), dtype=F64)
    assert s.weight_real.shape == (4, 3, 9, 5)
    assert s.weight_real.permute(2, 3, 1, 0).is_contiguous()
    with pytest.raises(ValueError, match="transform"):
        SpectralConv(3, 4, (4, 4), transform="fast")


@pytest.mark.parametrize("n", [1, 2, 5, 8, 9])
def test_truncated_rfft_has_the_right_first_and_second_derivatives(n):
    from equigen.core.spectral import _RfftHead

    for k in range(1, n // 2 + 2):
        x = torch.randn(3, n, generator=gen(n + k), dtype=F64, requires_grad=True)
        torch.testing.assert_close(_RfftHead.apply(x, k), torch.fft.rfft(x)[:, :k], rtol=0, atol=0)
        assert torch.autograd.gradcheck(lambda x, k=k: torch.view_as_real(_RfftHead.apply(x, k)), (x,))
        assert torch.autograd.gradgradcheck(lambda x, k=k: torch.view_as_real(_RfftHead.apply(x, k)), (x,))
