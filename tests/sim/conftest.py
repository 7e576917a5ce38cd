"""Fixtures of the structconv.sim tests (the slow references and hypothesis strategies they share are in
tests/support: sim_reference.py, trace_reference.py; the pinned SCALE-Sim runs: goldens.py,
scalesim_inputs.py, trace_digests.py)."""
