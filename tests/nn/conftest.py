"""Fixtures of the structconv.nn tests (every torch test runs on one thread: tests/conftest.py; tiny data
and modules they share: tests/support/torch_helpers.py, fake_data.py)."""
