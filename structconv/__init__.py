"""structconv: cost, simulate, search and train structured convolutions."""
from .core import Dense, Layer, Network, Plan, Structure, count_network, count_ops

__version__ = "0.1.0"
__all__ = ["Layer", "Network", "Structure", "Dense", "Plan", "count_ops", "count_network"]
