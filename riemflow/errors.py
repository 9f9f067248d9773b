"""Typed errors raised by riemflow.

Every error names the argument or object at fault and echoes what was received, so a
research script fails with a message that says what to change. The hierarchy:

```
RiemflowError
├── InputError (ValueError)            bad argument value
│   ├── ShapeError                     wrong shape / dimension
│   ├── NonFiniteError                 NaN or Inf in an input
│   ├── DomainError                    point outside the manifold or the open domain
│   └── CostError                      a construction refused before it starts: it cannot fit
├── NotDifferentiableError (TypeError) a map autograd cannot differentiate
├── UnsupportedSpaceError (TypeError)  a geomstats space riemflow cannot do calculus on
├── GeometryError (ValueError)         a mathematical hypothesis fails
│   ├── NotCommutingError              gradient fields with non-zero Lie brackets
│   │   └── NotMirrorFlowError         brackets leave ker dG: a loss no mirror flow reproduces
│   ├── NotRegularError                dG not of full rank d
│   └── NotPositiveDefiniteError       a Hessian / metric that is not positive definite
├── SolverError (RuntimeError)         an ODE / iterative solve that failed
│   └── DivergenceError                non-finite values or blow-up during a solve
├── ConvergenceError (RuntimeError)    an iteration that did not reach its tolerance
│   ├── BudgetError                    an iteration or time budget ran out (also a SolverError)
│   └── FrameError                     a metric too anisotropic for the converse's spirals
├── StoreBusyError (RuntimeError)      a sweep's results store is locked by a live sweep
└── SweepPointError (RuntimeError)     a sweep's function raised at one of its points
```
"""

from __future__ import annotations

__all__ = [
    "RiemflowError",
    "InputError",
    "ShapeError",
    "NonFiniteError",
    "NotCallableError",
    "DomainError",
    "CostError",
    "NotDifferentiableError",
    "UnsupportedSpaceError",
    "GeometryError",
    "NotCommutingError",
    "NotMirrorFlowError",
    "NotRegularError",
    "NotPositiveDefiniteError",
    "SolverError",
    "DivergenceError",
    "ConvergenceError",
    "BudgetError",
    "FrameError",
    "StoreBusyError",
    "SweepPointError",
]


class RiemflowError(Exception):
    """Base class of every error riemflow raises on purpose."""


class InputError(RiemflowError, ValueError):
    """An argument has a value riemflow cannot use.

    Attributes:
        argument: name of the offending argument (as the caller spelled it).
    """

    def __init__(self, message: str, *, argument: str | None = None):
        super().__init__(message)
        self.argument = argument


class ShapeError(InputError):
    """An array argument has the wrong number of dimensions or the wrong size."""


class NonFiniteError(InputError):
    """An array argument contains NaN or Inf."""


class DomainError(InputError):
    """A point lies outside the manifold or outside the open domain of a map."""


class CostError(InputError):
    """A construction refused before any work: its estimated memory or time exceeds the
    limits, or its dimension is beyond what the method can reach. The message says why and
    what would make it tractable (declared structure, a larger tolerance, a smaller domain).

    Attributes:
        estimate: the cost estimate it decided on (or `None`).
    """

    def __init__(self, message: str, *, estimate=None, argument: str | None = "R"):
        super().__init__(message, argument=argument)
        self.estimate = estimate


class NotCallableError(InputError, TypeError):
    """An argument that must be a function (a map, a loss, a potential) is not callable.

    Also a `TypeError`, as Python's own convention has it."""


class NotDifferentiableError(RiemflowError, TypeError):
    """A user map cannot be differentiated by autograd.

    Usually the map calls plain `numpy` (or `math`) on autograd's traced arrays; write it
    with `import autograd.numpy as anp` instead.
    """


class UnsupportedSpaceError(RiemflowError, TypeError):
    """A geomstats space for which riemflow has no way to compute Riemannian gradients."""


class GeometryError(RiemflowError, ValueError):
    """A mathematical hypothesis (commuting, regular, positive definite) does not hold."""


class NotCommutingError(GeometryError):
    """The gradient fields of a parametrization have non-vanishing Lie brackets.

    Attributes:
        report: the `CommutingReport` with the bracket figures, pair and point.
    """

    def __init__(self, message: str, *, report=None):
        super().__init__(message)
        self.report = report


class NotMirrorFlowError(NotCommutingError):
    """Gradient flow of `L o G` is not a mirror flow for some loss ([Concepts:
    necessity](concepts.md#necessity)).

    Raised when a bracket of the gradient fields (order 2 or 3) leaves `ker dG` at a
    checked point, so that from initializations there the loop of linear losses moves `w`
    while every mirror flow returns; or when the tangent kernel `K` takes different values
    on one fibre of `G` inside the set reachable from the initialization, so that the same
    linear loss moves `w` with two velocities after two loops that return `w`.

    Attributes:
        report: the `CommutingReport` of the brackets (on the region that decided).
        construction: the `riemflow.fibres.ConstructionReport` when the decision was made on
            the reachable set (`None` otherwise).
    """

    def __init__(self, message: str, *, report=None, construction=None):
        super().__init__(message, report=report)
        self.construction = construction


class NotRegularError(GeometryError):
    """The Jacobian of a parametrization does not have full rank `d`.

    Attributes:
        report: the `RegularityReport` with the singular values and point.
    """

    def __init__(self, message: str, *, report=None):
        super().__init__(message)
        self.report = report


class NotPositiveDefiniteError(GeometryError):
    """A matrix that must be symmetric positive definite (Hessian, metric) is not."""


class SolverError(RiemflowError, RuntimeError):
    """An ODE or root solve failed.

    Attributes:
        t_reached: the time (or iteration) reached before the failure, if known.
        reason: the solver's own account of the failure.
    """

    def __init__(self, message: str, *, t_reached: float | None = None, reason: str = ""):
        super().__init__(message)
        self.t_reached = t_reached
        self.reason = reason


class DivergenceError(SolverError):
    """A solve produced non-finite values or left every bounded region (blow-up)."""


class ConvergenceError(RiemflowError, RuntimeError):
    """An iterative method stopped before reaching its tolerance.

    Attributes:
        residual: the residual reached.
        iterations: the number of iterations spent.
    """

    def __init__(self, message: str, *, residual: float | None = None, iterations: int = 0):
        super().__init__(message)
        self.residual = residual
        self.iterations = iterations


class FrameError(ConvergenceError):
    """The spiral construction of the converse cannot write the metric as a positive
    combination of its directions' squares on the whole domain (the metric is too
    anisotropic there, relative to its value at the center, for the frame's cone).

    A smaller domain, a chart, or the collocation construction
    (`commuting_parametrization(..., numerical="collocation")`) avoids it; with
    `numerical="auto"` the converse falls back to collocation by itself.

    Attributes:
        residual: the worst relative constraint error at the nodes outside the cone.
        nodes: how many nodes were outside it.
    """

    def __init__(self, message: str, *, residual: float | None = None, nodes: int = 0):
        super().__init__(message, residual=residual)
        self.nodes = nodes


class BudgetError(ConvergenceError, SolverError):
    """A solver spent its iteration or wall-time budget before finishing.

    Every iterative solver of riemflow has both budgets, with documented defaults; this
    error names the budget that ran out and what was reached. It is a `ConvergenceError`
    and a `SolverError`, so code catching either catches it.

    Attributes:
        budget: which budget ran out, e.g. `"1000000 evaluations"` or `"60 s"`.
        t_reached: the time (or iteration) reached, if known.
        residual: the residual reached, if known.
        iterations: the iterations or evaluations spent.
    """

    def __init__(
        self,
        message: str,
        *,
        budget: str,
        t_reached: float | None = None,
        residual: float | None = None,
        iterations: int = 0,
    ):
        RiemflowError.__init__(self, message)
        self.budget = budget
        self.t_reached = t_reached
        self.reason = f"budget: {budget}"
        self.residual = residual
        self.iterations = iterations


class StoreBusyError(RiemflowError, RuntimeError):
    """Another live sweep holds the lock of this results store.

    Attributes:
        store: the path of the store.
    """

    def __init__(self, message: str, *, store: str):
        super().__init__(message)
        self.store = store


class SweepPointError(RiemflowError, RuntimeError):
    """`fn` raised at a point of the sweep (the original exception is its `__cause__`).

    Attributes:
        point: the parameters of the failed point.
    """

    def __init__(self, message: str, *, point: dict):
        super().__init__(message)
        self.point = point
