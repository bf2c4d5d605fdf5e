"""Benchmarks that print their figures (docs/benchmarks.md); run each as a script.

A package only so import-linter can check that no benchmark imports ``tests``: what the
benchmarks share with the tests lives in ``testkit``.
"""
