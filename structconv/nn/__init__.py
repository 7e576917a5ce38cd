"""structconv.nn."""
