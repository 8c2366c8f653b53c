"""Train and compare models on the user's own files (``equigen train`` / ``equigen compare``).

Atoms (any ASE-readable file with energies and forces) train a :class:`~equigen.nn.Potential`
with the backbone named by ``--model``; fields (``.npz`` with ``x``, ``y`` of shape
``(B, C, *spatial)``) train a field model. Both go through the one
:class:`~equigen.train.Trainer` (progress bar, checkpoints every ``checkpoint_every`` steps, exact
resume from ``--out``), and the trained model is written with :func:`~equigen.train.save_model`.

Fields train an :class:`~equigen.nn.FNO` (``--model fno``) or its unconstrained twin
:class:`~equigen.nn.baselines.FieldMLP` (``--model field-mlp``).

A config file (YAML ``.yaml``/``.yml`` or TOML ``.toml``) has two sections: ``model`` (constructor
arguments of the model, e.g. ``cutoff``, ``hidden``) and ``train`` (the keys of
:data:`TRAIN_DEFAULTS`). Unknown keys are errors.

``compare`` trains the physics-built-in model and its unconstrained twins on the same split with
the same budget (steps, batch size, learning rate, seed; twins' widths chosen to match the
parameter count) and reports test errors (energy/force for atoms, relative L2 for fields) as an
experiment :class:`Result`. Models are initialised from ``train.seed`` alone, so the reference
row of ``compare`` is the same run as ``train`` with the same config.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from equigen.core.validation import (
    InputTypeError,
    check_choice,
    check_float,
    check_int,
    check_non_negative_float,
    check_non_negative_int,
    check_positive_float,
    check_positive_int,
)
from equigen.experiments.base import Experiment, Result, versions

__all__ = ["TRAIN_DEFAULTS", "DATA_DEFAULTS", "load_config", "train", "compare", "potential_loss", "evaluate_potential",
           "evaluate_field", "TWINS", "FIELD_TWINS"]

TRAIN_DEFAULTS = {
    "steps": 1000, "batch_size": 8, "lr": 3e-3, "schedule": "cosine", "warmup_steps": 0, "weight_decay": 0.0,
    "clip_grad_norm": 10.0, "energy_weight": 1.0, "force_weight": 10.0, "test_fraction": 0.2, "seed": 0,
    "checkpoint_every": 200, "log_every": 10, "dtype": "float64", "augment": None, "threads": None,
    "time_limit_s": None,
}
DATA_DEFAULTS = {"energy_key": None, "forces_key": None, "index": ":", "format": None}
ATOM_MODELS = ("egnn", "tp", "flat-mlp", "raw-mp", "distance-mlp")
FIELD_MODELS = ("fno", "field-mlp")
FIELD_TWINS = ("field-mlp",)  # default twins of compare on fields
TWINS = ("flat-mlp", "distance-mlp")  # default twins of compare (raw-mp can be added with --models)
AUGMENTED = ("flat-mlp", "raw-mp")  # trained with random rotations unless train.augment says otherwise


def load_config(path) -> dict:
    """``{"model": {...}, "train": {...}, "data": {...}}`` from a YAML or TOML file, defaults filled in.

    ``train`` gets :data:`TRAIN_DEFAULTS`, ``data`` :data:`DATA_DEFAULTS` (``energy_key`` /
    ``forces_key``: where the file stores them when not under ASE's standard names, e.g.
    ``REF_energy``; ``index``, ``format``: as ``ase.io.read``). Atoms files only.
    """
    raw = {} if path is None else _parse_config_file(Path(path))
    if not isinstance(raw, dict):
        raise ValueError(f"the config must be a mapping with sections 'model' and 'train', got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"model", "train", "data"})
    if unknown:
        raise ValueError(f"unknown config sections {unknown}; allowed: 'model' (model arguments), 'train' "
                         f"({', '.join(TRAIN_DEFAULTS)}), 'data' ({', '.join(DATA_DEFAULTS)})")
    for section in ("model", "train", "data"):
        if raw.get(section) is not None and not isinstance(raw[section], dict):
            raise ValueError(f"config section {section!r} must be a mapping of keys to values, got "
                             f"{raw[section]!r}")
    data_cfg = dict(raw.get("data") or {})
    bad = sorted(set(data_cfg) - set(DATA_DEFAULTS))
    if bad:
        raise ValueError(f"unknown data config keys {bad}; allowed: {', '.join(DATA_DEFAULTS)} (names of the energy "
                         "and forces in the file, and ase.io.read's index and format)")
    train_cfg = dict(raw.get("train") or {})
    bad = sorted(set(train_cfg) - set(TRAIN_DEFAULTS))
    if bad:
        raise ValueError(f"unknown train config keys {bad}; allowed: {', '.join(TRAIN_DEFAULTS)}")
    model_cfg = dict(raw.get("model") or {})
    return {"model": model_cfg, "train": check_train_config({**TRAIN_DEFAULTS, **train_cfg}),
            "data": {**DATA_DEFAULTS, **data_cfg}}


def _parse_config_file(path: Path):
    """The parsed content of a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config file."""
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        try:
            return yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"config {str(path)!r} is not valid YAML: {exc}") from exc
    if path.suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python 3.10
            import tomli as tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"config {str(path)!r} is not valid TOML: {exc}") from exc
    raise ValueError(f"config {str(path)!r}: use a .yaml/.yml or .toml file")


def check_train_config(cfg: dict) -> dict:
    """Validate the ``train`` section (types and ranges, each error naming ``train.<key>``); returns it."""
    from equigen.train.trainer import SCHEDULES

    for key in ("steps", "batch_size", "checkpoint_every", "log_every"):
        check_positive_int(cfg[key], f"train.{key}")
    check_non_negative_int(cfg["warmup_steps"], "train.warmup_steps")
    check_int(cfg["seed"], "train.seed")
    check_positive_int(cfg["threads"], "train.threads", allow_none=True)
    check_positive_float(cfg["lr"], "train.lr")
    for key in ("weight_decay", "energy_weight", "force_weight"):
        check_non_negative_float(cfg[key], f"train.{key}")
    check_positive_float(cfg["clip_grad_norm"], "train.clip_grad_norm", allow_none=True)
    check_positive_float(cfg["time_limit_s"], "train.time_limit_s", allow_none=True)
    check_float(cfg["test_fraction"], "train.test_fraction", min=0.0)
    if cfg["test_fraction"] >= 1:
        raise ValueError(f"train.test_fraction must be in [0, 1), got {cfg['test_fraction']!r}")
    check_choice(cfg["schedule"], "train.schedule", SCHEDULES)
    if cfg["augment"] is not None and not isinstance(cfg["augment"], bool):
        raise InputTypeError(f"train.augment must be true, false or absent, got {cfg['augment']!r}")
    _dtype(cfg["dtype"])
    return cfg


def _dtype(name) -> torch.dtype:
    dtype = getattr(torch, str(name), None)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"train.dtype={name!r} must be a floating dtype name such as 'float64' or 'float32'")
    return dtype


def _check_model_keys(cls, model_cfg: dict, reserved: tuple) -> None:
    allowed = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", *reserved)]
    bad = sorted(set(model_cfg) - set(allowed))
    if bad:
        raise ValueError(f"unknown model config keys {bad} for {cls.__name__}; allowed: {', '.join(allowed)}")


def is_field_file(path) -> bool:
    return Path(path).suffix == ".npz"


# ---------------------------------------------------------------------------------------- atoms


def potential_loss(model, batch, *, energy_weight=1.0, force_weight=10.0, augment=False, generator=None):
    """Normalised energy-per-atom and force MSE of a :class:`~equigen.nn.Potential` on a ``Batch``.

    Errors are divided by the model's ``energy_scale``, so the weights compare like with like.
    ``augment``: rotate every structure (positions, forces and cell) by a fresh Haar-random
    rotation first (for twins without rotation symmetry).
    """
    from equigen.groups import haar_orthogonal

    if augment:
        rot = haar_orthogonal(3, proper=True, size=(batch.num_graphs,), generator=generator,
                              dtype=batch.pos.dtype).to(batch.pos.device)
        batch = batch.clone()
        r_atoms = rot[batch.batch]
        batch.pos = torch.einsum("nij,nj->ni", r_atoms, batch.pos)
        batch.forces = torch.einsum("nij,nj->ni", r_atoms, batch.forces)
        if getattr(batch, "cell", None) is not None:
            batch.cell = torch.einsum("bkj,bij->bki", batch.cell.reshape(-1, 3, 3), rot)
    out = model(batch)
    scale = model.energy_scale
    natoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(out["energy"])
    e_loss = (((out["energy"] - batch.energy) / natoms / scale) ** 2).mean()
    f_loss = (((out["forces"] - batch.forces) / scale) ** 2).mean()
    return {"loss": energy_weight * e_loss + force_weight * f_loss, "energy_mse": e_loss.detach(),
            "force_mse": f_loss.detach()}


def evaluate_potential(model, structures, *, batch_size: int = 16) -> dict:
    """Energy MAE per atom, force MAE and RMSE (per component) of ``model`` on ``structures``."""
    from torch_geometric.data import Batch

    e_err, f_abs, f_sq, n_f, n_atoms = [], 0.0, 0.0, 0, 0
    model.eval()
    for i in range(0, len(structures), batch_size):
        batch = Batch.from_data_list(structures[i:i + batch_size])
        with torch.no_grad():
            out = model(batch)
        natoms = torch.bincount(batch.batch, minlength=batch.num_graphs).to(out["energy"])
        e_err.append(((out["energy"] - batch.energy) / natoms).abs())
        diff = out["forces"] - batch.forces
        f_abs += float(diff.abs().sum())
        f_sq += float((diff**2).sum())
        n_f += diff.numel()
        n_atoms += int(natoms.sum())
    model.train()
    return {"energy_mae_per_atom": float(torch.cat(e_err).mean()), "force_mae": f_abs / n_f,
            "force_rmse": math.sqrt(f_sq / n_f)}


def _split(n: int, test_fraction: float, seed: int):
    if not 0 <= test_fraction < 1:
        raise ValueError(f"train.test_fraction={test_fraction!r} must be in [0, 1)")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    n_test = int(round(test_fraction * n))
    if n - n_test < 1:
        raise ValueError(f"only {n} structures: nothing left to train on with test_fraction={test_fraction}")
    return sorted(perm[n_test:]), sorted(perm[:n_test])


@contextlib.contextmanager
def _seeded(seed: int):
    """Build models inside a fork of torch's global RNG seeded with ``seed`` (initialisation from the seed alone).

    ``train`` and ``compare`` both build their models this way, so the same model, data, config
    and seed give the same initial weights, the same training run and the same test errors.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _read_atoms(path, cfg):
    from equigen.io import read_structures

    return read_structures(path, dtype=_dtype(cfg["train"]["dtype"]), **cfg["data"])


def _build_potential(backbone, structures, model_cfg, dtype):
    from equigen.nn import Potential

    _check_model_keys(Potential, model_cfg, ("species", "backbone", "dtype", "device"))
    species = sorted({int(z) for d in structures for z in d.z.tolist()})
    sizes = {int(d.z.numel()) for d in structures}
    cfg = dict(model_cfg)
    if backbone in ("flat-mlp", "distance-mlp") and "num_atoms" not in cfg:
        if backbone == "flat-mlp" and len(sizes) != 1:
            raise ValueError(f"--model flat-mlp needs structures of one size, got sizes {sorted(sizes)}")
        cfg["num_atoms"] = max(sizes)
    return Potential(species, backbone=backbone, dtype=dtype, **cfg)


def _matched(backbone, structures, model_cfg, dtype, target, seed):
    """A twin whose hidden width gives the parameter count closest to ``target``."""
    from equigen.nn import count_parameters, width_for_params

    def make(w):
        return _build_potential(backbone, structures, {**model_cfg, "hidden": w}, dtype)

    hidden = width_for_params(make, target, lo=2, hi=1024)
    with _seeded(seed):
        model = make(hidden)
    return model, count_parameters(model)


def _fit_potential(model, train_set, cfg, out_dir, *, augment, progress, eval_set=None):
    from torch_geometric.data import Batch

    from equigen.train import Trainer

    model.fit_normalization(Batch.from_data_list(train_set))
    loss = functools.partial(potential_loss, energy_weight=cfg["energy_weight"], force_weight=cfg["force_weight"],
                             augment=augment)
    batch_size = min(int(cfg["batch_size"]), len(train_set))
    eval_fn = (lambda m: evaluate_potential(m, eval_set)) if eval_set else None
    trainer = Trainer(model, loss, lr=cfg["lr"], weight_decay=cfg["weight_decay"], schedule=cfg["schedule"],
                      warmup_steps=cfg["warmup_steps"], clip_grad_norm=cfg["clip_grad_norm"], out_dir=out_dir,
                      checkpoint_every=cfg["checkpoint_every"], log_every=cfg["log_every"], eval_fn=eval_fn,
                      seed=cfg["seed"], progress=progress, distributed=False)
    t0 = time.perf_counter()
    summary = trainer.fit(train_set, steps=int(cfg["steps"]), batch_size=batch_size,
                          collate_fn=Batch.from_data_list, time_limit_s=cfg["time_limit_s"])
    summary["train_s"] = time.perf_counter() - t0
    return trainer, summary


# ---------------------------------------------------------------------------------------- fields


def _field_loss(model, batch):
    x, y = batch
    return torch.nn.functional.mse_loss(model(x), y)


def _build_field_model(name, x, y, model_cfg, dtype):
    from equigen.nn import FNO
    from equigen.nn.baselines import FieldMLP

    if name == "fno":
        _check_model_keys(FNO, model_cfg, ("in_channels", "out_channels", "dtype", "device", "generator"))
        return FNO.from_config({"ndim": x.dim() - 2, **model_cfg}, in_channels=x.shape[1], out_channels=y.shape[1],
                               dtype=dtype)
    _check_model_keys(FieldMLP, model_cfg, ("in_channels", "out_channels", "spatial", "dtype", "device"))
    return FieldMLP(x.shape[1], y.shape[1], tuple(x.shape[2:]), dtype=dtype, **model_cfg)


def _note_time_limit(tcfg, rows, notes):
    if tcfg["time_limit_s"] is not None:
        steps = {r["model"]: r["steps"] for r in rows}
        notes.append(f"budget: at most {tcfg['steps']} steps or {tcfg['time_limit_s']} s of training per model; "
                     f"steps reached: {steps} (a wall-clock budget depends on the machine and its load)")


def _check_matched(name, params, reference, notes, tolerance=0.1):
    """Note (and warn) when no width of ``name`` comes within ``tolerance`` of the reference's parameter count."""
    if abs(params - reference) > tolerance * reference:
        notes.append(f"{name} has {params} parameters, {100 * (params / reference - 1):+.0f}% from the reference's "
                     f"{reference}: no width of it comes closer")
        warnings.warn(f"equigen compare: {notes[-1]}", stacklevel=6)  # the caller of compare()


def _matched_field(name, x, y, dtype, target, seed):
    """A field twin whose hidden width gives the parameter count closest to ``target``."""
    from equigen.nn import count_parameters, width_for_params

    hidden = width_for_params(lambda w: _build_field_model(name, x, y, {"hidden": w}, dtype), target, lo=1, hi=4096)
    with _seeded(seed):
        model = _build_field_model(name, x, y, {"hidden": hidden}, dtype)
    return model, count_parameters(model)


def _fit_field(model, x, y, cfg, out_dir, progress):
    from equigen.train import Trainer

    trainer = Trainer(model, _field_loss, lr=cfg["lr"], weight_decay=cfg["weight_decay"], schedule=cfg["schedule"],
                      warmup_steps=cfg["warmup_steps"], clip_grad_norm=cfg["clip_grad_norm"], out_dir=out_dir,
                      checkpoint_every=cfg["checkpoint_every"], log_every=cfg["log_every"], seed=cfg["seed"],
                      progress=progress, distributed=False)
    t0 = time.perf_counter()
    summary = trainer.fit((x, y), steps=int(cfg["steps"]), batch_size=min(int(cfg["batch_size"]), x.shape[0]),
                          time_limit_s=cfg["time_limit_s"])
    summary["train_s"] = time.perf_counter() - t0
    return summary


def evaluate_field(model, x, y, *, shifts_seed: int = 0) -> dict:
    """Test errors of a field model: relative L2 and MSE, and how far it is from commuting with grid shifts.

    ``shift_error`` is ``|f(S x) - S f(x)| / |f(x)|`` for one random integer shift ``S`` of the
    grid per sample (periodic roll): about 1e-7 (float32) for an FNO, whatever the data; a twin
    shows how much of that symmetry it learned.
    """
    g = torch.Generator().manual_seed(shifts_seed)
    model.eval()
    with torch.no_grad():
        pred = model(x)
        shifted_in, shifted_out = [], []
        for k in range(x.shape[0]):
            s = tuple(int(torch.randint(0, n, (1,), generator=g)) for n in x.shape[2:])
            dims = tuple(range(1, x.dim() - 1))
            shifted_in.append(torch.roll(x[k], s, dims))
            shifted_out.append(torch.roll(pred[k], s, dims))
        shift_pred = model(torch.stack(shifted_in))
    model.train()
    return {"relative_l2": float((pred - y).norm() / y.norm()), "mse": float(((pred - y) ** 2).mean()),
            "shift_error": float((shift_pred - torch.stack(shifted_out)).norm() / pred.norm())}


def _read_field_split(path, cfg):
    from equigen.io import read_fields

    x, y = read_fields(path, dtype=_dtype(cfg["dtype"]))
    train_idx, test_idx = _split(x.shape[0], cfg["test_fraction"], cfg["seed"])
    return x, y, train_idx, test_idx


def _train_field(path, model_name, config, out_dir, progress):
    cfg = config["train"]
    x, y, train_idx, test_idx = _read_field_split(path, cfg)
    with _seeded(cfg["seed"]):
        model = _build_field_model(model_name, x, y, config["model"], x.dtype)
    summary = _fit_field(model, x[train_idx], y[train_idx], cfg, out_dir, progress)
    if test_idx:
        summary["test"] = {**evaluate_field(model, x[test_idx], y[test_idx]), "num_test": len(test_idx)}
    return model, summary


@dataclass
class _CompareJob:
    """What ``compare`` hands its stages: the data file, the models, the loaded config, the progress switch."""

    data: object
    models: tuple
    cfg: dict
    progress: bool
    default_models: bool  # the models were not named: flat-mlp may be left out on a file of mixed sizes
    device: str = "cpu"

    @property
    def fields(self) -> bool:
        return is_field_file(self.data)


class _Compare(Experiment):
    """``equigen compare`` as stages on the experiment harness: read and split the file, train the reference and
    its twins on one budget, record the claim, metrics, tables and notes."""

    name = "compare"
    stages = ("read", "fit", "record")

    def read(self, run):
        """Read the file and split it as ``train`` does; on atoms of mixed sizes leave the default flat-mlp out."""
        job, s = run.config, run.state
        tcfg = job.cfg["train"]
        s.models, s.notes = job.models, []
        if job.fields:
            s.x, s.y, s.train_idx, s.test_idx = _read_field_split(job.data, tcfg)
            if not s.test_idx:
                raise ValueError("compare needs a test set: train.test_fraction must leave at least one sample")
            return
        s.dtype = _dtype(tcfg["dtype"])
        s.structures = _read_atoms(job.data, job.cfg)
        s.train_idx, s.test_idx = _split(len(s.structures), tcfg["test_fraction"], tcfg["seed"])
        if not s.test_idx:
            raise ValueError("compare needs a test set: train.test_fraction must leave at least one structure")
        s.train_set, s.test_set = [s.structures[i] for i in s.train_idx], [s.structures[i] for i in s.test_idx]
        sizes = sorted({int(d.z.numel()) for d in s.structures})
        if job.default_models and len(sizes) > 1 and "flat-mlp" in s.models:
            s.models = tuple(m for m in s.models if m != "flat-mlp")
            s.notes.append(f"flat-mlp left out: it needs structures of one size and the file has sizes {sizes}")
            warnings.warn(f"equigen compare: {s.notes[-1]}; comparing {', '.join(s.models)}",
                          stacklevel=4)  # the caller of compare()

    def fit(self, run):
        """Train the reference and each twin (width matched to the reference's parameter count), one budget."""
        s = run.state
        s.rows, s.reference = [], None
        for name in s.models:
            model, params = self._model(run, name)
            s.rows.append((self._fit_fields if run.config.fields else self._fit_atoms)(run, name, model, params))

    @staticmethod
    def _model(run, name):
        """``(model, parameters)``: the reference from the config's ``model`` section, or a matched twin."""
        from equigen.nn import count_parameters

        job, s = run.config, run.state
        seed = job.cfg["train"]["seed"]
        if s.reference is None:
            with _seeded(seed):
                model = (_build_field_model(name, s.x, s.y, job.cfg["model"], s.x.dtype) if job.fields
                         else _build_potential(name, s.structures, job.cfg["model"], s.dtype))
            s.reference = count_parameters(model)
            return model, s.reference
        if job.fields:
            model, params = _matched_field(name, s.x, s.y, s.x.dtype, s.reference, seed)
        else:
            model, params = _matched(name, s.structures, job.cfg["model"], s.dtype, s.reference, seed)
        _check_matched(name, params, s.reference, s.notes)
        return model, params

    @staticmethod
    def _fit_atoms(run, name, model, params):
        """Train one potential in ``out_dir/name``; its row: parameters, steps, time and test errors."""
        job, s = run.config, run.state
        tcfg = job.cfg["train"]
        augment = tcfg["augment"] if tcfg["augment"] is not None else name in AUGMENTED
        _, summary = _fit_potential(model, s.train_set, tcfg, run.out_dir / name, augment=augment,
                                    progress=job.progress)
        metrics = evaluate_potential(model, s.test_set)
        return {"model": name, "equivariant": model.equivariant, "augmented": bool(augment),
                "parameters": params, "steps": summary["step"], "stopped_by": summary["stopped_by"],
                "train_s": summary["train_s"], **metrics}

    @staticmethod
    def _fit_fields(run, name, model, params):
        """Train one field model in ``out_dir/name``; its row: parameters, steps, time and test errors."""
        job, s = run.config, run.state
        summary = _fit_field(model, s.x[s.train_idx], s.y[s.train_idx], job.cfg["train"], run.out_dir / name,
                             job.progress)
        return {"model": name, "shift_equivariant": name == "fno", "parameters": params,
                "steps": summary["step"], "stopped_by": summary["stopped_by"], "train_s": summary["train_s"],
                **evaluate_field(model, s.x[s.test_idx], s.y[s.test_idx])}

    def record(self, run):
        """The claim (the reference against each twin), the metrics and tables, and the notes on the budget."""
        job, s, result = run.config, run.state, run.result
        tcfg = job.cfg["train"]
        _note_time_limit(tcfg, s.rows, s.notes)
        result.config = {"data": str(job.data), "models": list(s.models), **job.cfg}
        key, label, unit = (("relative_l2", "test relative L2", "|pred - y| / |y|") if job.fields
                            else ("force_mae", "force MAE", "data units, per component"))
        claims = _record_comparison(result, s.rows, key, label, unit)
        result.metrics = {f"{r['model']}_{key}": r[key] for r in s.rows}
        result.metrics.update({"num_train": len(s.train_idx), "num_test": len(s.test_idx)})
        result.tables = {"claims": claims, "models (test set)": s.rows}
        budget = (f"equal budget: {tcfg['steps']} steps of batch {min(int(tcfg['batch_size']), len(s.train_idx))}, "
                  f"lr {tcfg['lr']} ({tcfg['schedule']}), seed {tcfg['seed']}; twins' widths matched to "
                  f"{s.reference} parameters; ")
        if job.fields:
            note = (f"fields {tuple(s.x.shape[1:])} -> {tuple(s.y.shape[1:])}; {budget}relative L2 = |pred - y| / "
                    "|y| over the test set; shift_error = |f(Sx) - S f(x)| / |f(x)| for random periodic grid shifts S.")
        else:
            note = budget + "units as in the data file (force MAE per component)."
        result.notes = s.notes + [note]


# ---------------------------------------------------------------------------------------- commands


def _check_model_name(name, option="--model"):
    if name not in ATOM_MODELS + FIELD_MODELS:
        raise ValueError(f"{option} {name!r} is not known; atoms: {', '.join(ATOM_MODELS)}; fields (.npz): "
                         f"{', '.join(FIELD_MODELS)}")


def train(data, model: str, *, config=None, out_dir, progress: bool = True) -> dict:
    """Train ``model`` on the file ``data``; writes ``out_dir/model.pt`` and ``out_dir/summary.json``."""
    from equigen.train import save_model

    _check_model_name(model)
    cfg = load_config(config)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    threads = cfg["train"]["threads"]
    if threads:
        torch.set_num_threads(int(threads))
    if is_field_file(data):
        if model not in FIELD_MODELS:
            raise ValueError(f"{str(data)!r} holds fields (.npz): use --model {' or '.join(FIELD_MODELS)}, "
                             f"not {model!r}")
        trained, summary = _train_field(data, model, cfg, out_dir, progress)
    else:
        if model in FIELD_MODELS:
            raise ValueError(f"--model {model} trains on fields from an .npz file (x, y arrays); {str(data)!r} is "
                             f"not one; atoms models: {', '.join(ATOM_MODELS)}")

        structures = _read_atoms(data, cfg)
        train_idx, test_idx = _split(len(structures), cfg["train"]["test_fraction"], cfg["train"]["seed"])
        train_set = [structures[i] for i in train_idx]
        test_set = [structures[i] for i in test_idx]
        with _seeded(cfg["train"]["seed"]):
            trained = _build_potential(model, structures, cfg["model"], _dtype(cfg["train"]["dtype"]))
        augment = cfg["train"]["augment"] if cfg["train"]["augment"] is not None else model in AUGMENTED
        _, summary = _fit_potential(trained, train_set, cfg["train"], out_dir, augment=augment, progress=progress)
        if test_set:
            summary["test"] = {**evaluate_potential(trained, test_set), "num_test": len(test_set)}
    from equigen.nn import count_parameters

    summary.update({"model": model, "data": str(data), "parameters": count_parameters(trained),
                    "config": cfg})
    save_model(trained, out_dir / "model.pt")
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=float))
    return summary


def compare(data, *, models=None, config=None, out_dir, progress: bool = False) -> Result:
    """Train the physics-built-in model and its twins on ``data`` with one budget; returns a :class:`Result`.

    Atoms (an ASE-readable file): ``models`` are backbones of :class:`~equigen.nn.Potential`
    (default ``("egnn", *TWINS)``), compared by test force MAE. Fields (``.npz``): ``models`` from
    :data:`FIELD_MODELS` (default ``("fno", *FIELD_TWINS)``), compared by test relative L2. The
    first model is the reference and is built from the config's ``model`` section; the twins get
    their default architecture with the hidden width that matches the reference's parameter count.
    Each model trains in ``out_dir/<name>/`` (checkpoints there make a rerun resume), from the
    same seed, split and budget as ``train`` uses, so the reference row equals a ``train`` run.
    """
    fields = is_field_file(data)
    kind, allowed = ("fields (.npz)", FIELD_MODELS) if fields else ("atoms", ATOM_MODELS)
    default_models = not models
    models = tuple(models) if models else (("fno", *FIELD_TWINS) if fields else ("egnn", *TWINS))
    for m in models:
        _check_model_name(m, "--models")
        if m not in allowed:
            raise ValueError(f"--models: {m!r} does not train on {kind} ({str(data)!r}); choose from "
                             f"{', '.join(allowed)}")
    if len(models) < 2:
        raise ValueError(f"--models {list(models)}: give the reference model and at least one twin")
    cfg = load_config(config)
    tcfg = cfg["train"]
    if tcfg["threads"]:
        torch.set_num_threads(int(tcfg["threads"]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    seed = int(tcfg["seed"])
    result = Result("compare", {}, seed, versions=versions())
    _Compare().execute(_CompareJob(data, models, cfg, progress, default_models), seed=seed, out_dir=out_dir,
                       result=result)
    result.timings = {"total_s": time.perf_counter() - start, "budget_s": None}
    return result


def _record_comparison(result: Result, rows: list, key: str, label: str, unit: str) -> list:
    """The reference model (``rows[0]``) against each twin on ``key`` (lower is better).

    Records one claim on ``result`` (reproduced when the reference beats every twin), as ``equigen bench``
    does, and returns the per-twin table ``[{"claim", "measured", "verdict"}]`` ("supported" / "not supported").
    """
    ref, twins = rows[0], rows[1:]
    statement = f"{ref['model']} reaches a lower test {label} than every twin on this data set at the same budget."
    result.add_claim(statement,
                     f"test {label} ({unit})", ref[key], {r["model"]: r[key] for r in twins},
                     "reproduced" if all(ref[key] < r[key] for r in twins) else "not reproduced",
                     builtin_name=ref["model"])
    return [{"claim": f"{ref['model']} {label} < {r['model']} {label}", "measured": f"{ref[key]:.4g} vs {r[key]:.4g}",
             "verdict": "supported" if ref[key] < r[key] else "not supported"} for r in twins]
