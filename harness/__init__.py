"""Real programs on loopback ports, for the tests and the benchmarks: start, wait, load, stop."""
