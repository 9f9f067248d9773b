"""The table every reproduction's `compare` returns (one row per claim of the paper), and
the agreement figure most claims are judged with."""

from __future__ import annotations

import math
import re

import numpy as np

#: the columns of every `compare` table, and the JSON schema of `riemflow reproduce --json`:
#: `claim` (str), `paper` (the paper's statement, str or number), `riemflow` (the measured
#: number, or null), `quantity` (what that number is, str), `criterion` (how it is judged,
#: str, e.g. "<= tolerance" or "> 0"), `tolerance` (number or null), `agrees` (bool),
#: `complete` (bool: false when part of the measurement failed, e.g. some points of a sweep)
COLUMNS = ("claim", "paper", "riemflow", "quantity", "criterion", "tolerance", "agrees", "complete")

_COMPARISON = re.compile(r"^\s*(<=|>=|<|>|=)\s*([-+0-9.eE]+)\s*$")


def _criterion(tolerance) -> tuple[str, float | None]:
    """`(criterion, tolerance)` from a tolerance given as a number (`riemflow <= number`) or
    as a comparison string such as `"> 0"` or a word such as `"increasing"`."""
    if tolerance is None:
        return "see claim", None
    if isinstance(tolerance, str):
        match = _COMPARISON.match(tolerance)
        if match:
            return f"{match.group(1)} {match.group(2)}", float(match.group(2))
        return tolerance, None
    return "<= tolerance", float(tolerance)


def _default_quantity(paper) -> str:
    if paper == "equal":
        return "largest relative difference"
    if paper in (0, "0", "-> 0"):
        return "largest measured value"
    return "measured value"


class ClaimTable:
    """Collects claim rows (`COLUMNS`), one per claim of a paper.

    Examples:
        >>> from riemflow.experiments._claims import ClaimTable
        >>> claims = ClaimTable()
        >>> claims.add("gap below 1e-8", "equal", 3e-10, 1e-8, 3e-10 <= 1e-8)
        >>> claims.add("slope is positive", "> 0", 0.4, "> 0", True,
        ...            quantity="fitted slope")
        >>> claims.table()[["criterion", "tolerance", "agrees"]].values.tolist()
        [['<= tolerance', 1e-08, True], ['> 0', 0.0, True]]
    """

    def __init__(self):
        self.rows: list[dict] = []

    def add(
        self,
        claim: str,
        paper,
        riemflow,
        tolerance,
        agrees,
        *,
        quantity: str | None = None,
        complete: bool = True,
    ) -> None:
        """One claim: the paper's statement and riemflow's number, judged by `agrees`.

        Args:
            claim: the claim, in words.
            paper: what the paper states (`"equal"`, `"-> 0"`, a number, ...).
            riemflow: the measured number (`None` or NaN when it could not be measured).
            tolerance: a number (the claim holds when `riemflow <= tolerance`) or a
                comparison string such as `"> 0"`, `"< 1"` or a word (`"increasing"`).
            agrees: the verdict.
            quantity: what `riemflow` is (default: "largest relative difference" when the
                paper says "equal", else "measured value").
            complete: `False` when part of the measurement failed; the claim is then
                reported as partial, whatever `agrees` says.
        """
        criterion, number = _criterion(tolerance)
        value = None if riemflow is None else riemflow
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        self.rows.append(
            {
                "claim": claim,
                "paper": paper,
                "riemflow": value,
                "quantity": quantity or _default_quantity(paper),
                "criterion": criterion,
                "tolerance": number,
                "agrees": bool(agrees),
                "complete": bool(complete),
            }
        )

    def table(self):
        """The rows as a `pandas.DataFrame` with the columns `COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def relative_gap(a, b) -> float:
    """`max |a - b| / max |b|`: how far a result `a` is from the reference `b`.

    Examples:
        >>> from riemflow.experiments._claims import relative_gap
        >>> round(relative_gap([1.0, 2.001], [1.0, 2.0]), 12)
        0.0005
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
