"""Fixtures of the structconv.analysis tests (the report, its figures and tables)."""
