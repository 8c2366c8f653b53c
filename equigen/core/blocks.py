"""Small neural-network building blocks shared by the models: a plain MLP and a parameter count.

This module imports only torch and the standard library.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

__all__ = ["mlp", "count_parameters"]


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module], *, last_activation: bool = False,
        wrap: Callable[[nn.Module], nn.Module] | None = None, dtype=None, device=None) -> nn.Sequential:
    """``Linear -> activation -> ... -> Linear`` through the widths ``sizes`` (``(..., sizes[0]) -> (..., sizes[-1])``).

    ``activation`` is a module factory (e.g. ``nn.SiLU``) placed between layers, and after the
    last one too when ``last_activation``. ``wrap`` (e.g. ``spectral_norm``) is applied to each
    ``Linear`` as it is built. Weights use torch's default initialisation (global generator).
    No symmetry: the caller feeds it invariant features.
    """
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b, dtype=dtype, device=device)
        layers.append(wrap(lin) if wrap is not None else lin)
        if i < len(sizes) - 2 or last_activation:
            layers.append(activation())
    return nn.Sequential(*layers)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module`` (parameters with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
