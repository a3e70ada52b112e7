"""delivery domain."""
