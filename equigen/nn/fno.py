"""Fourier neural operator (Li et al., ICLR 2021): lifting, spectral blocks, projection.

``FNO(in_channels, out_channels, width=32, modes=12, num_layers=4, ndim=2)`` maps fields
``(B, in_channels, *spatial) -> (B, out_channels, *spatial)`` on a periodic grid:

* lifting: a pointwise linear map ``in_channels -> width``;
* ``num_layers`` blocks ``v <- act(SpectralConv(v) + W v)`` (the last without ``act``), with
  :class:`~equigen.nn.SpectralConv` keeping ``|k_i| <= modes_i``;
* projection: pointwise ``width -> proj_hidden -> out_channels`` with ``act`` in between.

Every piece is either pointwise or a Fourier multiplier, so the operator commutes with integer
grid shifts exactly (periodic boundary) and its weights do not depend on the grid size.

Example::

    fno = FNO.from_config({"in_channels": 1, "out_channels": 1, "width": 16, "modes": 8, "ndim": 2})
    y = fno(torch.randn(4, 1, 32, 32))          # (4, 1, 32, 32)
"""

from __future__ import annotations

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.validation import check_choice, check_positive_int
from equigen.groups import GridShifts
from equigen.nn.spectral import SpectralConv, check_field
from equigen.nn.symbols import normalize_modes
from equigen.symmetry import Symmetry

__all__ = ["FNO"]

_ACTS = {"gelu": nn.GELU, "silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh}


def _grid_shifts_2d():
    return GridShifts(2)


@configurable
class FNO(nn.Module):
    """Fourier neural operator ``(B, in_channels, *spatial) -> (B, out_channels, *spatial)``.

    Args:
        in_channels, out_channels: channels of the input and output fields.
        width: channels inside the spectral blocks.
        modes: retained Fourier modes (an int for every axis, or one per axis).
        num_layers: number of spectral blocks.
        ndim: number of spatial axes (default: ``len(modes)`` for a tuple, else 2).
        proj_hidden: width of the projection's hidden layer (default ``2 * width``).
        act: ``"gelu"`` (default), ``"silu"``, ``"relu"`` or ``"tanh"``.
        generator, dtype, device: initialisation, dtype and device of the weights.

    Symmetry: integer grid shifts (periodic), exact to rounding.
    """

    symmetry = Symmetry(_grid_shifts_2d, ("field",), ("field",), note="declared for the 2-D example")

    def __init__(self, in_channels: int, out_channels: int, *, width: int = 32, modes=12, num_layers: int = 4,
                 ndim: int | None = None, proj_hidden: int | None = None, act: str = "gelu",
                 generator: torch.Generator | None = None, dtype=None, device=None):
        super().__init__()
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels), ("width", width),
                            ("num_layers", num_layers)):
            check_positive_int(value, name)
        check_positive_int(proj_hidden, "proj_hidden", allow_none=True)
        check_positive_int(ndim, "ndim", allow_none=True)
        check_choice(act, "act", _ACTS)
        if ndim is None:
            ndim = len(modes) if isinstance(modes, (tuple, list)) else 2
        self.modes = normalize_modes(tuple(modes) if isinstance(modes, list) else modes, ndim)
        self.ndim, self.in_channels, self.out_channels = ndim, in_channels, out_channels
        kw = {"dtype": dtype, "device": device}
        proj_hidden = proj_hidden or 2 * width
        self.lift = nn.Linear(in_channels, width, **kw)
        self.spectral = nn.ModuleList([SpectralConv(width, width, self.modes, generator=generator, **kw)
                                       for _ in range(num_layers)])
        self.pointwise = nn.ModuleList([nn.Linear(width, width, **kw) for _ in range(num_layers)])
        self.act = _ACTS[act]()
        self.proj = nn.Sequential(nn.Linear(width, proj_hidden, **kw), _ACTS[act](),
                                  nn.Linear(proj_hidden, out_channels, **kw))

    @classmethod
    def from_config(cls, config: dict, **overrides) -> FNO:
        """Build from a plain dict (e.g. a YAML/TOML section); unknown keys raise ValueError naming them."""
        import inspect

        allowed = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        config = {**dict(config), **overrides}
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            raise ValueError(f"unknown FNO config keys {unknown}; allowed: {', '.join(allowed)}")
        if isinstance(config.get("modes"), list):
            config["modes"] = tuple(config["modes"])
        return cls(**config)

    def _channels_last(self, layer, v):
        return layer(v.movedim(1, -1)).movedim(-1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_field(x, ndim=self.ndim, channels=self.in_channels, modes=self.modes, like=self)
        v = self._channels_last(self.lift, x)
        last = len(self.spectral) - 1
        for i, (spec, point) in enumerate(zip(self.spectral, self.pointwise)):
            v = spec(v) + self._channels_last(point, v)
            if i < last:
                v = self.act(v)
        return self._channels_last(self.proj, v)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        net = cls(2, 3, width=6, modes=(3, 4), num_layers=2, ndim=2, generator=generator, dtype=dtype)
        with torch.no_grad():
            for p in net.parameters():
                p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) * 0.5)
        return net, (torch.randn(2, 2, 9, 8, generator=generator, dtype=dtype),)
