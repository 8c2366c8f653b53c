"""Measured equivariance errors of every graph layer of issue 4, per dtype.

Usage: ``PYTHONPATH=. python benchmarks/bench_graph_equivariance.py [--trials 16]``.

For each public class of ``equigen.nn`` (EGNN, TensorProductConv/Net, readouts, force field,
baselines) the declared ``symmetry`` is checked on its ``symmetry_example`` with
:func:`equigen.testing.equivariance_error` (max relative error over the group's edge cases --
half turns, reflections, inversion, large translations, node swaps -- and ``--trials`` random
elements). Also: the chiral (SE(3)-only) TensorProductNet's error under O(3) on a tetrahedron
(it should be large) and under SE(3) (rounding). Prints a markdown table: the error over the
elements whose transformed inputs are no larger than the originals, and in float32 also the
error including the 1e3-translation edge cases, whose tolerance the kit scales by the input
growth ``amp`` (see docs/tolerances.md) -- float32 coordinates near 1e3 carry ~6e-5 rounding.
"""

from __future__ import annotations

import argparse

import torch

from equigen.groups import O3, SE3
from equigen.nn import (
    EGNN,
    EGNNLayer,
    EnergyModel,
    EnergyReadout,
    ForceField,
    RawMessagePassing,
    TensorProductConv,
    TensorProductNet,
    VectorReadout,
)
from equigen.testing import assert_equivariant, default_rtol, equivariance_error

CLASSES = [EGNNLayer, EGNN, TensorProductConv, TensorProductNet, EnergyReadout, VectorReadout, EnergyModel,
           ForceField, RawMessagePassing]


def _chiral(dtype, trials):
    net = TensorProductNet("1x0e", "4x0e+2x1o+2x1e+1x2e", "1x0e", num_layers=3, cutoff=4.0, num_neighbors=3.0,
                           chiral=True, dtype=dtype)
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    pos = torch.tensor([[0.0, 0, 0], [1.0, 0, 0], [0, 1.2, 0], [0.3, 0.2, 0.9]], dtype=dtype)
    edges = torch.tensor([[j for i in range(4) for j in range(4) if i != j],
                          [i for i in range(4) for j in range(4) if i != j]])

    def energy(p):
        return net(torch.ones(4, 1, dtype=dtype), p, edges).sum(0)

    return (equivariance_error(energy, (pos,), SE3(), ("positions",), trials=trials),
            equivariance_error(energy, (pos,), O3(), ("positions",), trials=trials))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=16)
    args = parser.parse_args(argv)
    print("| layer | group | error float64 | error float32 | float32, incl. 1e3 translations (tolerance x amp) |")
    print("|---|---|---|---|---|")
    for cls in CLASSES:
        errs, group = [], ""
        for dtype in (torch.float64, torch.float32):
            fn, inputs = cls.symmetry_example(dtype=dtype, generator=torch.Generator().manual_seed(0))
            sym = getattr(fn, "symmetry", None) or cls.symmetry
            group = str(sym.make_group())
            reports = assert_equivariant(fn, inputs, sym.make_group(), sym.in_kinds, sym.out_kinds,
                                         trials=args.trials)
            rtol = default_rtol(dtype)
            plain = [r.error for r in reports if r.tolerance <= rtol * (1 + 1e-9)]  # not amplified
            errs.append((max(plain), max(r.error for r in reports), max(r.error / r.tolerance for r in reports)))
        print(f"| {cls.__name__} | {group} | {errs[0][0]:.1e} | {errs[1][0]:.1e} | {errs[1][1]:.1e} "
              f"({errs[1][2]:.2f} of its tolerance) |")
    se3 = [_chiral(d, args.trials) for d in (torch.float64, torch.float32)]
    print(f"| TensorProductNet(chiral=True), tetrahedron | SE(3), all elements | {se3[0][0]:.1e} | - | "
          f"{se3[1][0]:.1e} |")
    print(f"| TensorProductNet(chiral=True), tetrahedron | O(3) (must fail) | {se3[0][1]:.1e} | - | "
          f"{se3[1][1]:.1e} |")
    print(f"\ntolerances: float64 {default_rtol(torch.float64):.0e}, float32 {default_rtol(torch.float32):.0e} "
          "(relative; scaled by the input size for large translations)")


if __name__ == "__main__":
    main()
