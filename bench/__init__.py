"""Benchmarks: each module is a program run from the repository root as
`python -m bench.<name>` (docs/benchmarks.md gives each one's figures and command)."""
