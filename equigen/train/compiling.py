"""``torch.compile`` with no silent fall-back to eager.

``torch.compile`` normally hides problems: a graph break splits the model into several graphs with
eager Python in between, and after too many recompilations (e.g. a new input shape every call)
it quietly runs the function eagerly. :func:`compile_strict` always compiles with
``fullgraph=True``, which turns both into errors (``torch._dynamo.exc.Unsupported`` for a graph
break, ``FailOnRecompileLimitHit`` at the recompilation limit), and refuses to run when dynamo is
configured to swallow compiler errors (``torch._dynamo.config.suppress_errors``).

Example::

    layer = SpectralConv(...)
    fast = compile_strict(layer)                 # a compiled wrapper (state_dict keys get '_orig_mod.')
    compile_strict(layer, inplace=True)          # or compile layer's forward in place (same keys)
    y = fast(x)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["compile_strict"]


def compile_strict(fn: Callable | torch.nn.Module, *, inplace: bool = False, **options):
    """``torch.compile(fn, fullgraph=True, **options)``: a graph break or recompile limit raises.

    ``fn``: a function or ``torch.nn.Module``. ``inplace=True`` (modules only) compiles the module's
    ``forward`` in place with ``module.compile`` and returns the module, so parameter names and
    checkpoints are unchanged. ``options``: other ``torch.compile`` arguments (``mode``, ``dynamic``,
    ``backend``, ``options``); ``fullgraph=False`` is refused.
    """
    if options.pop("fullgraph", True) is not True:
        raise ValueError("compile_strict always uses fullgraph=True; call torch.compile directly to allow graph "
                         "breaks")
    import torch._dynamo

    if torch._dynamo.config.suppress_errors:
        raise RuntimeError("torch._dynamo.config.suppress_errors is True: compiler errors would silently fall back "
                           "to eager. Set it to False (the default) to compile strictly")
    if inplace:
        if not isinstance(fn, torch.nn.Module):
            raise TypeError(f"inplace=True needs a torch.nn.Module, got {type(fn).__name__}")
        fn.compile(fullgraph=True, **options)
        return fn
    if not callable(fn):
        raise TypeError(f"fn must be a function or a torch.nn.Module, got {type(fn).__name__}")
    return torch.compile(fn, fullgraph=True, **options)
