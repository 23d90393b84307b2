"""Built-in plugins of the harness."""
