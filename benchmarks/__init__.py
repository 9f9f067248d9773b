"""riemflow's benchmark suite: ratios against baselines measured in the same run.

Run it with `python -m benchmarks.run` (see `benchmarks/run.py` and docs/performance.md).
This file imports nothing on purpose: `run.py` may set BLAS thread counts before numpy loads.
"""
