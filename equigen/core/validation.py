"""Input validation shared by every public entry point of equigen.

Each checker takes the value and the argument's name, returns the value (possibly in a
canonical form: ``int``, ``float``, ``torch.device``) and raises ``TypeError`` (wrong kind of
object, or a dtype that does not match the model) or ``ValueError`` (right kind, bad value)
with a message that names the argument, shows what was received and says how to fix it.

Value checks that read tensor data (finiteness, index ranges) are skipped while
``torch.compile`` traces (:func:`is_compiling`): they are data-dependent and would break the
graph. This module imports only torch, numpy and the standard library.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable

import numpy as np
import torch

__all__ = [
    "InputTypeError", "is_compiling", "describe", "check_tensor", "check_finite", "check_int", "check_positive_int",
    "check_non_negative_int", "check_float", "check_positive_float", "check_non_negative_float",
    "check_probability", "check_choice", "check_same_dtype", "check_dtype_like", "module_dtype",
    "check_device_available", "DeviceUnavailableError", "check_fields", "check_float_dtype",
]


class InputTypeError(TypeError, ValueError):
    """A wrong kind of input (type or dtype): a ``TypeError`` that ``except ValueError`` also catches."""


class DeviceUnavailableError(ValueError, RuntimeError):
    """A device torch knows but cannot use here (CUDA on a CPU build): a ``ValueError`` that is also a
    ``RuntimeError``."""


def is_compiling() -> bool:
    """True while ``torch.compile`` traces (data-dependent checks are skipped then)."""
    return torch.compiler.is_compiling()


def describe(value) -> str:
    """A short description of ``value`` for error messages (a tensor by dtype and shape, not contents)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _shape_text(shape) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def check_finite(x, name: str, *, fix: str = "remove or replace the non-finite entries"):
    """``x`` (tensor, array or number) must hold no NaN or Inf; returns ``x``."""
    if isinstance(x, torch.Tensor):
        if (x.is_floating_point() or x.is_complex()) and not is_compiling() and x.numel() \
                and not bool(torch.isfinite(x).all()):
            nan = int(torch.isnan(x).sum())
            raise ValueError(f"non-finite {name} ({nan} NaN, {int((~torch.isfinite(x)).sum()) - nan} Inf in "
                             f"{describe(x)}): {fix}")
        return x
    arr = np.asarray(x)
    if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        raise ValueError(f"non-finite {name} (NaN or Inf in {describe(x)}): {fix}")
    return x


def check_tensor(x, name: str, *, ndim: int | None = None, shape=None, floating: bool | None = None,
                 dtype: torch.dtype | None = None, finite: bool = True, min_numel: int | None = None,
                 like=None, shape_hint: str = ""):
    """``x`` must be a ``torch.Tensor`` with the given properties; returns ``x``.

    Args:
        ndim: required number of dimensions. shape: required shape, ``None`` entries are free
            (e.g. ``(None, 3)``); implies ``ndim``.
        floating: ``True`` requires a floating dtype, ``False`` an integer/bool one.
        dtype: an exact dtype (e.g. ``torch.long``).
        finite: refuse NaN/Inf entries (floating tensors; skipped while compiling).
        min_numel: fewest elements accepted (e.g. 1 to refuse empty tensors).
        like: a tensor or module whose (floating) dtype ``x`` must match (:func:`check_dtype_like`).
        shape_hint: appended to shape errors (how to reshape).
    """
    if not isinstance(x, torch.Tensor):
        want = f" of shape {_shape_text(shape)}" if shape is not None else ""
        raise InputTypeError(f"{name} must be a torch.Tensor{want}, got {type(x).__name__}; "
                        f"wrap it with torch.as_tensor({name})")
    if shape is not None:
        ndim = len(shape)
    if ndim is not None and (x.dim() != ndim or (shape is not None and any(
            s is not None and s != n for s, n in zip(shape, x.shape)))):
        want = _shape_text(shape) if shape is not None else f"{ndim} dimensions"
        raise ValueError(f"{name} must have shape {want}, got {tuple(x.shape)}" + (f"; {shape_hint}" if shape_hint
                                                                                    else ""))
    if dtype is not None and x.dtype != dtype:
        raise InputTypeError(f"{name} must have dtype {dtype}, got {x.dtype}; convert it with {name}.to({dtype})")
    if floating is True and not x.is_floating_point():
        raise InputTypeError(f"{name} must be floating point, got {x.dtype}; convert it with {name}.double() "
                        f"or {name}.float()")
    if floating is False and x.is_floating_point():
        raise InputTypeError(f"{name} must be an integer tensor, got {x.dtype}; convert it with {name}.long()")
    if min_numel is not None and x.numel() < min_numel:
        raise ValueError(f"{name} must hold at least {min_numel} elements, got {describe(x)}")
    if like is not None:
        check_dtype_like(x, name, like)
    if finite:
        check_finite(x, name)
    return x


def check_int(value, name: str, *, min: int | None = None, max: int | None = None,
              allow_none: bool = False):
    """An integer (``int`` or numpy integer, not ``bool``) in ``[min, max]``; returns a Python ``int``."""
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer{' or None' if allow_none else ''}, got {describe(value)} "
                        f"({type(value).__name__})")
    value = int(value)
    if (min is not None and value < min) or (max is not None and value > max):
        lo = "" if min is None else f">= {min}"
        hi = "" if max is None else f"<= {max}"
        raise ValueError(f"{name} must be an integer {' and '.join(s for s in (lo, hi) if s)}, got {name}={value}")
    return value


def check_positive_int(value, name: str, *, allow_none: bool = False):
    """An integer ``>= 1``."""
    return check_int(value, name, min=1, allow_none=allow_none)


def check_non_negative_int(value, name: str, *, allow_none: bool = False):
    """An integer ``>= 0``."""
    return check_int(value, name, min=0, allow_none=allow_none)


def check_float(value, name: str, *, min: float | None = None, max: float | None = None,
                min_open: bool = False, finite: bool = True, allow_none: bool = False):
    """A real number (not ``bool``, not a tensor of several elements) in the given range; returns a ``float``.

    ``min_open`` makes the lower bound strict (``> min``). NaN is always refused, Inf unless ``finite=False``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_complex():
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise InputTypeError(f"{name} must be a real number{' or None' if allow_none else ''}, got {describe(value)} "
                        f"({type(value).__name__})")
    value = float(value)
    if math.isnan(value) or (finite and math.isinf(value)):
        raise ValueError(f"{name} must be a finite number, got {name}={value}")
    if min is not None and (value < min or (min_open and value == min)):
        raise ValueError(f"{name} must be {'>' if min_open else '>='} {min:g}, got {name}={value:g}")
    if max is not None and value > max:
        raise ValueError(f"{name} must be <= {max:g}, got {name}={value:g}")
    return value


def check_positive_float(value, name: str, *, allow_none: bool = False, finite: bool = True):
    """A number ``> 0`` (finite unless ``finite=False``; NaN and ``bool`` refused)."""
    return check_float(value, name, min=0.0, min_open=True, allow_none=allow_none, finite=finite)


def check_non_negative_float(value, name: str, *, allow_none: bool = False):
    """A finite number ``>= 0``."""
    return check_float(value, name, min=0.0, allow_none=allow_none)


def check_probability(value, name: str, *, allow_zero: bool = True, allow_one: bool = True):
    """A number in ``[0, 1]`` (endpoints excluded with ``allow_zero=False`` / ``allow_one=False``)."""
    p = check_float(value, name, min=0.0, max=1.0)
    if (p == 0 and not allow_zero) or (p == 1 and not allow_one):
        raise ValueError(f"{name} must lie in {'[' if allow_zero else '('}0, 1{']' if allow_one else ')'}, got {p:g}")
    return p


def check_choice(value, name: str, choices: Iterable):
    """``value`` must be one of ``choices``; returns it."""
    choices = tuple(choices)
    try:
        ok = value in choices
    except TypeError:  # unhashable or uncomparable
        ok = False
    if not ok or isinstance(value, bool) and not any(isinstance(c, bool) for c in choices):
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {describe(value)}")
    return value


def check_float_dtype(dtype, name: str = "dtype", *, allow_none: bool = False):
    """A floating ``torch.dtype`` (``torch.float64``, ``torch.float32``, ...); returns it."""
    if dtype is None and allow_none:
        return None
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise InputTypeError(f"{name} must be a floating torch dtype such as torch.float64 or torch.float32, got "
                             f"{describe(dtype)}")
    return dtype


def module_dtype(module) -> torch.dtype | None:
    """The dtype of a module's first floating parameter (or buffer); a tensor's own dtype; else ``None``."""
    if isinstance(module, torch.Tensor):
        return module.dtype
    for t in module.parameters():
        if t.is_floating_point():
            return t.dtype
    for t in module.buffers():
        if t.is_floating_point():
            return t.dtype
    return None


def check_dtype_like(x: torch.Tensor, name: str, like, *, owner: str | None = None) -> torch.Tensor:
    """A floating ``x`` must have the dtype ``like`` computes in (a module or a tensor): ``TypeError`` otherwise."""
    want = module_dtype(like)
    if want is None or not x.is_floating_point() or x.dtype == want:
        return x
    if owner is None:
        owner = f"the {type(like).__name__}" if isinstance(like, torch.nn.Module) else "the other inputs"
    raise InputTypeError(f"{name} has dtype {x.dtype} but {owner} computes in {want}; convert the input with "
                    f"{name}.to({want}) (or the model with .to({x.dtype}))")


def check_same_dtype(**tensors: torch.Tensor) -> torch.dtype | None:
    """All floating tensors given by name must share one dtype (``None`` values are skipped); returns it."""
    seen = {k: v.dtype for k, v in tensors.items() if isinstance(v, torch.Tensor) and v.is_floating_point()}
    if len(set(seen.values())) > 1:
        listing = ", ".join(f"{k}: {d}" for k, d in seen.items())
        first = next(iter(seen.values()))
        raise InputTypeError(f"{', '.join(seen)} must share one floating dtype, got {listing}; convert them with "
                        f".to({first})")
    return next(iter(seen.values()), None)


def check_device_available(device, name: str = "device", *, available: bool = True) -> torch.device:
    """Parse ``device`` (``str``, ``torch.device`` or ``None`` for the CPU) and check torch can use it.

    ``available=False`` only parses (a device name torch knows), for callers that fall back to the CPU.
    """
    if device is None:
        return torch.device("cpu")
    if isinstance(device, (bool, float)) or not isinstance(device, (str, int, torch.device)):
        raise InputTypeError(f"{name} must be a device name such as 'cpu' or 'cuda:0' (or a torch.device), "
                        f"got {describe(device)}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"{name}={device!r} is not a device torch knows ({exc}); use 'cpu' or 'cuda'") from None
    if not available:
        return dev
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = "this torch build has no CUDA support" if torch.version.cuda is None else "no GPU is visible"
            raise DeviceUnavailableError(f"{name}={describe(device)} asks for CUDA but torch sees no CUDA device "
                                         f"({build}); use device='cpu' or install a CUDA build of torch on a "
                                         "machine with a GPU")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceUnavailableError(f"{name}={describe(device)}: only {torch.cuda.device_count()} CUDA "
                                         "device(s) are visible; use a lower index")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceUnavailableError(f"{name}={describe(device)} asks for Apple MPS, which is not available here; "
                                     "use device='cpu'")
    return dev


def check_fields(obj, *, positive: Iterable[str] = (), prefix: str = "") -> None:
    """Check a dataclass's fields against their annotations (``int``, ``float``, ``bool``, ``str``, ``X | None``).

    Integers must be integers ``>= 0``, floats finite numbers ``>= 0`` (NaN/Inf refused), bools bools;
    fields named in ``positive`` must be ``> 0``. ``dict``/``tuple``/``list`` fields must be of that type,
    and the numbers they hold follow the same rule. Other annotations are not checked. ``prefix`` is put
    before a field's name in messages (e.g. ``"config."``).
    """
    import dataclasses
    import typing

    hints = typing.get_type_hints(type(obj))
    positive = set(positive)
    for f in dataclasses.fields(obj):
        hint, value, name = hints.get(f.name), getattr(obj, f.name), prefix + f.name
        args = typing.get_args(hint)
        optional = type(None) in args
        base = next((a for a in args if a is not type(None)), None) if optional and len(args) == 2 else hint
        if value is None and optional:
            continue
        if base is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise InputTypeError(f"{name} must be True or False, got {describe(value)}")
        elif base is int:
            check_int(value, name, min=1 if f.name in positive else 0)
        elif base is float:
            if f.name in positive:
                check_positive_float(value, name)
            else:
                check_non_negative_float(value, name)
        elif base is str and not isinstance(value, str):
            raise InputTypeError(f"{name} must be a string, got {describe(value)}")
        elif base in (dict, tuple, list):
            if not isinstance(value, dict if base is dict else (tuple, list)):
                raise InputTypeError(f"{name} must be a {base.__name__}, got {describe(value)}")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:  # numbers inside follow the field's rule; other entries are not checked
                if isinstance(item, numbers.Real) and not isinstance(item, (bool, np.bool_)):
                    check_float(item, f"{name}[{key!r}]", min=0.0, min_open=f.name in positive)
