"""`make bench`: how fast the gateway is, always as a ratio to a baseline measured alongside.

The machine that runs these is shared and noisy, so no figure stands alone: every benchmark
alternates its subject with a baseline in the same run (A B, B A, A B, …) and reports the
median of the paired ratios, from at least 15 pairs. `python -m benchmarks` runs them all;
see `benchmarks/RESULTS.md` for the method and the latest figures.
"""
