"""Fixtures of the structconv.importers tests (none of their own: the readers are plain functions)."""
