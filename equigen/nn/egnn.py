"""E(n)-equivariant graph neural network (EGNN; Satorras, Hoogeboom and Welling, ICML 2021).

A layer updates invariant node features ``h`` and positions ``x`` from messages that see
only invariant quantities (features and squared distances)::

    m_ij  = phi_e(h_i, h_j, |x_i - x_j|^2, a_ij)
    x_i' = x_i + mean_j (x_i - x_j) / (|x_i - x_j| + c) * s tanh(phi_x(m_ij))
    h_i' = h_i + phi_h(h_i, sum_j m_ij / norm)

The coordinate update uses the *normalised* difference (length < 1) times a bounded scalar,
so coincident points give a zero (finite) update and distant points cannot blow positions up.
With velocities (``vel``): ``v_i' = phi_v(h_i) v_i + (the sum above)``, ``x_i' = x_i + v_i'``.
In a periodic box, pass the ``shifts`` from :func:`equigen.geometry.radius_graph`.

Symmetry: E(n) x node permutations in any dimension n -- ``h`` invariant, ``pos`` (and
``vel``) equivariant -- exact up to rounding (the graph itself must be built equivariantly,
e.g. :func:`~equigen.geometry.radius_graph` without ``max_neighbors`` truncation).
"""

from __future__ import annotations

import torch
from torch import nn

from equigen._configurable import configurable
from equigen.core.blocks import mlp
from equigen.core.validation import check_finite, check_non_negative_int, check_positive_int
from equigen.geometry import _check_cutoff, bessel_basis, edge_vectors, polynomial_cutoff, safe_norm
from equigen.groups import E3, Permutations
from equigen.nn._checks import (
    check_edge_index,
    check_nodes,
    check_pos,
    check_shifts,
    graph_inputs,
    is_graph_data,
    scatter_sum,
)
from equigen.symmetry import Symmetry

__all__ = ["EGNNLayer", "EGNN"]


def _mlp(sizes, act, *, last_act=False, dtype=None, device=None) -> nn.Sequential:
    return mlp(sizes, act, last_activation=last_act, dtype=dtype, device=device)


def _positive_int(value, argument: str) -> int:
    return check_positive_int(value, argument)


def _unpack_data(h, pos, edge_index, shifts, edge_attr, vel):
    """Accept a PyG ``Data``/``Batch`` in place of ``h`` (fields x, pos, edge_index, shifts, edge_attr, vel)."""
    if not is_graph_data(h):
        return h, pos, edge_index, shifts, edge_attr, vel
    h, pos, edge_index, extras = graph_inputs(h, pos, edge_index)
    shifts = shifts if shifts is not None else extras.get("shifts")
    edge_attr = edge_attr if edge_attr is not None else extras.get("edge_attr")
    vel = vel if vel is not None else extras.get("vel")
    return h, pos, edge_index, shifts, edge_attr, vel


@configurable
class EGNNLayer(nn.Module):
    """One E(n)-equivariant message-passing layer.

    Args:
        in_features: width of ``h``.
        hidden_features: width of messages and of the MLPs' hidden layers.
        out_features: width of ``h_out`` (default ``in_features``); the residual ``h + ...``
            is used when the widths agree.
        edge_features: width of optional invariant edge attributes ``edge_attr``.
        update_pos: update positions (else ``pos`` is returned unchanged).
        coords_range: bound ``s`` of the per-edge coordinate step (length unit of ``pos``).
        norm_constant: ``c`` in ``(x_i - x_j) / (|x_i - x_j| + c)`` (length unit).
        message_norm: messages are summed and divided by this constant.

    Shapes: ``h (N, F_in)``, ``pos (N, n)`` any n, ``edge_index (2, E)`` long (source j,
    target i), ``shifts (E, n)``, ``edge_attr (E, edge_features)``, ``vel (N, n)``, and
    ``edge_weight (E,)``: invariant weights multiplying each message and coordinate step (a
    smooth cutoff envelope makes the layer's output continuous as neighbours enter the graph).
    Returns ``(h_out (N, F_out), pos_out (N, n))``, plus ``vel_out`` when ``vel`` is given.

    Symmetry: E(n) x permutations (h invariant, pos/vel equivariant).

    Example::

        layer = EGNNLayer(8, 32)
        h_out, pos_out = layer(torch.randn(5, 8), torch.randn(5, 3), radius_graph(pos, 2.0))
    """

    symmetry = Symmetry(lambda: E3() * Permutations(), ("nodes", "positions", "edge_index"),
                        ("nodes", "positions"), note="any dimension n; the example is n = 3")

    def __init__(self, in_features: int, hidden_features: int, out_features: int | None = None, *,
                 edge_features: int = 0, update_pos: bool = True, coords_range: float = 1.0,
                 norm_constant: float = 1.0, message_norm: float = 1.0, act=nn.SiLU, dtype=None, device=None):
        super().__init__()
        in_features = _positive_int(in_features, "in_features")
        hidden_features = _positive_int(hidden_features, "hidden_features")
        out_features = in_features if out_features is None else _positive_int(out_features, "out_features")
        check_non_negative_int(edge_features, "edge_features")
        for name, value in (("coords_range", coords_range), ("norm_constant", norm_constant),
                            ("message_norm", message_norm)):
            if not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name}={value!r} must be a positive number")
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        self.edge_features, self.update_pos = edge_features, update_pos
        self.coords_range, self.norm_constant, self.message_norm = coords_range, norm_constant, message_norm
        kw = {"dtype": dtype, "device": device}
        self.phi_e = _mlp([2 * in_features + 1 + edge_features, hidden_features, hidden_features], act,
                          last_act=True, **kw)
        self.phi_h = _mlp([in_features + hidden_features, hidden_features, out_features], act, **kw)
        if update_pos:
            self.phi_x = _mlp([hidden_features, hidden_features, 1], act, **kw)
            self.phi_v = _mlp([in_features, hidden_features, 1], act, **kw)

    def forward(self, h, pos=None, edge_index=None, *, shifts=None, edge_attr=None, vel=None, edge_weight=None,
                _checked=False):
        h, pos, edge_index, shifts, edge_attr, vel = _unpack_data(h, pos, edge_index, shifts, edge_attr, vel)
        pos = check_pos(pos, like=self, finite=not _checked)  # _checked: EGNN already checked its inputs
        n_nodes, dim = pos.shape
        h = check_nodes(h, n_nodes, self.in_features, "h", like=self, finite=not _checked)
        edge_index = check_edge_index(edge_index, n_nodes)
        shifts = check_shifts(shifts, edge_index.shape[1], dim, pos)
        if self.edge_features:
            if edge_attr is None:
                raise ValueError(f"this layer was built with edge_features={self.edge_features}; pass edge_attr")
            edge_attr = check_nodes(edge_attr, edge_index.shape[1], self.edge_features, "edge_attr", like=self,
                                    finite=not _checked)
        elif edge_attr is not None:
            raise ValueError("edge_attr given but the layer was built with edge_features=0; "
                             "set edge_features to its width")
        if vel is not None:
            vel = check_nodes(vel, n_nodes, dim, "vel", like=self, finite=not _checked)
        src, dst = edge_index
        diff = -edge_vectors(pos, edge_index, shifts)  # x_i - x_j (image), (E, n)
        d2 = (diff * diff).sum(-1, keepdim=True)
        parts = [h[dst], h[src], d2] + ([edge_attr] if self.edge_features else [])
        m = self.phi_e(torch.cat(parts, dim=-1))
        if edge_weight is not None:
            edge_weight = check_nodes(edge_weight.reshape(-1, 1), edge_index.shape[1], 1, "edge_weight")
            m = m * edge_weight
        agg = scatter_sum(m, dst, n_nodes) / self.message_norm
        h_new = self.phi_h(torch.cat([h, agg], dim=-1))
        if self.out_features == self.in_features:
            h_new = h + h_new
        if not self.update_pos:
            return (h_new, pos) if vel is None else (h_new, pos, vel)
        unit = diff / (safe_norm(diff, keepdim=True) + self.norm_constant)
        step = unit * (self.coords_range * torch.tanh(self.phi_x(m)))
        if edge_weight is not None:
            step = step * edge_weight
        degree = scatter_sum(torch.ones_like(d2) if edge_weight is None else edge_weight, dst, n_nodes).clamp(min=1)
        dx = scatter_sum(step, dst, n_nodes) / degree
        if vel is None:
            return h_new, pos + dx
        vel_new = self.phi_v(h) * vel + dx
        return h_new, pos + vel_new, vel_new

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        layer = cls(4, 16, dtype=dtype)
        _init(layer, generator)
        pos = torch.randn(6, 3, generator=generator, dtype=dtype)
        h = torch.randn(6, 4, generator=generator, dtype=dtype)
        return layer, (h, pos, radius_graph(pos, 2.5))


@configurable
class EGNN(nn.Module):
    """A stack of :class:`EGNNLayer`: embedding, ``num_layers`` layers, linear read-out of ``h``.

    ``forward(h, pos, edge_index, *, shifts=None, edge_attr=None, vel=None) -> (h_out, pos_out)``
    (plus ``vel_out`` with ``vel``); ``h`` may also be a PyG ``Data``/``Batch`` carrying
    ``x``, ``pos``, ``edge_index`` (and optionally ``shifts``, ``edge_attr``, ``vel``).
    With ``num_radial > 0`` every layer also sees a Bessel basis (smooth ``cutoff``) of the
    input distances as invariant edge attributes. With ``smooth_cutoff=True`` (needs ``cutoff``)
    every message is also multiplied by the polynomial envelope ``u(r / cutoff)`` of the input
    distance, so outputs (and energies built on them) vary smoothly, with two continuous
    derivatives, when an atom crosses the cutoff: what molecular dynamics needs to conserve energy.
    Shapes as in :class:`EGNNLayer`, ``h_out (N, out_features)``; positions in any dimension n.

    Symmetry: E(n) x permutations (h invariant, pos/vel equivariant).

    Example::

        net = EGNN(in_features=1, hidden_features=32, out_features=8, num_layers=4)
        h_out, pos_out = net(torch.ones(13, 1), pos, radius_graph(pos, 3.0))
    """

    symmetry = EGNNLayer.symmetry

    def __init__(self, in_features: int, hidden_features: int, out_features: int, num_layers: int = 4, *,
                 edge_features: int = 0, num_radial: int = 0, cutoff: float | None = None, update_pos: bool = True,
                 coords_range: float = 1.0, norm_constant: float = 1.0, message_norm: float = 1.0, act=nn.SiLU,
                 smooth_cutoff: bool = False, dtype=None, device=None):
        super().__init__()
        in_features = _positive_int(in_features, "in_features")
        hidden_features = _positive_int(hidden_features, "hidden_features")
        out_features = _positive_int(out_features, "out_features")
        if smooth_cutoff and cutoff is None:
            raise ValueError("smooth_cutoff=True needs a cutoff (the radius where the envelope reaches 0)")
        self.smooth_cutoff = bool(smooth_cutoff)
        num_layers = _positive_int(num_layers, "num_layers")
        self.in_features, self.hidden_features, self.out_features = in_features, hidden_features, out_features
        check_non_negative_int(num_radial, "num_radial")
        if num_radial and cutoff is None:
            raise ValueError("num_radial > 0 needs a cutoff (the radius of the Bessel basis' smooth envelope)")
        if cutoff is not None:
            _check_cutoff(cutoff)
        self.num_radial, self.cutoff, self.user_edge_features = num_radial, cutoff, edge_features
        edge_features = edge_features + num_radial
        kw = {"dtype": dtype, "device": device}
        self.embed = nn.Linear(in_features, hidden_features, **kw)
        self.layers = nn.ModuleList([
            EGNNLayer(hidden_features, hidden_features, edge_features=edge_features, update_pos=update_pos,
                      coords_range=coords_range, norm_constant=norm_constant, message_norm=message_norm,
                      act=act, **kw)
            for _ in range(num_layers)])
        self.out = nn.Linear(hidden_features, out_features, **kw)

    def forward(self, h, pos=None, edge_index=None, *, shifts=None, edge_attr=None, vel=None):
        h, pos, edge_index, shifts, edge_attr, vel = _unpack_data(h, pos, edge_index, shifts, edge_attr, vel)
        pos = check_pos(pos, like=self)
        h = check_nodes(h, pos.shape[0], self.in_features, "h", like=self)
        if vel is not None:
            vel = check_nodes(vel, pos.shape[0], pos.shape[1], "vel", like=self)
        if isinstance(edge_attr, torch.Tensor):
            check_finite(edge_attr, "edge_attr")
        weight = None
        if self.num_radial or self.smooth_cutoff:
            edge_index = check_edge_index(edge_index, pos.shape[0])
            r = safe_norm(edge_vectors(pos, edge_index, check_shifts(shifts, edge_index.shape[1], pos.shape[1], pos)))
            if self.num_radial:
                rbf = bessel_basis(r, self.cutoff, self.num_radial)
                edge_attr = rbf if edge_attr is None else torch.cat([edge_attr, rbf], dim=-1)
            if self.smooth_cutoff:
                weight = polynomial_cutoff(r, self.cutoff)
        h = self.embed(h)
        for layer in self.layers:
            out = layer(h, pos, edge_index, shifts=shifts, edge_attr=edge_attr, vel=vel, edge_weight=weight,
                        _checked=True)
            h, pos = out[0], out[1]
            vel = out[2] if vel is not None else None
        h = self.out(h)
        return (h, pos) if vel is None else (h, pos, vel)

    @classmethod
    def symmetry_example(cls, *, dtype, generator):
        from equigen.geometry import radius_graph

        net = cls(3, 16, 5, num_layers=2, dtype=dtype)
        _init(net, generator)
        pos = torch.randn(7, 3, generator=generator, dtype=dtype)
        h = torch.randn(7, 3, generator=generator, dtype=dtype)
        return net, (h, pos, radius_graph(pos, 2.5))


def _init(module: nn.Module, generator: torch.Generator) -> None:
    """Re-draw every parameter from ``generator`` (reproducible examples without global seeding)."""
    with torch.no_grad():
        for p in module.parameters():
            fan_in = p.shape[-1] if p.dim() > 1 else max(p.numel(), 1)
            p.copy_(torch.randn(p.shape, generator=generator, dtype=p.dtype) / fan_in**0.5)
