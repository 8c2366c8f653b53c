"""Conformance report: equigen's testing kit against public equivariant models (PyG, e3nn, MACE).

    PYTHONPATH=. python benchmarks/conformance.py --quick            # eager, CI scale
    PYTHONPATH=. python benchmarks/conformance.py --full --out out/  # + torch.compile column, studies
    /tmp/macevenv/bin/python benchmarks/conformance.py --only mace.MACE   # in MACE's own environment

Same as ``python -m equigen.conformance``; the entry function is
:func:`equigen.conformance.main` (``equigen check --conformance`` forwards to it).
"""

import sys

from equigen.conformance import main

if __name__ == "__main__":
    sys.exit(main())
