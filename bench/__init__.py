"""Benchmarks: each compares numeraud with its peer or physical floor in one run."""
