"""Benchmarks of the Timedify Ops Console: `python -m bench` (see docs/benchmarks.md).

Every figure is a ratio to a baseline measured in the same run, or a percentile over many
requests, because the machines that run this are shared and noisy.
"""
