"""Timing harness of the benchmark suite: alternating arms, robust statistics, slopes.

Machines are shared and noisy, so nothing here is compared with a remembered absolute time:
every row holds riemflow and its baseline measured in the same run, alternately (the order
of the arms rotates from one repeat to the next, so a drift in machine load hits all arms
alike), and reports the median over repeats with the spread of the per-repeat ratios.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np


@dataclass
class Timed:
    """An arm's own measurement, overriding the harness's wall clock (e.g. time-to-target).

    `censored=True` means the arm stopped at its budget without reaching its target, so
    `seconds` is a lower bound.
    """

    seconds: float
    value: Any = None
    censored: bool = False


def run_arms(
    arms: dict[str, Callable[[int], Any]],
    repeats: int,
    *,
    warmup: bool = True,
    rotate: bool = True,
) -> tuple[dict[str, list[float]], dict[str, list[Any]], dict[str, list[bool]]]:
    """Run each arm `repeats` times, alternating; return times, outputs and censoring flags.

    Each arm is called as `arm(repeat_index)` (so it can draw fresh inputs per repeat). It
    may return a `Timed` to report its own time. With `rotate`, repeat `k` starts with arm
    `k mod n_arms`; without it the order is fixed (for arms that depend on an earlier
    arm's result in the same repeat). `warmup` calls every arm once, untimed, with index -1.
    """
    names = list(arms)
    if warmup:
        for name in names:
            arms[name](-1)
    times: dict[str, list[float]] = {n: [] for n in names}
    outputs: dict[str, list[Any]] = {n: [] for n in names}
    censored: dict[str, list[bool]] = {n: [] for n in names}
    for k in range(repeats):
        shift = k % len(names) if rotate else 0
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            out = arms[name](k)
            elapsed = time.perf_counter() - start
            if isinstance(out, Timed):
                times[name].append(out.seconds)
                censored[name].append(out.censored)
                out = out.value
            else:
                times[name].append(elapsed)
                censored[name].append(False)
            outputs[name].append(out)
    return times, outputs, censored


def relative_gap(a, b) -> float:
    """`max |a - b| / max |b|`: the agreement figure of riemflow's output `a` against the
    baseline's `b`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile (numpy's default) of a non-empty sequence."""
    xs = sorted(values)
    pos = q * (len(xs) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass
class Row:
    """One line of the table: riemflow and its baseline at one size.

    Times are in seconds per `unit` (a whole call, or one point / one evaluation).
    `target` is a human-readable statement; `met` is `None` when the row has no target.
    `checks` holds the agreement numbers (and their tolerances) the row decided on.
    """

    case: str
    name: str
    size: str
    size_value: float
    unit: str
    riemflow: list[float]
    baseline: list[float] | None = None
    baseline_censored: list[bool] | None = None
    variant: str = ""
    target: str = ""
    met: bool | None = None
    checks: dict[str, Any] = field(default_factory=dict)
    agree: bool = True
    note: str = ""

    # -- statistics -------------------------------------------------------------------------
    @property
    def riemflow_median(self) -> float:
        return statistics.median(self.riemflow)

    @property
    def baseline_median(self) -> float | None:
        return None if not self.baseline else statistics.median(self.baseline)

    @property
    def censored(self) -> bool:
        """Whether the baseline median is only a lower bound (it hit its budget)."""
        if not self.baseline_censored:
            return False
        return sum(self.baseline_censored) * 2 > len(self.baseline_censored)

    @property
    def ratios(self) -> list[float]:
        """Per-repeat ratios riemflow / baseline (paired by repeat)."""
        if not self.baseline:
            return []
        return [a / b for a, b in zip(self.riemflow, self.baseline, strict=True) if b > 0]

    @property
    def ratio(self) -> float | None:
        """Median of the per-repeat ratios riemflow / baseline (< 1: riemflow is faster).

        Paired by repeat, so a load spike that slows both arms of one repeat cancels; it
        lies inside `spread`, unlike a ratio of medians taken from different repeats.
        """
        r = self.ratios
        return statistics.median(r) if r else None

    @property
    def spread(self) -> tuple[float, float] | None:
        """Interquartile range of the per-repeat ratios (min-max below 4 repeats)."""
        r = self.ratios
        if not r:
            return None
        if len(r) < 4:
            return min(r), max(r)
        return quantile(r, 0.25), quantile(r, 0.75)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            riemflow_median=self.riemflow_median,
            baseline_median=self.baseline_median,
            ratio=self.ratio,
            ratio_spread=self.spread,
            ratio_min=min(self.ratios) if self.ratios else None,
            ratio_max=max(self.ratios) if self.ratios else None,
            baseline_is_lower_bound=self.censored,
        )
        return out


# -- formatting ------------------------------------------------------------------------------
def fmt_time(seconds: float | None, unit: str = "") -> str:
    """`1.23 ms`, with the row's unit appended (`/pt`, `/eval`)."""
    if seconds is None:
        return "-"
    suffix = f"/{unit}" if unit and unit != "call" else ""
    for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "us")):
        if abs(seconds) >= scale or name == "us":
            return f"{seconds / scale:.3g} {name}{suffix}"
    return f"{seconds:.3g} s"


def fmt_ratio(value: float | None, censored: bool = False) -> str:
    if value is None:
        return "-"
    text = f"{value:.3g}"
    return f"<{text}" if censored else text


def table(rows: Sequence[Row]) -> list[list[str]]:
    """The table as rows of strings (header first)."""
    header = [
        "case",
        "size",
        "riemflow (median)",
        "baseline (median)",
        "ratio rf/base",
        "spread",
        "target",
        "met?",
        "agreement",
    ]
    body = [header]
    for row in rows:
        spread = row.spread
        label = f"{row.case} {row.name}" + (f" [{row.variant}]" if row.variant else "")
        base = fmt_time(row.baseline_median, row.unit)
        if row.censored:
            base = ">" + base
        body.append(
            [
                label,
                row.size,
                fmt_time(row.riemflow_median, row.unit),
                base,
                fmt_ratio(row.ratio, row.censored),
                "-" if spread is None else f"{spread[0]:.3g}-{spread[1]:.3g}",
                row.target or "-",
                {None: "-", True: "yes", False: "NO"}[row.met],
                ("ok " if row.agree else "FAIL ") + _checks_summary(row.checks),
            ]
        )
    return body


def _checks_summary(checks: dict[str, Any]) -> str:
    parts = []
    for key, value in checks.items():
        if isinstance(value, float):
            parts.append(f"{key}={value:.1e}")
        elif isinstance(value, bool):
            continue
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def render_text(rows: Sequence[Row]) -> str:
    """Fixed-width table for the terminal."""
    cells = table(rows)
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for k, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row]) -> str:
    """The same table as GitHub markdown (for docs/performance.md)."""
    cells = table(rows)
    esc = [[c.replace("|", "\\|") for c in r] for r in cells]
    lines = ["| " + " | ".join(esc[0]) + " |", "|" + "---|" * len(esc[0])]
    lines += ["| " + " | ".join(r) + " |" for r in esc[1:]]
    return "\n".join(lines)


# -- scaling ------------------------------------------------------------------------------------
def loglog_slope(sizes: Sequence[float], times: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(size)."""
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in times]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def slopes(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """A log-log slope per (case, name, variant) over the sizes run, riemflow and baseline.

    A baseline slope is omitted when a baseline median is censored (a lower bound) or
    missing, and for variant rows (the baseline is the unfixed row's).
    """
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for row in rows:
        groups.setdefault((row.case, row.name, row.variant), []).append(row)
    out = []
    for (case, name, variant), group in groups.items():
        if len({r.size_value for r in group}) < 2:
            continue
        group = sorted(group, key=lambda r: r.size_value)
        sizes = [r.size_value for r in group]
        entry: dict[str, Any] = {
            "case": case,
            "name": name,
            "variant": variant,
            "sizes": [r.size for r in group],
            "size_values": sizes,
            "riemflow_slope": loglog_slope(sizes, [r.riemflow_median for r in group]),
            "baseline_slope": None,
        }
        bases = [r.baseline_median for r in group]
        usable = all(b is not None and b > 0 for b in bases) and not any(r.censored for r in group)
        if usable and not variant:
            entry["baseline_slope"] = loglog_slope(sizes, bases)
        out.append(entry)
    return out


def render_slopes(entries: Sequence[dict[str, Any]], markdown: bool = False) -> str:
    head = ["case", "sizes", "riemflow slope", "baseline slope"]
    body = [
        [
            f"{e['case']} {e['name']}" + (f" [{e['variant']}]" if e["variant"] else ""),
            ", ".join(e["sizes"]),
            f"{e['riemflow_slope']:.2f}",
            "-" if e["baseline_slope"] is None else f"{e['baseline_slope']:.2f}",
        ]
        for e in entries
    ]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    cells = [head] + body
    widths = [max(len(r[i]) for r in cells) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# -- machine ------------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """Date, CPU, core count, load, library versions and BLAS threads of this run."""
    info: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_start": loadavg(),
    }
    try:
        affinity = len(os.sched_getaffinity(0))
        info["nproc"] = affinity
    except (AttributeError, OSError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    for pkg in ("riemflow", "numpy", "scipy", "autograd", "geomstats"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = None
    info["blas_threads"] = blas_threads()
    return info


def blas_threads() -> list[str] | None:
    """BLAS libraries loaded by numpy and scipy, with their thread counts."""
    import numpy  # noqa: F401 - load the libraries threadpoolctl reports on
    import scipy.linalg  # noqa: F401

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    return sorted({f"{p.get('internal_api')} x{p.get('num_threads')}" for p in threadpool_info()})


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None
