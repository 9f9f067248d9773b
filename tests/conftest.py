"""Shared test set-up.

riemflow must be imported before geomstats (it selects geomstats' autograd backend, which
geomstats reads once per process); test modules import geomstats classes directly, so
import riemflow here, before any of them is collected.
"""

import riemflow  # noqa: F401
