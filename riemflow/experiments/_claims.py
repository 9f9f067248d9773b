"""The table every reproduction's `compare` returns (one row per claim of the paper), and
the agreement figure most claims are judged with."""

from __future__ import annotations

import numpy as np

COLUMNS = ("claim", "paper", "riemflow", "tolerance", "agrees")


class ClaimTable:
    """Collects `(claim, paper, riemflow, tolerance, agrees)` rows.

    Example:
        >>> from riemflow.experiments._claims import ClaimTable
        >>> claims = ClaimTable()
        >>> claims.add("gap below 1e-8", "equal", 3e-10, 1e-8, 3e-10 <= 1e-8)
        >>> claims.table()["agrees"].tolist()
        [True]
    """

    def __init__(self):
        self.rows: list[dict] = []

    def add(self, claim: str, paper, riemflow, tolerance, agrees) -> None:
        """One claim: the paper's statement and riemflow's number, judged by `agrees`."""
        self.rows.append(
            {
                "claim": claim,
                "paper": paper,
                "riemflow": riemflow,
                "tolerance": tolerance,
                "agrees": bool(agrees),
            }
        )

    def table(self):
        """The rows as a `pandas.DataFrame` with the columns `COLUMNS`."""
        import pandas as pd

        return pd.DataFrame(self.rows, columns=list(COLUMNS))


def relative_gap(a, b) -> float:
    """`max |a - b| / max |b|`: how far a result `a` is from the reference `b`.

    Example:
        >>> from riemflow.experiments._claims import relative_gap
        >>> round(relative_gap([1.0, 2.001], [1.0, 2.0]), 12)
        0.0005
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
