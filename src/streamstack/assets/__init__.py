"""assets domain."""
