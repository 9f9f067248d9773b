"""Test data: geomstats manifolds riemflow supports beyond vector spaces (one module).

Each entry builds a fresh space (geomstats spaces carry their metric, so tests must not
share one they re-equip). The kinds cover every route of `riemflow._geometry`: subspaces
of matrices with a closed form or only `inner_product`, embedded manifolds with metrics that
are not induced by the Euclidean one, products in geomstats' two layouts, and hyperbolic
space in intrinsic and in extrinsic coordinates.
"""

from geomstats.geometry.euclidean import Euclidean
from geomstats.geometry.hyperbolic import Hyperbolic
from geomstats.geometry.hypersphere import Hypersphere
from geomstats.geometry.matrices import Matrices
from geomstats.geometry.nfold_manifold import NFoldManifold, NFoldMetric
from geomstats.geometry.poincare_ball import PoincareBall
from geomstats.geometry.poincare_half_space import PoincareHalfSpace
from geomstats.geometry.product_manifold import ProductManifold
from geomstats.geometry.spd_matrices import (
    SPDBuresWassersteinMetric,
    SPDLogEuclideanMetric,
    SPDMatrices,
)
from geomstats.geometry.special_orthogonal import SpecialOrthogonal
from geomstats.geometry.stiefel import Stiefel


def spd(n, metric=None):
    """`SPDMatrices(n)` with `metric` (default: geomstats' affine-invariant metric)."""
    space = SPDMatrices(n, equip=metric is None)
    if metric is not None:
        space.equip_with_metric(metric)
    return space


def nfold_spd():
    space = NFoldManifold(SPDMatrices(2), 2, equip=False)
    space.equip_with_metric(NFoldMetric, scales=[1.0, 3.0])
    return space


SPACES = {
    "matrices": lambda: Matrices(3, 2),
    "spd_affine": lambda: spd(3),
    "spd_bures_wasserstein": lambda: spd(3, SPDBuresWassersteinMetric),
    "spd_log_euclidean": lambda: spd(3, SPDLogEuclideanMetric),
    "stiefel": lambda: Stiefel(4, 2),
    "special_orthogonal": lambda: SpecialOrthogonal(3),
    "hyperboloid": lambda: Hyperbolic(2),
    "poincare_half_space": lambda: PoincareHalfSpace(2),
    "sphere_x_line": lambda: ProductManifold([Hypersphere(2), Euclidean(1)]),
    "sphere_x_r3_stacked": lambda: ProductManifold([Hypersphere(2), Euclidean(3)]),
    "spd_x_r2": lambda: ProductManifold([SPDMatrices(2), Euclidean(2)]),
    "stiefel_x_matrices": lambda: ProductManifold([Stiefel(3, 2), Matrices(3, 2)]),
    "nfold_spd_scaled": nfold_spd,
}

# the routes `make_geometry` must pick
KINDS = {
    "matrices": "subspace",
    "spd_affine": "subspace",
    "spd_bures_wasserstein": "subspace",
    "spd_log_euclidean": "subspace",
    "stiefel": "embedded",
    "special_orthogonal": "embedded",
    "hyperboloid": "embedded",
    "poincare_half_space": "subspace",
    "sphere_x_line": "product",
    "sphere_x_r3_stacked": "product",
    "spd_x_r2": "product",
    "stiefel_x_matrices": "product",
    "nfold_spd_scaled": "product",
}

# the vector spaces that keep their routes (and their numbers)
VECTOR_KINDS = {
    "euclidean": (lambda: Euclidean(3), "euclidean"),
    "sphere": (lambda: Hypersphere(2), "extrinsic"),
    "poincare_ball": (lambda: PoincareBall(2), "intrinsic"),
}
