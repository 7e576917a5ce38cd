"""Accuracy proxies: the registry, the built-in proxies, the suite one search computes, calibration.

    suite = compute_proxies(space, weights="ck.pt", data=bundle)   # ProxySuite: one table per proxy
    get_proxy("kept_dof"), list_proxies(), @proxy("name", "description")   # the registry

Modules: registry (a Proxy's metadata, ProxyTable), terms (the registered proxies), approx
(P(W) from a choice's parts), torch_eval (the torch side), suite (compute_proxies),
calibrate (fit and validate proxies against the accuracy benchmark's ground truth).
"""
from .calibrate import Calibrated, GroundTruth, read_ground_truth
from .calibrate import fit as fit_calibration
from .calibrate import validate as validate_proxies
from .registry import Proxy, ProxyTable, get_proxy, list_proxies, proxy, register_proxy
from .suite import ProxySettings, ProxySuite, compute_proxies
from .torch_eval import load_weights

__all__ = ["compute_proxies", "ProxySettings", "ProxySuite", "ProxyTable", "Proxy", "proxy", "register_proxy",
           "get_proxy", "list_proxies", "load_weights", "Calibrated", "GroundTruth", "read_ground_truth",
           "fit_calibration", "validate_proxies"]
