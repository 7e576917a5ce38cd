"""structconv.analysis."""
