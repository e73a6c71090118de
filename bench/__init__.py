"""Benchmarks: each script prints one comparable line (``make bench``)."""
