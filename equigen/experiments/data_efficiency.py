"""Experiment "data-efficiency": learning LJ13 energies and forces with and without E(3) built in.

Data: Lennard-Jones 13-particle clusters sampled by Metropolis Monte Carlo
(:func:`equigen.data.sample_lj_cluster`), exact energies and forces. Test and validation sets
come from independent chains (other seeds) than the training set, run as long as the training
chains, so that all three are drawn from the same distribution.

Models, all trained as force fields (an energy, forces ``-dE/dx`` by autograd, loss on both),
with parameter counts matched within 20 % of the EGNN's:

* ``equivariant``: :class:`~equigen.nn.EGNN` (Bessel radial basis on distances) +
  :class:`~equigen.nn.EnergyReadout` -- E(3) x permutation invariant energy by construction;
* ``distance MLP`` / ``distance MLP (Bessel)``: :class:`~equigen.nn.ClusterDistanceMLP` on the sorted
  pair distances (plain, or each expanded in a Bessel basis) -- invariant features, no message
  passing or weight sharing;
* ``message passing + rot. aug.``: :class:`~equigen.nn.RawMessagePassing` (permutation
  equivariant, messages see raw coordinates) trained on randomly rotated copies;
* ``MLP``: :class:`~equigen.nn.FlatMLP` on the flattened coordinates -- no symmetry;
* ``MLP + rot. aug.``: the same FlatMLP trained with every configuration (and its forces)
  rotated by a fresh uniformly random rotation at each step.

What every model gets: targets standardised with the training set's energy mean and std and
force RMS (stored in the model as buffers); inputs standardised (coordinates divided by their
training RMS for the coordinate models, per-feature mean/std for the distance MLPs; the EGNN's
Bessel features of distances are O(1) by construction); Adam with cosine decay, the same batch,
step cap and learning-rate grid, the learning rate picked per model and training-set size on the
validation set. Two arms: *equal steps* (every model the same optimiser steps) and *equal
wall-clock* (every twin as many steps as fit into the EGNN's training time at that size, with
its equal-steps learning rate). Measured: test energy MAE and force RMSE (reduced units).

Claims: the EGNN at the smallest n against each twin family at the largest n, the EGNN against every
twin at every n, and every model's curve not rising with n (a rise between consecutive sizes counts
above :data:`RISE_Z` paired standard errors on the test set; at quick scale a rise means "not converged").
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from equigen.data.particles import LJDataset, sample_lj_cluster
from equigen.experiments.base import Experiment, ExperimentConfig
from equigen.experiments.registry import register
from equigen.geometry import bessel_basis, safe_norm
from equigen.groups import haar_orthogonal
from equigen.nn import EGNN, EnergyModel, ForceField
from equigen.nn.graph_baselines import FlatMLP, RawMessagePassing, count_parameters, width_for_params
from equigen.nn.invariant_baselines import ClusterDistanceMLP

BUILTIN = "equivariant"
MODELS = (BUILTIN, "distance MLP", "distance MLP (Bessel)", "message passing + rot. aug.", "MLP",
          "MLP + rot. aug.")
TWINS = MODELS[1:]
AUGMENTED = ("message passing + rot. aug.", "MLP + rot. aug.")
FEATURES = {
    BUILTIN: "EGNN on the complete graph: 8 Bessel functions of each distance (cutoff 4.5 sigma)",
    "distance MLP": "MLP on the 78 sorted pair distances (standardised per feature)",
    "distance MLP (Bessel)": "MLP on the 78 sorted distances x 8 Bessel functions (standardised per feature)",
    "message passing + rot. aug.": "message passing on raw coordinates (x_i, x_j) / RMS; random rotations",
    "MLP": "MLP on the 39 flattened coordinates / RMS",
    "MLP + rot. aug.": "MLP on the 39 flattened coordinates / RMS; random rotations",
}


# picked from {1e-3, 3e-3} on the validation set at n = 1,000 by every earlier quick run (batches of 8 and 32)
QUICK_LEARNING_RATES = ((BUILTIN, 3e-3), ("distance MLP", 3e-3), ("distance MLP (Bessel)", 3e-3),
                        ("message passing + rot. aug.", 1e-3), ("MLP", 3e-3), ("MLP + rot. aug.", 3e-3))


@dataclass
class DataEfficiencyConfig(ExperimentConfig):
    """Sizes, models and the shared training budget.

    ``lr_select_size``: the training-set size at which each model's learning rate is picked from
    ``learning_rates`` on the validation set (``None``: picked separately at every size).
    ``model_learning_rates``: ``((model, lr), ...)``, models whose learning rate is fixed (no search).
    ``equal_time_sizes``: sizes at which the equal-wall-clock arm runs (``None``: all);
    ``equal_time_models``: the twins it runs for (``None``: all).
    ``time_limit_s``: wall-clock cap of each training run (``None``: steps only).
    """

    train_sizes: tuple = (100, 1000, 10000)
    test_size: int = 1000
    val_size: int = 500
    num_particles: int = 13
    temperature: float = 0.3
    burn_in_sweeps: int = 400
    steps: int = 3000
    batch_size: int = 8
    learning_rates: tuple = (1e-3, 3e-3)
    lr_select_size: int | None = None
    model_learning_rates: tuple = ()
    force_weight: float = 10.0
    hidden: int = 32
    num_layers: int = 3
    num_radial: int = 8
    cutoff: float = 4.5
    mlp_layers: int = 3
    models: tuple = MODELS
    equal_time_sizes: tuple | None = None
    equal_time_models: tuple | None = None
    time_limit_s: float | None = None
    threads: int = 1
    time_budget_s: float = 3600.0

    def __post_init__(self):
        super().__post_init__()
        unknown = sorted(set(self.models) - set(MODELS))
        if unknown:
            raise ValueError(f"config.models names {unknown}; choose from {MODELS}")
        if BUILTIN not in self.models:
            raise ValueError(f"config.models must include {BUILTIN!r}, got {self.models!r}")
        unknown = sorted(set(dict(self.model_learning_rates)) - set(MODELS))
        if unknown:
            raise ValueError(f"config.model_learning_rates names {unknown}; choose from {MODELS}")

    @classmethod
    def quick(cls):
        # batches of 32 (a step costs ~2x a batch of 8 and sees 4x the configurations): 400 steps show
        # each model 12,800 configurations, enough for n = 100 and 1,000 to be seen many times over
        # batches of 8 (a batch-8 step costs ~1/3 of a batch-32 one, and 1,200 of them train the EGNN far
        # better than 400 of 32); 1,200 steps fit the budget. Learning rates fixed per model (no search at
        # quick scale): the values every earlier grid search {1e-3, 3e-3} on the validation set picked.
        # The equal wall-clock arm (n = 10,000): the strongest twin of each family (the message-passing
        # twin is as slow as the EGNN: its equal-steps run is its equal-time run).
        # The same steps at every size: a step cap growing with n was tried and confounds data with compute
        # (the EGNN at n = 1,000 and 2,000 steps is as good as at n = 10,000 and 2,000 steps; docs).
        return cls(test_size=400, val_size=200, steps=1200, batch_size=8, learning_rates=(1e-3, 3e-3),
                   model_learning_rates=QUICK_LEARNING_RATES, equal_time_sizes=(10000,),
                   equal_time_models=("distance MLP (Bessel)", "message passing + rot. aug.", "MLP + rot. aug."),
                   time_limit_s=30.0, time_budget_s=185.0)

    @classmethod
    def full(cls):
        return cls(test_size=2000, val_size=500, steps=6000, learning_rates=(1e-3, 3e-3, 1e-2),
                   time_budget_s=7200.0)


POOL_CHAINS = 256  # chains of the training pool
HELD_OUT_PER_CHAIN = 4  # expected test / validation configurations per held-out chain


@functools.lru_cache(maxsize=4)
def _dataset(num_samples: int, num_particles: int, temperature: float, seed: int, burn_in: int,
             num_chains: int = POOL_CHAINS) -> LJDataset:
    return sample_lj_cluster(num_samples, num_particles, temperature=temperature, seed=seed, burn_in_sweeps=burn_in,
                             num_chains=num_chains)


def _held_out(size: int, pool_size: int, num_particles: int, temperature: float, seed: int,
              burn_in: int) -> LJDataset:
    """``size`` configurations from the training pool's distribution, on chains of their own.

    The chains are not stationary after ``burn_in`` sweeps (LJ13's energy keeps drifting down for
    thousands of sweeps), so a configuration's distribution depends on how far along its chain it
    was stored. Held-out chains therefore run exactly as long as the pool's (the same number of
    stored samples per chain) and ``size`` of their samples are kept uniformly at random (the
    sampler's output is shuffled): the same mixture over chain positions as the pool, no chain
    shared with it."""
    per_chain = -(-pool_size // min(POOL_CHAINS, pool_size))
    chains = -(-size // min(HELD_OUT_PER_CHAIN, per_chain))  # enough stored configurations for ``size``
    return _dataset(chains * per_chain, num_particles, temperature, seed, burn_in, chains)[:size]


def _complete_edges(num_graphs: int, n: int) -> torch.Tensor:
    idx = torch.arange(n)
    src, dst = torch.meshgrid(idx, idx, indexing="ij")
    keep = src != dst
    one = torch.stack([src[keep], dst[keep]])
    offsets = (torch.arange(num_graphs) * n).repeat_interleave(one.shape[1])
    return one.repeat(1, num_graphs) + offsets


class Standardized(nn.Module):
    """An energy model in physical units around one trained on standardised inputs and targets.

    ``E(pos) = energy_mean + energy_std * inner(h, pos / pos_scale, ...)``; the buffers come from the
    training set (:meth:`fit`), so the model carries its own normalisation. A scalar ``pos_scale``
    commutes with rotations and permutations: no symmetry of ``inner`` is lost.
    """

    def __init__(self, inner: nn.Module, *, scale_positions: bool):
        super().__init__()
        self.inner, self.scale_positions = inner, scale_positions
        p = next(inner.parameters())
        for name in ("pos_scale", "energy_mean", "energy_std", "force_rms"):
            self.register_buffer(name, torch.tensor(0.0 if name == "energy_mean" else 1.0, dtype=p.dtype,
                                                    device=p.device))
        self.symmetry = getattr(inner, "symmetry", None)

    @torch.no_grad()
    def fit(self, data: LJDataset) -> Standardized:
        if self.scale_positions:
            self.pos_scale.fill_(float(data.pos.square().mean().sqrt()))
        self.energy_mean.fill_(float(data.energy.mean()))
        self.energy_std.fill_(float(data.energy.std()) if len(data) > 1 else 1.0)
        self.force_rms.fill_(float(data.forces.square().mean().sqrt()))
        if isinstance(self.inner, ClusterDistanceMLP):
            self.inner.fit_standardization(data.pos)
        return self

    def forward(self, h, pos, edge_index, batch=None, *, shifts=None, num_graphs=None):
        e = self.inner(h, pos / self.pos_scale, edge_index, batch, num_graphs=num_graphs)
        return self.energy_mean + self.energy_std * e


_WIDTHS = {}  # hidden width of each twin whose parameter count matches the EGNN's


def build_models(config: DataEfficiencyConfig, *, dtype=torch.float32, device=None, names=None) -> dict:
    """The force fields of the experiment, ``{name: ForceField(Standardized(...))}``, sizes matched to the EGNN's.

    ``names``: build only these of ``config.models`` (default: all); the widths search for the others is skipped.
    """
    n, h, kw = config.num_particles, config.hidden, {"dtype": dtype, "device": device}
    egnn = EnergyModel(EGNN(1, h, h, num_layers=config.num_layers, num_radial=config.num_radial,
                            cutoff=config.cutoff, update_pos=False, **kw), h, h, **kw)
    target = count_parameters(egnn)

    def flat(w):
        return EnergyModel(FlatMLP(n, 1, w, 4, num_layers=config.mlp_layers, **kw), 4, 16, **kw)

    def raw_mp(w):
        return EnergyModel(RawMessagePassing(1, w, w, num_layers=config.num_layers, **kw), w, w, **kw)

    def dist(basis):
        def make(w):
            return ClusterDistanceMLP(n, w, config.mlp_layers, basis=basis, num_radial=config.num_radial,
                               cutoff=config.cutoff, **kw)
        return make

    makers = {"distance MLP": dist("distance"), "distance MLP (Bessel)": dist("bessel"),
              "message passing + rot. aug.": raw_mp, "MLP": flat, "MLP + rot. aug.": flat}
    inner = {BUILTIN: egnn}
    wanted = config.models if names is None else [m for m in config.models if m in names]
    for name in wanted:
        if name == BUILTIN:
            continue
        if name not in makers:
            raise ValueError(f"config.models holds {name!r}; choose from {MODELS}")
        make = makers[name]
        key = (name, n, h, config.num_layers, config.num_radial, config.cutoff, config.mlp_layers, str(dtype), target)
        if key not in _WIDTHS:  # the search builds many models: once per process and architecture, and
            with torch.random.fork_rng():  # without drawing from the generator the twin is initialised with
                _WIDTHS[key] = width_for_params(make, target, lo=1, hi=4096)
        inner[name] = make(_WIDTHS[key])
    return {name: ForceField(Standardized(m, scale_positions=name in ("message passing + rot. aug.", "MLP",
                                                                      "MLP + rot. aug.")))
            for name, m in inner.items() if name in wanted}


def dense_node_features(backbone: nn.Module, h: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Node features ``(B, N, F_out)`` of an :class:`~equigen.nn.EGNN` (``update_pos=False``) or a
    :class:`~equigen.nn.graph_baselines.RawMessagePassing` on the complete graph of each configuration.

    The same function as the edge-list forward on the complete graph (same weights, same maths;
    equal to rounding), computed on dense ``(B, N, N, H)`` message tensors: the first linear map of
    each message MLP is split into its per-node parts (``h_i``, ``h_j``, and ``x_i``, ``x_j`` for the
    raw-coordinate model), and the sums over neighbours are reductions with the self-pair masked
    out. No gather/scatter in the force (double) backward pass: faster on CPU for small clusters.
    Shapes: ``h (B, N, F_in)``, ``pos (B, N, 3)``. Symmetry: that of ``backbone`` (E(3) x permutations
    for the EGNN, permutations only for the raw-coordinate model).
    """
    b, n, _ = pos.shape
    off = 1.0 - torch.eye(n, dtype=pos.dtype, device=pos.device)[None, :, :, None]  # no self-pairs
    h = backbone.embed(h)
    if isinstance(backbone, EGNN):
        if backbone.layers[0].update_pos or backbone.smooth_cutoff or backbone.user_edge_features:
            raise ValueError("dense_node_features supports an EGNN with update_pos=False, no smooth_cutoff "
                             "and no user edge features; use the edge-list forward")
        diff = pos[:, :, None, :] - pos[:, None, :, :]  # x_i - x_j, (B, N, N, 3)
        d2 = (diff * diff).sum(-1, keepdim=True)
        rbf = bessel_basis(safe_norm(diff), backbone.cutoff, backbone.num_radial) if backbone.num_radial else None
        for layer in backbone.layers:
            f, first = layer.in_features, layer.phi_e[0]
            w = first.weight
            pre = (h @ w[:, :f].T)[:, :, None, :] + (h @ w[:, f:2 * f].T)[:, None, :, :] + d2 * w[:, 2 * f] + first.bias
            if rbf is not None:
                pre = pre + rbf @ w[:, 2 * f + 1:].T
            agg = (layer.phi_e[1:](pre) * off).sum(2) / layer.message_norm
            h_new = layer.phi_h(torch.cat([h, agg], dim=-1))
            h = h + h_new if layer.out_features == layer.in_features else h_new
        return backbone.out(h)
    if isinstance(backbone, RawMessagePassing):
        d = backbone.dim
        for phi_e, phi_h, phi_x in zip(backbone.phi_e, backbone.phi_h, backbone.phi_x):
            first, f = phi_e[0], h.shape[-1]
            w = first.weight
            node_i = h @ w[:, :f].T + pos @ w[:, 2 * f:2 * f + d].T + first.bias
            node_j = h @ w[:, f:2 * f].T + pos @ w[:, 2 * f + d:].T
            m = phi_e[1:](node_i[:, :, None, :] + node_j[:, None, :, :]) * off
            h = h + phi_h(torch.cat([h, m.sum(2)], dim=-1))
            pos = pos + (phi_x(m) * off).sum(2) / max(n - 1, 1)
        return backbone.out(h)
    raise TypeError(f"dense_node_features takes an EGNN or a RawMessagePassing, got {type(backbone).__name__}")


def _dense_backbone(model) -> bool:
    inner = model.energy_model.inner
    return isinstance(inner, EnergyModel) and isinstance(inner.backbone, (EGNN, RawMessagePassing))


def _predict(model, pos, edges_for, *, dense: bool = True):
    """Energies ``(B,)`` and forces ``(B, N, 3)`` in physical units.

    ``dense``: the EGNN and the raw-coordinate message passing run :func:`dense_node_features` (the
    same function as the edge-list forward, faster); other models, or ``dense=False``, the edge lists.
    """
    b, n, _ = pos.shape
    if dense and _dense_backbone(model):
        norm = model.energy_model
        keep_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            p = pos.detach().requires_grad_(True)
            h = torch.ones(b, n, 1, dtype=pos.dtype, device=pos.device)
            x = p / norm.pos_scale
            feats = dense_node_features(norm.inner.backbone, h, x)
            energy = norm.energy_mean + norm.energy_std * norm.inner.readout.mlp(feats).squeeze(-1).sum(1)
            (grad,) = torch.autograd.grad(energy.sum(), p, create_graph=keep_graph)
        return (energy, -grad) if keep_graph else (energy.detach(), -grad.detach())
    flat = pos.reshape(b * n, 3)
    batch = torch.arange(b, device=pos.device).repeat_interleave(n)
    h = torch.ones(b * n, 1, dtype=pos.dtype, device=pos.device)
    energy, forces = model(h, flat, edges_for(b), batch, num_graphs=b)
    return energy, forces.reshape(b, n, 3)


def evaluate(model, data: LJDataset, edges_for, *, chunk: int = 250, per_config: bool = False) -> dict:
    """Energy MAE and force RMSE (per component) over ``data``.

    ``per_config=True`` adds ``"energy_abs"`` and ``"force_sq"``: each configuration's absolute energy
    error and mean squared force error, ``(len(data),)`` tensors (their means give the two metrics).
    """
    model.eval()
    e_err, f_err = [], []
    for start in range(0, len(data), chunk):
        part = data[start:start + chunk]
        with torch.no_grad():
            energy, forces = _predict(model, part.pos, edges_for)
        e_err.append((energy - part.energy).abs())
        f_err.append((forces - part.forces).square().flatten(1).mean(1))
    model.train()
    e_abs, f_sq = torch.cat(e_err), torch.cat(f_err)
    out = {"energy_mae": float(e_abs.mean()), "force_rmse": float(f_sq.mean().sqrt())}
    if per_config:
        out.update(energy_abs=e_abs.detach().cpu().double(), force_sq=f_sq.detach().cpu().double())
    return out


def paired_rise(before: torch.Tensor, after: torch.Tensor) -> float:
    """The rise of the mean per-configuration error from ``before`` to ``after`` in standard errors of the
    paired difference (both ``(M,)``, on the same test configurations); negative: the error falls."""
    d = after - before
    mean = float(d.mean())
    if len(d) < 2 or float(d.std()) == 0.0:
        return float("inf") if mean > 0 else float("-inf") if mean < 0 else 0.0
    return mean / (float(d.std()) / len(d) ** 0.5)


def significant_increase(before: torch.Tensor, after: torch.Tensor, z: float = 2.0) -> bool:
    """Whether the mean of per-configuration errors rises from ``before`` to ``after`` by more than ``z``
    standard errors of the paired difference (:func:`paired_rise`)."""
    return paired_rise(before, after) > z


def train(model, data: LJDataset, *, steps: int, lr: float, batch_size: int, force_weight: float,
          augment: bool, generator: torch.Generator, edges_for, time_limit_s: float | None = None) -> dict:
    """Adam with cosine decay over ``steps`` on ``MSE(E)/std_E^2 + force_weight * MSE(F)/rms_F^2``.

    Stops after ``steps`` or ``time_limit_s`` seconds, whichever comes first. Returns
    ``{"curve", "steps", "stopped_by", "seconds"}``.
    """
    norm = model.energy_model
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    curve, stopped_by, t0 = [], "steps", time.perf_counter()
    for _ in range(steps):
        if time_limit_s is not None and time.perf_counter() - t0 >= time_limit_s:
            stopped_by = "time_limit"
            break
        idx = torch.randint(len(data), (min(batch_size, len(data)),), generator=generator).to(data.pos.device)
        pos, energy, forces = data.pos[idx], data.energy[idx], data.forces[idx]
        if augment:
            rot = haar_orthogonal(3, proper=True, size=(idx.shape[0],), generator=generator,
                                  dtype=pos.dtype).to(pos.device)
            pos, forces = pos @ rot.transpose(-1, -2), forces @ rot.transpose(-1, -2)
        e_pred, f_pred = _predict(model, pos, edges_for)
        loss = (((e_pred - energy) / norm.energy_std).square().mean()
                + force_weight * ((f_pred - forces) / norm.force_rms).square().mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
    return {"curve": curve, "steps": len(curve), "stopped_by": stopped_by, "seconds": time.perf_counter() - t0}


def _edge_cache(num_particles: int, device) -> callable:
    """``edges_for(b)``: the complete graph of ``b`` clusters of ``num_particles``, built once per ``b``."""
    edges = {}

    def edges_for(b):
        if b not in edges:
            edges[b] = _complete_edges(b, num_particles).to(device)
        return edges[b]
    return edges_for


def _monotone(values) -> bool:
    return all(b <= a for a, b in zip(values, values[1:]))


RAW_COORDINATE = ("message passing + rot. aug.", "MLP", "MLP + rot. aug.")  # no rotation invariance built in
INVARIANT_FEATURES = ("distance MLP", "distance MLP (Bessel)")
RISE_Z = 2.0  # a rise between consecutive sizes counts when above this many paired standard errors
LEARNED_FRACTION = 0.5  # a model has learned when its error at the largest n is below this x the constant predictor's
METRICS = (("test_energy_mae", "test energy MAE (epsilon)", "energies"),
           ("test_force_rmse", "test force RMSE (epsilon/sigma)", "forces"))


@register
class DataEfficiency(Experiment):
    name = "data-efficiency"
    description = ("LJ13 energies and forces: E(3)-equivariant EGNN vs invariant-feature MLPs, augmented "
                   "message passing and MLPs at 100 / 1,000 / 10,000 training configurations, equal size, "
                   "tuning, steps and (second arm) wall-clock")
    Config = DataEfficiencyConfig
    stages = ("sample_data", "train_equal_steps", "train_equal_wall_clock", "summarise", "plot")

    def sample_data(self, run):
        """Training pool, test and validation sets from independent MCMC chains (``run.state``)."""
        config, s = run.config, run.state
        s.sizes = sorted(int(n) for n in config.train_sizes)
        s.models = tuple(m for m in MODELS if m in config.models)  # checked by the config
        args, largest = (config.num_particles, config.temperature), s.sizes[-1]
        fixed = dict(config.model_learning_rates)
        validate = len(config.learning_rates) > 1 and any(m not in fixed for m in s.models)
        with run.timer("data"):
            s.pool = _dataset(largest, *args, run.seed, config.burn_in_sweeps).to(torch.float32, run.device)
            s.test, s.val = (_held_out(size, largest, *args, run.seed + offset, config.burn_in_sweeps)
                             .to(torch.float32, run.device) if size else None
                             for size, offset in ((config.test_size, 1000), (config.val_size * validate, 2000)))
        run.result.notes.append(f"LJ{config.num_particles} at T={config.temperature}: MCMC acceptance "
                                f"{s.pool.info['acceptance']:.2f}; train, validation and test from independent "
                                "chains of the same length (same distribution over chain positions).")
        s.edges_for = _edge_cache(config.num_particles, run.device)
        s.rows, s.time_rows, s.per_config, s.fits, s.chosen_lr = [], [], {}, {}, {}

    def train_equal_steps(self, run):
        """Every model at every size with the same step cap; its learning rate fixed or picked on the
        validation set (at ``lr_select_size`` or at every size). Fills the equal-steps table."""
        s, select = run.state, run.config.lr_select_size
        select = select if select in s.sizes else None
        s.order = sorted(s.sizes, key=lambda size: size != select)  # the selection size first
        for size in s.order:
            for name in s.models:
                s.rows.append(self._train_row(run, name, size, self._lr_grid(run, name, size, select)))
        s.rows.sort(key=lambda r: (r["train_size"], s.models.index(r["model"])))
        run.result.tables["test error (equal steps)"] = s.rows

    @staticmethod
    def _lr_grid(run, name, size, select) -> tuple:
        fixed = dict(run.config.model_learning_rates)
        if name in fixed:
            return (fixed[name],)
        return run.config.learning_rates if select is None or size == select else (run.state.chosen_lr[name],)

    @staticmethod
    def _fit(run, name, train_set, steps, lr, limit):
        """One model trained from its seeded initialisation and batch order: ``(model, train info)``."""
        config = run.config
        torch.manual_seed(run.seed)
        model = build_models(config, dtype=torch.float32, device=run.device, names=(name,))[name]
        model.energy_model.fit(train_set)
        info = train(model, train_set, steps=steps, lr=lr, batch_size=config.batch_size,
                     force_weight=config.force_weight, augment=name in AUGMENTED, generator=run.generator(),
                     edges_for=run.state.edges_for, time_limit_s=limit)
        return model, info

    def _train_row(self, run, name, size, grid) -> dict:
        """Train ``name`` on the first ``size`` pool configurations at each learning rate of ``grid``, keep
        the best on the validation set, and return its equal-steps table row (test errors)."""
        s, train_set = run.state, run.state.pool[:size]
        scale = (float(train_set.energy.std()), float(train_set.forces.square().mean().sqrt()))
        best = None
        for lr in grid:
            model, info = self._fit(run, name, train_set, run.config.steps, lr, run.config.time_limit_s)
            if len(grid) == 1:  # nothing to choose: no validation pass
                best = (0.0, lr, model, info, {"energy_mae": None, "force_rmse": None})
                break
            v = evaluate(model, s.val, s.edges_for)
            score = v["energy_mae"] / scale[0] + v["force_rmse"] / scale[1]
            if best is None or score < best[0]:
                best = (score, lr, model, info, v)
        _, lr, model, info, v = best
        s.chosen_lr.setdefault(name, lr)
        s.fits[(name, size)] = info
        t = evaluate(model, s.test, s.edges_for, per_config=True)
        s.per_config[(name, size)] = (t.pop("energy_abs"), t.pop("force_sq"))
        row = {"model": name, "train_size": size, "parameters": count_parameters(model), "learning_rate": lr,
               "steps": info["steps"], "stopped_by": info["stopped_by"], "train_seconds": info["seconds"],
               "test_energy_mae": t["energy_mae"], "test_force_rmse": t["force_rmse"],
               "final_train_loss": float(np.mean(info["curve"][-20:]))}
        if v["energy_mae"] is not None:  # validated (a learning rate was chosen)
            row.update(val_energy_mae=v["energy_mae"], val_force_rmse=v["force_rmse"])
        return row

    def train_equal_wall_clock(self, run):
        """Each selected twin as many steps as fit into the EGNN's training time at that size, with its
        equal-steps learning rate (a twin as slow as the EGNN: its equal-steps run is the answer)."""
        s, config = run.state, run.config
        by = {(r["model"], r["train_size"]): r for r in s.rows}
        for size, name in ((size, name) for size in s.order for name in s.models):
            if name == BUILTIN or not ((config.equal_time_sizes is None or size in config.equal_time_sizes)
                                       and (config.equal_time_models is None or name in config.equal_time_models)):
                continue
            row, info, egnn_seconds = by[(name, size)], s.fits[(name, size)], s.fits[(BUILTIN, size)]["seconds"]
            steps = int(egnn_seconds / (info["seconds"] / max(info["steps"], 1)))
            t = {"energy_mae": row["test_energy_mae"], "force_rmse": row["test_force_rmse"]}
            if steps > 1.2 * info["steps"]:
                model, info = self._fit(run, name, s.pool[:size], steps, row["learning_rate"], egnn_seconds)
                t = evaluate(model, s.test, s.edges_for)
            s.time_rows.append({"model": name, "train_size": size, "learning_rate": row["learning_rate"],
                                "steps": info["steps"], "stopped_by": info["stopped_by"],
                                "train_seconds": info["seconds"], "egnn_seconds": egnn_seconds,
                                "test_energy_mae": t["energy_mae"], "test_force_rmse": t["force_rmse"]})
        if s.time_rows:
            run.result.tables["test error (equal wall-clock)"] = s.time_rows

    def summarise(self, run):
        """Metrics (errors, curve shapes) and the claims with their verdicts."""
        s, result = run.state, run.result
        by = {(r["model"], r["train_size"]): r for r in s.rows}
        params = [r["parameters"] for r in s.rows]
        result.metrics.update({
            "parameter_ratio_max_min": max(params) / min(params),
            "test_energy_std": float(s.test.energy.std()),
            "test_force_rms": float(s.test.forces.square().mean().sqrt()),
            "steps_cap": run.config.steps,
            "runs_stopped_by_time_limit": sum(r["stopped_by"] == "time_limit" for r in s.rows),
        })
        for name, size in ((name, size) for name in s.models for size in s.sizes):
            result.metrics[f"{name}_{size}_energy_mae"] = by[(name, size)]["test_energy_mae"]
            result.metrics[f"{name}_{size}_force_rmse"] = by[(name, size)]["test_force_rmse"]
        rises, z = _curve_shapes(result, by, s.sizes, s.models, s.per_config)
        stopped_early = result.metrics["runs_stopped_by_time_limit"] > 0
        quick_scale = result.metrics["steps_cap"] < DataEfficiencyConfig.full().steps
        train_energy = s.pool.energy[:s.sizes[-1]]
        constant = {"test_energy_mae": float((s.test.energy - train_energy.mean()).abs().mean()),
                    "test_force_rmse": result.metrics["test_force_rms"]}  # the training mean, zero forces
        result.metrics.update(constant_predictor_energy_mae=constant["test_energy_mae"])
        by_time = {(r["model"], r["train_size"]): r for r in s.time_rows}
        for key, metric, label in METRICS:
            # settled when the EGNN's curve does not rise with n: no rise beyond two paired standard errors
            converged = not stopped_early and not rises[(BUILTIN, key)]
            _headline_claims(result, by, by_time, s.sizes, s.models, (key, metric, label), stopped_early, converged)
            _every_size_claim(result, by, s.sizes, s.models, (key, metric, label), stopped_early)
            _monotone_claim(result, by, s.sizes, s.models, (key, metric, label), rises, z, constant[key],
                            quick_scale, stopped_early)

    def plot(self, run):
        """Test errors against training-set size, both arms, both metrics."""
        s = run.state
        run.figure(_figure(s.rows, s.time_rows, s.sizes, s.models), "data-efficiency",
                   "Test energy MAE (left) and force RMSE (right) against the number of training configurations, "
                   "log-log. Look for: the EGNN's curve below every raw-coordinate twin's at every n (those sit near "
                   "the constant predictor), and how close the distance MLPs come; a curve that rises with n is "
                   "not converged.")


def _curve_shapes(result, by, sizes, models, per_config) -> tuple[dict, dict]:
    """Record which curves are not monotone in n and which rise significantly (more than two standard
    errors of the paired test-set difference between consecutive sizes). Returns ``({(model, key): rises},
    {(model, key): largest rise in paired standard errors})``."""
    monotone, rises, z = {}, {}, {}
    for name in models:
        for i, (key, _, _) in enumerate(METRICS):
            monotone[(name, key)] = _monotone([by[(name, s)][key] for s in sizes])
            z[(name, key)] = max((paired_rise(per_config[(name, a)][i], per_config[(name, b)][i])
                                  for a, b in zip(sizes, sizes[1:])), default=float("-inf"))
            rises[(name, key)] = z[(name, key)] > RISE_Z
    result.metrics["curves_monotone_all"] = bool(all(monotone.values()))
    result.metrics["curves_not_monotone"] = [f"{n} {k}" for (n, k), ok in monotone.items() if not ok]
    result.metrics["curves_without_significant_rise_all"] = not any(rises.values())
    result.metrics["curves_with_significant_rise"] = [f"{n} {k}" for (n, k), up in rises.items() if up]
    return rises, z


def _monotone_claim(result, by, sizes, models, metric_info, rises, z, constant, quick_scale, stopped_early):
    """Every model's test error does not rise with n: no rise between consecutive sizes beyond
    :data:`RISE_Z` paired standard errors. A model whose error at the largest n is above
    :data:`LEARNED_FRACTION` of the constant predictor's has not learned (its curve's shape is noise)."""
    key, metric, label = metric_info
    rising = [m for m in models if rises[(m, key)]]
    unlearned = [m for m in models if by[(m, sizes[-1])][key] > LEARNED_FRACTION * constant]
    curve = {m: " -> ".join(f"{by[(m, n)][key]:.3g}" for n in sizes) for m in rising}
    words = [f"rises: {m} ({curve[m]}, {z[(m, key)]:.1f} paired SE)" for m in rising]
    if unlearned:
        words.append(f"at the constant predictor ({constant:.3g}) at every n, not learned: {', '.join(unlearned)}")
    if stopped_early or (rising and quick_scale):
        verdict = "not converged"
        words.append("not converged at quick scale: " + ("training stopped by the time limit" if stopped_early else
                     "the paired test covers the test draw, not the spread between training runs, which at this "
                     "step budget is as large as the rise; the full preset trains "
                     f"{DataEfficiencyConfig.full().steps} steps with a learning-rate search"))
    else:
        verdict = "not reproduced" if rising else "reproduced"
    result.add_claim(
        f"The test {label} error of every model does not rise with the training-set size "
        f"({' -> '.join(map(str, sizes))})", f"largest rise of the test {label} error between consecutive sizes "
        f"(paired standard errors; a rise above {RISE_Z:g} counts)", z[(BUILTIN, key)],
        {m: z[(m, key)] for m in models if m != BUILTIN}, verdict, builtin_name="EGNN",
        detail="; ".join(words) or "no curve rises")


def _unsettled(stopped_early: bool) -> str:
    full = DataEfficiencyConfig.full()
    why = ("training stopped by the time limit before the step cap" if stopped_early
           else "the EGNN's error rises with n by more than two paired standard errors")
    return (f"not converged at quick scale ({why}); the full preset trains {full.steps} steps with "
            f"{len(full.learning_rates)} learning rates")


def _headline_claims(result, by, by_time, sizes, models, metric_info, stopped_early, converged):
    """EGNN at the smallest n against each twin family at the largest n (equal steps and, where run,
    the EGNN's wall-clock): the raw-coordinate models and the invariant-feature distance MLPs."""
    key, metric, label = metric_info
    small, large = sizes[0], sizes[-1]
    eq = by[(BUILTIN, small)][key]
    for family, members in (("raw-coordinate", RAW_COORDINATE), ("invariant-feature", INVARIANT_FEATURES)):
        figures = {}
        for m in (m for m in members if m in models):
            figures[m] = by[(m, large)][key]
            if (m, large) in by_time:
                figures[f"{m} (equal wall-clock)"] = by_time[(m, large)][key]
        if not figures:
            continue
        best_twin = min(figures, key=figures.get)
        result.metrics[f"best_{family}_twin_{label}"] = best_twin
        # a run cut short by the time cap settles nothing, win or loss
        verdict = ("not converged" if stopped_early else "reproduced" if eq < figures[best_twin] else
                   "not reproduced" if converged else "not converged")
        what = ("every model on raw coordinates (MLP, MLP and message passing with rotation augmentation)"
                if family == "raw-coordinate" else
                "the MLPs on sorted pair distances (plain and Bessel-expanded: invariant features, no message passing)")
        result.add_claim(
            f"The EGNN trained on {small} configurations predicts {label} better than {what} trained on "
            f"{large}, at equal steps and at the EGNN's wall-clock",
            metric, eq, figures, verdict, builtin_name="EGNN",
            detail=(f"best {family} twin at n={large}: {best_twin} ({figures[best_twin]:.3g} vs EGNN@{small} "
                    f"{eq:.3g})" + ("" if verdict != "not converged" else "; " + _unsettled(stopped_early))))


def _every_size_claim(result, by, sizes, models, metric_info, stopped_early):
    """At equal size and steps the EGNN beats every twin at every size (figures at the middle size)."""
    key, metric, label = metric_info
    twins = [m for m in models if m != BUILTIN]
    if not twins:
        return
    wins = [by[(BUILTIN, s)][key] < min(by[(m, s)][key] for m in twins) for s in sizes]
    mid = sizes[len(sizes) // 2]
    verdict = "not converged" if stopped_early else "reproduced" if all(wins) else "not reproduced"
    result.add_claim(
        f"At equal size and steps the EGNN predicts {label} better than every twin at every "
        f"training-set size ({', '.join(map(str, sizes))}); figures at n={mid}",
        metric, by[(BUILTIN, mid)][key], {m: by[(m, mid)][key] for m in twins}, verdict, builtin_name="EGNN",
        detail=f"EGNN best at sizes: {[s for s, w in zip(sizes, wins) if w]}"
               + ("; " + _unsettled(stopped_early) if stopped_early else ""))


def _figure(rows, time_rows, sizes, models):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    styles = ("o-", "D-", "v-", "s--", "^:", "x:")
    for ax, key, label in ((axes[0], "test_energy_mae", "test energy MAE (epsilon)"),
                           (axes[1], "test_force_rmse", "test force RMSE (epsilon/sigma)")):
        for i, name in enumerate(models):
            ys = [next(r[key] for r in rows if r["model"] == name and r["train_size"] == s) for s in sizes]
            line, = ax.plot(sizes, ys, styles[i % len(styles)], label=f"{name} (equal steps)")
            pts = [(r["train_size"], r[key]) for r in time_rows if r["model"] == name]
            if pts:
                ax.plot(*zip(*sorted(pts)), styles[i % len(styles)][0], color=line.get_color(), alpha=0.45,
                        ls=(0, (1, 3)), markersize=9, label=f"{name} (equal wall-clock)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("training configurations")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=6.5, loc="best")
    fig.suptitle("LJ13: test error vs training-set size (solid: equal steps; faint dotted: twins given the "
                 "EGNN's wall-clock)", fontsize=9)
    return fig
