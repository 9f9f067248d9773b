"""The `riemflow` command line: demo, verify, converse, reproduce, sweep.

Every command prints a human summary, or with `--json` one JSON document on stdout (progress
bars go to stderr and are off under `--json`). Exit codes: 0 success, 1 a check failed (the
numbers are still printed), 2 bad input (a `riemflow.errors.InputError` or a usage error),
3 a solver failed (`SolverError`, `ConvergenceError`), 130 interrupted (Ctrl-C). With
`--json`, a failure with exit code 2 or 3 still prints one JSON document on stdout:
`{"error": TYPE, "message": ..., "argument": FLAG or null, "exit_code": CODE}`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import catalog
from .errors import (
    ConvergenceError,
    GeometryError,
    InputError,
    SolverError,
    StoreBusyError,
    SweepPointError,
)

EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_SOLVER_FAILED = 0, 1, 2, 3
EXIT_INTERRUPTED = 130

#: the Python argument names of riemflow's functions -> the flags the user typed
FLAGS = {
    "t_span": "--t-final",
    "n_jobs": "--jobs",
    "domain": "--box",
    "box": "--box",
    "tol": "--tol",
    "dim": "--dim",
    "depth": "--depth",
    "alpha": "--alpha",
    "p": "--p",
    "rtol": "--rtol",
    "grid": "--grid",
    "store": "--store",
    "seed": "--seed",
    "scheduler": "--scheduler",
    "errors": "--errors",
    "samples": "--samples",
    "n_samples": "--samples",
    "grid_points": "--grid-points",
    "out": "--out",
    "function": "FUNCTION",
    "name": "NAME",
}

#: options whose values may begin with "-" (a negative box end): `--box -1:1` is read as
#: `--box=-1:1`
_NEGATIVE_VALUES = ("--box",)


def _box(text: str | None, R, width: float):
    """`lo:hi` (every coordinate) or `lo1:hi1,lo2:hi2,...`; default a box of half-width
    `width` around the domain's center."""
    if text is None:
        c = np.asarray(R.domain.center())
        return [(float(ci - width), float(ci + width)) for ci in c]
    try:
        pairs = [tuple(float(v) for v in part.split(":")) for part in text.split(",")]
    except ValueError:
        pairs = [()]
    if any(len(p) != 2 for p in pairs):
        raise InputError(
            f"`--box` must be lo:hi or lo1:hi1,lo2:hi2,...; got {text!r}", argument="box"
        )
    if len(pairs) == 1:
        pairs = pairs * R.dim
    return pairs


# -- output --------------------------------------------------------------------------------------
def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _emit(args, document: dict, text: str) -> None:
    if args.json:
        print(json.dumps(_jsonable(document), indent=2))
    else:
        print(text)


# -- commands ------------------------------------------------------------------------------------
def _cmd_demo(args) -> int:
    from .demo import run_demo

    start = time.perf_counter()
    result = run_demo(seed=args.seed)
    elapsed = time.perf_counter() - start
    text = (
        "riemflow demo: gradient flows on reparametrized models vs their mirror flows\n\n"
        f"{result}\n({elapsed:.1f} s)"
    )
    _emit(args, {**result.to_dict(), "seconds": round(elapsed, 3)}, text)
    return EXIT_OK if result.passed else EXIT_CHECK_FAILED


def _cmd_verify_forward(args) -> int:
    from .verify import loop_test, verify_equivalence

    rng = np.random.default_rng(args.seed)
    G, x0 = catalog.MODELS[args.model].build(args.dim, depth=args.depth, alpha=args.alpha, rng=rng)
    w0 = np.asarray(G(x0))
    loss = catalog.LOSSES[args.loss].build(w0, args.samples, rng)
    commuting = G.check_commuting(rtol=args.commuting_rtol)
    regular = G.check_regular()
    doc = {
        "direction": "forward",
        "model": G.name,
        "loss": args.loss,
        "commuting": {
            "passed": commuting.passed,
            "max_bracket": commuting.max_bracket,
            "rtol": args.commuting_rtol,
        },
        "regular": {"passed": regular.passed, "min_singular_value": regular.min_singular_value},
    }
    lines = [
        f"model: {G.name}; loss: {args.loss} on {args.samples} random samples",
        str(commuting),
        str(regular),
    ]
    if not commuting.passed:
        loop = loop_test(G, x0)
        doc["loop"] = {"closes": loop.closes, "relative_displacement": loop.relative_displacement}
        doc["passed"] = False
        lines += [
            str(loop),
            "verdict: NOT a mirror flow for every loss (the fields do not commute)",
        ]
        _emit(args, doc, "\n".join(lines))
        return EXIT_CHECK_FAILED
    report = verify_equivalence(
        loss, (0.0, args.t_final), parametrization=G, x0=x0, tol=args.tol, rtol=args.rtol
    )
    doc.update(
        potential=report.legendre.name,
        max_deviation=report.max_deviation,
        flow_tolerance=args.tol,
        passed=report.passed,
    )
    lines += [str(report), f"verdict: {'PASSED' if report.passed else 'FAILED'}"]
    _emit(args, doc, "\n".join(lines))
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _build_converse(args):
    from .converse import commuting_parametrization

    R = catalog.POTENTIALS[args.potential].build(args.dim, alpha=args.alpha, p=args.p)
    box = _box(args.box, R, args.width)
    start = time.perf_counter()
    P = commuting_parametrization(R, box, tol=args.tol)
    return R, box, P, time.perf_counter() - start


def _converse_doc(R, box, P, seconds) -> dict:
    return {
        "potential": R.name,
        "box": box,
        "ambient_dim": P.ambient_dim,
        "isometry_defect": P.isometry_defect,
        "construction": P.construction,
        "history": [step.__dict__ for step in P.history],
        "seconds": round(seconds, 3),
    }


def _cmd_verify_converse(args) -> int:
    from .verify import verify_equivalence

    R, box, P, seconds = _build_converse(args)
    rng = np.random.default_rng(args.seed)
    w0 = np.array([0.5 * (lo + hi) for lo, hi in box])
    loss = catalog.LOSSES[args.loss].build(w0, args.samples, rng)
    # the flow is compared where M is built: a short horizon from the box's center
    tol = max(args.tol_flow, 100.0 * P.isometry_defect)
    report = verify_equivalence(
        loss, (0.0, args.t_final), parametrization=P, legendre=R, w0=w0, tol=tol, n_times=21
    )
    doc = {
        "direction": "converse",
        **_converse_doc(R, box, P, seconds),
        "isometry_tolerance": args.tol,
        "loss": args.loss,
        "max_deviation": report.max_deviation,
        "flow_tolerance": tol,
        "passed": report.passed,
    }
    text = (
        f"{P!r}\nbuilt in {seconds:.1f} s\n"
        f"isometry defect {P.isometry_defect:.3e} (asked: --tol {args.tol:g})\n"
        f"gradient flow on M vs mirror flow of R: max relative deviation "
        f"{report.max_deviation:.3e} (passes below {tol:.3g} = max(--tol-flow {args.tol_flow:g}, "
        f"100 x defect))\nverdict: {'PASSED' if report.passed else 'FAILED'}"
    )
    _emit(args, doc, text)
    return EXIT_OK if report.passed else EXIT_CHECK_FAILED


def _cmd_converse(args) -> int:
    R, box, P, seconds = _build_converse(args)
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InputError(f"`--out` {args.out!r}: directory does not exist", argument="out")
    P.save(out, grid_points=args.grid_points)
    doc = {**_converse_doc(R, box, P, seconds), "file": str(out)}
    lines = [f"{P!r}", f"built in {seconds:.1f} s; saved to {out}"]
    lines += [f"  degree {s.degree}: defect {s.defect:.2e} ({s.seconds:.1f} s)" for s in P.history]
    _emit(args, doc, "\n".join(lines))
    return EXIT_OK


def _cmd_reproduce(args) -> int:
    from . import experiments

    if args.name is None or args.list:
        doc = {name: experiments.get(name).PAPER for name in catalog.REPRODUCTIONS}
        _emit(args, doc, "\n".join(f"{k:12s} {v}" for k, v in doc.items()))
        return EXIT_OK
    module = experiments.get(args.name)
    params = dict(module.QUICK) if args.quick else {}
    start = time.perf_counter()
    df = module.run(**params, store=args.store, n_jobs=args.jobs, progress=not args.json)
    table = module.compare(df)
    seconds = time.perf_counter() - start
    if args.csv:
        df.to_csv(args.csv, index=False)
    if args.plot:
        module.plot(df).savefig(args.plot)
    passed = bool(table["agrees"].all() and table["complete"].all())
    doc = {
        "name": args.name,
        "paper": module.PAPER,
        "quick": args.quick,
        "claims": table.to_dict(orient="records"),
        "passed": passed,
        "seconds": round(seconds, 3),
    }
    reproduced = int((table["agrees"] & table["complete"]).sum())
    partial = int((~table["complete"]).sum())
    summary = f"{reproduced} of {len(table)} claims reproduced" + (
        f", {partial} partial" if partial else ""
    )
    summary += f" ({seconds:.1f} s)"
    lines = [_claim_line(row) for row in table.to_dict(orient="records")]
    text = "\n".join([module.PAPER, "", *lines, "", summary])
    _emit(args, doc, text)
    return EXIT_OK if passed else EXIT_CHECK_FAILED


def _claim_line(row: dict) -> str:
    def fmt(v):
        if v is None:
            return "not measured"
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    mark = "ok" if row["agrees"] else "FAIL"
    if not row["complete"]:
        mark = "partial"
    criterion = row["criterion"]
    if criterion == "<= tolerance":
        criterion = f"<= {fmt(row['tolerance'])}"
    return (
        f"[{mark:7s}] {row['claim']}\n          paper: {fmt(row['paper'])}; riemflow: "
        f"{row['quantity']} = {fmt(row['riemflow'])} (passes when {criterion})"
    )


def _parse_axis(text: str) -> tuple[str, list]:
    name, sep, values = text.partition("=")
    if not sep or not name or not values:
        raise InputError(f"`--grid` takes name=v1,v2,...; got {text!r}", argument="grid")
    parsed = []
    for v in values.split(","):
        try:
            parsed.append(json.loads(v))
        except json.JSONDecodeError:
            parsed.append(v)  # a bare string
    return name, parsed


def _cmd_sweep(args) -> int:
    from .sweep import sweep

    module_name, sep, attr = args.function.partition(":")
    if not sep:
        raise InputError(
            f"FUNCTION must be module:function; got {args.function!r}", argument="function"
        )
    # like `python -m`: the current directory (or --path) is importable, here and in the
    # worker processes (which import the function's module by name)
    where = str(Path(args.path or ".").resolve())
    if where not in sys.path:
        sys.path.insert(0, where)
    paths = [where, *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise InputError(f"cannot import {args.function!r}: {exc}", argument="function") from exc
    axes = dict(_parse_axis(a) for a in args.grid)
    if not axes:
        raise InputError("give at least one --grid name=v1,v2,...", argument="grid")
    start = time.perf_counter()
    df = sweep(
        fn,
        axes,
        store=args.store,
        n_jobs=args.jobs,
        scheduler=args.scheduler,
        seed=args.seed,
        progress=not args.json,
        errors=args.errors,
    )
    seconds = time.perf_counter() - start
    if args.out:
        df.to_csv(args.out, index=False)
    failed = int(df["error"].notna().sum()) if "error" in df.columns else 0
    doc = {
        "function": args.function,
        "points": len(df),
        "failed": failed,
        "seconds": round(seconds, 3),
        "results": df.to_dict(orient="records"),
    }
    _emit(args, doc, f"{df.to_string(index=False)}\n({len(df)} rows, {seconds:.1f} s)")
    return EXIT_OK if failed == 0 else EXIT_CHECK_FAILED


# -- the parser ----------------------------------------------------------------------------------
def _add_json(parser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document (no progress bars)"
    )


def _add_converse_options(parser) -> None:
    parser.add_argument(
        "--potential",
        default="log_ball",
        choices=sorted(catalog.POTENTIALS),
        help="the Legendre function R (default log_ball): "
        + "; ".join(f"{k}: {v.description}" for k, v in catalog.POTENTIALS.items()),
    )
    parser.add_argument("--dim", type=int, default=2, help="d (default 2)")
    parser.add_argument("--alpha", type=float, default=1.0, help="scale of hyperbolic_entropy")
    parser.add_argument("--p", type=float, default=3.0, help="exponent of p_norm (default 3)")
    parser.add_argument(
        "--box",
        default=None,
        help="the compact region K: lo:hi (every coordinate) or "
        "lo1:hi1,lo2:hi2; write --box=-1:1 for negative ends "
        "(default: center of dom R +- --width)",
    )
    parser.add_argument(
        "--width", type=float, default=0.25, help="half-width of the default box (default 0.25)"
    )
    parser.add_argument(
        "--tol",
        type=float,
        default=1e-8,
        help="target isometry defect max|dF^T dF - hess R|/max|hess R| (default 1e-8)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `riemflow` command."""
    parser = argparse.ArgumentParser(
        prog="riemflow",
        description=(
            "Differential-geometry modeling of implicit bias. Gradient flow on a commuting "
            "parametrization w = G(x) is, for every loss, mirror flow d/dt grad R(w) = "
            "-grad L(w) with one Legendre function R (forward theorem); every mirror flow is "
            "gradient flow on a manifold obtained by embedding the Hessian metric of R "
            "(converse). These commands check both directions and reproduce the literature."
        ),
        epilog="Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 a solver failed. "
        "Every command takes --json. Examples:\n"
        "  riemflow verify forward --model diagonal --depth 3 --alpha 0.1\n"
        "  riemflow verify converse --potential log_ball --tol 1e-6\n"
        "  riemflow converse --potential simplex_entropy --box 0.2:0.4 --out simplex.npz\n"
        "  riemflow reproduce woodworth --quick\n"
        "  riemflow sweep mymodule:experiment --grid alpha=0.01,0.1,1 --store runs.db --jobs 2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo",
        help="check the geometry core on its default examples (seconds)",
        description=(
            "Checks that u*u on the sphere S^2 commutes, is regular, that its gradient flow "
            "stays on the sphere and equals the simplex-entropy mirror flow; that the "
            "u*u - v*v network follows the hyperbolic-entropy ODE and converges to its "
            "Bregman projection; that depth-3 products are the mirror flow of their "
            "numerically built potential; and that U U^T is caught as non-commuting."
        ),
    )
    demo.add_argument("--seed", type=int, default=0, help="seed of data and samples (default 0)")
    _add_json(demo)
    demo.set_defaults(func=_cmd_demo)

    verify = sub.add_parser(
        "verify",
        help="check the equivalence numerically, forward or converse",
        description=(
            "forward: build a model, check that its gradient fields commute and that dG is "
            "regular, build R = mirror_potential(G, x_init), and compare gradient flow with "
            "mirror flow on a random loss. converse: build a commuting parametrization from "
            "R on a box and compare gradient flow on it with mirror flow of R."
        ),
    )
    vsub = verify.add_subparsers(dest="direction", required=True, metavar="DIRECTION")
    fwd = vsub.add_parser(
        "forward",
        help="model -> potential -> flows",
        description="models: "
        + "; ".join(f"{k}: {v.description}" for k, v in catalog.MODELS.items()),
    )
    fwd.add_argument(
        "--model",
        default="diagonal",
        choices=sorted(catalog.MODELS),
        help="the parametrization (default diagonal)",
    )
    fwd.add_argument("--dim", type=int, default=5, help="d, the size of w (default 5)")
    fwd.add_argument("--depth", type=float, default=2.0, help="depth L (default 2)")
    fwd.add_argument("--alpha", type=float, default=0.5, help="init scale (default 0.5)")
    fwd.add_argument(
        "--loss", default="squared", choices=sorted(catalog.LOSSES), help="default squared"
    )
    fwd.add_argument("--samples", type=int, default=3, help="data points n (default 3)")
    fwd.add_argument("--t-final", type=float, default=5.0, help="flow horizon (default 5)")
    fwd.add_argument(
        "--tol",
        type=float,
        default=1e-8,
        help="largest relative deviation that passes (default 1e-8)",
    )
    fwd.add_argument("--rtol", type=float, default=1e-12, help="ODE rtol (default 1e-12)")
    fwd.add_argument(
        "--commuting-rtol",
        type=float,
        default=1e-8,
        help="bracket tolerance, relative to the fields (default 1e-8)",
    )
    fwd.add_argument("--seed", type=int, default=0, help="seed of data and init (default 0)")
    _add_json(fwd)
    fwd.set_defaults(func=_cmd_verify_forward)
    conv = vsub.add_parser("converse", help="potential -> embedded manifold -> flows")
    _add_converse_options(conv)
    conv.add_argument(
        "--loss", default="squared", choices=sorted(catalog.LOSSES), help="default squared"
    )
    conv.add_argument("--samples", type=int, default=1, help="data points n (default 1)")
    conv.add_argument("--t-final", type=float, default=0.5, help="flow horizon (default 0.5)")
    conv.add_argument(
        "--tol-flow",
        type=float,
        default=1e-7,
        help="deviation that passes, at least 100x the defect (default 1e-7)",
    )
    conv.add_argument("--seed", type=int, default=0, help="seed of the data (default 0)")
    _add_json(conv)
    conv.set_defaults(func=_cmd_verify_converse)

    converse = sub.add_parser(
        "converse",
        help="build a commuting parametrization of a potential and save its embedding",
        description=(
            "Builds F with dF^T dF = hess R on a box (exactly for flat metrics, by a "
            "Chebyshev-collocation Nash embedding for curved ones) and saves points, F, dF, "
            "hess R (and the Chebyshev coefficients, reloadable with riemflow.converse.load) "
            "to a NumPy .npz file."
        ),
    )
    _add_converse_options(converse)
    converse.add_argument("--out", required=True, help="the .npz file to write")
    converse.add_argument(
        "--grid-points", type=int, default=9, help="tabulation nodes per coordinate (default 9)"
    )
    _add_json(converse)
    converse.set_defaults(func=_cmd_converse)

    reproduce = sub.add_parser(
        "reproduce",
        help="reproduce a paper of the literature (riemflow reproduce --list)",
        description=(
            "Runs one reproduction of riemflow.experiments and prints the paper's claims "
            "next to riemflow's numbers; exit 1 if a claim is not reproduced."
        ),
    )
    reproduce.add_argument("name", nargs="?", help=", ".join(catalog.REPRODUCTIONS))
    reproduce.add_argument("--list", action="store_true", help="list the reproductions")
    reproduce.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    reproduce.add_argument("--store", help="SQLite results store: resume an interrupted run")
    reproduce.add_argument("--jobs", type=int, default=1, help="worker processes (default 1)")
    reproduce.add_argument("--csv", help="write the results table to this CSV file")
    reproduce.add_argument("--plot", help="save the figure to this file (.png, .svg, .pdf)")
    _add_json(reproduce)
    reproduce.set_defaults(func=_cmd_reproduce)

    sweep = sub.add_parser(
        "sweep",
        help="map a function over a grid of parameters, in parallel, resumably",
        description=(
            "Calls module:function(**point) for every point of the grid (the product of the "
            "--grid axes) with joblib workers or on a Dask cluster; every finished point "
            "is written to --store at once, and a re-run with the same store computes only "
            "what is missing. The function returns a dict of results (or a list of dicts)."
        ),
    )
    sweep.add_argument("function", help="module:function, importable (see --path)")
    sweep.add_argument(
        "--grid",
        action="append",
        default=[],
        help="an axis name=v1,v2,... (values parsed as JSON, else strings); repeat for more axes",
    )
    sweep.add_argument("--store", help="SQLite results store (resumable)")
    sweep.add_argument("--jobs", type=int, default=1, help="joblib workers (default 1; -1: all)")
    sweep.add_argument("--scheduler", help="Dask scheduler address, e.g. tcp://host:8786")
    sweep.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    sweep.add_argument(
        "--errors",
        choices=("raise", "record"),
        default="raise",
        help="stop at the first failing point, or record it (default raise)",
    )
    sweep.add_argument("--out", help="write the results to this CSV file")
    sweep.add_argument("--path", help="directory to import the function's module from")
    _add_json(sweep)
    sweep.set_defaults(func=_cmd_sweep)
    return parser


def _flag(argument: str | None) -> str | None:
    return None if argument is None else FLAGS.get(argument, f"--{argument.replace('_', '-')}")


def _user_message(exc: BaseException) -> str:
    """The error message with Python argument names replaced by the flags the user typed."""
    text = str(exc)
    for name, flag in FLAGS.items():
        text = text.replace(f"`{name}`", f"`{flag}`")
    return text


def _failure(args, exc: BaseException, code: int, prefix: str) -> int:
    message = _user_message(exc)
    if getattr(args, "json", False):
        document = {
            "error": type(exc).__name__,
            "message": message,
            "argument": _flag(getattr(exc, "argument", None)),
            "exit_code": code,
        }
        print(json.dumps(document, indent=2))
    print(f"riemflow: {prefix}{message}", file=sys.stderr)
    return code


def _join_negative_values(argv: list[str]) -> list[str]:
    """`--box -1:1` -> `--box=-1:1` (argparse reads a value beginning with '-' as a flag)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token in _NEGATIVE_VALUES and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `riemflow` command; returns the exit code."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(_join_negative_values(argv))
    try:
        return args.func(args)
    except KeyboardInterrupt as exc:
        saved = getattr(exc, "riemflow_saved", None)
        if saved is not None:
            done, total, store = saved
            where = (
                f"saved in {store}; run the same command to resume"
                if store
                else ("computed, but not saved: give --store to keep finished points")
            )
            print(f"\nriemflow: interrupted: {done} of {total} points {where}", file=sys.stderr)
        else:
            print("\nriemflow: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except StoreBusyError as exc:
        return _failure(args, exc, EXIT_BAD_INPUT, "")
    except InputError as exc:
        return _failure(args, exc, EXIT_BAD_INPUT, "bad input: ")
    except (SolverError, ConvergenceError) as exc:
        return _failure(args, exc, EXIT_SOLVER_FAILED, f"solver failed: {type(exc).__name__}: ")
    except (GeometryError, SweepPointError) as exc:
        print(
            f"riemflow: check failed: {type(exc).__name__}: {_user_message(exc)}", file=sys.stderr
        )
        return EXIT_CHECK_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
