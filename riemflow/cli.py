"""The `riemflow` command line.

Exit codes: 0 success, 1 a check failed, 2 bad input (a `riemflow.errors.InputError` or a
usage error).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from .errors import InputError

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _cmd_demo(args) -> int:
    from .demo import run_demo

    start = time.perf_counter()
    result = run_demo(seed=args.seed)
    elapsed = time.perf_counter() - start
    if args.json:
        print(json.dumps({**result.to_dict(), "seconds": round(elapsed, 3)}, indent=2))
    else:
        print("riemflow demo: gradient flows on reparametrized models vs their mirror flows\n")
        print(result)
        print(f"({elapsed:.1f} s)")
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `riemflow` command."""
    parser = argparse.ArgumentParser(
        prog="riemflow",
        description=(
            "Differential-geometry modeling of implicit bias: gradient flow on a commuting "
            "parametrization w = G(x) is mirror flow with a Legendre function R."
        ),
        epilog="Exit codes: 0 ok, 1 a check failed, 2 bad input.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="check the geometry core on its default examples (seconds)",
        description=(
            "Checks that u*u on the sphere S^2 commutes, is regular, that its gradient flow "
            "stays on the sphere and equals the simplex-entropy mirror flow; that the "
            "u*u - v*v network follows the hyperbolic-entropy ODE; and that U U^T is caught "
            "as non-commuting."
        ),
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of data and samples (default 0)")
    demo.add_argument("--json", action="store_true", help="print the checks as JSON")
    demo.set_defaults(func=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `riemflow` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except InputError as exc:
        print(f"riemflow: bad input: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
