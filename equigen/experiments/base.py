"""The experiment protocol: a config with quick/full presets, ``run(config, *, seed, out_dir)``.

Every experiment compares a physics-built-in model with its unconstrained twin on data the
project simulates, and returns a :class:`Result` (metrics, tables, figures, timings,
versions) that ``equigen bench`` writes to ``results.json`` and the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import torch

from equigen.core.validation import check_device_available, check_fields

__all__ = ["ExperimentConfig", "Experiment", "Run", "Result", "Claim", "Figure", "VERDICTS", "versions", "save_figure",
           "partial_result", "short_run_verdict"]


@dataclass
class ExperimentConfig:
    """Base config: subclasses add fields and override :meth:`quick` / :meth:`full`.

    ``time_budget_s`` is the wall-clock budget the preset is designed for on 2 CPU cores;
    ``threads``, when set, is the torch thread count :meth:`Experiment.run` uses (and restores).
    """

    time_budget_s: float = 60.0
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self):
        """Refuse wrong kinds and impossible values at construction (:func:`~equigen.core.validation.check_fields`):
        counts are integers ``>= 0``, numbers finite and ``>= 0``; sizes, rates and budgets ``> 0``."""
        check_fields(self, positive=POSITIVE_FIELDS, prefix="config.")

    @classmethod
    def quick(cls) -> ExperimentConfig:
        """The preset for ``equigen bench --quick`` (minutes on a laptop CPU)."""
        return cls()

    @classmethod
    def full(cls) -> ExperimentConfig:
        """The preset that reproduces the claims with confidence."""
        return cls()

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# config fields that must be > 0 wherever an experiment has them (others only >= 0)
POSITIVE_FIELDS = ("time_budget_s", "threads", "lr", "gan_lr", "vae_lr", "batch_size", "gan_batch_size", "dt", "D",
                   "temperature", "cutoff", "hidden", "width", "depth", "heads", "modes", "num_layers", "num_train",
                   "num_steps", "diffusion_steps", "length", "q", "num_particles", "time_dim", "lr_grid",
                   "learning_rates")

VERDICTS = ("reproduced", "not reproduced", "not converged")


def short_run_verdict(ok: bool, what: str, *, short: bool, reached, full: str) -> tuple[str, str]:
    """A claim's ``(verdict, detail)`` from whether its test passed (``ok``) and whether the run was ``short``.

    ``("reproduced", "")`` when ``ok``; otherwise ``"not converged"`` when the training was cut short (the preset's
    step cap below the full preset's, or a time limit hit), its detail saying ``what`` failed, the steps
    ``reached`` (a string, or ``{name: {"steps": int, "stopped_by": str}}``) and what the ``full`` preset does
    (e.g. ``"trains 4000 steps per model"``); else ``("not reproduced", what)``.
    """
    if ok:
        return "reproduced", ""
    if short:
        if not isinstance(reached, str):
            reached = ", ".join(f"{k} {r['steps']} (stopped by {r['stopped_by']})" for k, r in reached.items())
        return "not converged", (f"not converged at quick scale: {what}. Steps reached: {reached}; "
                                 f"the full preset {full}")
    return "not reproduced", what


@dataclass
class Claim:
    """One claim an experiment tests, with the measured figures on both sides and a verdict.

    ``statement``: the claim in one sentence. ``metric``: what is compared (name and unit,
    e.g. ``"force RMSE (eV/A)"``) and ``better``: ``"lower"`` or ``"higher"``. ``builtin``: the
    physics-built-in model's figure; ``twins``: ``{twin name: figure}`` for every unconstrained twin.
    ``verdict``: one of :data:`VERDICTS`, decided by the experiment from its measurements (never
    hard-coded); ``"not converged"`` when the preset is too short to settle the claim, with ``detail``
    saying why and what the full preset does. ``section``: the report section (experiment name) that
    holds the evidence.
    """

    statement: str
    metric: str
    builtin: float | None
    twins: dict
    verdict: str
    better: str = "lower"
    detail: str = ""
    section: str = ""
    builtin_name: str = ""  # which model the built-in figure belongs to, e.g. "EGNN"

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.better not in ("lower", "higher"):
            raise ValueError(f"better must be 'lower' or 'higher', got {self.better!r}")


@dataclass
class Figure:
    """A saved figure and its caption (what to see in it). ``os.fspath(figure)`` is its path."""

    path: str
    caption: str = ""

    def __fspath__(self) -> str:
        return self.path


@dataclass
class Result:
    """What an experiment measured. ``tables`` map a title to rows (dicts of equal keys).

    ``figures``: paths (str) or :class:`Figure` entries (path + caption). ``units``: optional
    ``{metric name: unit}`` for :attr:`metrics` (the report also reads a trailing ``"(unit)"`` in
    a metric's name, and ``_s`` as seconds).
    """

    name: str
    config: dict
    seed: int
    metrics: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    figures: list = field(default_factory=list)
    timings: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    claims: list = field(default_factory=list)  # of Claim
    units: dict = field(default_factory=dict)
    stages: list = field(default_factory=list)  # {"name", "seconds", "status"} per stage, in run order
    error: str | None = None  # "stage: ExceptionType: message" when a stage raised

    def add_claim(self, statement: str, metric: str, builtin, twins: dict, verdict: str, **kwargs) -> Claim:
        """Record a :class:`Claim` (its ``section`` defaults to this experiment's name)."""
        kwargs.setdefault("section", self.name)
        claim = Claim(statement, metric, builtin, dict(twins), verdict, **kwargs)
        self.claims.append(claim)
        return claim

    def add_figure(self, path, caption: str = "") -> Figure:
        """Record a saved figure with a caption saying what to see in it."""
        fig = Figure(str(path), caption)
        self.figures.append(fig)
        return fig

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def versions() -> dict:
    """Versions and machine facts recorded with every result."""
    import e3nn
    import numpy
    import scipy

    from equigen import __version__

    return {
        "equigen": __version__, "torch": torch.__version__, "e3nn": e3nn.__version__,
        "numpy": numpy.__version__, "scipy": scipy.__version__, "python": sys.version.split()[0],
        "platform": platform.platform(), "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }


def partial_result(error: BaseException) -> Result | None:
    """The partial :class:`Result` an exception raised by :meth:`Experiment.run` carries (``None`` if none):
    what the stages before the failing one measured, with ``error`` naming the stage and the exception."""
    return getattr(error, "experiment_result", None)


class Run:
    """The harness one experiment run hands to each of its stages.

    ``config``, ``seed``, ``out_dir``, ``device`` (a ``torch.device``) and ``result`` (the
    :class:`Result` being filled) are fixed for the run; ``state`` is a namespace where a stage
    leaves what later stages need (``run.state.model = ...``). :meth:`stage` times a stage and
    records its outcome; :meth:`timer` times a part of one; :meth:`figure` saves a captioned figure;
    :meth:`elapsed` gives the seconds since the run began (for shares of the time budget).
    """

    def __init__(self, config, *, seed: int, out_dir: Path, result: Result):
        self.config, self.seed, self.out_dir, self.result = config, seed, Path(out_dir), result
        self.device = torch.device(config.device)
        self.state = SimpleNamespace()
        self.current_stage: str | None = None
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Wall-clock seconds since the run began (for budget shares)."""
        return time.perf_counter() - self.started

    def generator(self, offset: int = 0) -> torch.Generator:
        """A fresh CPU generator seeded ``seed + offset`` (CPU: the same numbers on every device)."""
        return torch.Generator().manual_seed(self.seed + offset)

    @contextlib.contextmanager
    def timer(self, name: str):
        """Add the wall-clock seconds of the block to ``result.timings[name + "_s"]``."""
        start = time.perf_counter()
        try:
            yield
        finally:
            key = f"{name}_s"
            self.result.timings[key] = self.result.timings.get(key, 0.0) + time.perf_counter() - start

    @contextlib.contextmanager
    def stage(self, name: str):
        """Run one named stage: its time and status (``"done"`` / ``"failed"``) go to ``result.stages``."""
        self.current_stage, start = name, time.perf_counter()
        status = "failed"
        try:
            yield
            status = "done"
        finally:
            self.result.stages.append({"name": name, "seconds": time.perf_counter() - start, "status": status})
            self.current_stage = None

    def figure(self, fig, name: str, caption: str = "") -> Figure:
        """Save a matplotlib figure as ``out_dir/name.png`` and record it with its caption."""
        return self.result.add_figure(save_figure(fig, self.out_dir, name), caption)


class Experiment:
    """Base class: set ``name``, ``description``, ``Config`` and the pipeline.

    The pipeline is either ``stages``, a tuple of method names each called as ``method(run)`` with
    the shared :class:`Run` (the default :meth:`execute` runs them in order, timing each), or an
    :meth:`execute` of its own. If a stage raises, :meth:`run` re-raises that exception (same type)
    carrying the partial result (:func:`partial_result`); a config refused by :meth:`check_config`
    raises before any stage.

    ``cpu_only``: a reason string for experiments whose work stays on the CPU (closed-form fits,
    checks of CPU reference maps); :meth:`run` then runs them on the CPU whatever ``config.device``
    asks, and says so in the result's notes. Others honour ``config.device`` (``"cpu"``, ``"cuda"``).
    """

    name: str = ""
    description: str = ""
    Config: type = ExperimentConfig
    cpu_only: str | None = None
    stages: tuple[str, ...] = ()

    def check_config(self, config) -> None:
        """Refuse a config this experiment cannot run (``ValueError`` / ``TypeError`` naming the field).

        :meth:`run` calls it before any stage and raises its error as it is, not as a failed stage. Default:
        nothing beyond the config's own checks."""

    def execute(self, config, *, seed: int, out_dir: Path, result: Result) -> None:
        """Fill ``result`` (metrics, tables, figures) by running :attr:`stages`; called by :meth:`run`."""
        if not self.stages:
            raise NotImplementedError(f"{type(self).__name__} defines neither stages nor execute()")
        missing = [name for name in self.stages if not callable(getattr(self, name, None))]
        if missing:
            raise TypeError(f"{type(self).__name__}.stages names {missing}, which are not methods of it; "
                            f"stages must name methods taking the Run")
        run = Run(config, seed=seed, out_dir=out_dir, result=result)
        for name in self.stages:
            with run.stage(name):
                getattr(self, name)(run)

    def run(self, config: ExperimentConfig | None = None, *, seed: int = 0, out_dir=None) -> Result:
        """Run under a seed, writing figures into ``out_dir``; returns the :class:`Result`."""
        config = config if config is not None else self.Config.quick()
        if not isinstance(config, self.Config):
            raise TypeError(f"config must be a {self.Config.__name__}, got {type(config).__name__}")
        self.check_config(config)
        out_dir = Path(out_dir if out_dir is not None else "bench-out")
        out_dir.mkdir(parents=True, exist_ok=True)
        notes = []
        if self.cpu_only and check_device_available(config.device, "config.device", available=False).type != "cpu":
            config = dataclasses.replace(config, device="cpu")
            notes.append(f"ran on the CPU although another device was asked for: {self.cpu_only}")
        check_device_available(config.device, f"{self.name}: config.device")
        result = Result(self.name, config.to_dict(), seed, versions=versions(), notes=notes)
        if torch.device(config.device).type == "cuda":
            result.versions["cuda_device"] = torch.cuda.get_device_name(torch.device(config.device))
        torch.manual_seed(seed)
        previous_threads = torch.get_num_threads()
        if config.threads:
            torch.set_num_threads(config.threads)
        result.versions["torch_threads"] = torch.get_num_threads()  # what the run really used
        start = time.perf_counter()
        try:
            self.execute(config, seed=seed, out_dir=out_dir, result=result)
        except Exception as err:
            failed = [s["name"] for s in result.stages if s["status"] == "failed"]
            result.error = f"{failed[-1] if failed else 'execute'}: {type(err).__name__}: {err}"
            err.experiment_result = result
            err.add_note(f"equigen: experiment {self.name!r} failed in stage {result.error.split(':')[0]!r}; "
                         "equigen.experiments.partial_result(err) holds what the earlier stages measured")
            raise
        finally:
            torch.set_num_threads(previous_threads)
            result.timings["total_s"] = time.perf_counter() - start
            result.timings["budget_s"] = config.time_budget_s
        return result


def save_figure(fig, out_dir: Path, name: str) -> str:
    """Save a matplotlib figure as ``out_dir/name.png`` (150 dpi), close it, return the path."""
    import matplotlib.pyplot as plt

    path = Path(out_dir) / f"{name}.png"
    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)
    return str(path)
