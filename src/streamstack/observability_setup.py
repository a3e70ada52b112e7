"""Per-process set-up of logging and metrics, one call at the top of every entry point."""

from __future__ import annotations

import logging

from streamstack.settings import Settings


def configure_process(settings: Settings, *, service: str) -> None:
    logging.basicConfig(level=settings.log_level.upper(),
                        format=f"%(asctime)s {service} %(levelname)s %(name)s %(message)s")
