"""pytest-benchmark suites (bench/README.md, docs/benchmarks.md); compare runs with
`python -m bench.report compare OLD NEW`."""
