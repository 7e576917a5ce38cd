"""structconv.sim."""
