"""structconv's tests, one folder per package (``tests/core`` tests ``structconv.core``, ...).

A package only so that ``tests.support`` has one import name for the tests and the benchmark scripts."""
