"""The web console, the embeddable hls.js player and the Health page's metrics summary."""

from streamstack.web.console import mount_console

__all__ = ["mount_console"]
