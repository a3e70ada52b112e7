"""Contract suites: behaviour every adapter of a protocol must show, run once per adapter."""
