"""FourierOperator: a linear evolution operator ``u(t + dt) = F^-1[ exp(L(k) dt) F u ]`` with a symbol.

The generator ``L`` is a symbol of :mod:`equigen.nn.symbols` (one channel). Two steppers:
``method="exact"`` (the exponential, exact for ``du/dt = L u``) and ``method="euler"``
(``u + dt L u``). :meth:`FourierOperator.fit` recovers the symbol from snapshot pairs
``(u0, u1)`` in closed form:

* nonparametric symbols (``Free``, ``RealEven``, ``Conserving``): per-mode least squares of the
  multiplier, ``M(n) = sum_p u1_hat conj(u0_hat) / sum_p |u0_hat|^2`` (pooled over reflections
  for ``RealEven``), then ``L = log(M) / dt``;
* ``IsotropicPolynomial(p)``: a weighted linear least-squares fit of ``-log M(k) / dt`` on
  ``|k|^2, ..., |k|^{2p}`` (weights: the inverse delta-method variance of ``log M``), refined by
  minimising the errors-in-variables (orthogonal) residual
  ``sum_k (S11 - 2 M Re S10 + M^2 S00) / (1 + M^2)``, which is unbiased when both snapshots carry
  noise of equal variance (a naive per-pair log-ratio is biased by tens of percent at 1% noise).

Shapes: fields ``(..., *spatial)`` with ``ndim`` trailing spatial axes (no channel axis).
Symmetry: commutes with integer grid shifts; with reflections for even symbols; conserves the
spatial sum exactly (to rounding) when ``L(0) = 0`` (``Conserving``, ``IsotropicPolynomial``).

Example::

    >>> import torch
    >>> from equigen.data.heat import heat_pairs
    >>> from equigen.nn import FourierOperator
    >>> u0, u1 = heat_pairs(1, (64,), D=0.05, dt=0.2, generator=torch.Generator().manual_seed(0))
    >>> op = FourierOperator.fit(u0, u1, dt=0.2, length=2 * torch.pi, symbol="isotropic")
    >>> round(float(op.symbol.D), 6)
    0.05
"""

from __future__ import annotations

import math

import torch

from equigen._configurable import configurable
from equigen.core.grids import normalize_lengths, squared_wavenumbers
from equigen.core.spectral import _hermitian_planes, bin_weights, check_field
from equigen.core.validation import check_finite, check_non_negative_int, check_positive_float, check_positive_int
from equigen.groups import GridReflections, GridShifts
from equigen.nn.symbols import Conserving, Free, IsotropicPolynomial, RealEven, Symbol, centred_frequencies
from equigen.symmetry import Symmetry

__all__ = ["FourierOperator"]

_SYMBOLS = ("isotropic", "real_even", "conserving", "free")


def _full_modes(sizes):
    return tuple(n // 2 for n in sizes)


def _centred_index(sizes, device=None):
    """Per axis: the rfftn bin of each centred-layout frequency (``n mod N``)."""
    modes = _full_modes(sizes)
    freqs = centred_frequencies(modes, device=device)
    return freqs, [f % n for f, n in zip(freqs, sizes)]


def _take(t, idx, ndim):
    for i, ix in enumerate(idx):
        t = torch.index_select(t, t.dim() - ndim + i, ix)
    return t


@configurable
class FourierOperator(torch.nn.Module):
    """Linear translation-invariant evolution ``(..., *spatial) -> (..., *spatial)`` over a step ``dt``.

    Args:
        symbol: the generator ``L`` (a one-channel :class:`~equigen.nn.symbols.Symbol`).
        length: physical period of each axis (number or one per axis).
        ndim: spatial axes (default: from the symbol's modes, else 1).
        dt: the default step (positive); :meth:`forward` uses it.
        method: ``"exact"`` (``exp(L dt)``) or ``"euler"`` (``1 + L dt``).
    """

    symmetry = Symmetry(lambda: GridShifts(1) * GridReflections(1), ("field",), ("field",),
                        note="declared for the example (IsotropicPolynomial symbol); only shifts with a Free symbol")

    def __init__(self, symbol: Symbol, *, length=2 * math.pi, ndim: int | None = None, dt: float | None = None,
                 method: str = "exact"):
        super().__init__()
        if not isinstance(symbol, Symbol):
            raise TypeError(f"symbol={symbol!r} must be a Symbol such as IsotropicPolynomial(1)")
        if (symbol.in_channels, symbol.out_channels) != (1, 1):
            raise ValueError(f"FourierOperator evolves one field: the symbol must map 1 -> 1 channel, got "
                             f"{symbol.in_channels} -> {symbol.out_channels}")
        if method not in ("exact", "euler"):
            raise ValueError(f"method={method!r} must be 'exact' or 'euler'")
        self.symbol = symbol
        self.ndim = ndim if ndim is not None else (symbol.ndim or 1)
        self.lengths = normalize_lengths(length, self.ndim)
        self.dt = None if dt is None else _check_dt(dt)
        self.method = method

    # ---------------------------------------------------------------- evaluation
    def generator_values(self, sizes, *, dtype=None, device=None):
        """``L`` in the centred layout of the full grid ``sizes`` (modes ``N // 2``), Hermitian-projected.

        The values come in the symbol's own dtype; ``dtype`` is accepted for the usual keyword
        signature and not used.
        """
        modes = _full_modes(sizes)
        if self.symbol.modes is not None and tuple(self.symbol.modes) != modes:
            raise ValueError(f"the symbol was built for modes={self.symbol.modes} but the grid {tuple(sizes)} needs "
                             f"modes={modes} (N // 2 per axis); fit or build it on this grid")
        re, im = self.symbol.evaluate(centred_frequencies(modes, device=device), self.lengths)
        re = re[0, 0]
        if im is None:
            return re, None
        re, im = _hermitian_planes(re, im[0, 0], modes, sizes)
        return re, im

    def multiplier(self, sizes, dt: float, *, dtype=None, device=None) -> torch.Tensor:
        """The complex per-bin multiplier of one step on grid ``sizes`` (shape of ``rfftn``)."""
        re, im = self.generator_values(sizes, device=device)
        if dtype is not None and re.dtype != dtype:
            raise ValueError(f"the field has dtype {dtype} but the symbol is {re.dtype}; convert one of them")
        L = torch.complex(re, im if im is not None else torch.zeros_like(re))
        M = torch.exp(L * dt) if self.method == "exact" else 1 + L * dt
        mr, mi = bin_weights(M.real, M.imag, _full_modes(sizes), tuple(sizes), hermitian=False)
        return torch.complex(mr, mi)

    def _dims(self, u):
        return tuple(range(u.dim() - self.ndim, u.dim()))

    def step(self, u: torch.Tensor, dt: float | None = None, steps: int = 1) -> torch.Tensor:
        """Advance ``u`` (..., *spatial) by ``steps`` steps of size ``dt`` (default: the stored ``dt``)."""
        check_field(u, ndim=self.ndim, channel_axis=False, argument="u")
        dt = self._dt(dt)
        check_non_negative_int(steps, "steps")
        sizes, dims = tuple(u.shape[-self.ndim:]), self._dims(u)
        M = self.multiplier(sizes, dt, dtype=u.dtype, device=u.device)
        U = torch.fft.rfftn(u, dim=dims)
        if self.method == "exact":
            U = U * M**steps
            return torch.fft.irfftn(U, s=sizes, dim=dims)
        for _ in range(steps):  # Euler: step in real space so rounding accumulates as in a time stepper
            u = torch.fft.irfftn(torch.fft.rfftn(u, dim=dims) * M, s=sizes, dim=dims)
        return u

    def rollout(self, u: torch.Tensor, steps: int, dt: float | None = None) -> torch.Tensor:
        """The trajectory ``(steps + 1, ..., *spatial)``, one transform pair per step (rounding as in use)."""
        check_field(u, ndim=self.ndim, channel_axis=False, argument="u")
        dt = self._dt(dt)
        steps = check_non_negative_int(steps, "steps")
        sizes, dims = tuple(u.shape[-self.ndim:]), self._dims(u)
        M = self.multiplier(sizes, dt, dtype=u.dtype, device=u.device)
        out = [u]
        for _ in range(steps):
            u = torch.fft.irfftn(torch.fft.rfftn(u, dim=dims) * M, s=sizes, dim=dims)
            out.append(u)
        return torch.stack(out)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """One step of the stored ``dt``."""
        return self.step(u)

    def _dt(self, dt):
        if dt is None:
            if self.dt is None:
                raise ValueError("dt=None and no dt was stored; pass dt=... or build the operator with dt")
            return self.dt
        return _check_dt(dt)

    # ---------------------------------------------------------------- fitting
    @classmethod
    def fit(cls, u0: torch.Tensor, u1: torch.Tensor, dt: float, length, symbol="isotropic", *,
            ndim: int | None = None, method: str = "exact", refine: bool = True) -> FourierOperator:
        """Fit the symbol to snapshot pairs ``u1 ~ step(u0)``; ``u0, u1`` of shape ``(pairs, *spatial)``.

        ``symbol``: ``"isotropic"`` (``IsotropicPolynomial(1)``), ``"real_even"``,
        ``"conserving"`` (``Conserving(RealEven)``), ``"free"``, or a Symbol instance whose
        parameters are overwritten (``IsotropicPolynomial(p)`` of any degree; table symbols
        need ``modes = N // 2``). ``refine`` runs the errors-in-variables refinement of
        isotropic fits. Returns a new operator holding ``dt``.
        """
        dt = _check_dt(dt)
        ndim = ndim if ndim is not None else (u0.dim() - 1 if isinstance(u0, torch.Tensor) else 1)
        lengths = normalize_lengths(length, ndim)
        for name, u in (("u0", u0), ("u1", u1)):
            check_field(u, ndim=ndim, channel_axis=False, argument=name)
            if u.dim() != ndim + 1:
                raise ValueError(f"{name} has shape {tuple(u.shape)}; fit takes (pairs, *spatial) with {ndim} "
                                 "spatial axes")
            if not torch.isfinite(u).all():
                bad = int((~torch.isfinite(u)).sum())
                raise ValueError(f"{name} contains {bad} NaN/inf value(s); drop or repair those snapshots before fit")
        if u0.shape != u1.shape:
            raise ValueError(f"u0 has shape {tuple(u0.shape)} but u1 has {tuple(u1.shape)}; pairs must match")
        sizes = tuple(u0.shape[1:])
        modes = _full_modes(sizes)
        symbol = cls._make_symbol(symbol, modes, u0.dtype, u0.device)
        op = cls(symbol, length=lengths, ndim=ndim, dt=dt, method=method)
        dims = tuple(range(1, ndim + 1))
        X0, X1 = torch.fft.rfftn(u0, dim=dims), torch.fft.rfftn(u1, dim=dims)
        S00 = X0.abs().pow(2).sum(0)
        S11 = X1.abs().pow(2).sum(0)
        S10 = (X1 * X0.conj()).sum(0)
        base = symbol.inner if isinstance(symbol, Conserving) else symbol
        with torch.no_grad():
            if isinstance(base, IsotropicPolynomial):
                op._fit_isotropic(base, S00, S11, S10, sizes, refine)
            elif isinstance(base, RealEven):
                op._fit_real_even(base, S00, S10, sizes)
            elif isinstance(base, Free):
                op._fit_free(base, S00, S10, sizes)
            else:
                raise TypeError(f"fit has no closed form for {type(base).__name__}; use train() instead")
        return op

    @staticmethod
    def _make_symbol(symbol, modes, dtype, device):
        if isinstance(symbol, Symbol):
            if symbol.modes is not None and tuple(symbol.modes) != modes:
                raise ValueError(f"symbol has modes={symbol.modes} but the data need modes={modes} (N // 2 per axis)")
            return symbol.to(dtype=dtype, device=device)
        if symbol == "isotropic":
            return IsotropicPolynomial(1, init=[0.0], dtype=dtype, device=device)
        if symbol == "real_even":
            return RealEven(1, 1, modes, dtype=dtype, device=device)
        if symbol == "conserving":
            return Conserving(RealEven(1, 1, modes, dtype=dtype, device=device))
        if symbol == "free":
            return Free(1, 1, modes, dtype=dtype, device=device)
        raise ValueError(f"symbol={symbol!r} must be one of {_SYMBOLS} or a Symbol instance")

    def _generator_from_multiplier(self, M):
        if self.method == "exact":
            return torch.log(M) / self.dt
        return (M - 1) / self.dt

    def _fit_free(self, symbol, S00, S10, sizes):
        _, idx = _centred_index(sizes, S00.device)
        S00c, S10c = _take(S00, idx, len(sizes)), _take(S10, idx, len(sizes))
        M = torch.where(S00c > 0, S10c / S00c.clamp_min(torch.finfo(S00c.dtype).tiny), torch.ones_like(S10c))
        M = torch.where(M == 0, torch.full_like(M, torch.finfo(S00c.dtype).tiny), M)
        L = self._generator_from_multiplier(M)
        symbol.weight_real.copy_(L.real.reshape(symbol.weight_real.shape))
        symbol.weight_imag.copy_(L.imag.reshape(symbol.weight_imag.shape))

    def _fit_real_even(self, symbol, S00, S10, sizes):
        freqs, idx = _centred_index(sizes, S00.device)
        nd = len(sizes)
        S00c, R = _take(S00, idx, nd), _take(S10.real, idx, nd)
        # the last axis holds n >= 0 only: interior bins stand for +-n (weight 2), self-conjugate planes once
        w_last = torch.full((len(freqs[-1]),), 2.0, dtype=S00.dtype, device=S00.device)
        w_last[0] = 1
        if sizes[-1] % 2 == 0:
            w_last[-1] = 1
        table_shape = tuple(m + 1 for m in _full_modes(sizes))
        flat = torch.zeros((), dtype=torch.long, device=S00.device)
        for f, m in zip(freqs, table_shape):
            flat = flat.unsqueeze(-1) * m + f.abs()
        num = torch.zeros(math.prod(table_shape), dtype=S00.dtype, device=S00.device)
        den = torch.zeros_like(num)
        num.index_add_(0, flat.reshape(-1), (R * w_last).reshape(-1))
        den.index_add_(0, flat.reshape(-1), (S00c * w_last).reshape(-1))
        tiny = torch.finfo(S00.dtype).tiny
        M = torch.where(den > 0, num / den.clamp_min(tiny), torch.ones_like(num))
        if self.method == "exact":
            M = M.clamp_min(tiny)  # a non-positive multiplier estimate means "fully damped"
        symbol.weight.copy_(self._generator_from_multiplier(M).reshape(symbol.weight.shape))

    def _fit_isotropic(self, symbol, S00, S11, S10, sizes, refine):
        nd = len(sizes)
        k2 = squared_wavenumbers(tuple(sizes), self.lengths, dtype=S00.dtype, device=S00.device)
        w_last = torch.full((sizes[-1] // 2 + 1,), 2.0, dtype=S00.dtype, device=S00.device)
        w_last[0] = 1
        if sizes[-1] % 2 == 0:
            w_last[-1] = 1
        mult = w_last.reshape((1,) * (nd - 1) + (-1,)).expand_as(S00)
        keep = (k2 > 0) & (S00 > 0)
        k2, S00, S11, R, mult = k2[keep], S00[keep], S11[keep], S10.real[keep], mult[keep]
        M = R / S00
        powers = torch.stack([k2 ** (p + 1) for p in range(symbol.degree)], dim=-1)
        # closed form: weighted linear least squares of the decay rate on |k|^2 .. |k|^2p
        good = M > 0 if self.method == "exact" else torch.ones_like(M, dtype=torch.bool)
        if int(good.sum()) < symbol.degree:
            raise ValueError("fit: fewer informative modes than coefficients; the snapshots carry no decay signal "
                             "(check dt and that u1 evolves from u0)")
        y = (-torch.log(M[good]) if self.method == "exact" else (1 - M[good])) / self.dt
        var_w = mult[good] * S00[good] * M[good] ** 2 / (1 + M[good] ** 2)  # inverse delta-method variance
        A = powers[good] * var_w.sqrt().unsqueeze(-1)
        b = y * var_w.sqrt()
        c = torch.linalg.lstsq(A, b.unsqueeze(-1)).solution.squeeze(-1)
        if refine:
            c = self._refine_eiv(c, powers, S00, S11, R, mult)
        symbol.coefficients.copy_(c.reshape(symbol.coefficients.shape))

    def _refine_eiv(self, c0, powers, S00, S11, R, mult):
        """Minimise the orthogonal (errors-in-variables) residual over the coefficients (Newton steps)."""
        scale = c0.abs().clamp_min(1e-12)
        x = (c0 / scale).clone()

        def objective(x):
            L = -(powers * (x * scale)).sum(-1)
            M = torch.exp(L * self.dt) if self.method == "exact" else 1 + L * self.dt
            return (mult * (S11 - 2 * M * R + M**2 * S00) / (1 + M**2)).sum()

        f = objective(x)
        for _ in range(50):
            g = torch.autograd.functional.jacobian(objective, x)
            H = torch.autograd.functional.hessian(objective, x)
            try:
                delta = torch.linalg.solve(H + 1e-12 * torch.eye(len(x), dtype=x.dtype, device=x.device), g)
            except RuntimeError:
                break
            t, improved = 1.0, False
            while t > 1e-6:
                xn = x - t * delta
                fn = objective(xn)
                if fn <= f:
                    improved = True
                    break
                t /= 2
            if not improved:
                break
            done = (x - xn).abs().max() <= 1e-14 * max(1.0, float(xn.abs().max()))
            x, f = xn, fn
            if done:
                break
        return x * scale

    # ---------------------------------------------------------------- gradient training
    def train_gradient(self, u0: torch.Tensor, u1: torch.Tensor, *, dt: float | None = None, steps: int = 200,
                       lr: float | None = None, optimizer: str = "lbfgs") -> list[float]:
        """Fit any symbol (e.g. a nonlinear parameterisation) by minimising the one-step squared error.

        ``u0, u1``: ``(pairs, *spatial)``. The loss is ``mean (step(u0) - u1)^2`` divided by the
        mean square of ``u1 - u0`` (dimensionless). ``optimizer="lbfgs"`` (default; strong-Wolfe
        line search, ``lr`` defaults to 1) is insensitive to the very different scales of
        coefficients such as ``c_1`` and ``c_2`` of :class:`~equigen.nn.symbols.IsotropicPolynomial`
        (``c_2 |k|^4`` is stiff: first-order steps of fixed size diverge); ``"adam"`` (``lr``
        defaults to 0.05) suits table symbols. ``steps`` counts optimizer steps. Returns the
        loss history.
        """
        dt = self._dt(dt)
        for name, u in (("u0", u0), ("u1", u1)):
            check_field(u, ndim=self.ndim, channel_axis=False, argument=name)
            check_finite(u, name, fix="drop or repair those snapshots before training")
        if u0.shape != u1.shape:
            raise ValueError(f"u0 has shape {tuple(u0.shape)} but u1 has {tuple(u1.shape)}; pairs must match")
        check_positive_int(steps, "steps")
        lr = check_positive_float(lr, "lr", allow_none=True)
        scale = (u1 - u0).pow(2).mean().clamp_min(torch.finfo(u0.dtype).tiny)
        params = [p for p in self.parameters() if p.requires_grad]
        history = []

        def loss_fn():
            return (self.step(u0, dt) - u1).pow(2).mean() / scale

        if optimizer == "lbfgs":
            opt = torch.optim.LBFGS(params, lr=1.0 if lr is None else lr, max_iter=20, line_search_fn="strong_wolfe",
                                    tolerance_grad=1e-14, tolerance_change=1e-18)

            def closure():
                opt.zero_grad()
                loss = loss_fn()
                loss.backward()
                return loss

            for _ in range(steps):
                history.append(float(opt.step(closure).detach()))
        elif optimizer == "adam":
            opt = torch.optim.Adam(params, lr=0.05 if lr is None else lr)
            for _ in range(steps):
                opt.zero_grad()
                loss = loss_fn()
                loss.backward()
                opt.step()
                history.append(float(loss.detach()))
        else:
            raise ValueError(f"optimizer={optimizer!r} must be 'lbfgs' or 'adam'")
        return history

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        op = cls(IsotropicPolynomial(2, generator=generator, dtype=dtype), dt=0.3)
        return op, (torch.randn(3, 17, generator=generator, dtype=dtype),)


def _check_dt(dt):
    if isinstance(dt, bool) or not isinstance(dt, (int, float)) or not math.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt={dt!r} must be a positive finite time step")
    return float(dt)
