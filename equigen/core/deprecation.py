"""Renamed keyword arguments: the old name keeps working for one release, with a ``DeprecationWarning``.

Example::

    @renamed_kwargs(n="num_samples")
    def sample(self, num_samples, *, generator=None): ...

    model.sample(n=8)                  # works, warns: use num_samples=
    model.sample(8, n=8)               # TypeError: both given
"""

from __future__ import annotations

import functools
import inspect
import warnings

__all__ = ["renamed_kwargs", "renamed_fields"]


def renamed_kwargs(**renames: str):
    """Decorator: accept each deprecated keyword ``old`` of ``renames`` (``old="new"``) as ``new``.

    Passing ``old=`` emits a ``DeprecationWarning`` naming ``new`` and calls the function with
    ``new=``; passing both (``new`` by keyword or by position) raises ``TypeError``. The wrapped
    function keeps its signature (``inspect.signature`` shows only the new names).
    """
    for old, new in renames.items():
        if not (isinstance(new, str) and new.isidentifier() and new != old):
            raise ValueError(f"renamed_kwargs: the new name of {old!r} must be another identifier, got {new!r}")

    def decorate(fn):
        params = list(inspect.signature(fn).parameters.values())
        names = [p.name for p in params]
        for new in renames.values():
            if new not in names:
                raise ValueError(f"renamed_kwargs: {fn.__qualname__} has no parameter {new!r}")
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old not in kwargs:
                    continue
                given_by_position = new in positional and positional.index(new) < len(args)
                if new in kwargs or given_by_position:
                    raise TypeError(f"{fn.__qualname__}() got both {old!r} (deprecated) and {new!r}; "
                                    f"pass only {new}=")
                warnings.warn(f"{fn.__qualname__}(): the keyword {old!r} is deprecated and will be removed in "
                              f"the next release; use {new}= instead", DeprecationWarning, stacklevel=2)
                kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        wrapper.__renamed_kwargs__ = dict(renames)
        return wrapper

    return decorate


def renamed_fields(**renames: str):
    """Class decorator for dataclasses: :func:`renamed_kwargs` on the generated ``__init__``, so
    ``Config(old=...)`` keeps working for one release (with a ``DeprecationWarning``)."""

    def decorate(cls):
        cls.__init__ = renamed_kwargs(**renames)(cls.__init__)
        return cls

    return decorate
