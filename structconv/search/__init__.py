"""structconv.search."""
