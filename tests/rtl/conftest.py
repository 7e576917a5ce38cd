"""Fixtures of the structconv.rtl tests (Icarus Verilog runs; skipped where it is missing)."""
