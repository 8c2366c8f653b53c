"""Experiment "symmetry-kit": does the property-testing kit tell correct maps from broken twins?

Each correct reference map (the symmetry built in) is paired with subtly broken twins
(:mod:`equigen.testing.reference_maps`). Measured: the equivariance error of each map in
float64 and float32 over the group's edge cases and random elements, whether the
hypothesis search flags it, and the shrunk counterexample it reports.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import hypothesis
import torch

from equigen.experiments.base import Experiment, ExperimentConfig, save_figure
from equigen.experiments.registry import register
from equigen.testing import EquivarianceError, check_equivariant, default_rtol, equivariance_error
from equigen.testing.reference_maps import REFERENCE_MAPS
from equigen.testing.strategies import is_simple


@dataclass
class SymmetryKitConfig(ExperimentConfig):
    trials: int = 8
    max_examples: int = 40
    time_budget_s: float = 30.0

    @classmethod
    def quick(cls):
        return cls(trials=4, max_examples=40, time_budget_s=30.0)

    @classmethod
    def full(cls):
        return cls(trials=64, max_examples=500, time_budget_s=300.0)


@register
class SymmetryKit(Experiment):
    name = "symmetry-kit"
    description = "Equivariance errors of correct reference maps vs broken twins, and what the kit catches"
    Config = SymmetryKitConfig
    cpu_only = "the reference maps and their hypothesis search are CPU examples of a few points"

    stages = ("measure", "claims", "figures")

    def measure(self, run):
        """Every reference map's equivariance errors and the property search's verdict; the summary metrics."""
        settings = hypothesis.settings(max_examples=run.config.max_examples, derandomize=True, deadline=None,
                                       database=None, suppress_health_check=list(hypothesis.HealthCheck))
        rows = run.result.tables["reference maps"] = [self._check_map(m, run.config, run.seed, settings)
                                                      for m in REFERENCE_MAPS]
        run.state.correct = correct = [r for r in rows if r["correct"]]
        run.state.broken = broken = [r for r in rows if not r["correct"]]
        run.result.metrics.update({
            "correct_maps": len(correct),
            "correct_passed": sum(not r["flagged"] for r in correct),
            "broken_maps": len(broken),
            "broken_caught": sum(r["flagged"] for r in broken),
            "broken_caught_simple": sum(bool(r["simple_counterexample"]) for r in broken),
            "max_error_correct_float64": max(r["error_float64"] for r in correct),
            "max_error_correct_float32": max(r["error_float32"] for r in correct),
            "min_error_broken_float64": min(r["error_float64"] for r in broken),
        })
        run.result.units.update({k: "dimensionless" for k in run.result.metrics if "error" in k})

    @staticmethod
    def _check_map(m, config, seed, settings):
        """One row: the map's errors in float64 and float32 and what the hypothesis search found."""
        start = time.perf_counter()
        errors = {dtype: equivariance_error(m.fn, m.example(dtype), m.group(), m.in_kinds, m.out_kinds,
                                            trials=config.trials, seed=seed)
                  for dtype in (torch.float64, torch.float32)}
        try:
            check_equivariant(m.fn, m.group(), m.in_kinds, m.out_kinds, m.inputs(), settings=settings)
            flagged, element, simple = False, "", None
        except EquivarianceError as err:
            flagged, element, simple = True, str(err.element), is_simple(err.element)
        return {
            "map": m.name, "correct": m.correct, "group": str(m.group()), "note": m.note,
            "error_float64": errors[torch.float64], "error_float32": errors[torch.float32],
            "flagged": flagged, "counterexample": element, "simple_counterexample": simple,
            "seconds": time.perf_counter() - start,
        }

    def claims(self, run):
        """The two claims, with verdicts from the measured rows."""
        self._claims(run.config, run.result, run.state.correct, run.state.broken)

    def figures(self, run):
        """The equivariance error of every map against the tolerances."""
        run.result.add_figure(self._figure(run.result.tables["reference maps"], run.out_dir),
                              "Relative equivariance error of every reference map (log scale; green: correct maps, "
                              "red: their broken twins; dashed/dotted: the float64/float32 tolerances). Look for: "
                              "every green bar left of its tolerance line and every red bar far to the right of it.")

    @staticmethod
    def _claims(config, result, correct, broken):
        """Claims with verdicts from the measured rows (the kit's verdicts and the errors)."""
        n_pass, n_caught = sum(not r["flagged"] for r in correct), sum(r["flagged"] for r in broken)
        ok = n_pass == len(correct) and n_caught == len(broken)
        missed = [r["map"] for r in broken if not r["flagged"]] + [r["map"] for r in correct if r["flagged"]]
        if ok:
            verdict, detail = "reproduced", (f"{n_caught} of {len(broken)} broken twins flagged "
                                             f"({sum(bool(r['simple_counterexample']) for r in broken)} with a simple "
                                             f"counterexample), {n_pass} of {len(correct)} correct maps pass")
        elif config.max_examples < SymmetryKitConfig.full().max_examples:
            verdict, detail = "not converged", (f"not converged at quick scale: misclassified {missed} with "
                                                f"{config.max_examples} examples per search; the full preset searches "
                                                f"{SymmetryKitConfig.full().max_examples}")
        else:
            verdict, detail = "not reproduced", f"misclassified: {missed}"
        result.add_claim(
            "The kit's property search passes every correct reference map and flags every subtly broken twin.",
            "maps classified correctly (fraction)", n_pass / max(len(correct), 1),
            {"broken twins flagged": n_caught / max(len(broken), 1)}, verdict, better="higher",
            builtin_name="correct maps passing", detail=detail)
        tol = default_rtol(torch.float64)
        worst, least = max(r["error_float64"] for r in correct), min(r["error_float64"] for r in broken)
        detail = f"tolerance {tol:g}; broken twins at least {least / tol:.2g} times above it"
        if worst <= tol < least:
            verdict = "reproduced"
        elif worst <= tol and config.trials < SymmetryKitConfig.full().trials:  # more elements can only raise errors
            verdict, detail = "not converged", (f"not converged at quick scale: a broken twin's error is {least:.2g} "
                                                f"after {config.trials} random elements; the full preset draws "
                                                f"{SymmetryKitConfig.full().trials}")
        else:
            verdict = "not reproduced"
        result.add_claim(
            f"In float64 the correct maps are equivariant to rounding (error <= {tol:g}) and every broken twin's "
            "error is above that tolerance.",
            "relative equivariance error, float64 (dimensionless)", worst, {"smallest of the broken twins": least},
            verdict, better="lower", builtin_name="largest of the correct maps", detail=detail)

    @staticmethod
    def _figure(rows, out_dir):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(9, 5))
        names = [r["map"] for r in rows]
        y = range(len(rows))
        floor = 1e-18
        ax.barh([i + 0.2 for i in y], [max(r["error_float64"], floor) for r in rows], height=0.4,
                label="float64", color=["tab:green" if r["correct"] else "tab:red" for r in rows])
        ax.barh([i - 0.2 for i in y], [max(r["error_float32"], floor) for r in rows], height=0.4,
                label="float32", alpha=0.5, color=["tab:green" if r["correct"] else "tab:red" for r in rows])
        for dtype, style in ((torch.float64, "--"), (torch.float32, ":")):
            ax.axvline(default_rtol(dtype), color="k", ls=style, lw=1, label=f"tolerance {dtype}")
        ax.set_xscale("log")
        ax.set_yticks(list(y), names, fontsize=8)
        ax.set_xlabel("relative equivariance error (max over edge cases and random elements)")
        ax.set_title("Reference maps (green: correct, red: broken twin)")
        ax.legend(fontsize=8, loc="lower right")
        return save_figure(fig, out_dir, "symmetry-kit-errors")
