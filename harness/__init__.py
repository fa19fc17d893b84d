"""What the tests and the benchmarks share, and nothing a service imports: real servers provisioned the way the
test session does it (`infra`), contract data builders (`builders`), hostile-record generators (`hostile`).

`tests/` and `bench/` both import from here; neither imports the other.
"""
