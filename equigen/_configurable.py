"""The :func:`configurable` class decorator: record constructor arguments (for ``save_model``).

Kept free of other equigen imports (but the bottom layer :mod:`equigen.core`) so every layer module
can use it without importing the training package. A ``device`` argument is checked here for every
decorated class (CUDA asked for on a machine without it is a clear ``ValueError``, not torch's
``AssertionError``).
"""

from __future__ import annotations

import functools
import inspect

from equigen.core.validation import check_device_available

__all__ = ["configurable"]


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
        if config.get("device") is not None:
            check_device_available(config["device"], f"{cls.__name__}(device=...)")
        init(self, *args, **kwargs)
        if type(self) is cls or not hasattr(self, "_equigen_config"):
            self._equigen_config = config

    cls.__init__ = __init__
    return cls
