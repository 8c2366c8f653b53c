"""Save a trained model with the arguments that build it; load it back with one call, without pickle.

The file is a ``torch.save`` archive of plain data only: the class name, its constructor
arguments as a JSON string, the equigen version, and the ``state_dict``. Loading reads it with
``torch.load(weights_only=True)``, so a crafted file cannot run code; the class is looked up by
name only among equigen's own modules or classes you pass in ``classes=`` (never imported from a
name found in the file outside those).

The constructor arguments come from (first that applies) ``save_model(..., config=...)``, the
model's ``get_config()`` method, or the arguments recorded by the :func:`configurable` class
decorator. They must be JSON values; ``torch.dtype``, ``torch.device`` and small tensors are also accepted, and
so are sub-modules that record their own arguments (stored as their class name plus config, e.g.
the backbone of an :class:`~equigen.nn.EnergyModel`) and classes from ``torch.nn`` or equigen
(e.g. ``act=torch.nn.SiLU``), stored by name and resolved on load only inside those packages.
A ``torch.Generator`` (initialisation only: the saved weights replace what it drew) is stored as None.

Example::

    @configurable
    class Net(torch.nn.Module):
        def __init__(self, width=16, dtype=None):
            super().__init__()
            self.lin = torch.nn.Linear(3, width, dtype=dtype)

    save_model(Net(width=8, dtype=torch.float64), "net.pt")
    net = load_model("net.pt", classes=[Net])     # Net(width=8, dtype=torch.float64) with the trained weights
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from pathlib import Path

import torch

from equigen._configurable import configurable
from equigen.train.checkpoint import CheckpointError, atomic_save, load_checkpoint, load_state_dict_checked

__all__ = ["save_model", "load_model", "configurable", "model_config"]

MODEL_FORMAT = "equigen-model"
MODEL_FORMAT_VERSION = 1


def model_config(model: torch.nn.Module) -> dict:
    """The constructor arguments of ``model`` (``get_config()`` or those recorded by :func:`configurable`)."""
    if callable(getattr(model, "get_config", None)):
        return dict(model.get_config())
    if hasattr(model, "_equigen_config"):
        return dict(model._equigen_config)
    raise ValueError(f"{type(model).__name__} does not record its constructor arguments: decorate the class "
                     "with @equigen.train.configurable, give it a get_config() method, or pass "
                     "save_model(..., config={...})")


def _encode(value, where: str):
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, torch.dtype):
        return {"__torch_dtype__": str(value).removeprefix("torch.")}
    if isinstance(value, torch.device):
        return {"__torch_device__": str(value)}
    if isinstance(value, torch.Generator):
        return None
    if isinstance(value, torch.Tensor):
        if value.numel() > 4096:
            raise ValueError(f"config entry {where} is a tensor of {value.numel()} entries; store large tensors as "
                             "buffers (they travel with the state_dict), not as constructor arguments")
        return {"__tensor__": value.detach().cpu().tolist(), "dtype": str(value.dtype).removeprefix("torch.")}
    if isinstance(value, type):
        name = f"{value.__module__}:{value.__qualname__}"
        if not _trusted_module(value.__module__):
            raise ValueError(f"config entry {where} = {value!r}: only classes from torch.nn or equigen can be stored "
                             "by name")
        return {"__class__": name}
    if isinstance(value, torch.nn.Module):
        try:
            inner = model_config(value)
        except ValueError as exc:
            raise ValueError(f"config entry {where} is a {type(value).__name__} module that does not record its "
                             "constructor arguments: decorate its class with @equigen.train.configurable") from exc
        cls = type(value)
        return {"__module__": f"{cls.__module__}:{cls.__qualname__}",
                "config": {k: _encode(v, f"{where}.{k}") for k, v in inner.items()}}
    if type(value).__name__ == "Irreps" and type(value).__module__.startswith("e3nn"):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"config entry {where} has non-string keys; JSON needs string keys")
        return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"config entry {where} = {value!r} ({type(value).__name__}) cannot be stored as JSON: use "
                     "numbers, strings, lists, dicts, torch.dtype or torch.device (e.g. pass a group's name, not "
                     "the object)")


def _trusted_module(module: str) -> bool:
    return module.split(".")[0] == "equigen" or module == "torch.nn" or module.startswith("torch.nn.")


def _decode(value, classes: Iterable[type] = ()):
    if isinstance(value, list):
        return [_decode(v, classes) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__tensor__", "dtype"}:
            return torch.tensor(value["__tensor__"], dtype=_decode({"__torch_dtype__": value["dtype"]}))
        if set(value) == {"__class__"}:
            return _resolve_class(value["__class__"], classes, "model config", modules_only=False)
        if set(value) == {"__module__", "config"}:
            cls = _resolve_class(value["__module__"], classes, "model config")
            return cls(**{k: _decode(v, classes) for k, v in value["config"].items()})
        if set(value) == {"__torch_dtype__"}:
            dtype = getattr(torch, value["__torch_dtype__"], None)
            if not isinstance(dtype, torch.dtype):
                raise CheckpointError(f"unknown torch dtype {value['__torch_dtype__']!r} in model config")
            return dtype
        if set(value) == {"__torch_device__"}:
            return torch.device(value["__torch_device__"])
        return {k: _decode(v, classes) for k, v in value.items()}
    return value


def save_model(model: torch.nn.Module, path, *, config: dict | None = None) -> Path:
    """Write ``model``'s class, constructor arguments, equigen version and weights to ``path`` (atomically).

    The floating dtype of the weights is recorded too, so a model cast with ``.to(dtype)`` after
    construction loads back in that dtype.
    """
    from equigen import __version__

    if config is None:
        config = model_config(model)
    encoded = {k: _encode(v, k) for k, v in config.items()}
    cls = type(model)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save model to {str(path)!r}: directory {str(path.parent)!r} does not exist")
    floats = {v.dtype for v in model.state_dict().values() if v.is_floating_point()}
    payload = {"float_dtype": str(floats.pop()).removeprefix("torch.") if len(floats) == 1 else None,
               "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "equigen_version": __version__,
               "torch_version": str(torch.__version__), "class": f"{cls.__module__}:{cls.__qualname__}",
               "config_json": json.dumps(encoded, sort_keys=True),
               "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    return atomic_save(payload, path)


def load_model(path, *, classes: Iterable[type] = (), map_location="cpu", **overrides) -> torch.nn.Module:
    """Rebuild the model saved by :func:`save_model`: ``cls(**config, **overrides)`` + its weights.

    The class is found among ``classes`` (by module and qualified name) or, if its module is part of
    equigen, imported from there; any other class name raises ``ValueError`` asking for ``classes=``.
    ``overrides`` replace saved constructor arguments (e.g. ``device="cuda"``).
    """
    payload = load_checkpoint(path, map_location=map_location)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not an equigen model file (written by save_model); a training "
                              "checkpoint holds the weights under its 'model' entry")
    name = payload["class"]
    classes = tuple(classes)
    cls = _resolve_class(name, classes, path)
    config = {k: _decode(v, classes) for k, v in json.loads(payload["config_json"]).items()}
    config.update(overrides)
    try:
        model = cls(**config)
    except TypeError as exc:
        raise CheckpointError(f"{str(path)!r}: could not build {name} from its saved config {config}: {exc}") from exc
    saved = payload.get("float_dtype")
    if saved and "dtype" not in overrides:  # a model moved with .to(dtype) after construction keeps that dtype
        dtype = _decode({"__torch_dtype__": saved})
        if any(v.is_floating_point() and v.dtype != dtype for v in model.state_dict().values()):
            model = model.to(dtype)
    load_state_dict_checked(model, payload["state_dict"], source=f"model file {str(path)!r}")
    return model


def _resolve_class(name: str, classes: Iterable[type], path, *, modules_only: bool = True) -> type:
    for cls in classes:
        if f"{cls.__module__}:{cls.__qualname__}" == name:
            return cls
    module_name, _, qualname = name.partition(":")
    if _trusted_module(module_name) and (modules_only is False or module_name.split(".")[0] == "equigen"):
        try:
            obj = importlib.import_module(module_name)
        except ImportError:
            obj = None
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and (issubclass(obj, torch.nn.Module) or not modules_only):
            return obj
        raise CheckpointError(f"{str(path)!r} names class {name!r}, which this equigen version does not have")
    raise ValueError(f"{str(path)!r} holds a {name!r} model, which is not part of equigen; pass the class "
                     f"explicitly: load_model(path, classes=[{qualname.split('.')[-1]}])")
