"""observability domain."""
