"""pytest-benchmark suites (see README.md); `python -m bench.report compare OLD NEW`."""
