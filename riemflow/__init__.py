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

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError
from importlib.metadata import version as _version

from . import (
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
    structure,
    sweep,
)
from .bregman import ImplicitBias as ImplicitBias
from .bregman import implicit_bias as implicit_bias
from .converse import ConverseParametrization as ConverseParametrization
from .converse import commuting_parametrization as commuting_parametrization
from .embedding import DegreeStep as DegreeStep
from .flows import gradient_descent, gradient_flow, mirror_descent, mirror_flow
from .forward import mirror_potential as mirror_potential
from .hessian_metric import FlatnessReport as FlatnessReport
from .legendre import Legendre as Legendre
from .legendre import LegendreReport as LegendreReport
from .parametrization import (
    CommutingReport as CommutingReport,
)
from .parametrization import (
    Parametrization as Parametrization,
)
from .parametrization import (
    RegularityReport as RegularityReport,
)
from .trajectory import Trajectory as Trajectory
from .verify import DiscretizationReport as DiscretizationReport
from .verify import EquivalenceReport as EquivalenceReport
from .verify import LoopReport as LoopReport
from .verify import discretization_gap as discretization_gap
from .verify import loop_test as loop_test
from .verify import verify_equivalence as verify_equivalence

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
    "structure",
    "sweep",
    "verify_equivalence",
]
