"""streamstack: an open-source video streaming platform (upload, encode to HLS, signed delivery, events)."""

__version__ = "0.1.0"
