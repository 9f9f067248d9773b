"""Performance page: the table and the figure, from the suite's committed results.

Reads benchmarks/results/latest.json (written by `python -m benchmarks.run --json ...`);
nothing is timed while the site builds.
"""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

import riemflow as rf
from riemflow.experiments.tables import markdown_table

#: one file per run of the suite (a run may cover some cases only)
RUNS = [json.loads(p.read_text()) for p in sorted(Path("benchmarks/results").glob("*.json"))]
RUNS.sort(key=lambda run: min(row["case"] for row in run["rows"]))
ROWS = [row for run in RUNS for row in run["rows"]]

#: what a user would do without riemflow, per case
ALTERNATIVE = {
    "1": "the same flow written by hand in NumPy (same solver)",
    "2": "geomstats' PullbackMetric on the same surface",
    "3": "a per-point loop: autograd Jacobians, finite differences",
    "4": "the closed form (the hyperbolic entropy)",
    "5": "scipy's least_squares (MINPACK) on the same equations",
    "6": "a closed form",
    "7": "collocation (Levenberg-Marquardt) into the smallest D",
}
ALTERNATIVE_ROW = {  # rows whose alternative is not the case's
    "tangent kernel": "the same formula assembled from geomstats",
    "E switching": "the same mirror flow with the full loss, fixed",
    "verify_equivalence": "both flows written by hand in NumPy",
    "product L=3": "the closed form the model carries",
    "u^3+u-v^3-v": "an exact potential written for this map",
    "no structure": "the closed form",
    "500 curved 2-D blocks": "one 2-D block alone",
    "commuting_parametrization, radial": "none: the numerical route is refused at d = 10",
    "d=4": "none: collocation is refused by its estimate",
}


def _operation(row) -> str:
    name = row["name"]
    if row["case"] == "6":
        name = name.split(" ", 1)[1]  # drop the sub-case letter
    return f"{name} ({row['variant']})" if row["variant"] else name


def _alternative(row) -> str:
    for key, text in ALTERNATIVE_ROW.items():
        if key in row["name"]:
            return text
    return ALTERNATIVE[row["case"]]


def _time(seconds, unit, lower=False) -> str:
    if seconds is None:
        return ""
    for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if seconds >= scale or name == "µs":
            text = f"{seconds / scale:.3g} {name}"
            break
    if unit not in ("call", ""):
        text += f" per {'point' if unit == 'pt' else unit}"
    return (">" if lower else "") + text


def _x(value: float) -> str:
    """A factor at two significant digits, without exponent notation."""
    return f"{value:.0f}" if value >= 100 else f"{value:.2g}"


def _verdict(row) -> str:
    ratio = row["ratio"]
    if ratio is None:
        return ""
    bound = row["baseline_is_lower_bound"]
    lo, hi = row["ratio_spread"]
    if ratio < 1:
        text = f"{'>' if bound else ''}{_x(1 / ratio)}x faster"
        spread = f"{_x(1 / hi)}x-{_x(1 / lo)}x" if hi < 1 else ""
    else:
        text = f"{_x(ratio)}x slower"
        spread = f"{_x(lo)}x-{_x(hi)}x" if lo >= 1 else ""
    return f"{text} ({spread})" if spread and hi / lo > 1.05 else text


def table() -> str:
    """One row per operation at its largest size."""
    last = {}
    for row in ROWS:
        last[(row["case"], row["name"], row["variant"])] = row
    records = [
        {
            "operation": _operation(row),
            "size": row["size"],
            "riemflow": _time(row["riemflow_median"], row["unit"]),
            "alternative": _alternative(row),
            "its time": _time(row["baseline_median"], row["unit"], row["baseline_is_lower_bound"]),
            "riemflow is": _verdict(row),
        }
        for row in last.values()
    ]
    return markdown_table(pd.DataFrame(records))


def _series(case, name, variant=""):
    rows = [r for r in ROWS if r["case"] == case and r["name"] == name and r["variant"] == variant]
    x = np.array([r["size_value"] for r in rows], dtype=float)
    rf_t = np.array([r["riemflow_median"] for r in rows])
    base = np.array([r["baseline_median"] or np.nan for r in rows], dtype=float)
    lower = np.array([r["baseline_is_lower_bound"] for r in rows])
    return x, rf_t, base, lower


PANELS = [  # (case, row name, x label, title, baseline label)
    ("1", "gradient_flow", "$d$ (outputs)", "gradient flow", "NumPy by hand"),
    ("2", "pullback metric", "$B$ (points)", "pullback metric, batch", "geomstats"),
    ("3", "check_commuting", "$d$ (outputs)", "Lie brackets, per point", "per-point loop"),
    ("5", "commuting_parametrization", "$1/\\mathrm{tol}$", "the converse", "MINPACK LM"),
]


def figure() -> str:
    fig, axes = rf.plotting.panels(2, 2, height=5.2)
    for ax, (case, name, xlabel, title, base_label) in zip(axes.flat, PANELS, strict=True):
        x, rf_t, base, lower = _series(case, name)
        if case == "5":
            x = 1 / x if x.max() < 1 else x
        ax.loglog(x, rf_t, "o-", color="C0", label="riemflow")
        ax.loglog(x, base, "s--", color="C1", label=base_label)
        if lower.any():  # the alternative stopped at its budget: its time is a lower bound
            ax.loglog(x[lower], base[lower], "^", color="C1", ms=9, label="(lower bound)")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("seconds" + (" per point" if case == "3" else ""))
        ax.set_title(title, fontsize=10)
        ax.minorticks_off()
        if case == "5":
            ax.set_xticks(x, [f"$10^{{{np.log10(v):.0f}}}$" for v in x])
        else:
            ax.set_xticks(x, [f"{v:g}" for v in x])
        ax.legend(fontsize=8, loc="upper left")
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    return buffer.getvalue()


def machine() -> str:
    """Where and how the committed results were measured, one sentence per run."""
    out = []
    for run in RUNS:
        m = run["machine"]
        cases = sorted({row["case"] for row in run["rows"]})
        out.append(
            f"case{'s' if len(cases) > 1 else ''} {', '.join(cases)}: {m['date']}, "
            f"{m['mode']} sizes, {m['repeats']} repeats "
            f"({m['seconds'] / 60:.0f} min) on {m['nproc']} cores of an {m['cpu']}, "
            f"numpy {m['numpy']} with BLAS {', '.join(m['blas_threads'])}; load average "
            f"{m['loadavg_start'][0]:.1f} at the start and {m['loadavg_end'][0]:.1f} at the end"
        )
    return "; ".join(out)
