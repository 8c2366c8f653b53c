"""Bring your own data: atomic structures through ASE, fields from ``.npz``, and an ASE calculator.

* :func:`read_structures`: extxyz or any trajectory ASE can read -> a list of PyG ``Data`` with
  ``z`` (atomic numbers), ``pos``, ``energy (1,)``, ``forces (N, 3)``, ``cell (1, 3, 3)`` and
  ``pbc (1, 3)`` (units as in the file, e.g. eV and Angstrom).
  ``torch_geometric.data.Batch.from_data_list`` batches them for :class:`~equigen.nn.Potential`.
* :func:`read_fields`: ``x``, ``y`` arrays ``(B, C, *spatial)`` from an ``.npz`` file (for :class:`~equigen.nn.FNO`).
* :class:`EquigenCalculator`: an ASE ``Calculator`` around a trained :class:`~equigen.nn.Potential`
  (energy, forces, and stress from the strain derivative for periodic cells), so ASE's molecular
  dynamics, optimisers and phonon tools run on it.

ASE is an optional dependency: ``pip install "equigen[atoms]"``. It is imported when first needed.

Example::

    structures = read_structures("train.extxyz")
    atoms.calc = EquigenCalculator(load_model("run/model.pt"))
    atoms.get_potential_energy(), atoms.get_forces()
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from equigen.core.dtypes import learning_dtype, physics_dtype
from equigen.core.validation import check_finite, check_float_dtype

__all__ = ["read_structures", "read_fields", "atoms_to_data", "EquigenCalculator"]  # noqa: F822 (built lazily)


def _ase():
    try:
        import ase
        import ase.io
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("equigen.io needs ASE to read structures and run calculators: "
                          "pip install \"equigen[atoms]\" (or pip install ase)") from exc
    return ase


def atoms_to_data(atoms, *, dtype=None, energy=None, forces=None):
    """One ``ase.Atoms`` -> PyG ``Data`` (``z``, ``pos``, ``cell``, ``pbc``, and ``energy``/``forces`` if given).

    ``dtype`` (of positions, cell, energy, forces) defaults to float64.
    """
    from torch_geometric.data import Data

    dtype = check_float_dtype(physics_dtype(dtype), "dtype")
    data = Data(z=torch.as_tensor(atoms.numbers, dtype=torch.long),
                pos=torch.as_tensor(np.asarray(atoms.positions), dtype=dtype),
                cell=torch.as_tensor(np.asarray(atoms.cell[:]), dtype=dtype).reshape(1, 3, 3),
                pbc=torch.as_tensor(np.asarray(atoms.pbc), dtype=torch.bool).reshape(1, 3))
    if energy is not None:
        data.energy = torch.tensor([float(energy)], dtype=dtype)
    if forces is not None:
        data.forces = torch.as_tensor(np.asarray(forces), dtype=dtype).reshape(-1, 3)
    for name in ("pos", "cell", "energy", "forces"):
        if name in data:
            check_finite(data[name], name, fix="drop or repair this structure before training")
    return data


def read_structures(path, *, index=":", format: str | None = None, dtype=None,
                    energy_key: str | None = None, forces_key: str | None = None,
                    require_forces: bool = True) -> list:
    """Read every structure of ``path`` (extxyz, ASE trajectory, VASP OUTCAR, ...) into PyG ``Data``.

    Energies and forces come from the calculator results stored in the file (ASE's extxyz reader
    puts ``energy=`` and the ``forces`` column there), or from ``atoms.info[energy_key]`` /
    ``atoms.arrays[forces_key]`` when those names are given. ``index``, ``format``: as
    ``ase.io.read``. A structure without an energy, or without forces when ``require_forces``,
    raises ``ValueError`` naming it. ``dtype`` defaults to float64.
    """
    _ase()
    import ase.io

    dtype = check_float_dtype(physics_dtype(dtype), "dtype")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    try:
        frames = ase.io.read(str(path), index=index, format=format)
    except Exception as exc:  # ASE raises many types for unreadable input
        raise ValueError(f"ASE could not read {str(path)!r} (format={format or 'guessed from the name'}): {exc}; "
                         "give an extxyz/ASE-readable file, or name the format (ase.io formats)") from exc
    frames = frames if isinstance(frames, list) else [frames]
    if not frames:
        raise ValueError(f"{str(path)!r} holds no structures")
    out = []
    for k, atoms in enumerate(frames):
        energy = _property(atoms, "energy", energy_key, k, path)
        forces = _property(atoms, "forces", forces_key, k, path, required=require_forces)
        if energy is None:
            raise ValueError(f"structure {k} of {str(path)!r} has no energy; store it (extxyz: energy=... in the "
                             f"comment line) or name its key with energy_key= (in a config file: data: energy_key:; "
                             f"per-structure keys there: {sorted(atoms.info)})")
        try:
            data = atoms_to_data(atoms, dtype=dtype, energy=energy, forces=forces)
        except ValueError as exc:
            raise ValueError(f"structure {k} of {str(path)!r}: {exc}") from None
        if forces is not None and tuple(data.forces.shape) != tuple(data.pos.shape):
            raise ValueError(f"structure {k} of {str(path)!r}: forces have shape {tuple(np.shape(forces))} for "
                             f"{len(atoms)} atoms; expected ({len(atoms)}, 3)")
        out.append(data)
    return out


def _property(atoms, name, key, k, path, required=True):
    if key is not None:
        store = atoms.info if name == "energy" else atoms.arrays
        if key not in store:
            raise ValueError(f"structure {k} of {str(path)!r} has no {name} under {key!r}; keys there: "
                             f"{sorted(store)}")
        return store[key]
    calc = getattr(atoms, "calc", None)
    results = getattr(calc, "results", {}) if calc is not None else {}
    if name in results:
        return results[name]
    if name == "energy":
        for alt in ("energy", "free_energy", "Energy", "E"):
            if alt in atoms.info:
                return atoms.info[alt]
            if alt in results:
                return results[alt]
        return None
    if name in atoms.arrays:
        return atoms.arrays[name]
    if required:
        raise ValueError(f"structure {k} of {str(path)!r} has no forces; a force field trains on forces (extxyz: a "
                         f"'forces' column), or name their key with forces_key= (in a config file: data: forces_key:; "
                         f"per-atom arrays there: {sorted(atoms.arrays)}); read_structures(require_forces=False) "
                         "reads energies only")
    return None


def read_fields(path, *, dtype=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` from an ``.npz`` file with arrays ``x`` and ``y`` of shape ``(B, C, *spatial)`` (finite).

    Training data for a network: ``dtype`` defaults to ``torch.get_default_dtype()`` (float32 unless changed).
    """
    dtype = check_float_dtype(learning_dtype(dtype), "dtype")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file {str(path)!r} does not exist")
    try:
        arrays = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise ValueError(f"{str(path)!r} is not a readable .npz file: {exc}") from exc
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise ValueError(f"{str(path)!r} has arrays {sorted(arrays.files)} but needs 'x' (inputs) and 'y' (targets), "
                         "each (B, C, *spatial): np.savez(path, x=x, y=y)")
    try:
        x, y = torch.as_tensor(arrays["x"], dtype=dtype), torch.as_tensor(arrays["y"], dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r}: x and y must be numeric arrays: {exc}") from exc
    for name, value in (("x", x), ("y", y)):
        check_finite(value, f"{name} in {str(path)!r}", fix="drop or repair those samples")
    if x.dim() < 3 or y.dim() != x.dim() or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must both be (B, C, *spatial) with the same B "
                         "and grid")
    return x, y


def _make_calculator_class():
    _ase()
    from ase.calculators.calculator import Calculator, all_changes
    from ase.stress import full_3x3_to_voigt_6_stress

    class EquigenCalculator(Calculator):
        """ASE calculator around a :class:`~equigen.nn.Potential`: energy, free_energy, forces, stress.

        ``EquigenCalculator(model, device=None)``: ``model`` is a trained Potential or the path of
        one saved by :func:`~equigen.train.save_model` (``equigen train`` writes ``run/model.pt``);
        the model's own dtype is used for positions.
        Stress (``dE/d strain / V``, ASE's sign and Voigt order) is available when all three cell
        directions are periodic. Units: those the model was trained in (eV, Angstrom for ASE tools).
        """

        implemented_properties = ["energy", "free_energy", "forces", "stress"]

        def __init__(self, model, *, device=None, **kwargs):
            super().__init__(**kwargs)
            if isinstance(model, (str, Path)):
                from equigen.train import load_model

                model = load_model(model)
            if not hasattr(model, "fit_normalization"):
                raise TypeError(f"EquigenCalculator wraps an equigen.nn.Potential (or the path of a saved one, e.g. "
                                f"run/model.pt from equigen train), got {type(model).__name__}")
            self.model = model.eval()
            if device is not None:
                self.model.to(device)
            self._dtype = model.e0.dtype
            self._device = model.e0.device

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            data = atoms_to_data(self.atoms, dtype=self._dtype).to(self._device)
            want_stress = "stress" in properties and bool(np.all(self.atoms.pbc))
            with torch.no_grad():
                out = self.model(data, forces=True, stress=want_stress)
            energy = float(out["energy"].sum())
            self.results = {"energy": energy, "free_energy": energy,
                            "forces": out["forces"].detach().cpu().double().numpy()}
            if want_stress:
                self.results["stress"] = full_3x3_to_voigt_6_stress(out["stress"][0].detach().cpu().double().numpy())

    return EquigenCalculator


_CALCULATOR = None


def __getattr__(name):
    global _CALCULATOR
    if name == "EquigenCalculator":
        if _CALCULATOR is None:
            _CALCULATOR = _make_calculator_class()
            _CALCULATOR.__module__ = __name__
        return _CALCULATOR
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
