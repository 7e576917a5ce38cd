"""Fixtures of the command-line tests: one module per command, plus the bad-input suite (the in-process
runner they share is tests/support/cli.py)."""
