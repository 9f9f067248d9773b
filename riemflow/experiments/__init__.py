"""Reproductions of the literature on diagonal linear networks, one module per paper.

Every module has the same small interface, so `riemflow reproduce NAME`, the docs and the
tests treat them alike:

- `NAME`, `PAPER`: the name used on the command line and the paper reproduced;
- `QUICK`: keyword arguments of `run` for a run of seconds;
- `run(**params) -> pandas.DataFrame`: the experiment, tidy results (sweeps go through
  `riemflow.sweep`, so they show progress and resume from a `store`);
- `compare(df) -> pandas.DataFrame`: the paper's claims next to riemflow's numbers, one row
  per claim (`claim`, `paper`, `riemflow`, `tolerance`, `agrees`);
- `plot(df) -> matplotlib.figure.Figure`: the paper's figure, redrawn.

Modules are imported on demand (`get(name)`), so `import riemflow` stays fast.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import InputError

__all__ = ["NAMES", "get"]

#: The reproductions available, in the order of the references on the Concepts page.
NAMES = ("li", "woodworth", "moroshko", "wind", "labarriere", "azulay", "pesme")


def get(name: str) -> ModuleType:
    """The experiment module called `name` (one of `NAMES`).

    Raises:
        InputError: `name` is not a known reproduction.
    """
    if name not in NAMES:
        raise InputError(
            f"no reproduction named {name!r}; the reproductions are {', '.join(NAMES)}",
            argument="name",
        )
    return importlib.import_module(f"{__name__}.{name}")
