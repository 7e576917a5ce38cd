"""Settings for every test: the hypothesis profile and one torch thread per torch test."""
import os
import sys

import pytest
from hypothesis import HealthCheck, settings

# CI machines are slow and shared: no deadline, fewer examples unless asked for more.
settings.register_profile("ci", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=500,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models on a shared machine: extra intra-op threads only add contention, so every test that
    runs with torch loaded gets one (restored after). Keyed on torch being loaded, not on the folder, so
    that a torch test anywhere gets it, and a torch-free run never pays for importing torch. Test modules
    import torch at collection, before any test runs."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
