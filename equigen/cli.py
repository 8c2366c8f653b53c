"""Command line: ``equigen bench``, ``equigen check``, ``equigen list``, ``equigen --version``."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

EXAMPLES = """examples:
  equigen bench --quick                     run every experiment at the quick scale
  equigen bench --only symmetry-kit --out out/
  equigen list
  equigen check mypkg.layers:MyLayer --group SE3 --in positions,scalars --out positions,scalars
  equigen check equigen.testing.reference_maps:pairwise_distances --group E3 --in positions --invariant
"""

CHECK_EXAMPLES = """examples:
  equigen check mypkg.layers:MyLayer --group SE3 --in positions,scalars --out positions,scalars
  equigen check layer.py:energy --group "E3*Permutations" --in positions --invariant
  equigen check mypkg.fno:Block --group GridShifts2 --in field --out field --dim 2 --features 3
  equigen check equigen.nn:EGNN                   (a class declaring `symmetry` brings its own claim)

groups: SO, O, SE, E, Translations, Dilations (+ dimension, default 3), Permutations,
        GridShifts, GridReflections (+ number of grid axes); products with '*'.
kinds:  positions, vectors, pseudovectors, scalars, nodes, edge_index, batch, field, or e3nn irreps
        such as 2x0e+1x1o. Exit status: 0 all pass, 1 a violation, 2 usage error,
        3 the target cannot be imported or built.

inputs: up to --max-nodes nodes (default 40: past the 25 points where torch.cdist changes its
        formula), several graphs per batch, grids of the group's dimension from --min-size points;
        modules are checked with their parameters as built and perturbed.

  equigen check --conformance --list            public models (PyG, e3nn, MACE) the kit can drive
  equigen check --conformance --only schnet --out conf/   their conformance table and counterexamples
"""


def _set_thread_defaults() -> str:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    return f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, torch threads={torch.get_num_threads()}"


def _cmd_list(args) -> int:
    from equigen.experiments import experiments

    for exp in experiments():
        quick, full = exp.Config.quick(), exp.Config.full()
        print(f"{exp.name}: {exp.description}")
        print(f"    quick: {quick.to_dict()}")
        print(f"    full:  {full.to_dict()}")
    return 0


def _cmd_bench(args) -> int:
    threads = _set_thread_defaults()
    preset = "full" if args.full else "quick"
    if args.device == "cuda" and not _cuda_present():
        return 2
    selected = _bench_selection(args)
    out = None if selected is None else _bench_out_dir(args.out)
    if out is None:
        return 2
    print(f"equigen bench --{preset}: {len(selected)} experiment(s), {threads}, writing to {out}")
    start = time.perf_counter()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results = _run_experiments(selected, preset, args, out)
    meta = {"preset": preset, "seed": args.seed, "threads": threads,
            "total_s": time.perf_counter() - start, "device": args.device, "started": started,
            "descriptions": {exp.name: exp.description for exp in selected},
            "load_average_end": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    return _write_bench(results, out, meta)


def _cuda_present() -> bool:
    """Whether torch sees a CUDA device; says what to do on stderr when not."""
    import torch

    if not torch.cuda.is_available():
        print("equigen bench: --device cuda but torch sees no CUDA device (torch "
              f"{torch.__version__}); use --device cpu", file=sys.stderr)
        return False
    return True


def _bench_selection(args):
    """The experiments named by ``--only`` (all when absent), or ``None`` after reporting unknown names."""
    from equigen.experiments import experiments, get, names

    if not args.only:
        return experiments()
    args.only = [n for item in args.only for n in item.split(",") if n]  # "a,b" and "a b" both work
    unknown = [n for n in args.only if n not in names()]
    if unknown:
        print(f"equigen bench: unknown experiment(s) {unknown}; known: {', '.join(names())}",
              file=sys.stderr)
        return None
    return [get(n) for n in args.only]


def _bench_out_dir(path) -> Path | None:
    """``--out`` created (with parents), or ``None`` after reporting why it cannot be."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"equigen bench: cannot create --out {out}: {err}", file=sys.stderr)
        return None
    return out


def _run_experiments(selected, preset: str, args, out: Path) -> list:
    """Run each experiment at ``preset``; a failing one is recorded (partial result) and the rest still run."""
    from tqdm import tqdm

    from equigen.experiments import partial_result

    results = []
    bar = tqdm(selected, desc="experiments", unit="exp", file=sys.stderr, disable=None)
    for exp in bar:
        config = getattr(exp.Config, preset)()
        config.device = args.device
        bar.set_postfix_str(exp.name)
        print(f"  {exp.name} (budget {config.time_budget_s:g} s) ...", flush=True)
        try:
            result = exp.run(config, seed=args.seed, out_dir=out)
        except Exception as err:  # record it, run the others, exit 1 at the end
            result = partial_result(err)
            if result is None:  # raised before the run started (e.g. a bad config)
                raise
            print(f"  {exp.name} FAILED after {result.timings['total_s']:.1f} s in stage {result.error}",
                  file=sys.stderr, flush=True)
        else:
            verdicts = ", ".join(c.verdict for c in result.claims) or "no claim recorded"
            print(f"  {exp.name} done in {result.timings['total_s']:.1f} s: {verdicts}", flush=True)
        results.append(result)
    return results


def _write_bench(results, out: Path, meta: dict) -> int:
    """Write results.json and the reports; exit status 1 when an experiment failed, else 0."""
    from equigen.report import write_report, write_results

    paths = [write_results(results, out, meta), *write_report(results, out, meta)]
    print("wrote " + ", ".join(str(p) for p in paths))
    failed = [r.name for r in results if r.error]
    if failed:
        print(f"equigen bench: {len(failed)} experiment(s) failed: {', '.join(failed)} (see the report)",
              file=sys.stderr)
        return 1
    return 0

def _split(value: str | None):
    return None if value is None else tuple(k.strip() for k in value.split(",") if k.strip())


def _cmd_check(args) -> int:
    threads = _set_thread_defaults()
    from equigen.testing.check import TargetError, check_target, format_rows, load_target, parse_group

    try:
        target = load_target(args.target)
    except TargetError as err:
        print(f"equigen check: {err}", file=sys.stderr)
        return 3
    except ValueError as err:
        print(f"equigen check: {err}", file=sys.stderr)
        return 2
    try:
        group = parse_group(args.group) if args.group else None
        out_kinds = None if args.invariant else _split(args.out)
        if group is not None and args.out is None and not args.invariant:
            raise ValueError("give --out KINDS, or --invariant for invariant outputs")
        rows = check_target(target, group=group, in_kinds=_split(args.in_kinds), out_kinds=out_kinds,
                            dtypes=_split(args.dtype), max_examples=args.examples, dim=args.dim,
                            features=args.features, max_nodes=args.max_nodes, min_size=args.min_size,
                            max_size=args.max_size, rtol=args.rtol, atol=args.atol)
    except TargetError as err:
        print(f"equigen check: {err}", file=sys.stderr)
        return 3
    except (ValueError, TypeError) as err:
        print(f"equigen check: {err}", file=sys.stderr)
        return 2
    print(f"equigen check {args.target} ({threads})")
    print(format_rows(rows))
    return 0 if all(r.passed for r in rows) else 1


OWN_DATA_EXAMPLES = """examples:
  equigen train --data cu.extxyz --model egnn --config cfg.yaml --out run/
  equigen train --data fields.npz --model fno --config cfg.toml --out fno-run/
  equigen compare --data cu.extxyz --config cfg.yaml --out cmp/
  equigen compare --data fields.npz --config cfg.toml --out fno-cmp/

The config (YAML or TOML) has a `model` section (model arguments: cutoff, hidden, num_layers, ...)
and a `train` section (steps, batch_size, lr, schedule, energy_weight, force_weight, test_fraction,
seed, checkpoint_every, dtype, ...). Rerunning `train` with the same --out resumes from its last
checkpoint. Atoms: any file ASE reads, with energies and forces. Fields: .npz with x, y (B, C, *grid).
"""


def _own_data_error(command: str, err: Exception) -> int:
    print(f"equigen {command}: {err}", file=sys.stderr)
    return 2


def _cmd_train(args) -> int:
    threads = _set_thread_defaults()
    from equigen.experiments.own_data import train

    print(f"equigen train --model {args.model} on {args.data} ({threads}), writing to {args.out}", flush=True)
    try:
        summary = train(args.data, args.model, config=args.config, out_dir=args.out, progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        return _own_data_error("train", err)
    test = summary.get("test", {})
    print(f"trained {summary['step']} steps in {summary['train_s']:.1f} s; {summary['parameters']} parameters"
          + ("; test " + ", ".join(f"{k} {v:.4g}" for k, v in test.items()) if test else ""))
    print(f"wrote {Path(args.out) / 'model.pt'}, {Path(args.out) / 'summary.json'}")
    return 0


def _cmd_compare(args) -> int:
    threads = _set_thread_defaults()
    from equigen.experiments.own_data import compare
    from equigen.report import write_report, write_results

    print(f"equigen compare on {args.data} ({threads}), writing to {args.out}", flush=True)
    try:
        result = compare(args.data, models=_split(args.models), config=args.config, out_dir=args.out,
                         progress=not args.no_progress)
    except (ValueError, TypeError, FileNotFoundError, ImportError) as err:
        return _own_data_error("compare", err)
    meta = {"preset": "compare", "seed": result.seed, "threads": threads, "total_s": result.timings["total_s"],
            "device": "cpu", "data": str(args.data)}
    paths = [write_results([result], Path(args.out), meta), *write_report([result], Path(args.out), meta)]
    for row in result.tables["models (test set)"]:
        if "force_mae" in row:
            errors = f"force MAE {row['force_mae']:.4g}, energy MAE/atom {row['energy_mae_per_atom']:.4g}"
        else:
            errors = f"relative L2 {row['relative_l2']:.4g}, shift error {row['shift_error']:.2g}"
        print(f"  {row['model']:>13}: {errors}, {row['parameters']} params, {row['train_s']:.1f} s")
    for claim in result.tables["claims"]:
        print(f"  {claim['claim']}: {claim['verdict']} ({claim['measured']})")
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _add_own_data_commands(sub) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    trn = sub.add_parser("train", help="train a model on your own data file (atoms or fields)",
                         description="Train an equigen model on an ASE-readable atoms file (energies and forces) or "
                                     "an .npz of fields; progress bar, checkpoints and resume in --out.",
                         epilog=OWN_DATA_EXAMPLES, formatter_class=fmt)
    trn.add_argument("--data", required=True, help="extxyz / ASE-readable file, or .npz with x and y")
    trn.add_argument("--model", required=True, help="egnn, tp (equivariant); flat-mlp, raw-mp, distance-mlp "
                                                    "(twins); fno, field-mlp (fields)")
    trn.add_argument("--config", help="YAML or TOML file with 'model' and 'train' sections")
    trn.add_argument("--out", required=True, help="run directory: checkpoints, model.pt, summary.json")
    trn.add_argument("--no-progress", action="store_true", help="no progress bar")
    trn.set_defaults(func=_cmd_train)
    cmp_ = sub.add_parser("compare", help="train the equivariant model and its unconstrained twins on your data",
                          description="Same data split, steps, batch size, learning rate and seed for every model "
                                      "(twins' widths matched to the parameter count); writes results.json and "
                                      "report.md/html like `equigen bench`.",
                          epilog=OWN_DATA_EXAMPLES, formatter_class=fmt)
    cmp_.add_argument("--data", required=True, help="extxyz / ASE-readable file with energies and forces, or .npz "
                                                    "with x and y (fields)")
    cmp_.add_argument("--models", help="comma-separated, reference first (default: egnn,flat-mlp,distance-mlp for "
                                       "atoms; fno,field-mlp for fields)")
    cmp_.add_argument("--config", help="YAML or TOML file with 'model' and 'train' sections")
    cmp_.add_argument("--out", default="compare-out", help="output directory (default: compare-out)")
    cmp_.add_argument("--no-progress", action="store_true", help="no progress bars")
    cmp_.set_defaults(func=_cmd_compare)


def build_parser() -> argparse.ArgumentParser:
    from equigen import __version__

    parser = argparse.ArgumentParser(prog="equigen", description="equigen: physics built in, and checked.",
                                     epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"equigen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="run the physics-built-in vs unconstrained experiments",
                           epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    scale = bench.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_true", help="quick preset (default)")
    scale.add_argument("--full", action="store_true", help="full preset")
    bench.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments (space- or "
                       "comma-separated)")
    bench.add_argument("--out", default="bench-out", help="output directory (default: bench-out)")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                       help="where models train and sample (default: cpu); fick and symmetry-kit stay on the CPU")
    bench.set_defaults(func=_cmd_bench)
    chk = sub.add_parser("check", help="property-test a layer's claimed symmetry from the shell",
                         description="Search inputs and group elements for a violation of the claimed "
                                     "symmetry; prints a pass/fail table with the measured errors.",
                         epilog=CHECK_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("target", help="MODULE:CALLABLE or path/to/file.py:CALLABLE (function, module class, "
                                    "or class with symmetry_example)")
    chk.add_argument("--group", help="claimed group, e.g. SE3, E(2), O3*Permutations, GridShifts2")
    chk.add_argument("--in", dest="in_kinds", metavar="KINDS", help="comma-separated kinds of the inputs")
    outs = chk.add_mutually_exclusive_group()
    outs.add_argument("--out", metavar="KINDS", help="comma-separated kinds of the outputs")
    outs.add_argument("--invariant", action="store_true", help="every output is invariant")
    chk.add_argument("--dtype", default="float64,float32", help="dtypes to check (default: float64,float32)")
    chk.add_argument("--examples", type=int, default=40, help="hypothesis examples per dtype (default: 40)")
    chk.add_argument("--dim", type=int, default=None,
                     help="dimension of vectors / number of grid axes (default: the group's)")
    chk.add_argument("--features", type=int, default=4, help="channels of scalars and fields (default: 4)")
    chk.add_argument("--max-nodes", type=int, default=40,
                     help="largest drawn point cloud, also checked once at exactly this size (default: 40)")
    chk.add_argument("--min-size", type=int, default=1, help="smallest grid size per axis (default: 1)")
    chk.add_argument("--max-size", type=int, default=None,
                     help="largest grid size per axis (default: max(12, --min-size))")
    chk.add_argument("--rtol", type=float, default=None,
                     help="relative tolerance (default: 1e-10 in float64, 1e-5 in float32)")
    chk.add_argument("--atol", type=float, default=None, help="absolute tolerance (default: 0)")
    chk.set_defaults(func=_cmd_check)
    lst = sub.add_parser("list", help="list the experiments and their presets")
    lst.set_defaults(func=_cmd_list)
    _add_own_data_commands(sub)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["check"] and "--conformance" in argv:
        # `equigen check --conformance [options]`: the conformance suite of public models
        # (options: see `equigen check --conformance --help`).
        from equigen.conformance import main as conformance_main

        argv.remove("--conformance")
        return conformance_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
