"""Benchmarks: `make bench` prints one `name: value` line per figure.

Every figure is a median of several runs and sits next to a raw baseline measured
in the same run on the same machine, because the machine is shared and noisy.
"""
