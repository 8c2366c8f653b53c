"""Command line: ``equigen bench``, ``equigen list``, ``equigen --version``."""

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
    from equigen.experiments import experiments, get, names
    from equigen.report import write_report, write_results

    preset = "full" if args.full else "quick"
    if args.only:
        unknown = [n for n in args.only if n not in names()]
        if unknown:
            print(f"equigen bench: unknown experiment(s) {unknown}; known: {', '.join(names())}",
                  file=sys.stderr)
            return 2
        selected = [get(n) for n in args.only]
    else:
        selected = experiments()
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"equigen bench: cannot create --out {out}: {err}", file=sys.stderr)
        return 2
    print(f"equigen bench --{preset}: {len(selected)} experiment(s), {threads}, writing to {out}")
    results, start = [], time.perf_counter()
    for exp in selected:
        config = getattr(exp.Config, preset)()
        config.device = args.device
        print(f"  {exp.name} (budget {config.time_budget_s:g} s) ...", flush=True)
        result = exp.run(config, seed=args.seed, out_dir=out)
        print(f"  {exp.name} done in {result.timings['total_s']:.1f} s", flush=True)
        results.append(result)
    meta = {"preset": preset, "seed": args.seed, "threads": threads,
            "total_s": time.perf_counter() - start, "device": args.device}
    paths = [write_results(results, out, meta), *write_report(results, out, meta)]
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


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
    bench.add_argument("--only", nargs="+", metavar="NAME", help="run only these experiments")
    bench.add_argument("--out", default="bench-out", help="output directory (default: bench-out)")
    bench.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    bench.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    bench.set_defaults(func=_cmd_bench)
    lst = sub.add_parser("list", help="list the experiments and their presets")
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
