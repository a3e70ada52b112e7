"""Errors a user can cause with their upload: a stable code plus a message fit to show them."""

from __future__ import annotations


class MediaError(Exception):
    """The job cannot produce an asset from this input; `code` is stable, `message` is user-facing."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ProbeError(MediaError):
    """The input was refused or not understood before any encoding started."""
