"""Unconstrained twins of the spectral operators: a dense linear map and small MLPs.

These know nothing about translations, reflections or mass: they are what a
:class:`~equigen.nn.fourier_operator.FourierOperator` is compared against in the "fick"
experiment. Both map a field ``(..., *spatial)`` to a field of the same shape, over one step.
They declare no symmetry (``symmetry = None``): any equivariance they show is learned.
:class:`FieldMLP` is the twin of :class:`~equigen.nn.FNO`: the same ``(B, C_in, *grid) ->
(B, C_out, *grid)`` map, by an MLP on the whole flattened grid (no shift symmetry, tied to one
grid size).

Example::

    >>> import torch
    >>> from equigen.nn.baselines import DenseLinearMap
    >>> u0, u1 = torch.randn(8, 16, dtype=torch.float64), torch.randn(8, 16, dtype=torch.float64)
    >>> DenseLinearMap.fit(u0, u1).step(u0).shape
    torch.Size([8, 16])
"""

from __future__ import annotations

import math

import torch

from equigen._configurable import configurable
from equigen.core.deprecation import renamed_kwargs
from equigen.core.validation import check_finite, check_non_negative_int, check_positive_float, check_tensor

__all__ = ["DenseLinearMap", "MLPOperator", "FieldMLP"]


def _check_pairs(u0, u1, ndim):
    for name, u in (("u0", u0), ("u1", u1)):
        if not isinstance(u, torch.Tensor) or not u.is_floating_point():
            raise ValueError(f"{name} must be a real floating tensor (pairs, *spatial)")
        if u.dim() != ndim + 1:
            raise ValueError(f"{name} has shape {tuple(u.shape)}; expected (pairs, *spatial) with {ndim} spatial axes")
        check_finite(u, name, fix="drop or repair those snapshots before fit")
    if u0.shape != u1.shape:
        raise ValueError(f"u0 has shape {tuple(u0.shape)} but u1 has {tuple(u1.shape)}; pairs must match")


@configurable
class DenseLinearMap(torch.nn.Module):
    """``u1 = A u0`` with a dense ``(N, N)`` matrix over the flattened grid (``N = prod(spatial)``).

    :meth:`fit` solves the minimum-norm least-squares problem: with fewer pairs than ``N``
    the map is determined only on the span of the training fields (and is zero off it).
    Symmetry: none.
    """

    symmetry = None  # unconstrained twin: guarantees nothing

    def __init__(self, spatial, *, dtype=None, device=None):
        super().__init__()
        self.spatial = (spatial,) if isinstance(spatial, int) else tuple(spatial)
        n = math.prod(self.spatial)
        self.A = torch.nn.Parameter(torch.eye(n, dtype=dtype, device=device))
        self.ridge_ = None  # the penalty :meth:`fit` used (None: minimum-norm)

    @classmethod
    def fit(cls, u0: torch.Tensor, u1: torch.Tensor, *, ndim: int = 1, ridge=None) -> DenseLinearMap:
        """Least squares ``A = argmin ||A U0 - U1||^2 + ridge ||A||^2`` from pairs ``(pairs, *spatial)``.

        ``ridge=None``: the minimum-norm solution. A number: that penalty. ``"gcv"``: the penalty
        chosen by generalised cross-validation over a log grid ``s_max^2 * 10^(-12..0)`` (``s_max``
        the largest singular value of the stacked inputs); the chosen value is kept as ``ridge_``.
        """
        _check_pairs(u0, u1, ndim)
        if not (ridge is None or ridge == "gcv" or (isinstance(ridge, (int, float)) and not isinstance(ridge, bool)
                                                    and math.isfinite(ridge) and ridge >= 0)):
            raise ValueError(f"ridge={ridge!r} must be None, a finite number >= 0 or 'gcv'")
        spatial = tuple(u0.shape[1:])
        m = cls(spatial, dtype=u0.dtype, device=u0.device)
        X, Y = u0.reshape(len(u0), -1), u1.reshape(len(u1), -1)
        with torch.no_grad():
            if ridge is None:
                m.A.copy_((torch.linalg.pinv(X) @ Y).T)
                m.ridge_ = None
                return m
            U, S, Vh = torch.linalg.svd(X, full_matrices=False)
            UtY = U.T @ Y
            if ridge == "gcv":
                s2 = S * S
                out = (Y * Y).sum() - (UtY * UtY).sum()  # part of Y outside the span of U (no penalty removes it)
                best = None
                for lam in (float(s2.max()) * 10.0 ** torch.linspace(-12, 0, 25, dtype=torch.float64)).tolist():
                    shrink = s2 / (s2 + lam)
                    resid = out + (((1 - shrink)[:, None] * UtY) ** 2).sum()
                    dof = 1 - float(shrink.sum()) / len(X)
                    score = float(resid) / (len(X) * dof * dof) if dof > 0 else math.inf
                    if best is None or score < best[0]:
                        best = (score, lam)
                ridge = best[1]
            m.A.copy_((Vh.T @ ((S / (S * S + ridge))[:, None] * UtY)).T)
            m.ridge_ = float(ridge)
        return m

    def step(self, u: torch.Tensor, steps: int = 1) -> torch.Tensor:
        steps = check_non_negative_int(steps, "steps")
        check_tensor(u, "u", like=self.A)
        shape = u.shape
        v = u.reshape(-1, self.A.shape[0])
        for _ in range(steps):
            v = v @ self.A.T
        return v.reshape(shape)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        return self.step(u)


@configurable
class MLPOperator(torch.nn.Module):
    """``u1 = u0 + MLP(u0)`` over the flattened grid, one hidden layer (GELU); trained with Adam.

    A residual MLP of ``2 N * hidden + N + hidden`` parameters. Symmetry: none.
    """

    symmetry = None  # unconstrained twin: guarantees nothing

    def __init__(self, spatial, hidden: int = 128, *, generator: torch.Generator | None = None, dtype=None,
                 device=None):
        super().__init__()
        self.spatial = (spatial,) if isinstance(spatial, int) else tuple(spatial)
        n = math.prod(self.spatial)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        self.w1 = torch.nn.Parameter((torch.randn(hidden, n, generator=generator, dtype=dtype) / math.sqrt(n))
                                     .to(device))
        self.b1 = torch.nn.Parameter(torch.zeros(hidden, dtype=dtype, device=device))
        self.w2 = torch.nn.Parameter((torch.randn(n, hidden, generator=generator, dtype=dtype) * 0.01
                                      / math.sqrt(hidden)).to(device))
        self.b2 = torch.nn.Parameter(torch.zeros(n, dtype=dtype, device=device))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        shape = u.shape
        v = u.reshape(-1, self.w1.shape[1])
        h = torch.nn.functional.gelu(v @ self.w1.T + self.b1)
        return (v + h @ self.w2.T + self.b2).reshape(shape)

    def step(self, u: torch.Tensor, steps: int = 1) -> torch.Tensor:
        steps = check_non_negative_int(steps, "steps")
        check_tensor(u, "u", like=self)
        for _ in range(steps):
            u = self(u)
        return u

    @classmethod
    @renamed_kwargs(epochs="steps")
    def fit(cls, u0: torch.Tensor, u1: torch.Tensor, *, hidden: int = 128, steps: int = 500, lr: float = 3e-3,
            ndim: int = 1, generator: torch.Generator | None = None) -> MLPOperator:
        """Full-batch Adam on the one-step mean squared error, ``steps`` optimiser steps."""
        _check_pairs(u0, u1, ndim)
        lr = check_positive_float(lr, "lr")
        steps = check_non_negative_int(steps, "steps")
        m = cls(tuple(u0.shape[1:]), hidden, generator=generator, dtype=u0.dtype, device=u0.device)
        opt = torch.optim.Adam(m.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = (m(u0) - u1).pow(2).mean()
            loss.backward()
            opt.step()
        return m


@configurable
class FieldMLP(torch.nn.Module):
    """MLP on the flattened field: ``(B, in_channels, *spatial) -> (B, out_channels, *spatial)``.

    The unconstrained twin of :class:`~equigen.nn.FNO`: ``num_layers`` linear maps (GELU between
    them) from all ``in_channels * prod(spatial)`` values to all ``out_channels * prod(spatial)``
    outputs, so every output point may depend on every input point with its own weights.
    ``spatial``: the grid shape it is built for (other grids are an error).
    Symmetry: none (grid shifts are not built in).

    Example::

        twin = FieldMLP(1, 1, (16, 16), hidden=64)
        twin(torch.randn(4, 1, 16, 16)).shape     # (4, 1, 16, 16)
    """

    symmetry = None  # unconstrained twin: guarantees nothing

    def __init__(self, in_channels: int, out_channels: int, spatial, *, hidden: int = 128, num_layers: int = 2,
                 dtype=None, device=None):
        super().__init__()
        spatial = (spatial,) if isinstance(spatial, int) else tuple(int(n) for n in spatial)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("hidden", hidden),
                            ("num_layers", num_layers)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if not spatial or any(n < 1 for n in spatial):
            raise ValueError(f"spatial={spatial!r} must be the grid shape, e.g. (32, 32)")
        self.in_channels, self.out_channels, self.spatial = in_channels, out_channels, spatial
        n = math.prod(spatial)
        sizes = [in_channels * n] + [hidden] * (num_layers - 1) + [out_channels * n]
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(torch.nn.Linear(a, b, dtype=dtype, device=device))
            if i < len(sizes) - 2:
                layers.append(torch.nn.GELU())
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 2 + len(self.spatial) or x.shape[1] != self.in_channels or tuple(x.shape[2:]) != self.spatial:
            raise ValueError(f"x has shape {tuple(x.shape)}; this FieldMLP takes (B, {self.in_channels}, "
                             f"{', '.join(map(str, self.spatial))}) (it is built for one grid)")
        return self.net(x.flatten(1)).reshape(x.shape[0], self.out_channels, *self.spatial)
