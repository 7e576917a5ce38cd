"""Fixtures of the structconv.core tests (the slow references they share are tests/support/core_reference.py)."""
