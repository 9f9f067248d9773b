"""Isometric embeddings `F: (Omega, hess R) -> R^D` of Hessian metrics ([Concepts: the
converse via Nash embedding](concepts.md#the-converse-via-nash-embedding)).

An `Embedding` is a map `F` with `dF(w)^T dF(w) = hess R(w)`, written so that autograd
differentiates it (the pullback metric and Lie brackets of the converse parametrization
need first and second derivatives of `F`). Constructions, one module each:

- `flat`: exact embeddings of flat metrics into `R^d` (`separable_embedding`,
  `flat_embedding`);
- `chebyshev`: curved metrics, `D > d`: `ChebyshevEmbedding`, a tensor Chebyshev series
  fitted by collocation (`curved_embedding`);
- `spiral`: curved metrics, `D = d + 2K`: `SpiralEmbedding`, a linear part and exact
  spirals whose amplitudes solve a pointwise fixed point (`spiral_embedding`);
- `structure`: recognising or declaring structure (`Blocks`, `Radial`, `detect_blocks`,
  `group_blocks`, `detect_radial`, `restricted`);
- `product`: block-separable potentials: products of block embeddings
  (`ProductEmbedding`), exact one-dimensional blocks (`IntervalEmbedding`);
- `radial`: radial potentials: exact winding embeddings (`RadialEmbedding`);
- `mapped`: curved metrics on the image of a box under a chart (`mapped_embedding`,
  `ChartEmbedding`, built-in charts of disks, ellipses and simplices);
- `image`: the embedded image `M = F(K)` in ambient coordinates (`EmbeddedImage`) and the
  parametrization `F^{-1}` on it (`ambient_parametrization`).

`riemflow.commuting_parametrization` chooses among them.
"""

from __future__ import annotations

from .base import Embedding
from .chebyshev import (
    ChebyshevEmbedding,
    CostEstimate,
    DegreeStep,
    ProgressEvent,
    chebyshev_basis,
    chebyshev_nodes,
)
from .flat import flat_embedding, separable_embedding
from .image import EmbeddedImage, ambient_parametrization
from .mapped import ChartEmbedding
from .product import IntervalEmbedding, ProductEmbedding
from .radial import RadialEmbedding
from .spiral import SpiralEmbedding
from .structure import Blocks, Radial, detect_blocks, detect_radial, group_blocks, restricted

__all__ = [
    "Embedding",
    "Blocks",
    "ChartEmbedding",
    "ChebyshevEmbedding",
    "CostEstimate",
    "DegreeStep",
    "EmbeddedImage",
    "IntervalEmbedding",
    "ProductEmbedding",
    "ProgressEvent",
    "Radial",
    "RadialEmbedding",
    "SpiralEmbedding",
    "ambient_parametrization",
    "chebyshev_basis",
    "chebyshev_nodes",
    "detect_blocks",
    "detect_radial",
    "flat_embedding",
    "group_blocks",
    "restricted",
    "separable_embedding",
]
