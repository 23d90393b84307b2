"""Statistics on run tables."""
