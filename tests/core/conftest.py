"""Fixtures of the structconv.core tests (the slow references they share: tests/support/core_reference.py)."""
