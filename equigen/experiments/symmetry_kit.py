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

    def execute(self, config, *, seed, out_dir, result):
        settings = hypothesis.settings(max_examples=config.max_examples, derandomize=True, deadline=None,
                                       database=None, suppress_health_check=list(hypothesis.HealthCheck))
        rows = []
        for m in REFERENCE_MAPS:
            start = time.perf_counter()
            errors = {}
            for dtype in (torch.float64, torch.float32):
                errors[dtype] = equivariance_error(m.fn, m.example(dtype), m.group(), m.in_kinds,
                                                   m.out_kinds, trials=config.trials, seed=seed)
            try:
                check_equivariant(m.fn, m.group(), m.in_kinds, m.out_kinds, m.inputs(), settings=settings)
                flagged, element, simple = False, "", None
            except EquivarianceError as err:
                flagged, element, simple = True, str(err.element), is_simple(err.element)
            rows.append({
                "map": m.name, "correct": m.correct, "group": str(m.group()), "note": m.note,
                "error_float64": errors[torch.float64], "error_float32": errors[torch.float32],
                "flagged": flagged, "counterexample": element, "simple_counterexample": simple,
                "seconds": time.perf_counter() - start,
            })
        result.tables["reference maps"] = rows
        correct = [r for r in rows if r["correct"]]
        broken = [r for r in rows if not r["correct"]]
        result.metrics.update({
            "correct_maps": len(correct),
            "correct_passed": sum(not r["flagged"] for r in correct),
            "broken_maps": len(broken),
            "broken_caught": sum(r["flagged"] for r in broken),
            "broken_caught_simple": sum(bool(r["simple_counterexample"]) for r in broken),
            "max_error_correct_float64": max(r["error_float64"] for r in correct),
            "max_error_correct_float32": max(r["error_float32"] for r in correct),
            "min_error_broken_float64": min(r["error_float64"] for r in broken),
        })
        result.figures.append(self._figure(rows, out_dir))

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
