"""playback domain."""
