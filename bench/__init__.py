"""Benchmarks and their fixtures; each prints its figures.

Tests may import these; production code never imports ``tests``.
"""
