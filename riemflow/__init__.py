"""riemflow: reparametrized gradient flows as mirror flows, computable in both directions.

The geomstats backend is fixed to autograd here, before geomstats is first imported (it
reads `GEOMSTATS_BACKEND` once per process), so users, tests, docs builds and sweep
workers never have to set it.
"""

import os as _os
import sys as _sys

if "geomstats._backend" in _sys.modules:
    _loaded = _sys.modules["geomstats._backend"].BACKEND_NAME
    if _loaded != "autograd":
        raise ImportError(
            f"riemflow needs the geomstats autograd backend, but geomstats was already imported "
            f"with the {_loaded!r} backend. Import riemflow before geomstats (riemflow selects "
            "the backend itself), or set GEOMSTATS_BACKEND=autograd before importing geomstats."
        )
_os.environ["GEOMSTATS_BACKEND"] = "autograd"

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError  # noqa: E402
from importlib.metadata import version as _version  # noqa: E402

from . import (  # noqa: E402
    bregman,
    conditions,
    convex,
    domains,
    embedding,
    errors,
    hessian_metric,
    joint_flow,
    losses,
    models,
    plotting,
    potentials,
    spaces,
    sweep,
)
from .bregman import ImplicitBias as ImplicitBias  # noqa: E402
from .bregman import implicit_bias as implicit_bias  # noqa: E402
from .converse import ConverseParametrization as ConverseParametrization  # noqa: E402
from .converse import commuting_parametrization as commuting_parametrization  # noqa: E402
from .embedding import DegreeStep as DegreeStep  # noqa: E402
from .flows import gradient_descent, gradient_flow, mirror_descent, mirror_flow  # noqa: E402
from .forward import mirror_potential as mirror_potential  # noqa: E402
from .hessian_metric import FlatnessReport as FlatnessReport  # noqa: E402
from .legendre import Legendre as Legendre  # noqa: E402
from .legendre import LegendreReport as LegendreReport  # noqa: E402
from .parametrization import (  # noqa: E402
    CommutingReport as CommutingReport,
)
from .parametrization import (  # noqa: E402
    Parametrization as Parametrization,
)
from .parametrization import (  # noqa: E402
    RegularityReport as RegularityReport,
)
from .trajectory import Trajectory as Trajectory  # noqa: E402
from .verify import DiscretizationReport as DiscretizationReport  # noqa: E402
from .verify import EquivalenceReport as EquivalenceReport  # noqa: E402
from .verify import LoopReport as LoopReport  # noqa: E402
from .verify import discretization_gap as discretization_gap  # noqa: E402
from .verify import loop_test as loop_test  # noqa: E402
from .verify import verify_equivalence as verify_equivalence  # noqa: E402

try:
    __version__ = _version("riemflow")
except _PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

__all__ = [
    "CommutingReport",
    "ConverseParametrization",
    "DegreeStep",
    "DiscretizationReport",
    "EquivalenceReport",
    "FlatnessReport",
    "ImplicitBias",
    "Legendre",
    "LegendreReport",
    "LoopReport",
    "Parametrization",
    "RegularityReport",
    "Trajectory",
    "bregman",
    "commuting_parametrization",
    "conditions",
    "convex",
    "discretization_gap",
    "domains",
    "embedding",
    "errors",
    "gradient_descent",
    "gradient_flow",
    "hessian_metric",
    "implicit_bias",
    "joint_flow",
    "loop_test",
    "losses",
    "mirror_descent",
    "mirror_flow",
    "mirror_potential",
    "models",
    "plotting",
    "potentials",
    "spaces",
    "sweep",
    "verify_equivalence",
]
