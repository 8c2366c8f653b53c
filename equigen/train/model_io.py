"""Save a trained model with the arguments that build it; load it back with one call, without pickle.

The file is a ``torch.save`` archive of plain data only: the class name, its constructor
arguments as a JSON string, the equigen version, and the ``state_dict``. Loading reads it with
``torch.load(weights_only=True)``, so a crafted file cannot run code; the class is looked up by
name only among equigen's own modules or classes you pass in ``classes=`` (never imported from a
name found in the file outside those).

The constructor arguments come from (first that applies) ``save_model(..., config=...)``, the
model's ``get_config()`` method, or the arguments recorded by the :func:`configurable` class
decorator. They must be JSON values; ``torch.dtype`` and ``torch.device`` are also accepted.

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

import functools
import importlib
import inspect
import json
from collections.abc import Iterable
from pathlib import Path

import torch

from equigen.train.checkpoint import CheckpointError, atomic_save, load_checkpoint, load_state_dict_checked

__all__ = ["save_model", "load_model", "configurable", "model_config"]

MODEL_FORMAT = "equigen-model"
MODEL_FORMAT_VERSION = 1


def configurable(cls):
    """Class decorator: record the constructor arguments in ``instance._equigen_config`` (for :func:`save_model`)."""
    init = cls.__init__
    signature = inspect.signature(init)

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        config = {}
        for name, value in list(bound.arguments.items())[1:]:
            kind = signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise TypeError(f"@configurable {cls.__name__}: *{name} arguments cannot be recorded by name")
            else:
                config[name] = value
        init(self, *args, **kwargs)
        if type(self) is cls or not hasattr(self, "_equigen_config"):
            self._equigen_config = config

    cls.__init__ = __init__
    return cls


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
    if isinstance(value, (list, tuple)):
        return [_encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise ValueError(f"config entry {where} has non-string keys; JSON needs string keys")
        return {k: _encode(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"config entry {where} = {value!r} ({type(value).__name__}) cannot be stored as JSON: use "
                     "numbers, strings, lists, dicts, torch.dtype or torch.device (e.g. pass a group's name, not "
                     "the object)")


def _decode(value):
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__torch_dtype__"}:
            dtype = getattr(torch, value["__torch_dtype__"], None)
            if not isinstance(dtype, torch.dtype):
                raise CheckpointError(f"unknown torch dtype {value['__torch_dtype__']!r} in model config")
            return dtype
        if set(value) == {"__torch_device__"}:
            return torch.device(value["__torch_device__"])
        return {k: _decode(v) for k, v in value.items()}
    return value


def save_model(model: torch.nn.Module, path, *, config: dict | None = None) -> Path:
    """Write ``model``'s class, constructor arguments, equigen version and weights to ``path`` (atomically)."""
    from equigen import __version__

    if config is None:
        config = model_config(model)
    encoded = {k: _encode(v, k) for k, v in config.items()}
    cls = type(model)
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"cannot save model to {str(path)!r}: directory {str(path.parent)!r} does not exist")
    payload = {"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "equigen_version": __version__,
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
    cls = _resolve_class(name, classes, path)
    config = {k: _decode(v) for k, v in json.loads(payload["config_json"]).items()}
    config.update(overrides)
    try:
        model = cls(**config)
    except TypeError as exc:
        raise CheckpointError(f"{str(path)!r}: could not build {name} from its saved config {config}: {exc}") from exc
    state = payload["state_dict"]
    model = _match_saved_dtype(model, state, explicit="dtype" in overrides, path=path)
    load_state_dict_checked(model, state, source=f"model file {str(path)!r}")
    return model


def _floating_dtypes(tensors) -> set:
    return {t.dtype for t in tensors if isinstance(t, torch.Tensor) and t.is_floating_point()}


def _match_saved_dtype(model: torch.nn.Module, state: dict, *, explicit: bool, path) -> torch.nn.Module:
    """Keep the saved floating dtype: a model rebuilt in another dtype (its config did not record one) is cast
    back to the single dtype of the saved weights; mixed dtypes that differ raise instead of a silent cast."""
    saved, built = _floating_dtypes(state.values()), _floating_dtypes(model.state_dict().values())
    if explicit or not saved or saved == built:
        return model
    if len(saved) == 1:
        return model.to(next(iter(saved)))
    raise CheckpointError(f"{str(path)!r} holds weights in {sorted(map(str, saved))} but the rebuilt model has "
                          f"{sorted(map(str, built))}; pass load_model(path, dtype=...) to choose one")


def _resolve_class(name: str, classes: Iterable[type], path) -> type:
    for cls in classes:
        if f"{cls.__module__}:{cls.__qualname__}" == name:
            return cls
    module_name, _, qualname = name.partition(":")
    if module_name == "equigen" or module_name.startswith("equigen."):
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and issubclass(obj, torch.nn.Module):
            return obj
        raise CheckpointError(f"{str(path)!r} names class {name!r}, which this equigen version does not have")
    raise ValueError(f"{str(path)!r} holds a {name!r} model, which is not part of equigen; pass the class "
                     f"explicitly: load_model(path, classes=[{qualname.split('.')[-1]}])")
