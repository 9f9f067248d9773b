"""Run riemflow's benchmark suite and print the table of ratios.

    python -m benchmarks.run                 # full run (25-35 min on 2 cores)
    python -m benchmarks.run --quick         # short run (a few minutes)
    python -m benchmarks.run --repeats 7 --json out.json --markdown

Every row times riemflow and a baseline side by side, alternately, in this run; the table
shows each arm's median over repeats, the median of the per-repeat ratios riemflow /
baseline (< 1: riemflow faster) with their spread (IQR; min-max below 4 repeats), the
row's target and the agreement checks. Each case runs at three sizes; the log-log slope
of time against size is printed per case. Cases (details in each module's docstring and
in docs/performance.md):

1. `forward_theorem`: gradient flow and verify_equivalence, diagonal network, d up to 4000.
2. `pullback`: pullback metric and tangent kernel on a torus, riemflow vs geomstats.
3. `brackets`: check_commuting per point vs a hand-written per-point loop.
4. `potential`: numerical mirror potential vs the closed form (cost and agreement).
5. `converse`: commuting_parametrization vs dense MINPACK Levenberg-Marquardt.
6. `forward_scale`: the forward construction at d = 1000 without closed forms (structure).
7. `converse_scale`: the converse past toy sizes: 500 curved blocks (d = 1000), a radial
   potential (d = 10), the numerical route at d = 3 (spirals vs collocation, tol 1e-6;
   1e-8 in a full run) and, in a full run, at d = 4 (tol 1e-5).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

CASES = {
    "1": "forward_theorem",
    "2": "pullback",
    "3": "brackets",
    "4": "potential",
    "5": "converse",
    "6": "forward_scale",
    "7": "converse_scale",
}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repeats")
    parser.add_argument(
        "--smallest",
        action="store_true",
        help="only the smallest size of each case (the smoke test's mode)",
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="repeats per row (default 5; --quick 3)"
    )
    parser.add_argument("--json", metavar="PATH", help="write rows, slopes and machine info")
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated case numbers (default all)"
    )
    parser.add_argument(
        "--blas-threads",
        type=int,
        default=None,
        help="limit BLAS threads (default: the library's own choice)",
    )
    parser.add_argument("--markdown", action="store_true", help="print the tables as markdown")
    args = parser.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        parser.error("--repeats must be >= 1")
    unknown = [c for c in args.cases.split(",") if c.strip() not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {', '.join(CASES)}")
    return args


def limit_blas_threads(n: int) -> None:
    """Before numpy loads: environment variables; after: threadpoolctl, when installed."""
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    if "numpy" in sys.modules:
        try:
            from threadpoolctl import threadpool_limits
        except ImportError:
            print("warning: numpy already loaded and threadpoolctl missing", file=sys.stderr)
            return
        threadpool_limits(n)


def _jsonable(obj):
    """numpy scalars and arrays in the rows' checks."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return str(obj)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.blas_threads is not None:
        limit_blas_threads(args.blas_threads)

    import importlib

    from benchmarks import _harness

    mode = "quick" if args.quick else "full"
    repeats = args.repeats or (3 if args.quick else 5)
    info = _harness.machine_info()
    info.update(mode=mode, repeats=repeats, smallest=args.smallest)
    print(
        f"riemflow benchmarks ({mode}{', smallest sizes' if args.smallest else ''}, "
        f"{repeats} repeats) on {info['cpu']} x{info['nproc']}, {info['date']}; "
        f"load {info['loadavg_start']}, BLAS {info['blas_threads']}",
        flush=True,
    )
    rows = []
    start = time.perf_counter()
    for number in [c.strip() for c in args.cases.split(",")]:
        module = importlib.import_module(f"benchmarks.{CASES[number]}")
        sizes = module.SIZES[mode]
        if args.smallest:
            sizes = sizes[:1]
        t0 = time.perf_counter()
        new = module.rows(
            sizes,
            repeats,
            mode=mode,
        )
        rows.extend(new)
        print(
            f"  case {number} ({CASES[number]}): {len(new)} rows in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
    info["seconds"] = time.perf_counter() - start
    info["loadavg_end"] = _harness.loadavg()
    slopes = _harness.slopes(rows)

    render = _harness.render_markdown if args.markdown else _harness.render_text
    print()
    print(render(rows))
    if slopes:
        print()
        print("log-log slopes of time against size (per point for case 3, against 1/tol for 5):")
        print(_harness.render_slopes(slopes, markdown=args.markdown))
    missed = [r for r in rows if r.met is False]
    failed = [r for r in rows if not r.agree]
    print()
    print(
        f"{len(rows)} rows in {info['seconds']:.0f} s; targets missed: "
        f"{', '.join(f'{r.case} {r.name} {r.size}' for r in missed) or 'none'}; "
        f"agreement failures: {', '.join(f'{r.case} {r.name} {r.size}' for r in failed) or 'none'}"
    )
    result = {"machine": info, "rows": [r.as_dict() for r in rows], "slopes": slopes}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1, default=_jsonable)
    return result


if __name__ == "__main__":
    if not __package__:  # `python benchmarks/run.py`: make `benchmarks` importable
        sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    main()
