"""SineConv: the sine-transform (DST-I) counterpart of :class:`~equigen.nn.spectral.SpectralConv`.

Fields on a box with Dirichlet boundaries are stored on the *node grid including the
boundary*: ``N_i`` nodes per axis at ``x_j = j L / (N_i - 1)``, ``j = 0..N_i - 1``; the
boundary nodes are the first and last of every axis. The ``n_i = N_i - 2`` interior values
are expanded in the sine basis ``sin(pi k x / L)``, ``k = 1..n_i`` (a DST-I), which is zero on
the boundary. :class:`SineConv` keeps the modes ``k_i <= m_i``, mixes channels with one real
``(out, in)`` matrix per kept mode and synthesises the sine series back onto the grid, so

* its output is **exactly zero on the boundary** for any input and any weights (the boundary
  entries are written as zeros, not computed), and
* it is resolution independent: the same weights act on the same sine modes on a finer grid.

Shapes: ``(batch, in_channels, *spatial) -> (batch, out_channels, *spatial)``, 1-D, 2-D, 3-D.
Symmetry: commutes with the reflections of the box ``x_i -> L - x_i`` (node ``j -> N_i - 1 - j``)
of every axis, exactly: each sine mode is even or odd under them and the weights are diagonal in
the modes. (Not with shifts: a box with walls has none.) Boundary values of the *input* are
ignored (only interior values enter the transform).

Example::

    >>> import torch
    >>> from equigen.nn import SineConv
    >>> layer = SineConv(2, 3, modes=(6, 6))
    >>> y = layer(torch.randn(4, 2, 32, 32))
    >>> y.shape, float(y[..., 0, :].abs().max())
    (torch.Size([4, 3, 32, 32]), 0.0)
"""

from __future__ import annotations

import math

import torch

from equigen._configurable import configurable
from equigen.core.sine import dst1, dst1n, idst1, idst1n, interior, pad_boundary, sine_matrix
from equigen.core.validation import check_dtype_like, check_finite, check_positive_int, check_tensor
from equigen.groups import Element, GridPart, Group
from equigen.nn.symbols import normalize_modes
from equigen.symmetry import Symmetry

__all__ = ["dst1", "idst1", "dst1n", "idst1n", "sine_matrix", "SineConv", "BoxReflections", "pad_boundary", "interior"]


def _axis_matmul(x: torch.Tensor, axis: int, M: torch.Tensor) -> torch.Tensor:
    """Contract axis ``axis`` of ``x`` with the rows of ``M`` (one 2-D matmul)."""
    y = x.movedim(axis, -1)
    shape = y.shape
    y = (y.reshape(-1, shape[-1]) @ M).reshape(*shape[:-1], M.shape[1])
    return y.movedim(-1, axis)


class BoxReflections(Group):
    """Reflections ``j -> N - 1 - j`` of chosen axes of a node grid (a box with walls at both ends).

    Acts on kind ``"field"`` (last ``ndim`` axes). As a :class:`~equigen.groups.GridPart` the
    reflection of the node grid is sign ``-1`` with shift ``-1`` (``x[j] -> x[-1 - j mod N]``).
    """

    def __init__(self, ndim: int = 2):
        check_positive_int(ndim, "ndim")
        self.ndim = ndim
        self.name = f"BoxReflections({ndim})"

    def _element(self, flips, label=None) -> Element:
        return Element(GridPart([-1 if f else 1 for f in flips], [-1 if f else 0 for f in flips]), label=label)

    def identity(self) -> Element:
        return self._element([False] * self.ndim, "identity")

    def sample(self, *, generator=None, dtype=None, device=None) -> Element:
        flips = [bool(torch.randint(0, 2, (), generator=generator)) for _ in range(self.ndim)]
        return self._element(flips)

    def edge_cases(self) -> list[Element]:
        out = [self.identity()]
        for k in range(self.ndim):
            out.append(self._element([i == k for i in range(self.ndim)], f"box reflection of axis {k}"))
        if self.ndim > 1:
            out.append(self._element([True] * self.ndim, "box reflection of every axis"))
        return out


def check_node_field(x, *, ndim: int, channels: int | None, modes, argument: str = "x", like=None) -> None:
    """Validate a finite node-grid field ``(batch, C, *spatial)`` for sine modes ``modes`` (dtype of ``like``)."""
    check_tensor(x, argument, floating=True, finite=False)
    if x.dim() != ndim + 2:
        raise ValueError(f"{argument} has shape {tuple(x.shape)} but a {ndim}-D field must be "
                         f"(batch, channels, *spatial) with {ndim} spatial axes")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{argument} has {x.shape[1]} channels (axis 1) but the layer was built with "
                         f"in_channels={channels}")
    for i, (n, m) in enumerate(zip(x.shape[2:], modes)):
        if n - 2 < m:
            raise ValueError(f"{argument} has {n} nodes on axis {i} ({n - 2} interior), too few for sine modes={m} "
                             f"(needs >= {m + 2} nodes); use a finer grid or modes <= {max(n - 2, 0)}")
    if like is not None:
        check_dtype_like(x, argument, like)
    check_finite(x, argument)


@configurable
class SineConv(torch.nn.Module):
    """Dirichlet spectral convolution in the sine basis ``(B, in, *nodes) -> (B, out, *nodes)``.

    Args:
        in_channels, out_channels: channel counts.
        modes: ``m`` (int, with ``ndim`` axes) or one per axis; keeps sine modes ``1 <= k_i <= m_i``.
        ndim: number of spatial axes when ``modes`` is an int (default 2).
        generator, dtype, device: initialisation (weights ``~ N(0, 1 / in_channels)``).

    Output is exactly zero on the boundary nodes; reflection-equivariant (see module doc).
    """

    symmetry = Symmetry(lambda: BoxReflections(2), ("field",), ("field",),
                        note="node-grid reflections j -> N-1-j; no shifts (walls)")

    def __init__(self, in_channels: int, out_channels: int, modes, *, ndim: int | None = None,
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            check_positive_int(v, name)
        self.modes = normalize_modes(modes, 2 if ndim is None and isinstance(modes, int) else ndim)
        if any(m < 1 for m in self.modes):
            raise ValueError(f"modes={modes!r}: sine modes start at k = 1, so every entry must be >= 1")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.ndim = len(self.modes)
        dtype = dtype if dtype is not None else torch.get_default_dtype()
        w = torch.randn(out_channels, in_channels, *self.modes, generator=generator, dtype=dtype)
        self.weight = torch.nn.Parameter((w / math.sqrt(in_channels)).to(device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_node_field(x, ndim=self.ndim, channels=self.in_channels, modes=self.modes, like=self)
        nd = self.ndim
        inner = interior(x, nd)
        sizes = inner.shape[2:]
        # coefficients a_k = (2 / (n + 1)) sum_j x_j sin(pi k j / (n + 1)) of the kept modes, one axis at a time
        # (dense sine matrices: cheaper than FFTs of the odd extension for the few modes kept)
        mats = [sine_matrix(n, m, dtype=x.dtype, device=x.device) for n, m in zip(sizes, self.modes)]
        X = inner
        for i, (S, n) in enumerate(zip(mats, sizes)):
            X = _axis_matmul(X, 2 + i, S * (2.0 / (n + 1)))
        b = X.shape[0]
        P = math.prod(self.modes)
        Y = torch.bmm(X.reshape(b, self.in_channels, P).permute(2, 0, 1),
                      self.weight.reshape(self.out_channels, self.in_channels, P).permute(2, 1, 0))
        Y = Y.permute(1, 2, 0).reshape(b, self.out_channels, *self.modes)
        for i, S in enumerate(mats):
            Y = _axis_matmul(Y, 2 + i, S.T)
        return pad_boundary(Y, nd)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, modes={self.modes}"

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        layer = cls(2, 3, (3, 4), generator=generator, dtype=dtype)
        return layer, (torch.randn(2, 2, 9, 11, generator=generator, dtype=dtype),)
