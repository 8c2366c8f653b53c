"""Registry of experiments, filled by ``@register`` when their modules are imported."""

from __future__ import annotations

from equigen.experiments.base import Experiment

_REGISTRY: dict[str, Experiment] = {}


def register(cls: type[Experiment]) -> type[Experiment]:
    """Class decorator: register one instance of an :class:`Experiment` under its name."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty `name`")
    if cls.name in _REGISTRY and type(_REGISTRY[cls.name]) is not cls:
        raise ValueError(f"an experiment named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls()
    return cls


def get(name: str) -> Experiment:
    """The experiment registered under ``name``; ``KeyError`` lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no experiment {name!r}; known: {', '.join(names())}") from None


def names() -> list[str]:
    return sorted(_REGISTRY)


def experiments() -> list[Experiment]:
    return [_REGISTRY[n] for n in names()]
